"""Mixed-precision fine-tuning: bfloat16 compute, float32 weights, optimizer state and loss.

A training in bfloat16 runs TensorFlow's oneDNN auto-mixed-precision rewrite
over the whole step that ``fit`` calls (forward, backward, the optimizer's
update and the validation pass), set for the thread that trains only
(`bert_hub.runtime.precision.precision_scope`). The rewrite turns the
matmuls, and the element-wise ops between two of them, to bfloat16, and
keeps float32 where the numbers need it: the variables (the float32 master
weights, read and cast once a step), the optimizer's moments and update
(``ResourceApplyAdam`` is not rewritten), and the loss with its reductions.
It rewrites the graph TensorFlow runs, not the Keras layers, so it reaches
the encoder's restored SavedModel functions too: the encoders bert_hub
writes, and the Kaggle / TF Hub encoders that ``hub.KerasLayer`` fine-tunes
as the notebook does. Only the train and test steps are rewritten (not
callbacks, checkpoints or predictions): checkpoints and the exported model
stay float32, and the test metrics are computed in float32.

``auto`` (the default) trains in float32 on a CPU without native bfloat16
(AVX512-BF16 or AMX): there the rewrite runs emulated and is slower (a
forward and backward pass of all-MiniLM-L6-v2 1.5x slower on an AVX2 AMD
EPYC). On one with it, the first training of a model shape measures one
forward and backward pass of a real batch in each precision (seconds, once;
kept in bert_hub's ``calibration.json`` beside the embedder's, keyed by CPU,
TensorFlow version, kernels, model shape and graph, batch size and
replicas) and takes the faster. A multi-worker run does not measure (its
workers would each choose on their own CPU): ``auto`` is float32 there.
``bfloat16`` and ``float32`` choose without measuring.

Examples:
    >>> from bert_hub.finetune.mixed_precision import training_modes
    >>> " ".join(m.name for m in training_modes("auto", native_bf16=False))
    'fp32'
    >>> " ".join(m.name for m in training_modes("auto", native_bf16=True))
    'fp32 bf16'
    >>> " ".join(m.precision for m in training_modes("bfloat16", native_bf16=False))
    'bfloat16'
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from bert_hub.core.cpu import cpu_supports_bf16
from bert_hub.runtime import batching
from bert_hub.runtime.calibration import MODES, Mode, allowed_modes, calibration_key, choose, time_calls
from bert_hub.runtime.precision import precision_scope


@dataclasses.dataclass(frozen=True)
class TrainingPrecision:
    """The precision a training runs in, and how it was chosen.

    Attributes:
        mode: the chosen mode (no XLA).
        requested: the setting: ``auto``, ``float32`` or ``bfloat16``.
        speeds: seconds of one forward and backward pass of each precision on this CPU (for ``auto``
            where it measures; empty otherwise).
        reason: why ``auto`` chose without measuring (else empty).
        warning: what is wrong with the precision set (bfloat16 on a CPU that emulates it; else empty).
    """

    mode: Mode
    requested: str
    speeds: dict[str, float]
    reason: str = ""
    warning: str = ""

    @property
    def precision(self) -> str:
        """The precision chosen: ``float32`` or ``bfloat16``."""
        return self.mode.precision

    def describe(self) -> str:
        """One line for the log: the precision and why."""
        if self.requested != "auto":
            return f"training in {self.precision} (set: precision {self.requested}, not auto)" + (
                f"; {self.warning}" if self.warning else ""
            )
        if self.reason:
            return f"training in {self.precision} (auto: {self.reason})"
        return (
            f"training in {self.precision} (auto: a forward and backward pass took {self.speeds['bf16']:.3f} s "
            f"in bfloat16, {self.speeds['fp32']:.3f} s in float32 on this CPU)"
        )

    @contextlib.contextmanager
    def steps(self, model: Any) -> Iterator[None]:
        """For the block, ``model``'s train and test steps (the functions ``fit`` and ``evaluate`` call) run in
        this precision, in the calling thread; callbacks, checkpoints and predictions are not rewritten."""
        saved = model.train_function, model.test_function
        model.train_function = _in_precision(model.make_train_function(), self.mode.bf16)
        model.test_function = _in_precision(model.make_test_function(), self.mode.bf16)
        try:
            yield
        finally:
            model.train_function, model.test_function = saved


def _in_precision(step: Callable[..., Any], bf16: bool) -> Callable[..., Any]:
    def run(*args: Any, **kwargs: Any) -> Any:
        with precision_scope(bf16):
            return step(*args, **kwargs)

    return run


def training_modes(requested: str, *, native_bf16: bool | None = None) -> list[Mode]:
    """The candidate modes for a ``precision`` setting (no XLA: it compiles the float32 graph)."""
    return allowed_modes(requested, False, native_bf16=native_bf16)


def choose_precision(
    requested: str,
    model: Any,
    examples: Any,
    buckets: Any,
    batch_size: int,
    shape: str,
    dist: Any = None,
    *,
    multi_worker: bool = False,
    native_bf16: bool | None = None,
    notify: Callable[[str], None] | None = None,
) -> TrainingPrecision:
    """The precision to train ``model`` in: ``requested``, or for ``auto`` the faster on this CPU.

    Args:
        requested: ``auto``, ``float32`` or ``bfloat16``.
        model: the compiled Keras model (its loss is what is differentiated).
        examples: the training [`Examples`][bert_hub.finetune.task.Examples]; the measure takes the batch of
            median length.
        buckets: the bucket lengths batches are packed to.
        batch_size: examples per step (part of the cache key).
        shape: the model's shape and graph, for the cache key (``L=6 H=384 ...``).
        dist: the distribution strategy the model was built under (each replica runs the measured pass);
            default: TensorFlow's default strategy.
        multi_worker: the run spans several workers (``auto`` does not measure: float32).
        native_bf16: whether the CPU computes bfloat16 natively (default: read from the CPU).
        notify: told once, before measuring.
    """
    import tensorflow as tf

    dist = dist or tf.distribute.get_strategy()
    native = cpu_supports_bf16() if native_bf16 is None else native_bf16
    modes = training_modes(requested, native_bf16=native)
    if requested == "bfloat16" and not native:
        return TrainingPrecision(
            modes[0],
            requested,
            {},
            warning="this CPU has no native bfloat16: it is "
            "emulated, slower than float32 (auto would train in float32)",
        )
    if requested != "auto":  # one mode: nothing to measure or read
        return TrainingPrecision(modes[0], requested, {})
    if not native:
        return TrainingPrecision(MODES["fp32"], requested, {}, "this CPU has no native bfloat16")
    if multi_worker:
        return TrainingPrecision(
            MODES["fp32"], requested, {}, "a multi-worker run does not measure; `precision` bfloat16 asks for it"
        )
    replicas = dist.num_replicas_in_sync
    key = calibration_key(f"{shape} | training" + (f" | {replicas} replicas" if replicas > 1 else ""), batch_size)
    measure = _ForwardBackward(model, examples, buckets, batch_size, dist)
    mode, speeds = choose(key, modes, measure, notify, details={"length": measure.length})
    return TrainingPrecision(mode, requested, speeds)


class _ForwardBackward:
    """A measure for `choose`: seconds of one forward and backward pass
    of the batch of median length in a mode, updating nothing (the loss metric it feeds is reset after).

    Traced on first use only (a cached choice traces nothing). The forward runs in inference mode: the
    dropout masks cost the same in either precision, and leaving them out draws no random numbers.
    """

    def __init__(self, model: Any, examples: Any, buckets: Any, batch_size: int, dist: Any) -> None:
        batches = batching.length_sorted_batches(examples.lengths, batch_size)
        self.batch = batches[len(batches) // 2]
        self.length = int(np.max(examples.lengths[self.batch]))
        self._model, self._examples, self._buckets, self._dist = model, examples, buckets, dist
        self._step: Any = None

    def __call__(self, mode: Mode) -> float:
        if self._step is None:
            self._step, inputs = self._build()
            self._call = lambda: self._step(*inputs)
        try:
            with precision_scope(mode.bf16):
                return time_calls(self._call)
        finally:
            self._model.reset_metrics()

    def _build(self) -> tuple[Any, tuple[Any, ...]]:
        import tensorflow as tf
        import tf_keras

        model = self._model
        x, y, weight = tf_keras.utils.unpack_x_y_sample_weight(
            next(iter(self._examples.dataset([self.batch], self._buckets)))
        )

        def replica(x: Any, y: Any, weight: Any = None) -> Any:
            with tf.GradientTape() as tape:
                loss = model.compute_loss(x, y, model(x, training=False), weight)
            return tape.gradient(loss, model.trainable_variables)

        step = tf.function(lambda *args: self._dist.run(replica, args=args))
        return step, ((x, y) if weight is None else (x, y, weight))
