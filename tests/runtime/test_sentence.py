"""The key ``sentence``: a model's own sentence vector, as sentence-transformers makes it, against a NumPy
reference (mean pooling, normalisation and 256 tokens for all-MiniLM-L6-v2; ``pooled_output`` without a record),
and the records conversion reads from sentence-transformers' files."""

from __future__ import annotations

import json
import logging
import shutil

import numpy as np
import pytest
from conftest import run
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reference_bert import bert_forward

from bert_hub.core.config import SentenceEmbedding, config_from_dict, load_config
from bert_hub.core.errors import ConfigError
from bert_hub.runtime.embedder import Embedder

F32 = {"precision": "float32", "jit_compile": False}
#: Short texts and ones of 150-250 tokens: longer than the config's 128, within the model's 256.
SHORT = ["This is a spam mail", "see you at lunch", "naïve café résumé", ""]
LONG = [
    " ".join(f"word{i} is followed by another" for i in range(n)) for n in (30, 45)
]  # about 180 and 270 tokens: the second is cut at 256


def _reference(minilm, minilm_tensors, texts, seq_length):
    """sentence-transformers' vector in float64: mean of the real tokens' outputs, then scaled to length 1."""
    inputs = minilm.preprocess(texts, seq_length)
    ids, mask, types = (inputs[k] for k in ("input_word_ids", "input_mask", "input_type_ids"))
    seq, _, _ = bert_forward(minilm_tensors, ids, mask, types, heads=12)
    m = mask[:, :, None].astype(np.float64)
    mean = (seq * m).sum(1) / np.maximum(m.sum(1), 1e-9)
    return mean / np.maximum(np.linalg.norm(mean, axis=1, keepdims=True), 1e-12), mask.sum(1)


def test_the_shipped_default_records_what_conversion_reads(minilm_checkpoint):
    from bert_hub.builder.checkpoint import read_checkpoint

    checkpoint = read_checkpoint(minilm_checkpoint)
    record = checkpoint.sentence
    assert record == SentenceEmbedding(
        pooling="mean", max_seq_length=256, normalize=True, source="sentence-transformers"
    )
    assert load_config("default").sentence == record
    assert load_config("default").architecture == checkpoint.architecture
    assert checkpoint.architecture.text_normalization == "huggingface"  # its tokenizer's ids (tests/builder)


def test_the_sentence_key_is_sentence_transformers_vector_on_short_and_long_texts(minilm, minilm_tensors):
    texts = SHORT + LONG
    want, lengths = _reference(minilm, minilm_tensors, texts, 256)
    assert lengths.max() == 256 and 150 <= lengths[len(SHORT)] <= 250  # one long text cut at 256, one within
    embedder = Embedder(minilm, key="sentence", batch_size=3, **F32)
    assert embedder.seq_length == 256 and embedder.normalize and embedder.pooling == "mean"
    got = embedder.embed(texts)
    assert np.abs(got - want).max() <= 1e-5
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-6)
    # a length given wins over the record's
    cut = Embedder(minilm, key="sentence", seq_length=128, **F32).embed(LONG)
    assert np.abs(cut - _reference(minilm, minilm_tensors, LONG, 128)[0]).max() <= 1e-5


def test_the_sentence_key_at_the_default_precision_stays_within_cosine_0_999(minilm, minilm_tensors):
    texts = SHORT + LONG
    want, _ = _reference(minilm, minilm_tensors, texts, 256)
    got = Embedder(minilm, key="sentence").embed(texts)  # auto: bfloat16 on CPUs where it is faster
    assert (np.sum(got * want, axis=1) >= 0.999).all()


@pytest.fixture(scope="module")
def plain_and_unit(minilm):
    """For two keys, an embedder without and one with ``normalize`` (each traced once for the module)."""
    return {
        key: (Embedder(minilm, key=key, **F32), Embedder(minilm, key=key, normalize=True, **F32))
        for key in ("pooled_output", "max")
    }


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.text(min_size=0, max_size=60), min_size=1, max_size=4))
def test_normalize_scales_every_key_to_length_one(plain_and_unit, texts):
    for plain, unit in plain_and_unit.values():
        p, u = plain.embed(texts), unit.embed(texts)
        assert np.abs(u - p / np.linalg.norm(p, axis=1, keepdims=True)).max() <= 1e-5


def test_max_pools_over_real_tokens_only(minilm):
    texts = ["a short one", "a much longer text than the first one, with more tokens in it"]
    out = minilm.encode(texts)
    mask = minilm.preprocess(texts)["input_mask"]
    want = [out["sequence_output"][i][mask[i] > 0].max(0) for i in range(2)]
    got = Embedder(minilm, key="max", **F32).embed(texts)
    assert np.abs(got - np.stack(want)).max() <= 1e-5


def test_without_a_record_the_sentence_key_is_pooled_output(tiny):
    assert tiny.config.sentence is None
    texts = ["hello there", "a b c"]
    sentence = Embedder(tiny, key="sentence", **F32)
    assert sentence.pooling == "pooled_output" and not sentence.normalize and sentence.seq_length == tiny.seq_length
    assert np.array_equal(sentence.embed(texts), Embedder(tiny, key="pooled_output", **F32).embed(texts))


@pytest.mark.parametrize(
    "record, words",
    [
        ({"pooling": "weighted"}, "field 'sentence.pooling': must be one of pooled_output, cls, mean, max"),
        ({"pooling": "mean", "max_seq_length": 1024}, "field 'sentence.max_seq_length': must be between 3 and"),
        ({"pooling": "mean", "normalize": "yes"}, "field 'sentence.normalize': expected true or false"),
        ({"pooling": "mean", "length": 3}, "unknown field 'sentence.length'"),
    ],
)
def test_a_bad_sentence_record_names_its_field(record, words):
    raw = {
        "name": "m",
        "preprocess": "./p",
        "encoder": "./e",
        "architecture": {"layers": 1, "hidden": 8, "heads": 2, "vocab_size": 10, "cased": False},
        "sentence": record,
    }
    with pytest.raises(ConfigError, match=words):
        config_from_dict(raw, source="m.yaml")


def _st_copy(tmp_path, minilm_checkpoint, modules=None, pooling=None, settings=None):
    """A copy of the sentence-transformers files of the MiniLM checkpoint (weights linked), edited."""
    ckpt = tmp_path / "st"
    ckpt.mkdir()
    for f in ("config.json", "vocab.txt", "tokenizer_config.json", "modules.json", "sentence_bert_config.json"):
        shutil.copyfile(minilm_checkpoint / f, ckpt / f)
    (ckpt / "model.safetensors").symlink_to(minilm_checkpoint / "model.safetensors")
    (ckpt / "1_Pooling").mkdir()
    shutil.copyfile(minilm_checkpoint / "1_Pooling" / "config.json", ckpt / "1_Pooling" / "config.json")
    for path, edit in ((ckpt / "modules.json", modules), (ckpt / "1_Pooling" / "config.json", pooling)):
        if edit is not None:
            path.write_text(json.dumps(edit(json.loads(path.read_text()))))
    if settings is not None:
        (ckpt / "sentence_bert_config.json").write_text(json.dumps(settings))
    return ckpt


@pytest.mark.parametrize(
    "edits, record, warning",
    [
        ({"modules": lambda m: m[:2]}, SentenceEmbedding("mean", 256, False, "sentence-transformers"), None),
        (
            {"pooling": lambda p: {**p, "pooling_mode_mean_tokens": False, "pooling_mode_cls_token": True}},
            SentenceEmbedding("cls", 256, True, "sentence-transformers"),
            None,
        ),
        ({"settings": {"max_seq_length": 1000}}, SentenceEmbedding("mean", 512, True, "sentence-transformers"), None),
        (
            {"pooling": lambda p: {**p, "pooling_mode_max_tokens": True}},
            None,
            "its pooling is mean, max; bert_hub pools one of CLS, mean or max",
        ),
        (
            {
                "modules": lambda m: [
                    *m[:2],
                    {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"},
                ]
            },
            None,
            "its modules are Transformer, Pooling, Dense",
        ),
    ],
)
def test_conversion_records_what_sentence_transformers_files_say(
    tmp_path, minilm_checkpoint, caplog, edits, record, warning
):
    from bert_hub.builder.checkpoint import sentence_record
    from bert_hub.core.config import Architecture

    arch = Architecture(layers=6, hidden=384, heads=12, vocab_size=30522)
    with caplog.at_level(logging.WARNING):
        got = sentence_record(_st_copy(tmp_path, minilm_checkpoint, **edits), arch)
    assert got == record
    assert (warning is None) == (not caplog.records)
    if warning:
        assert warning in caplog.text and "converted without its sentence vector" in caplog.text


def test_cli_embed_key_sentence_says_what_it_computed(tmp_path):
    texts = tmp_path / "t.txt"
    texts.write_text("hello world\nsee you at lunch\n")
    out = json.loads(
        run("embed", "--input", texts, "--output", tmp_path / "v.npy", "--key", "sentence", "--json").stdout
    )
    assert out["pooling"] == "mean" and out["normalize"] is True and out["seq_length"] == 256
    vectors = np.load(tmp_path / "v.npy")
    assert vectors.shape == (2, 384) and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    text = run("embed", "--input", texts, "--output", tmp_path / "w.npy", "--key", "sentence").stdout
    assert "key sentence (mean of up to 256 tokens, normalised)" in text
