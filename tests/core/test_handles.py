"""Handle parsing and resolution through the real kagglehub / tensorflow_hub caches."""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from pathlib import Path

import pytest

from bert_hub.core.config import config_from_dict, load_config, shipped_config_dir
from bert_hub.core.errors import ResolveError
from bert_hub.core.handles import parse_handle
from bert_hub.hub.resolution import resolve

PRE = "tensorflow/bert/tensorFlow2/en-uncased-preprocess/3"
ENC = "tensorflow/bert/tensorFlow2/en-uncased-l-12-h-768-a-12/4"
ENC_URLS = [
    "https://www.kaggle.com/models/tensorflow/bert/TensorFlow2/en-uncased-l-12-h-768-a-12/4",
    "https://www.kaggle.com/models/tensorflow/bert/frameworks/TensorFlow2/variations/en-uncased-l-12-h-768-a-12/versions/4",
]
PRE_SHORT_URL = "https://kaggle.com/models/tensorflow/bert/TensorFlow2/en-uncased-preprocess/3"
TFHUB_URL = "https://tfhub.dev/tensorflow/bert_en_uncased_L-12_H-768_A-12/4"


def test_kaggle_url_forms_map_to_one_handle():
    handles = {parse_handle(u).kaggle.lower() for u in ENC_URLS}
    assert handles == {ENC.lower()}
    assert parse_handle(PRE_SHORT_URL).kaggle.lower() == PRE.lower()
    assert parse_handle(ENC).kind == "kaggle"
    assert parse_handle(TFHUB_URL).kind == "tfhub_url"
    assert parse_handle("embedded:all-MiniLM-L6-v2/encoder").kind == "embedded"
    assert parse_handle("./x", base_dir="/tmp").path == Path("/tmp/x").resolve()
    assert not parse_handle("tensorflow/bert/tensorFlow2/en-uncased-preprocess").versioned


@pytest.mark.parametrize(
    "bad", ["", "just-a-name", "http://tfhub.dev/x/1", "embedded:foo", "a/b/c/d/e/f", "https://www.kaggle.com/code/x"]
)
def test_bad_handles(bad):
    with pytest.raises(ValueError):
        parse_handle(bad)


@pytest.fixture(scope="module")
def kaggle_cache(tiny_bundle):
    """Built models placed in KAGGLEHUB_CACHE under the real BERT-Base handles."""
    root = Path(os.environ["KAGGLEHUB_CACHE"]) / "models"
    for handle, role in ((PRE, "preprocess"), (ENC, "encoder")):
        owner, model, framework, variation, version = handle.split("/")
        base = root / owner / model / framework / variation
        shutil.copytree(tiny_bundle / role, base / version, dirs_exist_ok=True)
        (base / f"{version}.complete").touch()
    return root


def test_real_config_resolves_from_kagglehub_cache_offline(kaggle_cache, tiny_bundle):
    cfg = load_config(shipped_config_dir() / "bert_en_uncased_L-12_H-768_A-12.yaml")
    pre, enc = resolve(cfg.preprocess), resolve(cfg.encoder)
    assert pre == kaggle_cache / PRE and enc == kaggle_cache / ENC
    for url in ENC_URLS:  # framework spelled TensorFlow2 in URLs, tensorFlow2 in the cache
        assert resolve(url) == enc
    assert resolve(PRE_SHORT_URL) == pre


def test_pipeline_runs_on_models_served_from_the_kagglehub_cache(kaggle_cache, tiny):
    from bert_hub import load_pipeline

    arch = tiny.config.architecture.to_dict()
    cfg = config_from_dict({"name": "cached", "preprocess": PRE, "encoder": ENC, "architecture": arch})
    bert = load_pipeline(cfg)
    out = bert.encode(["the cat sat"])
    assert out["pooled_output"].shape == (1, 32)
    assert bert.preprocess_dir == kaggle_cache / PRE


def test_tfhub_url_served_from_tfhub_cache(tiny_bundle):
    cache = Path(os.environ["TFHUB_CACHE_DIR"])
    target = cache / hashlib.sha1(TFHUB_URL.encode("utf8")).hexdigest()
    shutil.copytree(tiny_bundle / "encoder", target, dirs_exist_ok=True)
    assert resolve(TFHUB_URL) == target


@pytest.mark.parametrize(
    "handle, caches",
    [
        ("tensorflow/bert/tensorFlow2/en-cased-l-12-h-768-a-12/4", ["KAGGLEHUB_CACHE"]),
        (
            "https://www.kaggle.com/models/tensorflow/bert/TensorFlow2/en-cased-preprocess/3",
            ["KAGGLEHUB_CACHE", "TFHUB_CACHE_DIR"],
        ),
        ("https://tfhub.dev/tensorflow/bert_en_cased_L-12_H-768_A-12/4", ["TFHUB_CACHE_DIR"]),
    ],
)
def test_uncached_model_fails_fast_with_the_ways_out(handle, caches):
    started = time.perf_counter()
    with pytest.raises(ResolveError) as e:
        resolve(handle)
    assert time.perf_counter() - started < 30
    message = str(e.value)
    assert handle in message and "not cached" in message and "local SavedModel directory" in message
    assert "embedded default" in message and "\n" not in message
    for cache in caches:
        assert cache in message


def test_unversioned_kaggle_handle_says_it_needs_the_network():
    with pytest.raises(ResolveError, match="unversioned"):
        resolve("tensorflow/bert/tensorFlow2/en-uncased-preprocess")


def test_missing_local_directory(tmp_path):
    with pytest.raises(ResolveError, match="does not exist"):
        resolve(str(tmp_path / "nothing"))
