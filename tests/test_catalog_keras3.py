"""The model catalog (data, offline status) and the Keras 3 layer."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from bert_hub.catalog import catalog
from bert_hub.config import shipped_config_dir
from bert_hub.handles import parse_handle
from conftest import run


def test_every_catalog_entry_is_consistent():
    entries = catalog()
    assert len(entries) >= 38
    for e in entries:
        c, a = e.config, e.config.architecture
        assert c.name == Path(e.file).stem or e.file == "default.yaml", e.file
        for handle in (c.preprocess, c.encoder):
            assert parse_handle(handle.text).kind in ("kaggle", "tfhub_url", "embedded"), handle.text
        assert a.hidden % a.heads == 0 and a.layers >= 1
        assert c.params > 0 and abs(a.param_count() - c.params) / c.params <= 0.01, (c.name, a.param_count())


def test_catalog_covers_the_family():
    names = {e.config.name for e in catalog()}
    for L in (2, 4, 6, 8, 10, 12):
        for H in (128, 256, 512, 768):
            assert f"small_bert_en_uncased_L-{L}_H-{H}_A-{H // 64}" in names
    assert {"bert_en_uncased_L-12_H-768_A-12", "bert_en_cased_L-12_H-768_A-12", "bert_en_uncased_L-24_H-1024_A-16",
            "bert_en_cased_L-24_H-1024_A-16", "bert_multi_cased_L-12_H-768_A-12", "albert_en_base",
            "albert_en_large", "albert_en_xlarge", "albert_en_xxlarge", "electra_small", "electra_base",
            "experts_bert_pubmed", "experts_bert_wiki_books", "talkheads_ggelu_bert_en_base"} <= names
    albert = next(e.config for e in catalog() if e.config.name == "albert_en_base")
    assert albert.architecture.shared_layers and "SentencePiece" in albert.notes


def test_param_count_matches_a_built_model(tiny):
    count = sum(int(np.prod(v.shape)) for v in tiny.encoder.variables)
    assert tiny.config.architecture.param_count() == count


def test_models_cli_reports_offline_status(tiny_bundle):
    rows = {r["name"]: r for r in json.loads(run("models", "--json").stdout)["models"]}
    assert rows["all-MiniLM-L6-v2"]["offline"] is True
    assert rows["bert_en_cased_L-24_H-1024_A-16"]["offline"] is False
    # Put a model in the tensorflow_hub cache under its URL: it becomes available offline.
    import hashlib

    entry = rows["small_bert_en_uncased_L-2_H-128_A-2"]
    cache = Path(os.environ["TFHUB_CACHE_DIR"])
    for role in ("preprocess", "encoder"):
        target = cache / hashlib.sha1(entry[role].encode()).hexdigest()
        shutil.copytree(tiny_bundle / role, target, dirs_exist_ok=True)
    rows = {r["name"]: r for r in json.loads(run("models", "--json").stdout)["models"]}
    assert rows["small_bert_en_uncased_L-2_H-128_A-2"]["offline"] is True
    assert rows["small_bert_en_uncased_L-2_H-128_A-2"]["encoder_offline"] == "tensorflow_hub cache"
    text = run("models").stdout
    assert "small_bert_en_uncased_L-2_H-128_A-2" in text and "available offline" in text


def test_builder_refuses_non_bert_layouts(tmp_path, tiny_vocab):
    from bert_hub.builder.bundle import write_bundle
    from bert_hub.config import Architecture
    from bert_hub.errors import InputError

    arch = Architecture(layers=1, hidden=8, heads=2, vocab_size=10, shared_layers=True)
    with pytest.raises(InputError, match="original BERT layout only"):
        write_bundle(tmp_path / "x", name="albert-like", architecture=arch, weights={}, vocab_file=tiny_vocab,
                     lower_case=True)


@pytest.fixture(scope="module")
def keras3_model(tiny_bundle):
    import keras

    from bert_hub.keras3 import BertEncoderLayer

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
    from bert_hub.keras3 import BertEncoderLayer

    layer = BertEncoderLayer.from_config_name("default")
    assert Path(layer.encoder_path).name == "encoder" and layer.trainable is False
    assert shipped_config_dir().is_dir()
