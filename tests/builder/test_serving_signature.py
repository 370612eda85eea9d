"""Every encoder bert_hub writes has the ``serving_default`` signature the real ones have."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from bert_hub.core.interface import INPUT_KEYS, select, serving_output_names


def signature(encoder_dir: Path):
    return tf.saved_model.load(str(encoder_dir)).signatures["serving_default"]


@pytest.mark.parametrize("which", ["tiny", "minilm", "mlm_bert"])  # built, embedded default, converted with mlm
def test_signature_inputs_and_outputs(which, request):
    bert = request.getfixturevalue(which)
    sig = signature(bert.encoder_dir)
    _, inputs = sig.structured_input_signature
    assert sorted(inputs) == sorted(INPUT_KEYS)
    assert all(spec.dtype == tf.int32 and spec.shape.as_list() == [None, None] for spec in inputs.values())
    layers = bert.config.architecture.layers
    hidden = bert.config.architecture.hidden
    names = serving_output_names(layers)
    assert set(sig.structured_outputs) == set(names) and len(names) == layers + 3
    for name, key in names.items():
        per_token = key == "sequence_output" or key.startswith("encoder_outputs")
        assert sig.structured_outputs[name].shape.as_list() == ([None, None, hidden] if per_token else [None, hidden])


@pytest.mark.parametrize("seq_length", [16, 128])
def test_signature_outputs_equal_call(minilm, seq_length):
    inputs = minilm.pack([["how old are you?", "This is a spam mail"], ["I am six", "win cash"]], seq_length=seq_length)
    assert inputs["input_type_ids"].max() == 1  # sentence pairs
    served = signature(minilm.encoder_dir)(**{k: tf.constant(v) for k, v in inputs.items()})
    called = minilm.encode_inputs(inputs)
    for name, key in serving_output_names(6).items():
        # two graphs, float32, each optimised on its own (oneDNN may fuse the GELU in one and not the other)
        assert np.abs(served[name].numpy() - np.asarray(select(called, key))).max() <= 3e-4, name


def test_mlm_stays_a_separate_callable(mlm_bert):
    encoder = tf.saved_model.load(str(mlm_bert.encoder_dir))
    assert list(encoder.signatures) == ["serving_default"] and hasattr(encoder, "mlm")
    assert not any("mlm" in name for name in encoder.signatures["serving_default"].structured_outputs)


def test_saved_model_cli_shows_it(tiny):
    cli = Path(sys.executable).with_name("saved_model_cli")
    show = subprocess.run(
        [str(cli), "show", "--dir", str(tiny.encoder_dir), "--all"], capture_output=True, text=True, timeout=300
    )
    assert show.returncode == 0, show.stderr[-2000:]
    assert "signature_def['serving_default']" in show.stdout
    for name in [*INPUT_KEYS, *serving_output_names(2)]:
        assert f"['{name}']" in show.stdout, name


def test_tfsmlayer_equals_hub_keraslayer(minilm):
    import keras
    import tensorflow_hub as hub

    inputs = minilm.preprocess(["This is a spam mail", "Computers are not unique to computers"], seq_length=24)
    feed = {k: tf.constant(v) for k, v in inputs.items()}
    tfsm = keras.layers.TFSMLayer(str(minilm.encoder_dir), call_endpoint="serving_default")(feed)
    via_hub = hub.KerasLayer(str(minilm.encoder_dir))(feed)
    for name, key in serving_output_names(6).items():
        assert np.abs(np.asarray(tfsm[name]) - select(via_hub, key).numpy()).max() <= 1e-4, name
