"""Numeric precision: float32, or bfloat16 on CPUs that compute it natively.

``auto`` picks bfloat16 when the CPU reports native bf16 (AVX512-BF16 or
AMX-BF16), else float32. TensorFlow's bfloat16 path is oneDNN's
auto-mixed-precision rewrite, a process-wide option; :func:`bf16_scope`
turns it on only around the calls that want it.

Example:

>>> from bert_hub.precision import PRECISIONS, use_bf16
>>> PRECISIONS
('auto', 'float32', 'bfloat16')
>>> use_bf16("float32")
False
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

from bert_hub.errors import InputError

#: ``--precision`` choices.
PRECISIONS = ("auto", "float32", "bfloat16")


def use_bf16(precision: str) -> bool:
    """Whether ``precision`` means bfloat16 on this CPU."""
    if precision not in PRECISIONS:
        raise InputError(f"precision {precision!r}: use one of {', '.join(PRECISIONS)}")
    return precision == "bfloat16" or (precision == "auto" and cpu_supports_bf16())


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


def cpu_supports_bf16() -> bool:
    """True when the CPU has native bfloat16 (AVX512_BF16 or AMX-BF16)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags
