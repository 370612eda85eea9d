"""Session fixtures: small models built once, caches isolated, network blocked.

Every cache bert_hub touches (its own, kagglehub's, tensorflow_hub's) points
into a temporary folder (removed at exit; bert_hub's is one for the run, the
others one per xdist worker), and HTTP(S) goes to a closed local port, so the
suite behaves the same with or without internet.
"""

from __future__ import annotations

import atexit
import contextlib
import inspect
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

_SESSION_DIR = Path(tempfile.mkdtemp(prefix="bert_hub_tests_"))
atexit.register(shutil.rmtree, _SESSION_DIR, ignore_errors=True)  # models and caches: hundreds of MB
# bert_hub's own cache is one for the whole run, the xdist workers included (they inherit the variable from
# the process that starts them): the embedded model is converted, and each model shape measured, once, as
# on a user's machine. A test of the cache itself points BERT_HUB_CACHE at a folder of its own.
if "BERT_HUB_TESTS_CACHE" not in os.environ:
    _shared = Path(tempfile.mkdtemp(prefix="bert_hub_tests_cache_"))
    atexit.register(shutil.rmtree, _shared, ignore_errors=True)
    os.environ["BERT_HUB_TESTS_CACHE"] = str(_shared / "bert_hub_cache")
os.environ["BERT_HUB_CACHE"] = os.environ["BERT_HUB_TESTS_CACHE"]
os.environ["KAGGLEHUB_CACHE"] = str(_SESSION_DIR / "kagglehub")
os.environ["TFHUB_CACHE_DIR"] = str(_SESSION_DIR / "tfhub")
#: The proxy settings the suite started with: for a helper that must reach the package registries. Kept in
#: the environment for the xdist workers, which start from the main process's, where they are blocked already.
if "BERT_HUB_TESTS_PROXIES" not in os.environ:
    _proxies = {var: os.environ.get(var) for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")}
    os.environ["BERT_HUB_TESTS_PROXIES"] = json.dumps(_proxies)
REGISTRY_PROXIES: dict[str, str | None] = json.loads(os.environ["BERT_HUB_TESTS_PROXIES"])
for var in REGISTRY_PROXIES:
    os.environ[var] = "http://127.0.0.1:9"  # nothing listens there: connections fail at once
# Loopback stays direct: Beam's DirectRunner talks gRPC to its own workers on localhost.
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "localhost,127.0.0.1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# What the bert-hub program does at start-up, for the code the tests run in this process (before TensorFlow loads).
from bert_hub.runtime.precision import enable_onednn  # noqa: E402

enable_onednn()

sys.path.insert(0, str(Path(__file__).parent))

import numpy as np  # noqa: E402
import pytest  # noqa: E402

# Special tokens deliberately away from BERT-uncased's 0/100/101/102/103.
TINY_VOCAB = [
    "[UNK]",
    "the",
    "[SEP]",
    "cat",
    "[PAD]",
    "[CLS]",
    "sat",
    "on",
    "mat",
    "##s",
    "a",
    "dog",
    ".",
    ",",
    "!",
    "hello",
    "world",
    "spam",
    "mail",
    "is",
    "this",
    "##ing",
    "run",
    "un",
    "##want",
    "##ed",
    "want",
    "[MASK]",
    "x",
    "y",
    "z",
    "café",
    "cafe",
    "##e",
]


def write_vocab(path: Path, tokens: list[str]) -> Path:
    path.write_text("\n".join(tokens) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def session_dir() -> Path:
    return _SESSION_DIR


@pytest.fixture(scope="session")
def tiny_vocab(session_dir: Path) -> Path:
    return write_vocab(session_dir / "tiny_vocab.txt", TINY_VOCAB)


@pytest.fixture(scope="session")
def tiny_bundle(session_dir: Path, tiny_vocab: Path) -> Path:
    """A random-weight L=2 H=32 A=4 model with an MLM head, built once."""
    from bert_hub.builder.bundle import build_random_bundle

    out = session_dir / "tiny_bundle"
    build_random_bundle(
        out, layers=2, hidden=32, heads=4, intermediate=64, vocab_file=tiny_vocab, max_position_embeddings=128, seed=1
    )
    return out


@pytest.fixture(scope="session")
def tiny(tiny_bundle: Path):
    """The tiny bundle loaded as a pipeline."""
    from bert_hub import load_pipeline

    return load_pipeline(tiny_bundle / "bert_hub.yaml")


@pytest.fixture(scope="session")
def minilm_checkpoint() -> Path:
    """The real all-MiniLM-L6-v2 checkpoint inside the installed package."""
    from bert_hub.hub.embedded import checkpoint_dir

    return checkpoint_dir("all-MiniLM-L6-v2")


@pytest.fixture(scope="session")
def hf_ids(minilm_checkpoint: Path):
    """all-MiniLM-L6-v2's own tokenizer (Hugging Face's ``tokenizers``, from its tokenizer.json), as
    ``hf_ids(text, special_tokens=True) -> ids``: the reference for the ids of a converted checkpoint."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(minilm_checkpoint / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.no_truncation()

    def hf_ids(text: str, special_tokens: bool = True) -> list[int]:
        return tokenizer.encode(text, add_special_tokens=special_tokens).ids

    return hf_ids


@pytest.fixture(scope="session")
def minilm_tensors(minilm_checkpoint: Path):
    from safetensors.numpy import load_file

    return load_file(str(minilm_checkpoint / "model.safetensors"))


@pytest.fixture(scope="session")
def minilm():
    """The embedded default (real MiniLM weights) as a pipeline; converted once per session."""
    from bert_hub import load_pipeline

    return load_pipeline("default")


@pytest.fixture(scope="session")
def minilm_vocab(minilm_checkpoint: Path) -> list[str]:
    return (minilm_checkpoint / "vocab.txt").read_text(encoding="utf-8").splitlines()


@pytest.fixture(scope="session")
def mlm_checkpoint(tmp_path_factory, minilm_checkpoint, minilm_tensors):
    """A BertForMaskedLM-style checkpoint: MiniLM's first 2 layers, 'bert.' prefix, a cls head."""
    from safetensors.numpy import save_file

    out = tmp_path_factory.mktemp("mlm_ckpt")
    rng = np.random.default_rng(0)
    tensors = {
        f"bert.{k}": v
        for k, v in minilm_tensors.items()
        if not k.startswith("encoder.layer.") or int(k.split(".")[2]) < 2
    }
    tensors.pop("bert.embeddings.position_ids", None)
    h, vocab = 384, 30522
    tensors.update(
        {
            "cls.predictions.transform.dense.weight": (rng.normal(0, 0.05, (h, h))).astype(np.float32),
            "cls.predictions.transform.dense.bias": np.zeros(h, np.float32),
            "cls.predictions.transform.LayerNorm.weight": np.ones(h, np.float32),
            "cls.predictions.transform.LayerNorm.bias": np.zeros(h, np.float32),
            "cls.predictions.bias": (rng.normal(0, 0.1, vocab)).astype(np.float32),
        }
    )
    save_file(tensors, str(out / "model.safetensors"))
    config = json.loads((minilm_checkpoint / "config.json").read_text())
    config.update(num_hidden_layers=2, architectures=["BertForMaskedLM"])
    (out / "config.json").write_text(json.dumps(config))
    shutil.copy(minilm_checkpoint / "vocab.txt", out / "vocab.txt")
    shutil.copy(minilm_checkpoint / "tokenizer_config.json", out / "tokenizer_config.json")
    return out, tensors


@pytest.fixture(scope="session")
def mlm_bert(mlm_checkpoint, session_dir: Path):
    """The MLM checkpoint converted with bert-hub's converter, loaded."""
    from bert_hub import convert_checkpoint_bundle, load_pipeline

    convert_checkpoint_bundle(mlm_checkpoint[0], session_dir / "mlm_bundle")
    return load_pipeline(session_dir / "mlm_bundle")


def run(*args: str, check_rc: int | None = 0, process: bool = False) -> subprocess.CompletedProcess:
    """``bert-hub ARGS``: in this process (fast), or as a real process where the test needs one
    (quiet logs at start-up, logical devices that must be set before TensorFlow starts)."""
    if process:
        env = dict(os.environ)
        env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # the CLI must be quiet by itself
        proc = subprocess.run(
            [sys.executable, "-m", "bert_hub.cli", *map(str, args)],
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
        )
    else:
        from bert_hub.cli import main

        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = main([str(a) for a in args])
        proc = subprocess.CompletedProcess(args, rc, out.getvalue(), err.getvalue())
    if check_rc is not None:
        assert proc.returncode == check_rc, proc.stderr
    return proc


@pytest.fixture
def cli():
    """``bert-hub ARGS`` in this process: returns (exit status, stdout, stderr)."""

    def call(*args: str) -> tuple[int, str, str]:
        proc = run(*args, check_rc=None)
        return proc.returncode, proc.stdout, proc.stderr

    return call


def python_json(script: str) -> dict:
    """Runs ``script`` in a fresh Python (nothing of the tests imported) and returns the JSON of its
    last output line: how an export is checked to serve with plain TensorFlow."""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


_PACKING: list[bool] = []


def onednn_packs_weights() -> bool:
    """Whether TensorFlow on this CPU honours ``TF_ONEDNN_ASSUME_FROZEN_WEIGHTS`` (measured once in a fresh
    process). TensorFlow runs its matmuls through oneDNN only on some x86 CPUs (with AVX-512 and up), so
    weights can be frozen there alone."""
    if not _PACKING:
        script = "from bert_hub.runtime.precision import weights_frozen; print(weights_frozen())"
        proc = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "TF_ONEDNN_ASSUME_FROZEN_WEIGHTS": "1"},
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        _PACKING.append(proc.stdout.strip().splitlines()[-1] == "True")
    return _PACKING[0]


def check_preprocess_calls_trace_once(bert: Any) -> None:
    """Tokenizing and packing batches of three sizes (single texts and pairs; ``seq_length`` as a Python
    int, a NumPy int and an int64 tensor) through :mod:`bert_hub.hub.preprocess_calls` gives the restored
    functions' own results and traces each wrapper once, however many sizes come."""
    import numpy as np
    import tensorflow as tf

    from bert_hub.hub import preprocess_calls

    texts = ["This is a spam mail", "the cat sat on the mat", "", "hello world!", "Computers are not unique"]
    for n, length in ((5, 12), (2, np.int64(12)), (3, tf.constant(12, tf.int64))):
        batch = tf.constant(texts[:n])
        pieces = preprocess_calls.tokenize(bert.preprocessor, batch)
        assert pieces.to_list() == bert.preprocessor.tokenize(batch).to_list()
        for segments in ([pieces], [pieces, pieces[::-1]]):
            ours = preprocess_calls.bert_pack_inputs(bert.preprocessor, segments, length)
            theirs = bert.preprocessor.bert_pack_inputs(segments, seq_length=tf.constant(12))
            for key in ("input_word_ids", "input_mask", "input_type_ids"):
                np.testing.assert_array_equal(ours[key].numpy(), theirs[key].numpy())
                assert ours[key].shape == (n, 12)
    counts = preprocess_calls.traces(bert.preprocessor)
    assert counts == {"tokenize": 1, "bert_pack_inputs/1": 1, "bert_pack_inputs/2": 1}, counts


#: Words of the tiny vocab by topic: texts for the multi-class and multi-label tests.
TOPICS = {
    "animals": ["cat", "dog", "mat", "sat"],
    "greet": ["hello", "world", "!"],
    "mail": ["spam", "mail", "is", "this"],
}


def train_tiny(tmp_path_factory: Any, name: str, bundle: Path, data: Path, *flags: str) -> tuple[Path, dict]:
    """A short run on the tiny model with settings that learn the small tasks of the tests (lr 3e-3,
    mean pooling, batch 8, a 20% test split): its folder and its ``--json`` report."""
    out = tmp_path_factory.mktemp("runs") / name
    report = json.loads(
        run(
            "train",
            "--config",
            bundle,
            "--data",
            data,
            "--out",
            out,
            "--batch-size",
            "8",
            "--learning-rate",
            "0.003",
            "--pooling",
            "mean",
            "--seq-length",
            "32",
            "--test-fraction",
            "0.2",
            "--json",
            *flags,
        ).stdout
    )
    return out, report


def one_error_line(err: str) -> str:
    """The single ``error: ...`` line of a failed command (asserting there is only that)."""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def litert_export(cli: Any, run: Path, out: Path) -> tuple[dict, Any]:
    """``bert-hub export --model RUN --out OUT --json`` of a run, checked to succeed: its report and the file in
    the LiteRT interpreter (the test is skipped without the LiteRT runtime)."""
    pytest.importorskip(
        "ai_edge_litert", reason="the LiteRT runtime (ai-edge-litert, the litert extra) is not installed"
    )
    from bert_hub.export.litert import LiteRTModel

    rc, stdout, err = cli("export", "--model", str(run), "--out", str(out), "--json")
    assert rc == 0, err
    return json.loads(stdout), LiteRTModel(out)


def assert_same_outputs(got: dict[str, Any], expected: dict[str, Any], atol: float, note: Any = None) -> None:
    """A LiteRT file's outputs (NumPy) against a SavedModel signature's (tensors): the same keys, floats
    within ``atol``, every other value equal."""
    assert sorted(got) == sorted(expected), note
    for key, value in expected.items():
        if value.dtype.is_floating:
            np.testing.assert_allclose(got[key], value.numpy(), atol=atol, err_msg=f"{key} {note}")
        else:
            assert got[key].tolist() == value.numpy().tolist(), (key, note)


@pytest.fixture(scope="session")
def trained_classifier(tiny_bundle: Path, session_dir: Path) -> Path:
    """A spam classifier fine-tuned for one epoch on the tiny model (its run folder)."""
    from bert_hub.explore.samples import write_sms_file
    from bert_hub.finetune.tasks.labelled_texts import read_labelled
    from bert_hub.finetune.train import train
    from bert_hub.finetune.train_config import TrainConfig

    data = write_sms_file(session_dir / "sms_for_classifier.tsv", 120, seed=4)
    out = session_dir / "classifier_run"
    train(tiny_bundle, read_labelled(data), out, TrainConfig(epochs=1, batch_size=8, learning_rate=1e-3, seq_length=64))
    return out


# -- markers: `pytest -m "not slow"` is the quick loop; `make test` runs everything --------------------

#: Starting bert-hub or Python as a process of its own.
_PROCESS = re.compile(r"Popen|process=True|python_json\(|subprocess\.run|sys\.executable")
#: Work that takes seconds to minutes: fine-tuning, converting or building a model, a Beam job, a notebook, a
#: package build, a real process. The session's shared models (tiny, minilm) are the quick loop's baseline.
_SLOW_WORK = re.compile(
    r'run\(\s*"(train|build|convert)"|\btrain\(|"--runner"|run_embed\(|run_predict\(|'
    r"beam\.Pipeline|train_tiny\(|build_random_bundle\(|convert_checkpoint|nbclient|"
    r'NotebookClient|"build"|\.fit\(|' + _PROCESS.pattern
)
#: Session fixtures that are part of the baseline (built once, used by most tests).
_BASELINE = {
    "session_dir",
    "tiny_vocab",
    "tiny_bundle",
    "tiny",
    "minilm_checkpoint",
    "minilm_tensors",
    "minilm",
    "minilm_vocab",
}


def _sources(item: pytest.Item) -> list[str]:
    """The source of a test and of every fixture it uses, directly or through other fixtures."""
    sources = []
    try:
        sources.append(inspect.getsource(item.function))  # type: ignore[attr-defined]
    except (OSError, TypeError, AttributeError):
        pass
    for name, defs in item._fixtureinfo.name2fixturedefs.items():
        if name in _BASELINE:
            continue
        for fixture in defs:
            if "pytest" not in fixture.func.__module__:
                with contextlib.suppress(OSError, TypeError):
                    sources.append(inspect.getsource(fixture.func))
    return sources


#: The test files that take minutes, longest first (``--durations`` of a clean-clone ``make test`` on the
#: 2-core machines). ``make test`` runs two workers, a file each at a time, handed out in collection order
#: (``--dist loadfile --no-loadscope-reorder``); these go first, so that no worker starts a long file when
#: the other is nearly done (xdist's own order, most tests first, put the longest single test last).
LONGEST_FIRST = (
    "test_guides_finetuning.py",
    "finetune/test_question_answering.py",
    "core/test_outputs_under_faults.py",
    "core/test_outputs.py",
    "test_guides.py",
    "finetune/test_train_multi_worker.py",
    "finetune/test_token_classification.py",
    "test_readme.py",
    "test_notebooks.py",
    "test_install.py",
)
assert all((Path(__file__).parent / name).is_file() for name in LONGEST_FIRST), "LONGEST_FIRST names a lost file"


def _file_rank(item: pytest.Item) -> int:
    here = Path(__file__).parent
    path = item.path.relative_to(here).as_posix() if item.path.is_relative_to(here) else ""
    return LONGEST_FIRST.index(path) if path in LONGEST_FIRST else len(LONGEST_FIRST)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        sources = "\n".join(_sources(item))
        if _PROCESS.search(sources):
            item.add_marker(pytest.mark.subprocess)
        if _SLOW_WORK.search(sources):
            item.add_marker(pytest.mark.slow)
    items.sort(key=_file_rank)  # stable: the other files, and the tests within a file, keep their order
