"""Numeric precision: float32, or bfloat16 through oneDNN, and what the CPU computes natively.

TensorFlow's bfloat16 path is oneDNN's auto-mixed-precision rewrite, a
process-wide option; :func:`bf16_scope` turns it on only around the calls
that want it. Whether bfloat16 is worth it on a CPU is measured, not
assumed: see :mod:`bert_hub.calibration`.

Example:

>>> from bert_hub.precision import PRECISIONS, cpu_supports_bf16
>>> PRECISIONS
('auto', 'float32', 'bfloat16')
>>> isinstance(cpu_supports_bf16(), bool)
True
"""

from __future__ import annotations

import contextlib
import functools
import os
import platform
from pathlib import Path
from typing import Iterator


#: ``--precision`` choices.
PRECISIONS = ("auto", "float32", "bfloat16")


@contextlib.contextmanager
def bf16_scope(enabled: bool = True) -> Iterator[None]:
    """TensorFlow's oneDNN bfloat16 auto-mixed-precision, on only inside the block.

    The option is process-wide in TensorFlow, but it is read when a function
    call is made: functions called inside the block run (and are compiled)
    rewritten to bfloat16, calls outside it stay float32.
    """
    if not enabled:
        yield
        return
    import tensorflow as tf

    key = "auto_mixed_precision_onednn_bfloat16"
    before = tf.config.optimizer.get_experimental_options().get(key, False)
    tf.config.optimizer.set_experimental_options({key: True})
    try:
        yield
    finally:
        tf.config.optimizer.set_experimental_options({key: before})


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
