"""The Keras 3 layer: the same outputs as the tf_keras pipeline, fine-tuning, saving and loading."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bert_hub.core.config import shipped_config_dir


@pytest.fixture(scope="module")
def keras3_model(tiny_bundle):
    import keras

    from bert_hub.hub.keras3 import BertEncoderLayer

    layer = BertEncoderLayer(str(tiny_bundle / "preprocess"), str(tiny_bundle / "encoder"), trainable=True)
    text = keras.Input(shape=(), dtype="string")
    outputs = layer(text)
    logits = keras.layers.Dense(1)(outputs["pooled_output"])
    model = keras.Model(text, logits)
    return layer, outputs, model


def test_keras3_layer_outputs_equal_tf_keras_pipeline(tiny, keras3_model):
    import tensorflow as tf

    layer, symbolic, _ = keras3_model
    assert set(symbolic) == {"encoder_outputs", "sequence_output", "pooled_output", "default"}
    assert len(symbolic["encoder_outputs"]) == 2 and symbolic["pooled_output"].shape == (None, 32)
    texts = ["the cat sat on the mat", "hello world"]
    ours = layer(tf.constant(texts))
    ref = tiny.model(tf.constant(texts))
    for key in ("sequence_output", "pooled_output", "default"):
        np.testing.assert_allclose(np.asarray(ours[key]), ref[key].numpy(), atol=1e-6)
    assert len(layer.trainable_weights) == len(tiny.encoder.trainable_variables)


def test_keras3_fine_tunes_and_round_trips(tmp_path, keras3_model):
    import keras
    import tensorflow as tf

    layer, _, model = keras3_model
    keras.utils.set_random_seed(0)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss=keras.losses.BinaryCrossentropy(from_logits=True))
    x = tf.constant(["spam mail", "hello world", "this is spam !", "the cat sat on the mat"] * 4)  # tiny vocab words
    y = tf.constant([1.0, 0.0, 1.0, 0.0] * 4)
    before = layer._encoder.variables[0].numpy().copy()
    loss_before = model.evaluate(x, y, verbose=0)  # inference mode: no dropout noise
    model.fit(x, y, epochs=15, batch_size=4, verbose=0)
    assert model.evaluate(x, y, verbose=0) < 0.8 * loss_before
    assert not np.allclose(before, layer._encoder.variables[0].numpy())  # the encoder itself was trained
    path = tmp_path / "clf.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)


def test_keras3_layer_from_config_name():
    from bert_hub.hub.keras3 import BertEncoderLayer

    layer = BertEncoderLayer.from_config_name("default")
    assert Path(layer.encoder_path).name == "encoder" and layer.trainable is False
    assert shipped_config_dir().is_dir()
