"""The model catalog: its data, the family it covers, and what is available offline."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import run

from bert_hub.core.handles import parse_handle
from bert_hub.hub.catalog import catalog


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
    assert {
        "bert_en_uncased_L-12_H-768_A-12",
        "bert_en_cased_L-12_H-768_A-12",
        "bert_en_uncased_L-24_H-1024_A-16",
        "bert_en_cased_L-24_H-1024_A-16",
        "bert_multi_cased_L-12_H-768_A-12",
        "albert_en_base",
        "albert_en_large",
        "albert_en_xlarge",
        "albert_en_xxlarge",
        "electra_small",
        "electra_base",
        "experts_bert_pubmed",
        "experts_bert_wiki_books",
        "talkheads_ggelu_bert_en_base",
    } <= names
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
    from bert_hub.core.config import Architecture
    from bert_hub.core.errors import InputError

    arch = Architecture(layers=1, hidden=8, heads=2, vocab_size=10, shared_layers=True)
    with pytest.raises(InputError, match="original BERT layout only"):
        write_bundle(
            tmp_path / "x", name="albert-like", architecture=arch, weights={}, vocab_file=tiny_vocab, lower_case=True
        )
