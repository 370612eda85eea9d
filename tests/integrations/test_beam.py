"""Apache Beam: the RunInference handlers and ``--runner`` pipelines, on the DirectRunner here."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import one_error_line, run

from bert_hub.core.errors import InputError

beam = pytest.importorskip("apache_beam", reason="Apache Beam is the optional extra bert_hub[beam]")

from bert_hub.integrations.beam import read_errors, read_output  # noqa: E402

MULTI = ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]


@pytest.fixture(scope="module")
def texts_dir(tmp_path_factory):
    """Three files of generated lines, one with a line that is not UTF-8."""
    folder = tmp_path_factory.mktemp("texts")
    rng = np.random.default_rng(3)
    words = ["free", "prize", "call", "now", "see", "you", "at", "lunch", "the", "meeting", "is", "moved", "ok"]
    lines = {}
    for f in range(3):
        rows = [" ".join(rng.choice(words, size=int(rng.integers(1, 30)))) for _ in range(100)]
        lines[f"part{f}.txt"] = rows
        (folder / f"part{f}.txt").write_text("\n".join(rows) + "\n", encoding="utf-8")
    with open(folder / "part1.txt", "ab") as fh:
        fh.write(b"broken \xff line\nlast good line\n")
    lines["part1.txt"] += [None, "last good line"]
    return folder, lines


@pytest.fixture(scope="module")
def embedded_on_beam(texts_dir, tmp_path_factory, minilm):
    folder, _ = texts_dir
    out = tmp_path_factory.mktemp("beam_out") / "vectors"
    proc = run(
        "embed",
        "--runner",
        "DirectRunner",
        "--input",
        f"{folder}/*.txt",
        "--output",
        out,
        "--key",
        "mean",
        "--precision",
        "float32",
        "--no-xla",
        "--json",
        *MULTI,
    )
    return out, json.loads(proc.stdout)


def test_two_workers_embed_every_line_once_with_where_it_came_from(texts_dir, embedded_on_beam, minilm):
    folder, lines = texts_dir
    out, summary = embedded_on_beam
    rows = read_output(out)
    got = {(r["file"], r["line"]): np.asarray(r["vector"], np.float32) for r in rows}
    want = {
        (str(folder / name), i + 1): text
        for name, texts in lines.items()
        for i, text in enumerate(texts)
        if text is not None
    }
    assert len(rows) == len(got) == len(want) == summary["rows"] == 301  # each good line exactly once
    assert set(got) == set(want)
    from bert_hub.runtime.embedder import Embedder

    keys = sorted(want)
    single = Embedder(minilm, key="mean", precision="float32", jit_compile=False).embed(
        [want[k] for k in keys]
    )  # the single-process embed
    assert np.abs(np.stack([got[k] for k in keys]) - single).max() <= 1e-5


@pytest.mark.slow
def test_threads_sharing_one_embedder_give_the_single_threaded_vectors(texts_dir, tmp_path, minilm):
    """Beam's multi-threaded mode shares one Embedder between a worker's threads, in its own calibrated mode."""
    from bert_hub.integrations.beam import run_embed
    from bert_hub.runtime.embedder import Embedder, EmbedOptions

    folder, lines = texts_dir
    summary = run_embed(
        f"{folder}/part[02].txt",
        tmp_path / "threads",
        config="default",
        options=EmbedOptions(key="mean", batch_size=8),
        pipeline_args=["--runner", "DirectRunner", "--direct_running_mode=multi_threading", "--direct_num_workers=2"],
    )
    rows = read_output(tmp_path / "threads")
    assert summary["rows"] == len(rows) == 200 and summary["errors"] == 0
    single = Embedder(minilm, key="mean", batch_size=8)
    want = single.embed([lines[Path(r["file"]).name][r["line"] - 1] for r in rows])
    got = np.stack([np.asarray(r["vector"], np.float32) for r in rows])
    if single.resolve_mode().bf16:  # bfloat16 sums depend on the batch a text shares
        cosine = (got * want).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(want, axis=1)
        assert cosine.min() >= 0.9999
    else:
        assert np.abs(got - want).max() <= 1e-5


def test_bad_line_goes_to_the_dead_letter_output(texts_dir, embedded_on_beam):
    folder, _ = texts_dir
    out, summary = embedded_on_beam
    errors = read_errors(out)
    assert summary["errors"] == 1 and len(errors) == 1
    assert errors[0]["file"] == str(folder / "part1.txt") and errors[0]["line"] == 101
    assert "not valid UTF-8" in errors[0]["error"]
    assert json.loads((out / "summary.json").read_text())["rows"] == 301


def test_classifier_handler_scores_equal_predict(tmp_path, trained_classifier):
    from apache_beam.ml.inference.base import RunInference
    from apache_beam.testing.util import assert_that

    from bert_hub.integrations.beam import ExportedModelHandler

    texts = ["WINNER!! Claim your prize now", "see you at lunch", "free entry call now", "ok"]
    predicted = json.loads(run("predict", "--model", trained_classifier, *texts, "--json").stdout)["predictions"]
    expected = {row["text"]: (row["label"], row["probability"]) for row in predicted}

    def same_as_predict(results):
        got = {r.example: (r.inference["label"], r.inference["probability"]) for r in results}
        assert set(got) == set(expected)
        for text, (label, probability) in got.items():
            assert label == expected[text][0] and abs(probability - expected[text][1]) <= 1e-6, text

    with beam.Pipeline() as p:
        scored = p | beam.Create(texts) | RunInference(ExportedModelHandler(str(trained_classifier)))
        assert_that(scored, same_as_predict)
    (tmp_path / "sms.txt").write_text("\n".join(texts) + "\n")
    run(
        "predict",
        "--model",
        trained_classifier,
        "--runner",
        "DirectRunner",
        "--input",
        tmp_path / "sms.txt",
        "--output",
        tmp_path / "scores",
    )
    rows = read_output(tmp_path / "scores")
    assert [r["text"] for r in rows] == texts and [r["line"] for r in rows] == [1, 2, 3, 4]
    assert [r["label"] for r in rows] == [r["label"] for r in predicted]


def test_runner_output_follows_the_output_rule(tmp_path, texts_dir, tiny_bundle):
    folder, _ = texts_dir
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    proc = run(
        "embed",
        "--config",
        tiny_bundle,
        "--runner",
        "DirectRunner",
        "--input",
        f"{folder}/part0.txt",
        "--output",
        tmp_path / "mine",
        "--overwrite",
        check_rc=2,
    )
    assert "was not written by bert_hub" in one_error_line(proc.stderr)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep"


def test_unknown_options_without_runner_are_refused():
    proc = run("embed", "--input", "x.txt", "--output", "x.npy", "--direct_num_workers=2", check_rc=2)
    assert "unknown flag --direct_num_workers" in one_error_line(proc.stderr)


def test_without_beam_one_line_names_the_extra(monkeypatch):
    from bert_hub.integrations import beam as bert_hub_beam

    monkeypatch.setitem(sys.modules, "apache_beam", None)
    with pytest.raises(InputError, match=r"pip install bert_hub\[beam\]"):
        bert_hub_beam.require_beam()
