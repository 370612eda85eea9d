"""Text regression: a score per text, a linear head, Pearson / Spearman / MSE / MAE, export and serving.

The metrics are checked against SciPy; the model must learn a score made of
the tiny vocab's words (how many times ``cat`` occurs); the export serves
with plain TensorFlow.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import one_error_line, python_json, train_tiny
from hypothesis import given, settings
from hypothesis import strategies as st

from bert_hub.core.errors import InputError
from bert_hub.finetune.metrics import regression_metrics
from bert_hub.finetune.tasks.regression import read_scored


def write_scores(path: Path, n: int, seed: int) -> Path:
    """``score<TAB>text``: the score is how many of the text's five words are ``cat``."""
    rng = np.random.default_rng(seed)
    lines = []
    for _ in range(n):
        k = int(rng.integers(0, 5))
        words = ["cat"] * k + list(rng.choice(["the", "on", "mat", "a", "dog"], 5 - k))
        rng.shuffle(words)
        lines.append(f"{k}\t{' '.join(words)}")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def scores_file(tmp_path_factory) -> Path:
    return write_scores(tmp_path_factory.mktemp("scores") / "scores.tsv", 150, seed=2)


@pytest.fixture(scope="module")
def score_run(tmp_path_factory, scores_file, tiny_bundle) -> tuple[Path, dict]:
    return train_tiny(
        tmp_path_factory, "scores", tiny_bundle, scores_file, "--task", "text-regression", "--epochs", "5"
    )


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(-5, 5), st.floats(-5, 5)), min_size=2, max_size=30))
def test_regression_metrics_equal_scipys(pairs):
    from scipy import stats

    y = np.array([a for a, _ in pairs])
    p = np.array([b for _, b in pairs])
    m = regression_metrics(y, p)
    assert m["mse"] == pytest.approx(((y - p) ** 2).mean()) and m["mae"] == pytest.approx(np.abs(y - p).mean())
    if np.ptp(y) > 1e-9 and np.ptp(p) > 1e-9:
        assert m["pearson"] == pytest.approx(stats.pearsonr(y, p)[0], abs=1e-9)
    if len(set(y)) > 1 and len(set(p)) > 1:
        assert m["spearman"] == pytest.approx(stats.spearmanr(y, p)[0], abs=1e-9)


def test_scores_are_read_as_numbers(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("text,label\nfine,4.5\nbad,0.5\nok,3\n")
    assert read_scored(path).scores == [4.5, 0.5, 3.0]
    path.write_text("text,label\nfine,4.5\nbad,high\n")
    with pytest.raises(InputError, match=r"line 3 has the label 'high', not a finite number"):
        read_scored(path)
    path.write_text("text,label\nfine,nan\n")
    with pytest.raises(InputError, match="not a finite number"):
        read_scored(path)


def test_a_linear_head_learns_a_score(score_run):
    out, report = score_run
    assert report["task"] == "text-regression"
    m = report["test_metrics"]
    assert set(m) == {"examples", "pearson", "spearman", "mse", "mae"}
    assert m["pearson"] >= 0.9 and m["mae"] <= 0.5
    assert (out / "curves.png").is_file()


def test_evaluate_predict_and_plot(score_run, scores_file, cli, tmp_path):
    out, _ = score_run
    rc, stdout, err = cli("evaluate", "--model", out, "--data", scores_file, "--plot", tmp_path / "s.png", "--json")
    assert rc == 0, err
    m = json.loads(stdout)
    assert m["examples"] == 150 and m["pearson"] >= 0.9
    assert (tmp_path / "s.png").read_bytes().startswith(b"\x89PNG")
    rc, stdout, err = cli("predict", "--model", out, "--json", "cat cat cat the mat", "the dog on a mat")
    assert rc == 0, err
    high, low = (r["score"] for r in json.loads(stdout)["predictions"])
    assert high > 2 > 1 > low
    classes = tmp_path / "c.tsv"
    classes.write_text("ham\thello\nspam\twin\n")
    rc, _, err = cli("evaluate", "--model", out, "--data", classes)
    assert rc == 2 and "line 1 has the label 'ham', not a finite number" in one_error_line(err)


def test_the_regression_export_serves_with_plain_tensorflow(score_run):
    out, _ = score_run
    result = python_json(f"""
import json, tensorflow as tf, tensorflow_text
serve = tf.saved_model.load({str(out / "model")!r}).signatures["serving_default"]
print(json.dumps(serve(text=tf.constant(["cat cat cat cat the", "the dog on a mat"]))["score"].numpy().tolist()))
""")
    assert result[0] > 3 and result[1] < 1


def test_beam_scores_with_a_regressor(score_run, scores_file, cli, tmp_path):
    pytest.importorskip("apache_beam", reason="the beam extra is not installed")
    from bert_hub.integrations.beam import read_output

    out, _ = score_run
    rc, _, err = cli(
        "predict", "--model", out, "--runner", "DirectRunner", "--input", scores_file, "--output", tmp_path / "s"
    )
    assert rc == 0, err
    rows = read_output(tmp_path / "s")
    assert len(rows) == 150 and set(rows[0]) == {"file", "line", "text", "score"}
