"""Multi-label text classification: label sets, a sigmoid and a threshold per label, metrics, export, serving.

Metrics are checked against scikit-learn; the trained model must learn which
of three topics' words a text holds; the export serves with plain TensorFlow.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import TOPICS, python_json, train_tiny
from hypothesis import given, settings
from hypothesis import strategies as st

from bert_hub.core.errors import InputError
from bert_hub.finetune.metrics import multilabel_metrics
from bert_hub.finetune.tasks.labelled_texts import read_labelled


def write_tagged(path: Path, n: int, seed: int) -> Path:
    """``labels<TAB>text``: each text holds the words of none, one or two topics, and names them."""
    rng = np.random.default_rng(seed)
    names = sorted(TOPICS)
    lines = []
    for _ in range(n):
        chosen = sorted(rng.choice(names, size=int(rng.integers(0, 3)), replace=False))
        words = [w for t in chosen for w in rng.choice(TOPICS[t], 3)] or ["the", "on", "a"]
        rng.shuffle(words)
        lines.append(f"{','.join(chosen)}\t{' '.join(words)}")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def tagged(tmp_path_factory) -> Path:
    return write_tagged(tmp_path_factory.mktemp("tagged") / "tagged.tsv", 200, seed=5)


@pytest.fixture(scope="module")
def tag_run(tmp_path_factory, tagged, tiny_bundle) -> tuple[Path, dict]:
    return train_tiny(
        tmp_path_factory, "tags", tiny_bundle, tagged, "--multi-label", "--epochs", "6", "--tune-threshold"
    )


def test_label_sets_are_read(tmp_path):
    path = tmp_path / "t.tsv"
    path.write_text("files,network\tcopy over ssh\n\tnothing here\nmath\t2+2\nnetwork, files \tscp\n")
    data = read_labelled(path, multi_label=True)
    assert data.multi_label and data.label_names == ("files", "math", "network")
    assert data.labels == [[0, 2], [], [1], [2, 0]]
    assert data.counts() == {"files": 2, "math": 1, "network": 2}
    path.write_text("a|b\tx\nb\ty\n")
    assert read_labelled(path, multi_label=True, label_sep="|").labels == [[0, 1], [1]]
    with pytest.raises(InputError, match="`multi_label` data has no positive class"):
        read_labelled(path, multi_label=True, positive="a")


@settings(max_examples=60, deadline=None)
@given(
    st.integers(2, 5).flatmap(
        lambda k: st.tuples(
            st.just(k),
            st.lists(
                st.tuples(
                    st.lists(st.booleans(), min_size=k, max_size=k), st.lists(st.floats(0, 1), min_size=k, max_size=k)
                ),
                min_size=1,
                max_size=30,
            ),
            st.lists(st.floats(0.05, 0.95), min_size=k, max_size=k),
        )
    )
)
def test_multilabel_metrics_equal_scikit_learns(case):
    import warnings

    from sklearn import metrics as sk

    k, rows, thresholds = case
    y = np.array([r[0] for r in rows])
    probs = np.array([r[1] for r in rows])
    pred = probs >= np.array(thresholds)
    m = multilabel_metrics(y, probs, thresholds, [f"l{i}" for i in range(k)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for average in ("micro", "macro", "samples"):
            assert m[f"{average}_f1"] == pytest.approx(sk.f1_score(y, pred, average=average, zero_division=0))
        assert m["subset_accuracy"] == pytest.approx(sk.accuracy_score(y, pred))
        assert m["hamming_loss"] == pytest.approx(sk.hamming_loss(y, pred))
        p, r, f, s = sk.precision_recall_fscore_support(y, pred, zero_division=0)
    for i in range(k):
        c = m["per_label"][f"l{i}"]
        assert (c["precision"], c["recall"], c["f1"], c["support"]) == pytest.approx((p[i], r[i], f[i], s[i]))


def test_a_sigmoid_per_label_learns_label_sets(tag_run):
    out, report = tag_run
    assert report["multi_label"] and report["label_names"] == ["animals", "greet", "mail"]
    m = report["test_metrics"]
    assert set(m) >= {"micro_f1", "macro_f1", "samples_f1", "subset_accuracy", "hamming_loss", "per_label"}
    assert m["micro_f1"] >= 0.85 and m["subset_accuracy"] >= 0.6
    info = json.loads((out / "model" / "bert_hub_export.json").read_text())
    assert info["multi_label"] and len(info["thresholds"]) == 3
    assert report["thresholds"] == dict(zip(info["label_names"], info["thresholds"]))


def test_evaluate_predict_and_serve_label_sets(tag_run, tagged, cli, tmp_path):
    out, _ = tag_run
    rc, stdout, err = cli("evaluate", "--model", out, "--data", tagged, "--plot", tmp_path / "l.png", "--json")
    assert rc == 0, err
    m = json.loads(stdout)
    assert m["examples"] == 200 and m["micro_f1"] >= 0.85
    assert (tmp_path / "l.png").read_bytes().startswith(b"\x89PNG")
    rc, stdout, err = cli("predict", "--model", out, "--json", "hello world spam mail", "the cat sat", "the on a")
    assert rc == 0, err
    rows = json.loads(stdout)["predictions"]
    assert [r["labels"] for r in rows] == [["greet", "mail"], ["animals"], []]
    assert rows[0]["label"] == "greet,mail" and set(rows[0]["probabilities"]) == {"animals", "greet", "mail"}
    served = python_json(f"""
import json, tensorflow as tf, tensorflow_text
serve = tf.saved_model.load({str(out / "model")!r}).signatures["serving_default"]
res = serve(text=tf.constant(["hello world spam mail", "the cat sat", "the on a"]))
print(json.dumps({{"label": [x.decode() for x in res["label"].numpy()],
                  "predicted": res["predicted"].numpy().tolist(), "shape": res["probabilities"].shape.as_list()}}))
""")
    assert served == {
        "label": ["greet,mail", "animals", ""],
        "shape": [3, 3],
        "predicted": [[False, True, True], [True, False, False], [False, False, False]],
    }


def test_beam_scores_label_sets(tag_run, tagged, cli, tmp_path):
    pytest.importorskip("apache_beam", reason="the beam extra is not installed")
    from bert_hub.integrations.beam import read_output

    out, _ = tag_run
    rc, _, err = cli(
        "predict", "--model", out, "--runner", "DirectRunner", "--input", tagged, "--output", tmp_path / "s"
    )
    assert rc == 0, err
    rows = read_output(tmp_path / "s")
    assert len(rows) == 200 and all(r["probability"] is None for r in rows)
    assert {lab for r in rows for lab in r["label"].split(",") if lab} <= set(TOPICS)
