"""Token classification (NER): words and offsets, CoNLL data, first-piece alignment, conlleval metrics on
hand-computed cases, and a fine-tuning run that learns and serves raw strings."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from conftest import assert_same_outputs, litert_export, one_error_line, python_json, run
from hypothesis import given, settings
from hypothesis import strategies as st

from bert_hub.core.errors import InputError
from bert_hub.explore.samples import write_conll
from bert_hub.finetune.tasks.entities import entity_metrics, entity_spans, format_entity_metrics
from bert_hub.finetune.tasks.token_classification import (
    NO_LABEL,
    TaggedSentences,
    TokenClassifier,
    TokenExamples,
    format_predictions,
    read_conll,
)
from bert_hub.finetune.tasks.words import first_pieces, split_words, word_pieces
from bert_hub.runtime import batching


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# -- words and offsets -----------------------------------------------------------------------------------------


def test_words_keep_character_offsets_of_non_ascii_text():
    text = "Zoë met 北京's café-owner\tin  Zürich!"
    words, starts, ends = (t[0].numpy() for t in split_words(tf.constant([text])))
    assert [w.decode() for w in words] == [
        "Zoë",
        "met",
        "北",
        "京",
        "'",
        "s",
        "café",
        "-",
        "owner",
        "in",
        "Zürich",
        "!",
    ]
    assert [text[s:e] for s, e in zip(starts, ends)] == [w.decode() for w in words]


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40))
def test_every_word_is_the_text_at_its_offsets(text):
    words, starts, ends = (t[0].numpy() for t in split_words(tf.constant([text])))
    assert [text[s:e] for s, e in zip(starts, ends)] == [w.decode() for w in words]
    assert all(w and not set(w) & set(" \t\n\r\f") for w in (x.decode() for x in words))  # RE2's whitespace
    assert list(starts) == sorted(starts)


def test_first_pieces_of_words_that_split_into_many(tiny):
    nested = word_pieces(tiny.preprocessor, tf.ragged.constant([["unwanted", "cat", "cats"], ["x"]]))
    vocab = tiny.vocab()
    assert [[vocab[i] for i in w] for w in nested[0].to_list()] == [["un", "##want", "##ed"], ["cat"], ["cat", "##s"]]
    first, counts = first_pieces(nested)
    assert first.to_list() == [[0, 3, 4], [0]] and counts.to_list() == [[3, 1, 2], [1]]


# -- CoNLL data, alignment ------------------------------------------------------------------------------------


def test_reads_conll_with_docstart_and_any_columns(tmp_path):
    path = write(
        tmp_path / "d.conll",
        "-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n"
        "\nPeter NNP B-NP B-PER\nBlackburn NNP I-NP I-PER\n\n\n",
    )
    data = read_conll(path)
    assert data.words == [["EU", "rejects"], ["Peter", "Blackburn"]]
    assert data.tags == [["B-ORG", "O"], ["B-PER", "I-PER"]] and data.lines == [3, 6]
    assert data.tag_set() == ["O", "B-ORG", "B-PER", "I-PER"]
    two = read_conll(write(tmp_path / "two.conll", "Peter B-PER\nBlackburn I-PER\n"))
    assert two.words == [["Peter", "Blackburn"]] and two.tags == [["B-PER", "I-PER"]]
    # a no-break space is part of its word (Python's split() would cut it), tabs separate columns
    nbsp = read_conll(write(tmp_path / "nbsp.conll", "New\u00a0York\tB-LOC\nis O\n"))
    assert nbsp.words == [["New\u00a0York", "is"]] and nbsp.tags == [["B-LOC", "O"]]


@pytest.mark.parametrize(
    "content, words",
    [
        ("EU B-ORG\nrejects\n", r"line 2 has one column \('rejects'\); expected WORD ... TAG"),
        ("EU B-ORG\nrejects PER\n", r"line 2: tag 'PER' is not O or PREFIX-TYPE .* write e.g. B-PER"),
        # a word holding a space is two columns, not a word cut in silence
        ("Peter B-PER\nwent O\n\nNew York B-LOC\n", r"line 4 has 3 columns, the first word's line \(1\) has 2"),
        ("\n\n", "has no sentences"),
    ],
)
def test_bad_conll_names_file_and_line(tmp_path, content, words):
    path = write(tmp_path / "bad.conll", content)
    with pytest.raises(InputError, match=words) as e:
        read_conll(path)
    assert str(path) in str(e.value)


def test_labels_go_on_first_pieces_and_cut_words_are_counted(tiny):
    data = TaggedSentences([["unwanted", "cat", "sat"], ["the"] * 20], [["B-X", "I-X", "O"], ["O"] * 20])
    tags = ["O", "B-X", "I-X"]
    ex = TokenExamples(tiny, data, tags, seq_length=12)
    x, labels = next(iter(ex.dataset([np.array([0, 1])], batching.default_buckets(12))))
    ids, labels = x["input_word_ids"].numpy(), labels.numpy()
    assert labels.shape == ids.shape == (2, 12)
    # [CLS] un ##want ##ed cat sat [SEP]: the tag on each word's first piece, -1 elsewhere
    row = [NO_LABEL, 1, NO_LABEL, NO_LABEL, 2, 0, NO_LABEL]
    assert labels[0][: len(row)].tolist() == row and (labels[0][len(row) :] == NO_LABEL).all()
    assert labels[1].tolist() == [NO_LABEL] + [0] * 10 + [NO_LABEL]  # 10 words fit, the other 10 are cut
    assert ex.cut_words == 10


# -- entity-level evaluation (conlleval) ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tags, spans",
    [
        (["B-PER", "I-PER", "O", "B-LOC"], [("PER", 0, 2), ("LOC", 3, 4)]),
        (["I-PER", "I-PER", "O"], [("PER", 0, 2)]),  # IOB1: I after O starts an entity
        (["B-PER", "B-PER"], [("PER", 0, 1), ("PER", 1, 2)]),
        (["B-LOC", "I-PER"], [("LOC", 0, 1), ("PER", 1, 2)]),  # a type change starts a new one
        (["S-LOC", "B-PER", "E-PER", "O"], [("LOC", 0, 1), ("PER", 1, 3)]),  # IOBES
        (["O", "O"], []),
    ],
)
def test_entity_spans_follow_conlleval(tags, spans):
    assert entity_spans(tags) == spans


def test_entity_metrics_hand_computed():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O", "B-LOC", "I-LOC"]]
    pred = [["B-PER", "I-PER", "O", "B-PER"], ["B-ORG", "O", "B-LOC", "O"]]
    m = entity_metrics(gold, pred)
    # gold entities: PER, LOC, ORG, LOC (4); predicted: PER, PER, ORG, LOC (4); correct: PER(0-2), ORG
    assert (m["correct"], m["predicted"], m["gold"]) == (2, 4, 4)
    assert m["precision"] == 0.5 and m["recall"] == 0.5 and m["f1"] == 0.5
    assert m["token_accuracy"] == 6 / 8
    assert m["per_type"]["PER"] == {
        "precision": 0.5,
        "recall": 1.0,
        "f1": 2 / 3,
        "predicted": 2,
        "gold": 1,
        "correct": 1,
    }
    assert m["per_type"]["LOC"]["recall"] == 0.0 and m["per_type"]["ORG"]["f1"] == 1.0


# -- SQuAD data, windows, decoding, metrics -------------------------------------------------------------------


@pytest.fixture(scope="module")
def ner_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ner")
    data = write_conll(folder / "train.conll", 300, seed=1)
    out = folder / "run"
    report = json.loads(
        run(
            "train",
            "--task",
            "token-classification",
            "--data",
            str(data),
            "--out",
            str(out),
            "--epochs",
            "2",
            "--batch-size",
            "16",
            "--seq-length",
            "64",
            "--json",
        ).stdout
    )
    return out, report, write_conll(folder / "test.conll", 60, seed=9)


def test_ner_learns_and_evaluates_at_entity_level(ner_run):
    out, report, test = ner_run
    assert report["task"] == "token-classification" and report["tags"][0] == "O"
    assert report["validation_metrics"]["f1"] > 0.7
    ev = json.loads(run("evaluate", "--model", str(out), "--data", str(test), "--json").stdout)
    assert ev["f1"] > 0.7 and ev["token_accuracy"] > 0.9 and set(ev["per_type"]) == {"PER", "LOC", "ORG"}
    text = format_entity_metrics(ev)
    assert "entities: precision" in text and "\n  PER        precision" in text


def test_ner_predicts_entities_with_character_offsets(ner_run):
    out, _, _ = ner_run
    text = "Yesterday Frida Kahlo visited Zürich."
    pred = json.loads(run("predict", "--model", str(out), text, "--json").stdout)["predictions"][0]
    assert [w["word"] for w in pred["words"]] == ["Yesterday", "Frida", "Kahlo", "visited", "Zürich", "."]
    for w in pred["words"]:
        assert text[w["start"] : w["end"]] == w["word"]
    for e in pred["entities"]:
        assert text[e["start"] : e["end"]] == e["text"]
    assert {(e["type"], e["text"]) for e in pred["entities"]} >= {("PER", "Frida Kahlo"), ("LOC", "Zürich")}
    shown = format_predictions([pred])
    assert "  PER        10-21   Frida Kahlo" in shown and "Zürich/B-LOC" in shown
    rows = TokenClassifier(out).predict([text, "ok"], batch_size=1)  # batched shortest first
    assert [r["text"] for r in rows] == [text, "ok"] and rows[0]["words"] == pred["words"]
    with pytest.raises(InputError, match="batch size must be a positive integer"):
        TokenClassifier(out).predict([text], batch_size=0)


def test_export_tags_raw_strings_without_bert_hub(ner_run):
    script = (
        "import json, sys, tensorflow as tf, tensorflow_text\n"
        f"ner = tf.saved_model.load({str(ner_run[0] / 'model')!r}).signatures['serving_default']\n"
        "r = ner(text=tf.constant(['Angela Merkel visited Paris']))\n"
        "print(json.dumps({'tags': [t.decode() for t in r['tags'].numpy()[0]], 'start': r['start'].numpy()[0].tolist(),"
        " 'bert_hub': 'bert_hub' in sys.modules}))\n"
    )
    res = python_json(script)
    assert res["bert_hub"] is False and res["start"] == [0, 7, 14, 22]
    assert res["tags"][:2] == ["B-PER", "I-PER"]


def test_tagger_errors_are_one_line(tmp_path, ner_run):
    conll = write(tmp_path / "x.conll", "EU B-ORG\nrejects\n")
    err = run(
        "train", "--task", "token-classification", "--data", str(conll), "--out", str(tmp_path / "o"), check_rc=2
    ).stderr
    assert "line 2 has one column" in one_error_line(err) and not (tmp_path / "o").exists()
    err = run("predict", "--model", str(ner_run[0]), "--question", "q", "--context", "c", check_rc=2).stderr
    assert "--question is not for " in one_error_line(err) and "a token-classification model (it takes TEXT)" in err
    sms = write(tmp_path / "sms.tsv", "ham\thello\nspam\twin\n" * 10)
    err = run("train", "--data", str(sms), "--out", str(ner_run[0]), "--resume", check_rc=2).stderr
    assert (
        f"{ner_run[0]} is a token-classification run, and this is text-classification: resume it with "
        "--task token-classification" in one_error_line(err)
    )
    err = run(
        "evaluate", "--model", str(ner_run[0]), "--data", str(ner_run[2]), "--plot", str(tmp_path / "p.png"), check_rc=2
    ).stderr
    assert "--plot draws a classifier's or regressor's figures" in one_error_line(err)


def test_beam_tags_every_line_with_words_and_entities(tmp_path, ner_run):
    pytest.importorskip("apache_beam", reason="Apache Beam is the optional extra bert_hub[beam]")
    from bert_hub.integrations.beam import read_output

    texts = ["Angela Merkel visited Paris in May .", "The weather in Oslo was cold ."]
    (tmp_path / "t.txt").write_text("\n".join(texts) + "\n", encoding="utf-8")
    run(
        "predict",
        "--model",
        ner_run[0],
        "--runner",
        "DirectRunner",
        "--input",
        tmp_path / "t.txt",
        "--output",
        tmp_path / "tags",
    )
    rows = read_output(tmp_path / "tags")
    direct = json.loads(run("predict", "--model", ner_run[0], *texts, "--json").stdout)["predictions"]
    assert [r["text"] for r in rows] == texts
    for row, want in zip(rows, direct):
        assert row["words"] == [w["word"] for w in want["words"]] and row["tags"] == [w["tag"] for w in want["words"]]
        assert row["entities"] == [{k: e[k] for k in ("type", "text", "start", "end")} for e in want["entities"]]


#: Texts a tagger splits in many ways: punctuation, accents, CJK, an emoji, tabs, no-break spaces, nothing.
TAGGED_TEXTS = [
    "Alice Smith lives in Paris .",
    "Bob works at Acme in Berlin",
    "Ärger in Zürich: naïve résumé… (Angela Merkel, 2005)",
    "中文字 and 😀 Alice\tSmith\u00a0Paris",
    "",
    "Bob",
]


def test_a_tagger_exports_to_litert_and_tags_as_its_saved_model(ner_run, cli, tmp_path):
    from bert_hub.export.litert import WORD_OPS

    out = ner_run[0]
    report, model = litert_export(cli, out, tmp_path / "ner.tflite")
    assert report["signatures"] == ["serving_default", "tag_words"] and set(WORD_OPS) <= set(report["custom_ops"])
    saved = tf.saved_model.load(str(out / "model")).signatures
    assert model.signatures["serving_default"]["outputs"] == sorted(saved["serving_default"].structured_outputs)
    for texts in (TAGGED_TEXTS, TAGGED_TEXTS[:2], ["", ""], []):
        got = model(text=np.array(texts, dtype=object))
        assert_same_outputs(got, saved["serving_default"](text=tf.constant(texts, tf.string)), atol=1e-4, note=texts)
    words = np.array([["Alice", "Smith", "lives", "in", "Paris"], ["Bob", "", "", "", ""]], dtype=object)
    got = model("tag_words", words=words)
    expected = saved["tag_words"](words=tf.constant(words.tolist()))
    assert got["tags"].tolist() == expected["tags"].numpy().tolist()
    np.testing.assert_allclose(got["probability"], expected["probability"].numpy(), atol=1e-4)


def test_a_tagger_exports_again_as_a_saved_model(ner_run, cli, tmp_path):
    out = ner_run[0]
    rc, stdout, _ = cli(
        "export", "--model", str(out), "--format", "savedmodel", "--out", str(tmp_path / "again"), "--json"
    )
    assert rc == 0 and json.loads(stdout)["signatures"] == ["serving_default", "tag_words"]
    texts = tf.constant(TAGGED_TEXTS)
    again = tf.saved_model.load(str(tmp_path / "again")).signatures["serving_default"](text=texts)
    first = tf.saved_model.load(str(out / "model")).signatures["serving_default"](text=texts)
    for key in ("tags", "words", "start", "end"):
        assert again[key].numpy().tolist() == first[key].numpy().tolist()
    np.testing.assert_allclose(again["probability"].numpy(), first["probability"].numpy(), atol=1e-5)


def test_a_tagger_tags_in_int8_as_in_float32(ner_run):
    from bert_hub.finetune.tasks import load_model

    texts = ["Alice Smith lives in Paris .", "Bob works at Acme in Berlin"]
    exact, int8 = load_model(ner_run[0]), load_model(ner_run[0], "int8")

    def tags(model):
        return [[w["tag"] for w in r["words"]] for r in model.predict(texts)]

    assert tags(int8) == tags(exact) and "B-PER" in tags(exact)[0]
