"""Numeric precision: float32, or bfloat16 through oneDNN (what the CPU computes natively: `bert_hub.core.cpu`).

TensorFlow's bfloat16 path is oneDNN's auto-mixed-precision rewrite, a
process-wide option; `precision_scope` sets it instead in the
calling thread's own function-call options, only around the calls that want
it, so threads embedding at once never see each other's choice. Whether
bfloat16 is worth it on a CPU is measured, not assumed: see
`bert_hub.runtime.calibration`.

*Frozen weights.* oneDNN computes a matmul fastest (AMX's tiles) with its
weight matrix packed in a blocked layout; TensorFlow packs (and, in
bfloat16, converts) the weights again at every call unless they are
graph constants, or unless ``TF_ONEDNN_ASSUME_FROZEN_WEIGHTS`` was set
when the process first ran a oneDNN matmul: then every matmul-with-bias
kernel packs its weights once and keeps them. That is 1.4-1.5x faster in
bfloat16 on an AMX CPU, but it is process-wide and permanent, and wrong for
a process that changes weights: training would keep using the first step's
weights. So the ``bert-hub`` inference commands (``embed``, ``predict``,
``evaluate``, ...) set it at start-up ([`assume_frozen_weights`][bert_hub.runtime.precision.assume_frozen_weights]), the
Python API leaves it to the caller, and training refuses to run where it is
on (`weights_frozen`).

Examples:
    >>> from bert_hub.runtime.precision import PRECISIONS
    >>> PRECISIONS
    ('auto', 'float32', 'bfloat16', 'int8')
"""

from __future__ import annotations

import contextlib
import functools
import os
import platform
import sys
from collections.abc import Iterator
from typing import Any

from bert_hub.core.cpu import cpu_flags

PRECISIONS = ("auto", "float32", "bfloat16", "int8")
"""``--precision`` choices (``int8`` for inference only: see `bert_hub.builder.int8`)."""
TRAINING_PRECISIONS = ("auto", "float32", "bfloat16")
"""The precisions a training runs in: gradients need floats."""
FROZEN_WEIGHTS_VARIABLE = "TF_ONEDNN_ASSUME_FROZEN_WEIGHTS"
"""TensorFlow's switch for oneDNN weight caching (read once per process)."""
ONEDNN_VARIABLE = "TF_ENABLE_ONEDNN_OPTS"
"""TensorFlow's switch for its oneDNN kernels (read once, when TensorFlow is imported)."""


def enable_onednn() -> bool:
    """Turns on TensorFlow's oneDNN kernels on an x86 CPU where TensorFlow would leave them off.

    TensorFlow 2.21 uses oneDNN by default only on x86 CPUs with AVX-512
    VNNI, AVX-VNNI, bfloat16 or AMX; on the others (AVX2 CPUs: many AMD
    EPYC and older Xeons) it runs its Eigen kernels, which are slower at
    BERT's float32 matmuls: on a 2-core AMD EPYC, oneDNN fine-tunes
    all-MiniLM-L6-v2 about 1.5x faster and embeds short texts about 1.2x
    faster (``docs/benchmarks.md``). Sets ``TF_ENABLE_ONEDNN_OPTS=1`` on an
    x86 CPU with AVX2 unless the environment already says otherwise (``=0``
    keeps Eigen; an empty value counts as unset). It must run before TensorFlow is imported (it returns
    False, changing nothing, when TensorFlow already is); the ``bert-hub``
    program calls it at start-up. Returns whether it set the variable.

    Examples:
        A script, before importing TensorFlow or bert_hub's models:

        ```python
        from bert_hub.runtime.precision import enable_onednn
        enable_onednn()
        import tensorflow as tf
        ```
    """
    if platform.machine().lower() not in ("x86_64", "amd64") or "avx2" not in cpu_flags():
        return False
    return set_before_tensorflow(ONEDNN_VARIABLE)


def set_before_tensorflow(variable: str, value: str = "1") -> bool:
    """Sets ``variable``, one TensorFlow reads once, when it is imported: only before that, and only
    when the environment has no value for it (an empty one counts as none). Returns whether it set it."""
    if "tensorflow" in sys.modules or os.environ.get(variable, "").strip():
        return False
    os.environ[variable] = value
    return True


def onednn_enabled() -> bool:
    """Whether this process's TensorFlow runs its oneDNN kernels (see
    [`enable_onednn`][bert_hub.runtime.precision.enable_onednn])."""
    from tensorflow.python.util import _pywrap_util_port  # the only place TensorFlow says so

    return bool(_pywrap_util_port.IsMklEnabled())


def kernels() -> str:
    """``oneDNN`` or ``Eigen``: the kernels this process's TensorFlow runs (in reports and cache keys)."""
    return "oneDNN" if onednn_enabled() else "Eigen"


def assume_frozen_weights() -> None:
    """Lets oneDNN pack each matmul's weights once, for a process that only runs inference.

    Sets ``TF_ONEDNN_ASSUME_FROZEN_WEIGHTS=1`` unless the environment already
    says otherwise (``=0`` keeps it off). TensorFlow reads the variable once,
    when the process first runs a oneDNN matmul, so call this before any
    TensorFlow work; afterwards it changes nothing (`weights_frozen`
    tells). Never in a process that trains or changes weights.

    Examples:
        An inference-only script:

        ```python
        from bert_hub.runtime.precision import assume_frozen_weights
        assume_frozen_weights()          # first, before TensorFlow runs anything
        from bert_hub.runtime.embedder import Embedder
        vectors = Embedder.from_config("default").embed(texts)
        ```
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
def precision_scope(bf16: bool) -> Iterator[None]:
    """Runs the block's TensorFlow function calls in bfloat16 (oneDNN's auto-mixed-precision rewrite) or in
    float32, in this thread only.

    TensorFlow hands each function call the graph-optimizer settings of the
    calling thread (``FunctionCallOptions``, kept per thread and built from
    the process's settings); this sets the bfloat16 rewrite in those of the
    current thread for the block and puts them back after. No process-wide
    option changes, so threads sharing an embedder (Beam's ``RunInference``
    in multi-threaded mode) each run at the precision they asked for, and
    code outside the block, in this thread or another, is not rewritten.
    """
    from tensorflow.core.protobuf import rewriter_config_pb2
    from tensorflow.python.eager import context  # the per-thread call options have no public API

    ctx = context.context()
    saved = ctx.function_call_options
    config = _call_config(saved)
    toggle = rewriter_config_pb2.RewriterConfig.ON if bf16 else rewriter_config_pb2.RewriterConfig.OFF
    config.graph_options.rewrite_options.auto_mixed_precision_onednn_bfloat16 = toggle
    ctx.function_call_options = context.FunctionCallOptions(executor_type=saved.executor_type, config_proto=config)
    try:
        yield
    finally:
        ctx.function_call_options = saved


def thread_uses_bf16() -> bool:
    """Whether function calls made now, in this thread, are rewritten to bfloat16 (see `precision_scope`)."""
    from tensorflow.core.protobuf import rewriter_config_pb2
    from tensorflow.python.eager import context

    toggle = _call_config(context.context().function_call_options).graph_options.rewrite_options
    return toggle.auto_mixed_precision_onednn_bfloat16 == rewriter_config_pb2.RewriterConfig.ON


def _call_config(options: Any) -> Any:
    """The ``ConfigProto`` a thread's ``FunctionCallOptions`` carry (a copy: changing it changes nothing)."""
    from tensorflow.core.protobuf import config_pb2

    config = config_pb2.ConfigProto()
    config.ParseFromString(options.config_proto_serialized)
    return config
