"""Text classification: sentence pairs (packing with type ids, training, predicting and evaluating pairs), and
the exported classifier's batches."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import one_error_line, run

from bert_hub.core.errors import InputError
from bert_hub.runtime import batching


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# -- words and offsets -----------------------------------------------------------------------------------------


def test_pairs_pack_with_type_ids_and_train(tmp_path, tiny, tiny_bundle):
    tok = batching.tokenize(tiny.preprocessor, ["the cat", "a dog"], 16, pairs=["sat on the mat", "x"])
    assert tok.lengths.tolist() == [2 + 4 + 3, 2 + 1 + 3]
    x = batching.pack_to_bucket(tiny.preprocessor, list(tok.segments), batching.default_buckets(16))
    assert x["input_type_ids"].numpy()[0].tolist()[:9] == [0, 0, 0, 0, 1, 1, 1, 1, 1]
    rows = ["question\tanswer\tlabel"] + [
        f"is this spam\t{'win cash' if i % 2 else 'hello world'}\t{'yes' if i % 2 else 'no'}" for i in range(40)
    ]
    data = write(tmp_path / "pairs.tsv", "\n".join(rows) + "\n")
    out = tmp_path / "pairs"
    report = json.loads(
        run(
            "train",
            "--config",
            str(tiny_bundle),
            "--data",
            str(data),
            "--pair-col",
            "answer",
            "--text-col",
            "question",
            "--positive",
            "yes",
            "--out",
            str(out),
            "--epochs",
            "1",
            "--batch-size",
            "8",
            "--seq-length",
            "32",
            "--json",
        ).stdout
    )
    assert report["pairs"] is True
    pred = json.loads(run("predict", "--model", str(out), "--pair", "is this spam", "win cash", "--json").stdout)
    assert pred["predictions"][0]["text_pair"] == "win cash"
    err = run("predict", "--model", str(out), "is this spam", check_rc=2).stderr
    assert "classifies sentence pairs" in one_error_line(err)
    ev = json.loads(
        run(
            "evaluate",
            "--model",
            str(out),
            "--data",
            str(data),
            "--pair-col",
            "answer",
            "--text-col",
            "question",
            "--json",
        ).stdout
    )
    assert ev["examples"] == 40


def test_predict_batches_texts_of_similar_length_and_keeps_input_order(trained_classifier):
    from bert_hub.finetune.tasks.classification import Classifier

    classifier = Classifier(trained_classifier)
    texts = [
        "win a free prize now " * 6,
        "ok",
        "call me later about the lunch plan",
        "",
        "hi there",
        "URGENT! your account has won cash, reply YES to claim " * 2,
        "see you",
    ]
    batched = classifier.predict(texts, batch_size=2)  # sorted by length: no batch holds its input neighbours
    assert [row["text"] for row in batched] == texts
    for text, row in zip(texts, batched):
        alone = classifier.predict([text])[0]
        assert row["label"] == alone["label"] and abs(row["probability"] - alone["probability"]) <= 1e-5
    assert (
        np.abs(classifier.probabilities(texts, batch_size=3) - np.array([r["probability"] for r in batched])).max()
        <= 1e-5
    )


def test_a_binary_classifier_evaluates_texts_of_one_of_its_classes(tmp_path, trained_classifier):
    from bert_hub.finetune.tasks import load_model

    model = load_model(trained_classifier)
    ham = write(tmp_path / "ham.tsv", "".join(f"ham\tsee you at {h} tonight\n" for h in range(1, 9)))
    metrics = model.evaluate(ham)
    assert metrics["examples"] == 8 and metrics["confusion_matrix"][1] == [0, 0]  # no spam texts
    assert sum(metrics["confusion_matrix"][0]) == 8
    other = write(tmp_path / "other.tsv", "ham\tsee you\neggs\tbuy eggs\n")
    with pytest.raises(InputError, match=r"line 2 has the unknown label 'eggs'; expected one of"):
        model.evaluate(other)


def test_a_classifier_predicts_and_evaluates_in_int8(trained_classifier, tmp_path, cli):
    from bert_hub.explore.samples import write_sms_file
    from bert_hub.finetune.exported import ModelFormatError
    from bert_hub.finetune.tasks import load_model

    texts = ["WINNER!! claim your prize now", "see you at lunch", "free entry to win cash", "ok"]
    exact = load_model(trained_classifier)
    int8 = load_model(trained_classifier, "int8")
    assert (exact.precision, int8.precision) == ("float32", "int8")
    np.testing.assert_allclose(int8.probabilities(texts), exact.probabilities(texts), atol=0.02)
    data = write_sms_file(tmp_path / "sms.tsv", 60, seed=11)
    reports = {}
    for precision in ("float32", "int8"):
        rc, out, err = cli("evaluate", "--model", str(trained_classifier), "--data", str(data), "--precision",
                           precision, "--json")  # fmt: skip
        assert rc == 0, err
        reports[precision] = json.loads(out)
    assert reports["int8"]["serving_precision"] == "int8"
    assert abs(reports["int8"]["accuracy"] - reports["float32"]["accuracy"]) <= 0.05
    rc, out, _ = cli("predict", "--model", str(trained_classifier), "--precision", "int8", "--json", *texts)
    assert rc == 0 and len(json.loads(out)["predictions"]) == 4
    # A SavedModel outside its run folder serves in float32 only: int8 rebuilds from the run's settings.
    rc, _, _ = cli("export", "--model", str(trained_classifier), "--format", "savedmodel", "--out", str(tmp_path / "m"))
    with pytest.raises(ModelFormatError, match="has no train_config.yaml.*give that run folder"):
        load_model(tmp_path / "m", "int8")
    with pytest.raises(InputError, match="precision 'int4': choose one of float32, int8"):
        load_model(trained_classifier, "int4")
