"""Token inspection, layer comparison and fill-mask (Python API and CLI)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from bert_hub.errors import InputError, ModelFormatError
from bert_hub.tasks.fill_mask import fill_mask
from bert_hub.tasks.inspect import inspect_texts
from bert_hub.tasks.layers import compare_layers, find_pooler, plot_layer_similarity, select_output
from conftest import TINY_VOCAB
from reference_bert import bert_forward, mlm_logits
from conftest import run


def test_inspect_single_sentences(minilm):
    r = inspect_texts(minilm, ["This is a spam mail"])[0]
    assert r["tokens"] == ["[CLS]", "this", "is", "a", "spa", "##m", "mail", "[SEP]"]
    assert r["ids"][0] == 101 and r["ids"][-1] == 102 and r["real_tokens"] == 8
    assert r["cls_positions"] == [0] and r["sep_positions"] == [7] and r["first_padding_position"] == 8
    assert r["mask"] == [1] * 8 and r["type_ids"] == [0] * 8 and not r["truncated"]


def test_inspect_pairs_with_truncation_and_any_length(minilm):
    r = inspect_texts(minilm, [("how old are you?", "I am six years old, and you are older")], seq_length=12)[0]
    assert r["real_tokens"] == 12 and r["first_padding_position"] is None and r["truncated"]
    assert r["sep_positions"] == [6, 11]
    assert r["type_ids"] == [0] * 7 + [1] * 5
    assert r["tokens"][:7] == ["[CLS]", "how", "old", "are", "you", "?", "[SEP]"]
    long = inspect_texts(minilm, ["word " * 300], seq_length=512)[0]
    assert long["real_tokens"] == 302 and long["first_padding_position"] == 302


def test_inspect_decodes_through_the_models_own_vocab(tiny):
    r = inspect_texts(tiny, ["the cats"], seq_length=6)[0]
    assert r["tokens"] == ["[CLS]", "the", "cat", "##s", "[SEP]"]
    assert r["ids"] == [TINY_VOCAB.index(t) for t in r["tokens"]]
    assert r["first_padding_position"] == 5


@pytest.mark.parametrize("items, seq_length, words", [
    ([("a question", "")], None, "pair 0 has an empty second segment"),
    ([("", "x")], None, "pair 0 has an empty first segment"),
    (["x"], 2, "seq_length must be an integer from 3"),
    (["x"], 100000, "seq_length must be an integer from 3"),
    ([], None, "no texts given"),
])
def test_inspect_bad_input(minilm, items, seq_length, words):
    with pytest.raises(InputError, match=words):
        inspect_texts(minilm, items, seq_length=seq_length)


def test_compare_layers(minilm):
    texts = ["This is a spam mail", "Computers are not unique to computers", "short"]
    inputs = minilm.preprocess(texts, seq_length=16)
    outputs = minilm.encode_inputs(inputs)
    report = compare_layers(outputs, inputs["input_mask"], pooler=find_pooler(minilm.encoder))
    m = np.array(report["layer_similarity"])
    assert m.shape == (6, 6) and np.allclose(np.diag(m), 1.0) and np.allclose(m, m.T)
    assert report["last_equals_sequence_output"]["exact"] is True
    # Independent check of one entry: layers 1 and 6 over the real tokens only.
    mask = inputs["input_mask"].astype(bool)
    a, b = outputs["encoder_outputs"][0][mask], outputs["encoder_outputs"][5][mask]
    cos = np.sum(a * b, -1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)
    assert math.isclose(m[0, 5], cos.mean(), abs_tol=1e-5)
    per_token = report["similarity_to_reference_per_token"]
    assert [len(layer) for layer in per_token[2]] == [3] * 6  # "short": [CLS] short [SEP]
    assert np.allclose(per_token[0][-1], 1.0, atol=1e-5)
    assert report["pooled_vs_cls"]["pooled_is_tanh_dense_cls"] is True
    # Padding is excluded: the same texts at length 128 give the same matrix.
    inputs128 = minilm.preprocess(texts)
    m128 = compare_layers(minilm.encode_inputs(inputs128), inputs128["input_mask"])["layer_similarity"]
    assert np.allclose(m, m128, atol=1e-4)


def test_compare_layers_tolerance_and_keys(tiny):
    inputs = tiny.preprocess(["the cat sat"], seq_length=8)
    outputs = tiny.encode_inputs(inputs)
    outputs["sequence_output"] = outputs["sequence_output"] + 1e-7
    a = compare_layers(outputs, inputs["input_mask"])["last_equals_sequence_output"]
    assert a["exact"] is False and a["within_tolerance"] is True
    assert select_output(outputs, "encoder_outputs[0]").shape == (1, 8, 32)
    with pytest.raises(InputError, match="unknown output key 'hidden_states'"):
        compare_layers(outputs, inputs["input_mask"], reference="hidden_states")
    with pytest.raises(InputError, match="has 2 layers"):
        select_output(outputs, "encoder_outputs[5]")
    with pytest.raises(InputError, match="not per-token"):
        compare_layers(outputs, inputs["input_mask"], reference="pooled_output")


def test_heatmap_png(tmp_path):
    path = plot_layer_similarity(np.eye(3), tmp_path / "h.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(InputError, match="already exists; pass --overwrite"):
        plot_layer_similarity(np.eye(3), tmp_path / "h.png")
    assert plot_layer_similarity(np.eye(3), tmp_path / "h.png", overwrite=True) == tmp_path / "h.png"
    assert plot_layer_similarity(np.eye(3), tmp_path / "new" / "h.svg").read_bytes().lstrip().startswith(b"<?xml")


@pytest.fixture(scope="module")
def known_mlm(tmp_path_factory, tiny_vocab):
    """A tiny model whose MLM head ignores context: logits == output_bias, set by hand."""
    from bert_hub import load_pipeline
    from bert_hub.builder.bundle import write_bundle
    from bert_hub.builder.weights import random_weights
    from bert_hub.config import Architecture

    arch = Architecture(layers=1, hidden=16, heads=2, vocab_size=len(TINY_VOCAB), max_position_embeddings=64)
    weights = random_weights(arch, seed=3)
    weights["mlm/layer_norm/gamma"][:] = 0.0  # the transform's output is 0 ...
    bias = np.zeros(len(TINY_VOCAB), np.float32)
    bias[TINY_VOCAB.index("dog")], bias[TINY_VOCAB.index("cat")] = 6.0, 5.0
    weights["mlm/output_bias"] = bias  # ... so the logits are this bias
    out = tmp_path_factory.mktemp("known") / "m"
    write_bundle(out, name="known-mlm", architecture=arch, weights=weights, vocab_file=tiny_vocab,
                 lower_case=True, seq_length=16)
    return load_pipeline(out), bias


def test_fill_mask_known_answer(known_mlm):
    bert, bias = known_mlm
    [r] = fill_mask(bert, ["the [MASK] sat on the [MASK] ."], top_k=3)
    probs = np.exp(bias) / np.exp(bias).sum()
    assert len(r["masks"]) == 2 and [m["position"] for m in r["masks"]] == [2, 6]
    for m in r["masks"]:
        assert [c["token"] for c in m["candidates"][:2]] == ["dog", "cat"]
        assert math.isclose(m["candidates"][0]["probability"], probs[TINY_VOCAB.index("dog")], rel_tol=1e-5)
    assert r["filled"] == "the dog sat on the dog ."


def test_fill_mask_on_converted_checkpoint_matches_reference(mlm_bert, mlm_checkpoint):
    _, tensors = mlm_checkpoint
    [r] = fill_mask(mlm_bert, ["the capital of france is [MASK]."], top_k=5, seq_length=16)
    [mask] = r["masks"]
    inputs = mlm_bert.preprocess(["the capital of france is [MASK]."], seq_length=16)
    ids = inputs["input_word_ids"].copy()
    ids[0, 6:9] = [103, 1012, 102]  # what fill_mask packs: the mask id, then ".", [SEP]
    mask_vec = (np.arange(16) < 9).astype(np.int32)[None]
    assert mask["position"] == 6
    seq, _, _ = bert_forward(tensors, ids, mask_vec, np.zeros_like(ids), heads=12)
    logits = mlm_logits(tensors, seq, np.array([[6]]))[0, 0]
    probs = np.exp(logits - logits.max())
    probs /= probs.sum()
    want = np.argsort(-probs)[:5]
    assert [c["id"] for c in mask["candidates"]] == want.tolist()
    assert np.allclose([c["probability"] for c in mask["candidates"]], probs[want], atol=1e-4)


def test_fill_mask_errors(minilm, known_mlm):
    with pytest.raises(ModelFormatError, match="has no masked-LM head"):
        fill_mask(minilm, ["the [MASK] sat"])
    bert, _ = known_mlm
    with pytest.raises(InputError, match=r"text 1 \('no mask here'\) has no \[MASK\]"):
        fill_mask(bert, ["a [MASK]", "no mask here"])
    with pytest.raises(InputError, match="truncated"):
        fill_mask(bert, ["the " * 20 + "[MASK]"], seq_length=8)
    with pytest.raises(InputError, match="top_k"):
        fill_mask(bert, ["a [MASK]"], top_k=0)


def test_vocab_without_mask_cannot_fill(tmp_path):
    from bert_hub import build_random_bundle, load_pipeline
    from conftest import write_vocab

    vocab = write_vocab(tmp_path / "v.txt", [t for t in TINY_VOCAB if t != "[MASK]"])
    build_random_bundle(tmp_path / "m", layers=1, hidden=8, heads=2, vocab_file=vocab, max_position_embeddings=32,
                        seq_length=16)
    with pytest.raises(InputError, match=r"has no \[MASK\] token"):
        fill_mask(load_pipeline(tmp_path / "m"), ["a [MASK]"])


def test_cli_inspect_compare_fill_mask(tmp_path, minilm, known_mlm):
    out = json.loads(run("inspect", "--pair", "--seq-length", "16", "how old are you?", "six", "--json").stdout)
    assert out["texts"][0]["type_ids"][-2:] == [1, 1] and out["texts"][0]["sep_positions"] == [6, 8]
    plot = tmp_path / "layers.png"
    report = json.loads(run("compare-layers", "--plot", str(plot), "a short text", "--json").stdout)
    assert np.allclose(np.diag(report["layer_similarity"]), 1.0) and plot.is_file()
    bert, _ = known_mlm
    cfg = str(bert.config.source)
    res = json.loads(run("fill-mask", "--config", cfg, "--top-k", "2", "the [MASK] sat", "--json").stdout)
    assert [c["token"] for c in res["results"][0]["masks"][0]["candidates"]] == ["dog", "cat"]
    err = run("fill-mask", "the [MASK] sat", check_rc=2).stderr
    assert err.startswith("error: ") and "no masked-LM head" in err
    err = run("inspect", "--pair", "a", "", check_rc=2).stderr
    assert "empty second segment" in err
    err = run("compare-layers", "--plot", str(plot), "text", check_rc=2).stderr
    assert "already exists; pass --overwrite" in err and plot.is_file()
