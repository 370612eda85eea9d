"""How the encoder runs on this CPU: precision and XLA, chosen by measurement.

A *mode* is a precision (float32, or bfloat16 through oneDNN's rewrite, see
[`bert_hub.runtime.precision`][bert_hub.runtime.precision]) and whether XLA compiles the encoder. Which mode
is fastest depends on the CPU, not on its flag names: on an Intel Xeon with
AMX, bfloat16 is about four times float32; on one with AVX512-BF16 but no AMX it
is slower than float32, and XLA there costs more than it gains. So ``auto``
measures: the first time a model shape runs on a CPU, each candidate mode
embeds a few batches (seconds; the compiled function of the winner is then
used for real work), and the result is kept in bert_hub's cache
(``calibration.json``) under the CPU's model name and features, the
TensorFlow version and kernels (oneDNN or Eigen), the model shape, the batch size and whether the process
keeps packed weights (see [`bert_hub.runtime.precision`][bert_hub.runtime.precision]). Later runs read it.
Flags narrow the candidates (``--precision float32`` measures only float32
modes); a single candidate is not measured at all.

Examples:
    >>> from bert_hub.runtime.calibration import MODES, allowed_modes
    >>> [m.name for m in allowed_modes("float32", None, native_bf16=True)]
    ['fp32', 'fp32+xla']
    >>> [m.name for m in allowed_modes("auto", False, native_bf16=True)]
    ['fp32', 'bf16']
    >>> MODES["bf16"].precision
    'bfloat16'
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bert_hub.core.caches import cache_root, read_cache_file, write_cache_entry
from bert_hub.core.cpu import cpu_flags, cpu_model, cpu_supports_bf16, onednn_isa_cap
from bert_hub.core.errors import InputError
from bert_hub.runtime.precision import PRECISIONS, kernels, weights_frozen

CACHE_NAME = "calibration.json"
"""The cache file, in `bert_hub.core.caches.cache_root`."""
CALLS, BUDGET_SECONDS = 3, 2.0
"""Measured calls per candidate (after one warm-up call), and the time after which a candidate stops early."""
LENGTH = 24
"""The length of the texts calibration measures with: a common short text. Each mode packs them to its own bucket
(XLA, which compiles each length, to 32: its buckets are coarser), so the measure charges XLA the padding it costs
on real texts; at an aligned length (32) it chose XLA where float32 without it embeds real short texts faster."""


@dataclasses.dataclass(frozen=True)
class Mode:
    """One way to run the encoder."""

    precision: str  # "float32", "bfloat16" or "int8"
    xla: bool

    @property
    def name(self) -> str:
        """The mode's name: ``fp32``, ``bf16``, ``fp32+xla``, ``bf16+xla``, ``int8``."""
        return {"bfloat16": "bf16", "int8": "int8"}.get(self.precision, "fp32") + ("+xla" if self.xla else "")

    @property
    def bf16(self) -> bool:
        """Whether the mode computes in bfloat16."""
        return self.precision == "bfloat16"

    @property
    def int8(self) -> bool:
        """Whether the Transformer's matmuls run in int8 (`bert_hub.builder.int8`; attention in bfloat16 where the
        CPU has it, the rest in float32)."""
        return self.precision == "int8"


MODES = {
    m.name: m
    for m in (
        Mode("float32", False),
        Mode("float32", True),
        Mode("bfloat16", False),
        Mode("bfloat16", True),
        Mode("int8", False),
    )
}
"""Every mode, by name."""


def allowed_modes(precision: str = "auto", xla: bool | None = None, *, native_bf16: bool | None = None) -> list[Mode]:
    """The modes a user's ``precision`` / ``xla`` choice leaves, in a fixed order.

    ``auto`` offers bfloat16 only on CPUs that compute it natively
    (``native_bf16``, read from the CPU by default), and never int8: its
    outputs differ from float32's more (run it when asked for). int8 runs
    without XLA (XLA cannot compile oneDNN's int8 kernel). bfloat16 with XLA is
    offered only when XLA is asked for: XLA compiles the float32 graph,
    bypassing the bfloat16 rewrite, so it is float32 with XLA by another name.
    """
    if precision not in PRECISIONS:
        raise InputError(f"precision {precision!r}: use one of {', '.join(PRECISIONS)}")
    if precision == "int8" and xla:
        raise InputError("precision int8 runs without XLA (XLA cannot compile its int8 kernel); drop `jit_compile`")
    native = cpu_supports_bf16() if native_bf16 is None else native_bf16
    out = []
    for m in MODES.values():
        if precision != "auto" and m.precision != precision:
            continue
        if xla is not None and m.xla != xla:
            continue
        if m.bf16 and m.xla and xla is not True:
            continue
        if m.bf16 and precision == "auto" and not native:
            continue
        if m.int8 and precision != "int8":
            continue
        out.append(m)
    return out


def cpu_signature() -> str:
    """The CPU's model name and the features that change which mode is fastest."""
    features = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "asimd", "sve") if f in cpu_flags()]
    cap = onednn_isa_cap()
    return f"{cpu_model()} [{' '.join(features) or 'no vector features read'}]" + (f" capped at {cap}" if cap else "")


def model_shape(architecture: Any) -> str:
    """A model's shape as calibration keys name it: ``L=6 H=384 A=12 I=1536``."""
    a = architecture
    return f"L={a.layers} H={a.hidden} A={a.heads} I={a.intermediate}"


def calibration_key(shape: str, batch_size: int) -> str:
    """The cache key: CPU, TensorFlow version and kernels (oneDNN or Eigen), model shape, batch size, and
    whether this process's oneDNN matmuls keep packed weights
    (`bert_hub.runtime.precision.weights_frozen`: much faster bf16)."""
    import tensorflow as tf

    frozen = " | frozen weights" if weights_frozen() else ""
    return f"{cpu_signature()} | tensorflow {tf.__version__} | {kernels()} | {shape} | batch {batch_size}{frozen}"


def cache_path() -> Path:
    """Where measured modes are kept: ``calibration.json`` in bert_hub's cache."""
    return cache_root() / CACHE_NAME


def measured(key: str, cache: dict[str, Any] | None = None) -> dict[str, float]:
    """Seconds per batch of each mode measured for ``key`` (empty when not yet calibrated)."""
    entry = (read_cache_file(cache_path()) if cache is None else cache).get(key, {})
    speeds = entry.get("seconds_per_batch", {}) if isinstance(entry, dict) else {}
    return {k: float(v) for k, v in speeds.items() if k in MODES and isinstance(v, (int, float))}


def time_calls(call: Callable[[], Any], calls: int = CALLS, budget: float = BUDGET_SECONDS) -> float:
    """Median seconds of ``call`` after one warm-up call (tracing, compilation, first-use costs)."""
    call()
    times: list[float] = []
    spent = 0.0
    while len(times) < calls and (not times or spent < budget):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
        spent += times[-1]
    return statistics.median(times)


def choose(
    key: str,
    allowed: list[Mode],
    measure: Callable[[Mode], float],
    notify: Callable[[str], None] | None = None,
    details: dict[str, Any] | None = None,
) -> tuple[Mode, dict[str, float]]:
    """The fastest of ``allowed`` for ``key``, measuring (and remembering) what is not known yet.

    Args:
        key: from `calibration_key`.
        allowed: from `allowed_modes`; one mode is returned unmeasured.
        measure: seconds per batch of a mode on this machine.
        notify: told once, before measuring.
        details: what the cache entry says of the measure (default: the embedder's text ``length``).

    Returns:
        The mode and the seconds per batch known for ``key``.
    """
    if not allowed:
        raise InputError("no execution mode is left by these `precision` / `jit_compile` choices")
    if len(allowed) == 1:
        return allowed[0], measured(key)
    speeds = measured(key)
    missing = [m for m in allowed if m.name not in speeds]
    if missing:
        if notify is not None:
            notify(
                f"measuring {', '.join(m.name for m in missing)} on this CPU to choose the fastest "
                f"(once per CPU and model shape; kept in {cache_path()})"
            )
        for m in missing:
            speeds[m.name] = measure(m)
        write_cache_entry(
            cache_path(),
            key,
            {
                "seconds_per_batch": {**measured(key), **speeds},
                **(details or {"length": LENGTH}),
                "measured": time.strftime("%Y-%m-%d %H:%M:%S"),
            },
        )
    return min(allowed, key=lambda m: speeds[m.name]), speeds
