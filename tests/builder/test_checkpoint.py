"""Converting checkpoints: bad checkpoints are named errors, nothing half-written."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from bert_hub.builder.bundle import convert_checkpoint_bundle
from bert_hub.builder.checkpoint import read_checkpoint
from bert_hub.core.errors import CheckpointError


def small_checkpoint(tmp_path: Path, minilm_checkpoint: Path, minilm_tensors, edit=None, config_edit=None) -> Path:
    """MiniLM cut to one layer (fast to convert), optionally damaged by ``edit``."""
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    tensors = {
        k: v
        for k, v in minilm_tensors.items()
        if not k.startswith("encoder.layer.") or k.startswith("encoder.layer.0.")
    }
    if edit:
        edit(tensors)
    save_file(tensors, str(ckpt / "model.safetensors"))
    config = json.loads((minilm_checkpoint / "config.json").read_text())
    config["num_hidden_layers"] = 1
    if config_edit:
        config_edit(config)
    (ckpt / "config.json").write_text(json.dumps(config))
    shutil.copy(minilm_checkpoint / "vocab.txt", ckpt / "vocab.txt")
    return ckpt


def test_reads_minilm(minilm_checkpoint):
    ckpt = read_checkpoint(minilm_checkpoint)
    a = ckpt.architecture
    assert (a.layers, a.hidden, a.heads, a.intermediate, a.vocab_size) == (6, 384, 12, 1536, 30522)
    assert ckpt.lower_case is True and not a.cased
    assert "mlm/output_bias" not in ckpt.weights
    np.testing.assert_array_equal(
        ckpt.weights["transformer/layer_0/attention/query/kernel"],
        read_checkpoint(minilm_checkpoint).weights["transformer/layer_0/attention/query/kernel"],
    )


@pytest.mark.parametrize(
    "edit, config_edit, pattern",
    [
        (
            lambda t: t.pop("encoder.layer.0.attention.self.key.weight"),
            None,
            r"tensor 'encoder\.layer\.0\.attention\.self\.key\.weight' is missing",
        ),
        (
            lambda t: t.update({"pooler.dense.bias": np.zeros(7, np.float32)}),
            None,
            r"weight 'pooler/bias' has shape \(7,\), expected \(384,\)",
        ),
        (None, lambda c: c.update(model_type="roberta"), r"model_type is 'roberta'; only the BERT architecture"),
        (None, lambda c: c.update(model_type="distilbert"), r"model_type is 'distilbert'"),
        (None, lambda c: c.update(hidden_act="relu"), r"hidden_act 'relu' is not supported"),
        (None, lambda c: c.pop("hidden_size"), r"missing field 'hidden_size'"),
        (None, lambda c: c.update(vocab_size=100), r"has 30522 tokens but .* vocab_size=100"),
        (
            None,
            lambda c: c.update(num_hidden_layers="6"),
            r"field 'num_hidden_layers' must be a whole number, got \"6\"",
        ),
        (None, lambda c: c.update(hidden_size=384.0), r"field 'hidden_size' must be a whole number, got 384\.0"),
        (None, lambda c: c.update(num_attention_heads=True), r"'num_attention_heads' must be a whole number, got true"),
        (None, lambda c: c.update(hidden_dropout_prob="0.1"), r"field 'hidden_dropout_prob' must be a number"),
        (None, lambda c: c.update(hidden_act=["gelu"]), r"hidden_act \['gelu'\] is not supported"),
    ],
)
def test_bad_checkpoints(tmp_path, minilm_checkpoint, minilm_tensors, edit, config_edit, pattern):
    ckpt = small_checkpoint(tmp_path, minilm_checkpoint, minilm_tensors, edit, config_edit)
    with pytest.raises(CheckpointError, match=pattern):
        convert_checkpoint_bundle(ckpt, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]


def test_missing_files(tmp_path, minilm_checkpoint, minilm_tensors):
    with pytest.raises(CheckpointError, match="does not exist"):
        read_checkpoint(tmp_path / "nope")
    ckpt = small_checkpoint(tmp_path, minilm_checkpoint, minilm_tensors)
    (ckpt / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        read_checkpoint(ckpt)
    (ckpt / "vocab.txt").unlink()
    with pytest.raises(CheckpointError, match="vocab.txt is missing"):
        read_checkpoint(ckpt)
    (ckpt / "config.json").unlink()
    with pytest.raises(CheckpointError, match="config.json is missing"):
        read_checkpoint(ckpt)


def test_existing_output_is_refused_unless_overwrite(tmp_path, minilm_checkpoint, minilm_tensors):
    from bert_hub.core.errors import InputError

    ckpt = small_checkpoint(tmp_path, minilm_checkpoint, minilm_tensors)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    with pytest.raises(InputError, match="already exists.*`overwrite=True`"):
        convert_checkpoint_bundle(ckpt, tmp_path / "out")
    with pytest.raises(InputError, match="was not written by bert_hub"):  # --overwrite spares foreign folders
        convert_checkpoint_bundle(ckpt, tmp_path / "out", overwrite=True)
    assert (tmp_path / "out" / "keep.txt").read_text() == "mine"
    convert_checkpoint_bundle(ckpt, tmp_path / "new")
    config = convert_checkpoint_bundle(ckpt, tmp_path / "new", overwrite=True)  # its own bundle: replaced
    assert config.architecture.layers == 1
    assert {p.name for p in (tmp_path / "new").iterdir()} == {
        "preprocess",
        "encoder",
        "bert_hub.yaml",
        ".bert_hub_output.json",
    }


@pytest.mark.parametrize("hidden_act, gelu", [("gelu", "exact"), ("gelu_new", "tanh"), ("gelu_pytorch_tanh", "tanh")])
def test_the_gelu_form_is_kept_and_recorded(tmp_path, minilm_checkpoint, minilm_tensors, hidden_act, gelu):
    from reference_bert import bert_forward

    from bert_hub import load_pipeline
    from bert_hub.core.config import load_config

    ckpt = small_checkpoint(
        tmp_path, minilm_checkpoint, minilm_tensors, config_edit=lambda c: c.update(hidden_act=hidden_act)
    )
    convert_checkpoint_bundle(ckpt, tmp_path / "out")
    assert load_config(tmp_path / "out").architecture.gelu == gelu  # recorded in bert_hub.yaml
    bert = load_pipeline(tmp_path / "out")
    inputs = bert.preprocess(["the quick brown fox jumps over the lazy dog", "spam"], seq_length=16)
    ours = bert.encode_inputs(inputs)
    tensors = {
        k: v
        for k, v in minilm_tensors.items()
        if not k.startswith("encoder.layer.") or k.startswith("encoder.layer.0.")
    }
    seq, pooled, _ = bert_forward(
        tensors, inputs["input_word_ids"], inputs["input_mask"], inputs["input_type_ids"], heads=12, gelu=gelu
    )
    other, _, _ = bert_forward(
        tensors,
        inputs["input_word_ids"],
        inputs["input_mask"],
        inputs["input_type_ids"],
        heads=12,
        gelu="tanh" if gelu == "exact" else "exact",
    )
    real = inputs["input_mask"].astype(bool)
    assert np.abs(ours["pooled_output"] - pooled).max() <= 1e-4
    assert np.abs(ours["sequence_output"][real] - seq[real]).max() <= 1e-4
    assert np.abs(ours["sequence_output"][real] - other[real]).max() > 1e-3  # the forms differ on real weights
