"""The fine-tuning optimizer: AdamW with a linear warm-up and a linear decay, one fused kernel per variable.

Every task trains with [`adamw`][bert_hub.finetune.optimizer.adamw]: decoupled weight decay (not on
LayerNorm or biases), a learning rate rising linearly over the first
``warmup`` steps and falling linearly to zero at ``total``.

`FusedAdamW` is ``tf_keras``' AdamW (same slots, same checkpoints,
same arithmetic) with its update written as TensorFlow's own Adam kernel,
``ResourceApplyAdam``: one pass over a variable and its two moments instead
of a dozen element-wise kernels, each reading and writing the whole tensor.
On a CPU, where ``tf_keras`` does not compile its update with XLA, that is
the difference between ~110 and ~40 ms a step for all-MiniLM-L6-v2 (its
word embeddings alone are 11.7M weights), and the training step traces in
half the time. The learning rate and the bias corrections are computed once
a step, not once a variable. A sparse gradient (the word embeddings') is
made dense first: Adam decays every row's moments each step anyway, which is
what ``tf_keras``' sparse branch computes too.

The weight decay is one pass too: ``variable * (1 - lr * decay)`` takes the
variable's place (``assign_sub`` of the product reads and writes it twice
more). And a gathered variable (the embeddings) is put back out of
TensorFlow's copy-on-read mode before its update: the forward pass's gather
sets it, after which every read and every in-place update of the variable
first copies it whole (for all-MiniLM-L6-v2, its largest variable). The
measurements are in docs/benchmarks-log.md.

Examples:
    >>> schedule = warmup_linear_decay(peak=1e-4, total=100, warmup=10)
    >>> tuple(round(float(schedule(s)), 7) for s in (0, 5, 10, 55, 100))
    (0.0, 5e-05, 0.0001, 5e-05, 0.0)
    >>> type(adamw(peak=1e-4, total=100, warmup=10, weight_decay=0.01)).__name__
    'FusedAdamW'
"""

from __future__ import annotations

from typing import Any

WEIGHT_DECAY_EXCLUDE = ["layer_norm", "LayerNorm", "bias", "beta", "gamma"]
"""Variables whose names match one of these are not decayed (BERT's recipe)."""


def warmup_linear_decay(peak: float, total: int, warmup: int) -> Any:
    """A schedule: linear warm-up to ``peak`` over ``warmup`` steps, then linear decay to 0 at ``total``."""
    import tensorflow as tf
    import tf_keras

    class WarmupLinearDecay(tf_keras.optimizers.schedules.LearningRateSchedule):
        def __call__(self, step):
            step = tf.cast(step, tf.float32)
            warm = peak * step / max(warmup, 1)
            decay = peak * tf.maximum(0.0, (total - step) / max(total - warmup, 1))
            return tf.where(step < warmup, warm, decay)

        def get_config(self):
            return {"peak": peak, "total": total, "warmup": warmup}

    return WarmupLinearDecay()


def adamw(peak: float, total: int, warmup: int, weight_decay: float) -> Any:
    """A `FusedAdamW` on [`warmup_linear_decay`][bert_hub.finetune.optimizer.warmup_linear_decay], LayerNorm and biases
    left undecayed."""
    optimizer = _fused_adamw_class()(learning_rate=warmup_linear_decay(peak, total, warmup), weight_decay=weight_decay)
    optimizer.exclude_from_weight_decay(var_names=WEIGHT_DECAY_EXCLUDE)
    return optimizer


_CLASS: list[type] = []


def _fused_adamw_class() -> type:
    """`FusedAdamW`, defined once TensorFlow is imported (bert_hub imports it lazily)."""
    if _CLASS:
        return _CLASS[0]
    import tensorflow as tf
    import tf_keras

    class FusedAdamW(tf_keras.optimizers.AdamW):
        """``tf_keras.optimizers.AdamW`` updating each variable with one ``ResourceApplyAdam`` kernel."""

        _step_scalars: tuple[Any, Any, Any] | None = None

        def _apply_weight_decay(self, variables):
            pass  # in update_step, just before the variable's Adam update (tf_keras' order)

        def _internal_apply_gradients(self, grads_and_vars):
            step = tf.cast(self.iterations + 1, tf.float32)
            self._step_scalars = (
                tf.cast(self.learning_rate, tf.float32),
                tf.pow(tf.cast(self.beta_1, tf.float32), step),
                tf.pow(tf.cast(self.beta_2, tf.float32), step),
            )
            try:
                return super()._internal_apply_gradients(grads_and_vars)
            finally:
                self._step_scalars = None

        def update_step(self, gradient, variable):
            sparse = isinstance(gradient, tf.IndexedSlices)
            if sparse:  # gathered: out of copy-on-read mode, or the reads and the update below copy it whole
                tf.raw_ops.DisableCopyOnRead(resource=variable.handle)  # (in place stays safe: refcounted)
            lr = self.learning_rate if self._step_scalars is None else self._step_scalars[0]
            if self.weight_decay and self._use_weight_decay(variable):
                # One pass: the product replaces the variable's buffer (assign_sub would be two more).
                variable.assign(variable * tf.cast(1.0 - self.weight_decay * lr, variable.dtype), read_value=False)
            if self.amsgrad or variable.dtype != tf.float32 or self._step_scalars is None:
                return super().update_step(gradient, variable)
            _, beta_1_power, beta_2_power = self._step_scalars
            index = self._index_dict[self._var_key(variable)]
            tf.raw_ops.ResourceApplyAdam(
                var=variable.handle,
                m=self._momentums[index].handle,
                v=self._velocities[index].handle,
                beta1_power=beta_1_power,
                beta2_power=beta_2_power,
                lr=lr,
                beta1=tf.constant(self.beta_1),
                beta2=tf.constant(self.beta_2),
                epsilon=tf.constant(self.epsilon),
                grad=tf.convert_to_tensor(gradient) if sparse else gradient,
            )

    FusedAdamW.__name__ = FusedAdamW.__qualname__ = "FusedAdamW"
    _CLASS.append(FusedAdamW)
    return FusedAdamW
