"""Numeric precision: float32, or bfloat16 through oneDNN, and what the CPU computes natively.

TensorFlow's bfloat16 path is oneDNN's auto-mixed-precision rewrite, a
process-wide option; :func:`bf16_scope` turns it on only around the calls
that want it. Whether bfloat16 is worth it on a CPU is measured, not
assumed: see :mod:`bert_hub.calibration`.

*Frozen weights.* oneDNN computes a matmul fastest (AMX's tiles) with its
weight matrix packed in a blocked layout; TensorFlow packs (and, in
bfloat16, converts) the weights again at every call unless they are
graph constants, or unless ``TF_ONEDNN_ASSUME_FROZEN_WEIGHTS`` was set
when the process first ran a oneDNN matmul: then every matmul-with-bias
kernel packs its weights once and keeps them. That is 1.4-1.5x faster in
bfloat16 on an AMX CPU, but it is process-wide and permanent, and wrong for
a process that changes weights: training would keep using the first step's
weights. So the ``bert-hub`` inference commands (``embed``, ``predict``,
``evaluate``, ...) set it at start-up (:func:`assume_frozen_weights`), the
Python API leaves it to the caller, and training refuses to run where it is
on (:func:`weights_frozen`).

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
#: TensorFlow's switch for oneDNN weight caching (read once per process).
FROZEN_WEIGHTS_VARIABLE = "TF_ONEDNN_ASSUME_FROZEN_WEIGHTS"


def assume_frozen_weights() -> None:
    """Lets oneDNN pack each matmul's weights once, for a process that only runs inference.

    Sets ``TF_ONEDNN_ASSUME_FROZEN_WEIGHTS=1`` unless the environment already
    says otherwise (``=0`` keeps it off). TensorFlow reads the variable once,
    when the process first runs a oneDNN matmul, so call this before any
    TensorFlow work; afterwards it changes nothing (:func:`weights_frozen`
    tells). Never in a process that trains or changes weights.

    Example (an inference-only script)::

        from bert_hub.precision import assume_frozen_weights
        assume_frozen_weights()          # first, before TensorFlow runs anything
        from bert_hub.tasks.embed import Embedder
        vectors = Embedder.from_config("default").embed(texts)
    """
    os.environ.setdefault(FROZEN_WEIGHTS_VARIABLE, "1")


@functools.lru_cache(maxsize=1)
def weights_frozen() -> bool:
    """True when this process's oneDNN matmuls keep the weights they first saw.

    Measured, not read from the environment (what counts is the value
    TensorFlow read at its first oneDNN matmul, and whether oneDNN runs at
    all): a matmul with bias is run, its weight changed and run again. A
    process that calls this before any other TensorFlow work fixes the
    setting as the environment has it then.
    """
    import tensorflow as tf

    size = 8  # smaller matmuls do not go through oneDNN
    kernel, bias = tf.Variable(tf.eye(size)), tf.Variable(tf.zeros([size]))
    probe = tf.function(lambda x: tf.nn.bias_add(tf.matmul(x, kernel), bias))
    ones = tf.ones([size, size])
    first = float(probe(ones)[0, 0])
    kernel.assign(2.0 * tf.eye(size))
    return float(probe(ones)[0, 0]) == first


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
