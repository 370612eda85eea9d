"""Text classification of sentence pairs: packing with type ids, training, predicting and evaluating pairs."""

from __future__ import annotations

import json
from pathlib import Path

from bert_hub.runtime import batching
from conftest import one_error_line, run


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# -- words and offsets -----------------------------------------------------------------------------------------

def test_pairs_pack_with_type_ids_and_train(tmp_path, tiny, tiny_bundle):
    tok = batching.tokenize(tiny.preprocessor, ["the cat", "a dog"], 16, pairs=["sat on the mat", "x"])
    assert tok.lengths.tolist() == [2 + 4 + 3, 2 + 1 + 3]
    x = batching.pack_to_bucket(tiny.preprocessor, list(tok.segments), batching.default_buckets(16))
    assert x["input_type_ids"].numpy()[0].tolist()[:9] == [0, 0, 0, 0, 1, 1, 1, 1, 1]
    rows = ["question\tanswer\tlabel"] + [f"is this spam\t{'win cash' if i % 2 else 'hello world'}\t"
                                          f"{'yes' if i % 2 else 'no'}" for i in range(40)]
    data = write(tmp_path / "pairs.tsv", "\n".join(rows) + "\n")
    out = tmp_path / "pairs"
    report = json.loads(run("train", "--config", str(tiny_bundle), "--data", str(data), "--pair-col", "answer",
                            "--text-col", "question", "--positive", "yes", "--out", str(out), "--epochs", "1",
                            "--batch-size", "8", "--seq-length", "32", "--json").stdout)
    assert report["pairs"] is True
    pred = json.loads(run("predict", "--model", str(out), "--pair", "is this spam", "win cash", "--json").stdout)
    assert pred["predictions"][0]["text_pair"] == "win cash"
    err = run("predict", "--model", str(out), "is this spam", check_rc=2).stderr
    assert "classifies sentence pairs" in one_error_line(err)
    ev = json.loads(run("evaluate", "--model", str(out), "--data", str(data), "--pair-col", "answer", "--text-col",
                        "question", "--json").stdout)
    assert ev["examples"] == 40
