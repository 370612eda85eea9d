"""The fast path on the real upstream graph: an encoder exported by tensorflow/models' own TF Hub code.

The export is made once for this file by ``../shared/tools/upstream_bert`` (its
own virtualenv with tf-models-official) from the embedded all-MiniLM-L6-v2
weights, with the tanh GELU every Kaggle / TF Hub BERT computes. The tests
skip, with the reason, where the tool or its virtualenv cannot be set up.
"""

from __future__ import annotations

import copy
import dataclasses
import fcntl
import functools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import REGISTRY_PROXIES, check_preprocess_calls_trace_once
from reference_bert import bert_forward

from bert_hub.core.config import config_from_dict, load_config
from bert_hub.core.interface import INPUT_KEYS
from bert_hub.hub import fast_path

pytestmark = pytest.mark.slow

TOOL = Path(
    os.environ.get("BERT_HUB_UPSTREAM_TOOL")
    or Path(__file__).resolve().parents[3] / "shared" / "tools" / "upstream_bert"
)
#: The tool's virtualenv: private (under the user's cache), kept between sessions (it takes minutes to make).
VENV = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "bert_hub_tests" / "upstream-venv"
#: The Kaggle handles the export is placed under (the notebook's BERT-Base).
ENCODER_HANDLE = "tensorflow/bert/tensorFlow2/en-uncased-l-12-h-768-a-12/4"
PREPROCESS_HANDLE = "tensorflow/bert/tensorFlow2/en-uncased-preprocess/3"
MINILM = {"layers": 6, "hidden": 384, "heads": 12, "intermediate": 1536, "vocab_size": 30522, "cased": False}


@functools.cache
def _tool_python() -> str | None:
    """The tool's Python, set up once (the package registries only: the suite's network block is lifted)."""
    if not (TOOL / "setup.sh").is_file():
        return None
    VENV.parent.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in REGISTRY_PROXIES}
    env.update({k: v for k, v in REGISTRY_PROXIES.items() if v is not None})
    with open(VENV.parent / "upstream-venv.lock", "w") as lock:  # one worker sets it up, the other waits
        fcntl.flock(lock, fcntl.LOCK_EX)
        proc = subprocess.run(["bash", str(TOOL / "setup.sh"), str(VENV)], capture_output=True, text=True, env=env)
    if proc.returncode:
        raise RuntimeError(proc.stderr.strip()[-300:])
    return proc.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def upstream_minilm(tmp_path_factory, minilm_checkpoint) -> Path:
    """all-MiniLM-L6-v2's weights exported by tensorflow/models, with the tanh GELU (``hidden_act: gelu_new``)."""
    try:
        python = _tool_python()
    except RuntimeError as e:
        pytest.skip(f"the upstream export tool's virtualenv cannot be set up: {e}")
    if python is None:
        pytest.skip(f"the upstream export tool is not at {TOOL} (set BERT_HUB_UPSTREAM_TOOL)")
    work = tmp_path_factory.mktemp("upstream")
    checkpoint = work / "minilm_tanh"
    checkpoint.mkdir()
    for name in ("vocab.txt", "model.safetensors", "tokenizer_config.json"):
        (checkpoint / name).symlink_to(minilm_checkpoint / name)
    config = json.loads((minilm_checkpoint / "config.json").read_text())
    (checkpoint / "config.json").write_text(json.dumps({**config, "hidden_act": "gelu_new"}))
    proc = subprocess.run(
        [python, str(TOOL / "export.py"), "--hf-dir", str(checkpoint), "--out", str(work / "out")],
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1])["gelu"] == "tanh"
    return work / "out"


def upstream_config(folder: Path, tmp_path: Path, **arch: object) -> Path:
    path = tmp_path / "upstream.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "name": "upstream MiniLM",
                "preprocess": str(folder / "preprocess"),
                "encoder": str(folder / "encoder"),
                "architecture": {**MINILM, "gelu": "tanh", **arch},
            }
        )
    )
    return path


@pytest.fixture(scope="module")
def upstream_bert(upstream_minilm, tmp_path_factory):
    from bert_hub import load_pipeline

    return load_pipeline(upstream_config(upstream_minilm, tmp_path_factory.mktemp("cfg")))


def test_the_export_is_recognised_with_its_gelu(upstream_bert):
    path = upstream_bert.fast_path()
    assert (path.layout, path.gelu, path.name) == ("tensorflow/models", "tanh", "fast")
    assert path.max_difference is not None and path.max_difference <= 1e-5


def test_the_kaggle_graph_embeds_in_int8_through_the_fast_path(upstream_bert):
    from bert_hub.runtime.embedder import Embedder

    texts = ["This is a spam mail", "the cat sat on the mat " * 20, "see you at lunch?", "Computers are not unique"]
    want = Embedder(upstream_bert, key="mean", precision="float32").embed(texts)
    embedder = Embedder(upstream_bert, key="mean", precision="int8")
    got = embedder.embed(texts)
    cos = (got * want).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(want, axis=1)
    assert embedder.precision == "int8" and cos.min() >= 0.97 and cos.mean() >= 0.985


def test_the_kaggle_graph_exports_to_litert_with_its_own_ids(upstream_bert, tmp_path):
    pytest.importorskip("ai_edge_litert", reason="the LiteRT runtime (the litert extra) is not installed")
    from bert_hub.export.embedder import export_embedder
    from bert_hub.export.litert import LiteRTModel
    from bert_hub.runtime.embedder import Embedder

    # Upstream's preprocess folds compatibility characters as the in-graph tokenizer does: every text is exact.
    texts = ["This is a spam mail…", "the cat sat on the mat " * 30, "ﬁne Café", "Computers are not unique"]
    export_embedder(upstream_bert.config, tmp_path / "kaggle.tflite", key="pooled_output")
    got = LiteRTModel(tmp_path / "kaggle.tflite").batched(2, text=texts)["pooled_output"]
    want = Embedder(upstream_bert, key="pooled_output", precision="float32").embed(texts)
    np.testing.assert_allclose(got, want, atol=2e-5)


@pytest.mark.parametrize("length", [16, 40, 128])
def test_fast_path_equals_the_upstream_graph_for_every_output(upstream_bert, minilm_tensors, length):
    texts = ["This is a spam mail", "the cat sat on the mat " * 20, "", "Computers are not unique"]
    pairs = upstream_bert.pack(
        [["how old are you?", "where is it"], ["I am six years old.", "over there " * 40]], seq_length=length
    )
    for inputs in (upstream_bert.preprocess(texts, seq_length=length), pairs):
        feed = {k: np.asarray(inputs[k], np.int32) for k in INPUT_KEYS}
        fast = upstream_bert.inference_encoder()(feed, training=False)
        assert fast is not None and upstream_bert.inference_encoder() is not upstream_bert.encoder
        saved = upstream_bert.encoder(feed, training=False)
        mask = inputs["input_mask"].astype(bool)
        assert fast_path.difference(fast, saved, mask) <= 1e-5
        assert np.abs(np.asarray(fast["default"]) - np.asarray(saved["default"])).max() <= 1e-5
        # and both are BERT with the tanh GELU on the checkpoint's own tensors
        seq, pooled, _ = bert_forward(
            minilm_tensors, feed["input_word_ids"], feed["input_mask"], feed["input_type_ids"], heads=12, gelu="tanh"
        )
        assert np.abs(np.asarray(fast["sequence_output"])[mask] - seq[mask]).max() <= 1e-4
        assert np.abs(np.asarray(fast["pooled_output"]) - pooled).max() <= 1e-4


def test_the_exports_preprocess_calls_trace_once_for_every_batch_size(upstream_bert):
    check_preprocess_calls_trace_once(upstream_bert)  # its tokenize was traced again for every batch size


def test_a_config_with_the_wrong_gelu_is_corrected_by_the_probe(upstream_bert):
    upstream_bert.fast_path()  # probed once, under the right config
    told = []
    path = with_config(upstream_bert, gelu="exact").fast_path(told.append)
    assert (path.layout, path.gelu) == ("tensorflow/models", "tanh")
    assert "computes the tanh GELU although" in path.reason and "set gelu: tanh there" in path.reason
    assert told == []  # the verdict is kept by the export's files, whatever the config says


def test_the_probe_runs_once_per_model_and_is_kept(upstream_bert, tmp_path, monkeypatch):
    monkeypatch.setenv("BERT_HUB_CACHE", str(tmp_path / "cache"))
    told = []
    assert fast_path.find_fast_path(upstream_bert, told.append).layout
    assert len(told) == 1 and "checking the fast path" in told[0]
    entry = next(iter(json.loads((tmp_path / "cache" / fast_path.CACHE_NAME).read_text()).values()))
    assert entry["gelu"] == "tanh" and entry["max_difference"] <= 1e-5
    told.clear()
    assert fast_path.find_fast_path(upstream_bert, told.append).layout
    assert told == []


def with_config(bert, **arch: object):
    """``bert`` under another config (nothing reloaded), as if its YAML said ``arch``."""
    other = copy.copy(bert)
    other.config = dataclasses.replace(bert.config, architecture=dataclasses.replace(bert.config.architecture, **arch))
    other._fast_path, other._inference_encoders = None, {}
    return other


def test_an_unread_layout_keeps_its_own_graph_and_says_so(upstream_bert):
    from bert_hub.runtime.embedder import Embedder

    # A config whose shape does not match the variables: bert_hub cannot map them, so the graph runs.
    told = []
    bert = with_config(upstream_bert, max_position_embeddings=256)
    embedder = Embedder(bert, notify=told.append, precision="float32", jit_compile=False)
    vectors = embedder.embed(["the cat sat", "free entry"])
    assert bert.fast_path().name == "saved graph" and bert.inference_encoder() is bert.encoder
    assert any("layout bert_hub does not read" in line and "its own graph runs" in line for line in told)
    fast = Embedder(upstream_bert, precision="float32", jit_compile=False).embed(["the cat sat", "free entry"])
    assert np.abs(vectors - fast).max() <= 1e-5


def test_embed_under_the_kaggle_handle_runs_the_fast_path(upstream_minilm, minilm, tmp_path, cli):
    """The export placed in the kagglehub cache under the notebook's handles, embedded by the CLI: the
    vectors equal the embedded default's (the same weights) in the same GELU form."""
    root = Path(os.environ["KAGGLEHUB_CACHE"]) / "models"
    for handle, role in ((PREPROCESS_HANDLE, "preprocess"), (ENCODER_HANDLE, "encoder")):
        base = root / handle.rsplit("/", 1)[0]
        shutil.copytree(upstream_minilm / role, base / handle.rsplit("/", 1)[1], dirs_exist_ok=True)
        (base / f"{handle.rsplit('/', 1)[1]}.complete").touch()
    config = tmp_path / "kaggle.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "name": "kaggle",
                "preprocess": PREPROCESS_HANDLE,
                "encoder": ENCODER_HANDLE,
                "architecture": {**MINILM, "gelu": "tanh"},
            }
        )
    )
    texts = tmp_path / "texts.txt"
    texts.write_text("hello world\nthe cat sat on the mat\nfree entry in a weekly competition\n")
    code, out, err = cli(
        "embed",
        "--config",
        str(config),
        "--input",
        str(texts),
        "--output",
        str(tmp_path / "v.npy"),
        "--precision",
        "float32",
        "--no-xla",
        "--no-progress",
        "--json",
    )
    assert code == 0, err
    report = json.loads(out)
    assert (report["encoder_path"], report["encoder_layout"], report["gelu"]) == ("fast", "tensorflow/models", "tanh")
    # The same weights converted by bert_hub, with the tanh GELU: the same vectors.
    cfg = load_config("default")
    ours = dataclasses.replace(cfg, architecture=dataclasses.replace(cfg.architecture, gelu="tanh"))
    from bert_hub.builder.encoder import EncoderModule
    from bert_hub.hub.fast_path import bert_hub_weights

    module = EncoderModule.for_inference(ours.architecture, bert_hub_weights(minilm.encoder, cfg.architecture))
    inputs = minilm.preprocess(texts.read_text().splitlines(), seq_length=16)
    want = np.asarray(module.encode(inputs)["pooled_output"])
    assert np.abs(np.load(tmp_path / "v.npy") - want).max() <= 1e-5


def test_config_field_gelu_is_validated(tmp_path):
    from bert_hub.core.errors import ConfigError

    with pytest.raises(ConfigError, match=r"field 'architecture.gelu': must be one of exact, tanh, got 'erf'"):
        config_from_dict(
            {"name": "x", "preprocess": "/p", "encoder": "/e", "architecture": {**MINILM, "gelu": "erf"}},
            source="x.yaml",
        )


def test_an_export_fine_tuned_from_the_upstream_graph_serves_on_the_fast_path(upstream_bert, tmp_path):
    """A classifier on the upstream encoder, exported: its serving graph runs the fast pass (no einsum of
    upstream's attention left) and gives the Keras model's numbers."""
    import tensorflow as tf

    from bert_hub.finetune.tasks.classification import export_classifier
    from bert_hub.finetune.tasks.sentences import build_sentence_model

    model = build_sentence_model(upstream_bert, dropout=0.1)
    export_classifier(model, upstream_bert, tmp_path / "clf", label_names=["ham", "spam"], seq_length=32)
    texts = ["WINNER!! Claim your prize now", "see you at lunch", "free entry " * 30]
    loaded = tf.saved_model.load(str(tmp_path / "clf"))
    served = loaded.signatures["serving_default"](text=tf.constant(texts))["probability"].numpy()
    inputs = upstream_bert.preprocess(texts, seq_length=32)
    want = tf.sigmoid(model({k: tf.constant(v) for k, v in inputs.items()}, training=False)[:, 0]).numpy()
    assert np.abs(served - want).max() <= 1e-5
    graph = loaded.signatures["serving_default"].graph.as_graph_def()
    ops = {n.op for f in graph.library.function for n in f.node_def} | {n.op for n in graph.node}
    assert "Einsum" not in ops and "MatMul" in ops


def test_the_graph_embed_runs_on_the_export_has_every_matmul_fused(upstream_minilm, tmp_path):
    """What ``bert-hub embed`` runs on the upstream export, read after graph optimisation (a fresh process,
    TensorFlow's graph dump): every dense layer one fused matmul, each feed-forward one with its tanh GELU.
    The fast path traces one Transformer block and calls it per layer; the calls are inlined before
    grappler, and the GELU fusion must survive that (it did not with grappler cut to one pass)."""
    from google.protobuf import text_format
    from tensorflow.core.framework import graph_pb2

    texts = tmp_path / "texts.txt"
    texts.write_text("hello world\nthe cat sat on the mat\n")
    dump = tmp_path / "dump"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bert_hub",
            "embed",
            "--config",
            str(upstream_config(upstream_minilm, tmp_path)),
            "--input",
            str(texts),
            "--output",
            str(tmp_path / "v.npy"),
            "--precision",
            "float32",
            "--no-xla",
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "TF_DUMP_GRAPH_PREFIX": str(dump), "TF_DUMP_GRAPH_NAME_FILTER": "*"},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    [path] = [p for p in dump.iterdir() if p.name.startswith("__inference_run_") and "after_partition_passes" in p.name]
    graph = text_format.Parse(path.read_text(), graph_pb2.GraphDef())
    fused = [[s.decode() for s in n.attr["fused_ops"].list.s] for n in graph.node if n.op.endswith("FusedMatMul")]
    ops = [n.op for n in graph.node]
    layers = MINILM["layers"]
    assert len(fused) == 4 * layers + 1, ops  # query/key/value as one, attention output, two feed-forward, pooler
    assert sum(f == ["BiasAdd", "GeluApproximate"] for f in fused) == layers, fused
    assert ops.count("Tanh") == 1 and "MatMul" not in ops, ops  # the pooler's tanh; no unfused matmul
    assert not [op for op in ops if op.endswith("PartitionedCall")], ops  # the per-layer calls were inlined


def test_lora_trains_adapters_on_the_kaggle_graph_and_merges_them_into_its_layout(upstream_bert, tmp_path):
    """LoRA on the upstream (Kaggle) encoder: its variables are read as the fast path reads them (query kernels
    stored per head), and the export's kernels are the base's plus the trained adapters' product."""
    import tensorflow as tf

    from bert_hub.finetune.tasks.labelled_texts import LabelledTexts
    from bert_hub.finetune.train import train
    from bert_hub.finetune.train_config import TrainConfig

    data = LabelledTexts(
        ["win a free prize now", "see you at lunch", "claim cash", "ok thanks"] * 8, [1, 0] * 16, ("ham", "spam")
    )
    cfg = TrainConfig(epochs=1, batch_size=8, seq_length=32, lora=2, lora_targets="query,output")
    summary = train(upstream_bert.config, data, tmp_path / "run", cfg)
    assert summary["finished"] and summary["lora"]["targets"] == ("query", "output")
    reader = tf.train.load_checkpoint(str(tmp_path / "run" / "checkpoints"))
    adapters = {
        name.split("/")[2].replace(".S", "/").removesuffix(".ATTRIBUTES"): reader.get_tensor(name)
        for name in reader.get_variable_to_shape_map()
        if "lora_" in name and "OPTIMIZER_SLOT" not in name and name.startswith("model/")
    }
    assert len(adapters) == 6 * 2 * 2
    loaded = tf.saved_model.load(str(tmp_path / "run" / "model"))  # kept: its signature's variables live in it
    exported = {v.name: v.numpy() for v in loaded.signatures["serving_default"].variables}
    weights = upstream_bert.fast_path().weights
    for i in (0, 5):
        for target, name in (("query", "attention/query/kernel"), ("output", "output/kernel")):
            base = weights[f"transformer/layer_{i}/{name}"]
            variable = getattr(base, "variable", base)
            delta = adapters[f"layer_{i}/{target}/lora_a"] @ adapters[f"layer_{i}/{target}/lora_b"] * 2.0
            assert np.abs(delta).max() > 0  # the adapters trained
            want = variable.numpy() + delta.reshape(variable.shape)
            assert np.abs(exported[variable.name] - want).max() < 1e-6
    # The head reads pooled_output: the pooler trained with it (a change at a tenth of the rate), and the
    # export holds the trained one.
    pooler = weights["pooler/kernel"]
    change = next(
        reader.get_tensor(n)
        for n in reader.get_variable_to_shape_map()
        if n.endswith("pooler.Skernel/.ATTRIBUTES/VARIABLE_VALUE")
    )
    assert np.abs(change).max() > 0
    assert np.abs(exported[pooler.name] - (pooler.numpy() + 0.1 * change.reshape(pooler.shape))).max() < 1e-6
