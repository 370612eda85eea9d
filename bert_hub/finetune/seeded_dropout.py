"""Dropout for a task's head, drawn from ``(seed, training step)``: a resumed run repeats it exactly.

Keras' ``Dropout`` draws from a random state that lives in the process, so
a run resumed from a checkpoint draws other masks than the run that went on
without stopping, and the two drift apart (in the fourth digit of the loss
after one more epoch). `SeededDropout` is stateless, as the dropout of
the encoders bert_hub builds is (`bert_hub.builder.encoder.dropout_mask`):
each training call draws its mask from ``(seed, call)``, and the call count is
a weight of the model, saved in its checkpoints, so a resumed run continues the
same sequence.

Examples:
    >>> import tensorflow as tf
    >>> from bert_hub.finetune.seeded_dropout import SeededDropout
    >>> layer = SeededDropout(0.5, seed=7)
    >>> x = tf.ones([2, 8])
    >>> bool(tf.reduce_all(layer(x, training=False) == x))
    True
    >>> first = layer(x, training=True)
    >>> again = SeededDropout(0.5, seed=7)(x, training=True)
    >>> bool(tf.reduce_all(first == again)), int(layer.calls.numpy()[1])
    (True, 1)
"""

from __future__ import annotations

from typing import Any

HEAD_SITE = 0x5EED
"""Folded into the seed so that a head's masks differ from the encoder's drawn from the same seed."""


def SeededDropout(rate: float, seed: int, **kwargs: Any) -> Any:
    """A ``tf_keras`` layer: dropout at ``rate`` when training, drawn from ``(seed, training call)``.

    Args:
        rate: the fraction of elements dropped, in ``[0, 1)``.
        seed: the run's seed (``TrainConfig.seed``).
        **kwargs: passed to the Keras layer (``name``).
    """
    import tensorflow as tf
    import tf_keras

    from bert_hub.builder.encoder import dropout_mask

    class _SeededDropout(tf_keras.layers.Layer):
        def __init__(self, rate: float, seed: int, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.rate, self.seed = float(rate), int(seed)

        def build(self, input_shape: Any) -> None:
            # [seed, training calls so far]: a weight, so checkpoints keep how far the sequence went.
            self.calls = self.add_weight(
                name="dropout_seed",
                shape=[2],
                dtype=tf.int64,
                trainable=False,
                initializer=tf_keras.initializers.Constant([self.seed, 0]),
                aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA,
            )
            super().build(input_shape)

        def call(self, inputs: Any, training: Any = None) -> Any:
            if not training or self.rate <= 0:
                return inputs
            step = self.calls.assign_add(tf.constant([0, 1], tf.int64)) - tf.constant([0, 1], tf.int64)
            seed = tf.random.experimental.stateless_fold_in(step, HEAD_SITE)
            return inputs * dropout_mask(tf.shape(inputs), self.rate, seed, inputs.dtype)

        def get_config(self) -> dict[str, Any]:
            return {**super().get_config(), "rate": self.rate, "seed": self.seed}

    return _SeededDropout(rate, seed, **kwargs)
