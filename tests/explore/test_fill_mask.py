"""Fill-mask against a known answer and the NumPy reference; its errors; inspect, compare-layers and fill-mask
through the CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from conftest import TINY_VOCAB, run
from reference_bert import bert_forward, mlm_logits

from bert_hub.core.errors import InputError, ModelFormatError
from bert_hub.explore.fill_mask import fill_mask


@pytest.fixture(scope="module")
def known_mlm(tmp_path_factory, tiny_vocab):
    """A tiny model whose MLM head ignores context: logits == output_bias, set by hand."""
    from bert_hub import load_pipeline
    from bert_hub.builder.bundle import write_bundle
    from bert_hub.builder.weights import random_weights
    from bert_hub.core.config import Architecture

    arch = Architecture(layers=1, hidden=16, heads=2, vocab_size=len(TINY_VOCAB), max_position_embeddings=64)
    weights = random_weights(arch, seed=3)
    weights["mlm/layer_norm/gamma"][:] = 0.0  # the transform's output is 0 ...
    bias = np.zeros(len(TINY_VOCAB), np.float32)
    bias[TINY_VOCAB.index("dog")], bias[TINY_VOCAB.index("cat")] = 6.0, 5.0
    weights["mlm/output_bias"] = bias  # ... so the logits are this bias
    out = tmp_path_factory.mktemp("known") / "m"
    write_bundle(
        out, name="known-mlm", architecture=arch, weights=weights, vocab_file=tiny_vocab, lower_case=True, seq_length=16
    )
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
    from conftest import write_vocab

    from bert_hub import build_random_bundle, load_pipeline

    vocab = write_vocab(tmp_path / "v.txt", [t for t in TINY_VOCAB if t != "[MASK]"])
    build_random_bundle(
        tmp_path / "m", layers=1, hidden=8, heads=2, vocab_file=vocab, max_position_embeddings=32, seq_length=16
    )
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
