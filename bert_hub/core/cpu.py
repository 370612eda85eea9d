"""What this CPU is: its model, its feature flags, whether it computes bfloat16 natively and whether it has an
int8 dot product.

Read from Linux's ``/proc/cpuinfo`` once per process (elsewhere the flags are empty and the model is what
the platform module says), and capped by ``ONEDNN_MAX_CPU_ISA`` where that is set to try an older CPU's
paths.

Examples:
    >>> from bert_hub.core.cpu import cpu_flags, cpu_supports_bf16
    >>> isinstance(cpu_supports_bf16(), bool) and isinstance(cpu_flags(), set)
    True
"""

from __future__ import annotations

import functools
import os
import platform
from pathlib import Path


@functools.lru_cache(maxsize=1)
def _cpuinfo() -> dict[str, str]:
    """The first processor's fields of ``/proc/cpuinfo`` (empty where there is none), read once."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {}
    fields: dict[str, str] = {}
    for line in text.split("\n\n", 1)[0].splitlines():
        name, _, value = line.partition(":")
        fields.setdefault(name.strip(), value.strip())
    return fields


def cpu_model() -> str:
    """The CPU's model name as Linux reports it (else what the platform module says)."""
    return _cpuinfo().get("model name") or platform.processor() or platform.machine()


def cpu_flags() -> set[str]:
    """The CPU's feature flags as Linux reports them (empty elsewhere)."""
    info = _cpuinfo()
    return set((info.get("flags") or info.get("Features") or "").split())


def onednn_isa_cap() -> str | None:
    """``$ONEDNN_MAX_CPU_ISA``: oneDNN uses no instructions beyond it (set to try an older CPU's paths)."""
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA", "").strip().upper()
    return cap if cap and cap not in ("ALL", "DEFAULT") else None


def cpu_supports_bf16() -> bool:
    """True when the CPU has native bfloat16 (AVX512_BF16 or AMX-BF16) and oneDNN may use it."""
    cap = onednn_isa_cap()
    if cap is not None and not any(part in cap for part in ("BF16", "AMX", "FP16", "AVX10")):
        return False
    return bool({"avx512_bf16", "amx_bf16"} & cpu_flags())


def cpu_has_int8_dot() -> bool:
    """True when the CPU multiplies int8 with 32-bit sums (AVX512-VNNI, AVX-VNNI or AMX-INT8) and oneDNN may
    use it; elsewhere (AVX2) oneDNN's uint8 x int8 product adds pairs into 16 bits (see
    `bert_hub.builder.int8.weight_levels`)."""
    usable = {"avx512_vnni", "avx_vnni", "amx_int8"}
    cap = onednn_isa_cap()
    if cap is None or "AMX" in cap or "AVX10" in cap:
        pass
    elif cap.startswith("AVX512_CORE_"):  # _VNNI, _BF16, _FP16: AVX512-VNNI, and the AVX2 ISAs below
        usable = {"avx512_vnni", "avx_vnni"}
    elif cap.startswith("AVX2_VNNI"):
        usable = {"avx_vnni"}
    else:  # AVX2, AVX512_CORE and older: no int8 dot product
        return False
    return bool(usable & cpu_flags())
