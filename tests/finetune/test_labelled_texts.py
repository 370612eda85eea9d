"""Reading labelled data: JSON Lines beside SMS, CSV and TSV, with the same labels, pairs and errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bert_hub.core.errors import InputError
from bert_hub.finetune.tasks.labelled_texts import read_labelled
from bert_hub.finetune.tasks.regression import read_scored


def jsonl(path: Path, items: list) -> Path:
    path.write_text("".join(json.dumps(item, ensure_ascii=False) + "\n" for item in items), encoding="utf-8")
    return path


def test_json_lines_read_as_the_same_tsv(tmp_path):
    rows = [
        ("files", "open the file"),
        ("math", "two plus two"),
        ("network", "the socket closed"),
        ("math", "a prime number"),
    ]
    (tmp_path / "d.tsv").write_text("".join(f"{label}\t{text}\n" for label, text in rows), encoding="utf-8")
    from_tsv = read_labelled(tmp_path / "d.tsv")
    from_jsonl = read_labelled(jsonl(tmp_path / "d.jsonl", [{"text": t, "label": lab} for lab, t in rows]))
    assert from_jsonl.texts == from_tsv.texts and from_jsonl.labels == from_tsv.labels
    assert from_jsonl.label_names == from_tsv.label_names == ("files", "math", "network")
    assert from_jsonl.multi_class


def test_json_lines_label_sets_pairs_and_scores(tmp_path):
    tags = read_labelled(
        jsonl(
            tmp_path / "t.json",
            [{"text": "a", "labels": ["x", "y"]}, {"text": "b", "labels": []}, {"text": "c", "labels": ["y"]}],
        ),
        multi_label=True,
    )
    assert tags.label_names == ("x", "y") and [sorted(s) for s in tags.labels] == [[0, 1], [], [1]]
    pairs = read_labelled(
        jsonl(
            tmp_path / "p.jsonl",
            [
                {"text": "q", "text_pair": "win cash", "label": "yes"},
                {"text": "q", "text_pair": "hello", "label": "no"},
            ],
        ),
        positive="yes",
    )
    assert pairs.pairs == ["win cash", "hello"] and pairs.labels == [1, 0]
    scores = read_scored(
        jsonl(tmp_path / "s.jsonl", [{"text": "good", "score": 4.5}, {"text": "bad", "score": 0}]), label_col="score"
    )
    assert scores.scores == [4.5, 0.0]


@pytest.mark.parametrize(
    "content, words",
    [
        ('{"text": "a", "label": "x"}\nnot json\n', "line 2 is not valid JSON"),
        ('{"text": "a", "label": "x"}\n["a", "x"]\n', "line 2 is not a JSON object"),
        ('{"txt": "a", "label": "x"}\n', "line 1 has no field 'text' (fields: txt, label); choose it with `text_col`"),
        ('{"text": 3, "label": "x"}\n', "line 1: field 'text' must be a string"),
        ('{"text": "a", "label": {"k": 1}}\n', "line 1: field 'label' must be a label"),
    ],
)
def test_bad_json_lines_name_the_file_line_and_field(tmp_path, content, words):
    (tmp_path / "bad.jsonl").write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match="bad.jsonl: " + words.replace("(", r"\(").replace(")", r"\)")):
        read_labelled(tmp_path / "bad.jsonl")


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["ham", "spam"]), st.text(min_size=0, max_size=40)), min_size=2, max_size=20))
def test_any_text_round_trips_through_json_lines(tmp_path_factory, rows):
    rows = [("ham", "x"), ("spam", "y"), *rows]
    path = jsonl(tmp_path_factory.mktemp("j") / "d.jsonl", [{"text": t, "label": lab} for lab, t in rows])
    data = read_labelled(path)
    assert data.texts == [t for _, t in rows]
    assert [data.label_names[i] for i in data.labels] == [lab for lab, _ in rows]
