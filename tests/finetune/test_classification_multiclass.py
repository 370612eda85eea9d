"""Multi-class text classification: reading any number of labels, the softmax head, metrics, export, serving.

Metrics are checked against scikit-learn; the trained model must learn a
three-topic task made of the tiny vocab's words; the export serves with plain
TensorFlow.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import TOPICS, one_error_line, python_json, train_tiny
from hypothesis import given, settings
from hypothesis import strategies as st

from bert_hub.core.errors import InputError
from bert_hub.finetune.metrics import multiclass_metrics
from bert_hub.finetune.tasks.labelled_texts import read_labelled


def write_topics(path: Path, n: int, seed: int, sep: str = "\t", header: bool = False) -> Path:
    rng = np.random.default_rng(seed)
    names = sorted(TOPICS)
    lines = ["label\ttext"] if header else []
    for _ in range(n):
        label = names[rng.integers(len(names))]
        words = rng.choice(TOPICS[label], size=rng.integers(2, 7))
        lines.append(f"{label}{sep}{' '.join(words)}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def topics(tmp_path_factory) -> Path:
    return write_topics(tmp_path_factory.mktemp("topics") / "topics.tsv", 150, seed=3)


@pytest.fixture(scope="module")
def topic_run(tmp_path_factory, topics, tiny_bundle) -> tuple[Path, dict]:
    return train_tiny(tmp_path_factory, "topics", tiny_bundle, topics, "--epochs", "5")


# -- reading ------------------------------------------------------------------------------------


def test_more_than_two_labels_read_as_multi_class(tmp_path):
    data = read_labelled(write_topics(tmp_path / "t.tsv", 30, seed=1))
    assert data.multi_class and data.label_names == ("animals", "greet", "mail")
    assert sorted(set(data.labels)) == [0, 1, 2]
    first = (tmp_path / "t.tsv").read_text().splitlines()[0].split("\t")[0]
    assert data.label_names[data.labels[0]] == first
    csv = tmp_path / "t.csv"
    csv.write_text("text,label\nhello world,greet\nthe cat,animals\nspam mail,mail\n")
    assert read_labelled(csv).label_names == ("animals", "greet", "mail")


def test_two_labels_stay_binary_unless_asked(tmp_path):
    sms = tmp_path / "s.tsv"
    sms.write_text("ham\thello\nspam\twin\nham\tok\n")
    binary = read_labelled(sms)
    assert not binary.multi_class and binary.label_names == ("ham", "spam") and binary.labels == [0, 1, 0]
    forced = read_labelled(sms, multi_class=True)
    assert forced.multi_class and forced.label_names == ("ham", "spam") and forced.labels == [0, 1, 0]
    with pytest.raises(InputError, match="`positive` names the positive class of two labels; these 3 labels"):
        read_labelled(write_topics(tmp_path / "t.tsv", 30, seed=1), positive="greet")


# -- metrics against scikit-learn ----------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    st.integers(2, 6).flatmap(
        lambda k: st.tuples(
            st.just(k),
            st.lists(
                st.tuples(st.integers(0, k - 1), st.lists(st.floats(0, 1), min_size=k, max_size=k)),
                min_size=1,
                max_size=40,
            ),
        )
    )
)
def test_multiclass_metrics_equal_scikit_learns(case):
    from sklearn import metrics as sk

    k, rows = case
    y = np.array([r[0] for r in rows])
    probs = np.array([r[1] for r in rows])
    pred = probs.argmax(axis=1)
    m = multiclass_metrics(y, probs, [f"c{i}" for i in range(k)])
    assert m["accuracy"] == pytest.approx(sk.accuracy_score(y, pred))
    for average in ("macro", "micro", "weighted"):
        assert m[f"{average}_f1"] == pytest.approx(sk.f1_score(y, pred, average=average, zero_division=0))
    assert m["mcc"] == pytest.approx(sk.matthews_corrcoef(y, pred), abs=1e-12)
    p, r, f, s = sk.precision_recall_fscore_support(y, pred, labels=range(k), zero_division=0)
    for i in range(k):
        assert m["per_class"][f"c{i}"] == pytest.approx(
            {"precision": p[i], "recall": r[i], "f1": f[i], "support": s[i]}
        )
    assert m["confusion_matrix"] == sk.confusion_matrix(y, pred, labels=range(k)).tolist()


# -- training, evaluation, prediction, serving ---------------------------------------------------


def test_a_softmax_head_learns_three_topics(topic_run):
    out, report = topic_run
    assert report["multi_class"] and report["label_names"] == ["animals", "greet", "mail"]
    metrics = report["test_metrics"]
    assert set(metrics) >= {"accuracy", "macro_f1", "micro_f1", "weighted_f1", "mcc", "per_class"}
    assert metrics["accuracy"] >= 0.9 and metrics["macro_f1"] >= 0.9
    info = json.loads((out / "model" / "bert_hub_export.json").read_text())
    assert info["multi_class"] and info["positive_label"] is None and info["threshold"] is None


def test_evaluate_and_plot_a_multi_class_model(topic_run, topics, cli, tmp_path):
    from sklearn import metrics as sk

    from bert_hub.finetune.tasks.classification import Classifier

    out, _ = topic_run
    rc, stdout, err = cli("evaluate", "--model", out, "--data", topics, "--plot", tmp_path / "cm.png", "--json")
    assert rc == 0, err
    m = json.loads(stdout)
    data = read_labelled(topics)
    pred = Classifier(out).probabilities(data.texts).argmax(axis=1)
    assert m["macro_f1"] == pytest.approx(sk.f1_score(data.labels, pred, average="macro", zero_division=0))
    assert sum(c["support"] for c in m["per_class"].values()) == len(data) == m["examples"]
    assert (tmp_path / "cm.png").read_bytes().startswith(b"\x89PNG")
    rc, stdout, _ = cli("evaluate", "--model", out, "--data", topics)
    assert rc == 0 and "macro F1" in stdout and "true / predicted" in stdout
    other = tmp_path / "other.tsv"
    other.write_text("greet\thello\nsports\tball\n")
    rc, _, err = cli("evaluate", "--model", out, "--data", other)
    assert rc == 2 and "the label 'sports' is not one of the model's labels (animals, greet, mail)" in one_error_line(
        err
    )


def test_predict_shows_the_top_labels(topic_run, cli):
    out, _ = topic_run
    rc, stdout, err = cli("predict", "--model", out, "--top-k", "3", "--json", "hello world !", "the cat sat")
    assert rc == 0, err
    rows = json.loads(stdout)["predictions"]
    assert [r["label"] for r in rows] == ["greet", "animals"]
    for r in rows:
        assert [t["label"] for t in r["top"]][0] == r["label"] and len(r["top"]) == 3
        assert sum(t["probability"] for t in r["top"]) == pytest.approx(1.0, abs=1e-5)
        assert r["top"][0]["probability"] == pytest.approx(r["probability"])
    rc, stdout, _ = cli("predict", "--model", out, "--top-k", "2", "spam mail")
    header, line = stdout.splitlines()
    assert rc == 0 and header.split() == ["label", "P(label)", "text"]  # the probability of the predicted label
    assert line.startswith("mail ") and line.endswith(")") and "spam mail" in line


def test_the_multi_class_export_serves_with_plain_tensorflow(topic_run):
    out, _ = topic_run
    result = python_json(f"""
import json, tensorflow as tf, tensorflow_text
serve = tf.saved_model.load({str(out / "model")!r}).signatures["serving_default"]
res = serve(text=tf.constant(["hello world", "spam mail is this", "dog cat"]))
print(json.dumps({{k: v.numpy().tolist() for k, v in res.items() if k != "label"}} |
                 {{"label": [x.decode() for x in res["label"].numpy()]}}))
""")
    probs = np.array(result["probabilities"])
    assert probs.shape == (3, 3) and np.allclose(probs.sum(axis=1), 1, atol=1e-5)
    assert result["label"] == ["greet", "mail", "animals"]
    assert np.allclose(result["probability"], probs.max(axis=1))


def test_two_labels_trained_as_multi_class(tmp_path, cli, tiny_bundle):
    data = tmp_path / "two.tsv"
    rng = np.random.default_rng(0)
    data.write_text(
        "".join(f"{lab}\t{' '.join(rng.choice(TOPICS[lab], 4))}\n" for lab in rng.choice(["greet", "mail"], 60))
    )
    rc, stdout, err = cli(
        "train",
        "--config",
        tiny_bundle,
        "--data",
        data,
        "--out",
        tmp_path / "r",
        "--multi-class",
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--seq-length",
        "32",
        "--json",
    )
    assert rc == 0, err
    assert json.loads(stdout)["multi_class"]
    rc, stdout, _ = cli("predict", "--model", tmp_path / "r", "--json", "hello")
    assert len(json.loads(stdout)["predictions"][0]["top"]) == 1
    rc, _, err = cli(
        "train",
        "--config",
        tiny_bundle,
        "--data",
        write_topics(tmp_path / "t.tsv", 30, 1),
        "--out",
        tmp_path / "r2",
        "--tune-threshold",
    )
    assert rc == 2 and "--tune-threshold chooses the threshold of a binary classifier" in err


def test_beam_scores_a_multi_class_model(topic_run, topics, cli, tmp_path):
    pytest.importorskip("apache_beam", reason="the beam extra is not installed")
    from bert_hub.integrations.beam import read_output

    out, _ = topic_run
    rc, _, err = cli(
        "predict", "--model", out, "--runner", "DirectRunner", "--input", topics, "--output", tmp_path / "scores"
    )
    assert rc == 0, err
    rows = read_output(tmp_path / "scores")
    assert len(rows) == 150 and {r["label"] for r in rows} <= set(TOPICS)
