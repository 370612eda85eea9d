"""bert_hub inside Keras 3: a layer that runs the preprocess and encoder SavedModels.

With TensorFlow >= 2.16 ``keras`` is Keras 3, and ``hub.KerasLayer`` (a
Keras 2 layer) cannot be added to a Keras 3 model ("Only instances of
``keras.Layer`` can be added"). `BertEncoderLayer` is a Keras 3 layer
for the TensorFlow backend: strings in, the encoder's four outputs out. With
``trainable=True`` the encoder's variables are the layer's trainable weights
(the very variables the SavedModel computes with), so ``model.fit`` fine-tunes
it; ``model.save("m.keras")`` stores the paths and the weights, and
``keras.models.load_model`` restores both (the SavedModels must still be at
those paths).

Examples:
    >>> import keras
    >>> from bert_hub.hub.keras3 import BertEncoderLayer
    >>> text = keras.Input(shape=(), dtype="string")
    >>> bert = BertEncoderLayer.from_config_name("default")
    >>> outputs = bert(text)
    >>> model = keras.Model(text, keras.layers.Dense(1)(outputs["pooled_output"]))
"""

from __future__ import annotations

import os
from typing import Any

import keras
import tensorflow as tf
from typing_extensions import override

from bert_hub.core.config import load_config
from bert_hub.core.interface import OUTPUT_KEYS
from bert_hub.hub.loading import load_encoder, load_preprocess
from bert_hub.hub.resolution import resolve


@keras.saving.register_keras_serializable(package="bert_hub")
class BertEncoderLayer(keras.layers.Layer):
    """Keras 3 layer: ``tf.string [batch]`` -> ``{encoder_outputs, sequence_output, pooled_output, default}``.

    Args:
        preprocess: path of a preprocess SavedModel.
        encoder: path of an encoder SavedModel.
        seq_length: pack to this length (default: the preprocess model's 128).
        trainable: fine-tune the encoder.
    """

    def __init__(
        self, preprocess: str, encoder: str, seq_length: int | None = None, trainable: bool = False, **kwargs: Any
    ):
        super().__init__(trainable=trainable, **kwargs)
        self.preprocess_path, self.encoder_path = str(preprocess), str(encoder)
        self.seq_length = seq_length
        self._preprocess = load_preprocess(self.preprocess_path)
        self._encoder = load_encoder(self.encoder_path)
        trainable_ids = {id(v) for v in getattr(self._encoder, "trainable_variables", [])}
        # Keras variables that *are* the SavedModel's variables (a tf.Variable
        # as initializer is adopted, not copied); tracked as an attribute.
        self.encoder_variables = [
            keras.Variable(
                initializer=v,
                trainable=id(v) in trainable_ids,
                dtype=v.dtype.name,
                name=v.name.split(":")[0].replace("/", "_"),
            )
            for v in getattr(self._encoder, "variables", [])
        ]
        self._shapes: tuple[int, int] | None = None
        self.built = True

    @classmethod
    def from_config_name(cls, config: str | os.PathLike[str] = "default", **kwargs: Any) -> BertEncoderLayer:
        """Builds the layer from a bert_hub config (resolving its handles)."""
        cfg = load_config(config)
        seq = None if cfg.seq_length == 128 else cfg.seq_length
        return cls(str(resolve(cfg.preprocess)), str(resolve(cfg.encoder)), seq_length=seq, **kwargs)

    @override
    def call(self, inputs: Any, training: bool = False) -> dict[str, Any]:
        text = tf.reshape(tf.convert_to_tensor(inputs, tf.string), [-1])
        if self.seq_length is None:
            encoder_inputs = self._preprocess(text)
        else:
            tokens = self._preprocess.tokenize(text)
            encoder_inputs = self._preprocess.bert_pack_inputs(
                [tokens], seq_length=tf.constant(self.seq_length, tf.int32)
            )
        out = self._encoder(dict(encoder_inputs), training=bool(training) and self.trainable)
        return {k: list(out[k]) if k == "encoder_outputs" else out[k] for k in OUTPUT_KEYS}

    def encoder_shape(self) -> tuple[int, int]:
        """(layers, hidden size), read from the encoder's outputs on a probe text (once).

        Read from what the encoder returns, not from its variables, so that
        factorized embeddings (ALBERT: 128 wide, projected to H) do not mislead.
        """
        if self._shapes is None:
            out = self._encoder(dict(self._preprocess(tf.constant(["probe"]))))
            self._shapes = (len(out["encoder_outputs"]), int(out["pooled_output"].shape[-1]))
        return self._shapes

    @override
    def compute_output_spec(self, inputs: Any, training: bool = False) -> dict[str, Any]:
        layers, hidden = self.encoder_shape()
        batch = inputs.shape[0] if len(inputs.shape) else None
        length = self.seq_length or 128
        seq = keras.KerasTensor((batch, length, hidden), dtype="float32")
        pooled = keras.KerasTensor((batch, hidden), dtype="float32")
        return {
            "encoder_outputs": [keras.KerasTensor((batch, length, hidden), dtype="float32") for _ in range(layers)],
            "sequence_output": seq,
            "pooled_output": pooled,
            "default": keras.KerasTensor((batch, hidden), dtype="float32"),
        }

    @override
    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "preprocess": self.preprocess_path,
            "encoder": self.encoder_path,
            "seq_length": self.seq_length,
        }


__all__ = ["BertEncoderLayer"]
