"""Token classification (NER), extractive question answering and sentence pairs: data, alignment, windows,
decoding, the standard metrics on hand-computed cases, and fine-tuning runs that learn."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from bert_hub import batching
from bert_hub.errors import ConfigError, InputError
from bert_hub.tasks.entities import entity_metrics, entity_spans, format_entity_metrics
from bert_hub.tasks.question_answering import (
    NO_SPAN,
    QuestionAnswerer,
    QuestionAnswering,
    SquadData,
    SquadExamples,
    best_answers,
    max_context,
    read_squad,
    windows,
)
from bert_hub.tasks.squad_eval import exact_match, f1_score, normalize_answer, squad_metrics
from bert_hub.tasks.token_classification import NO_LABEL, TaggedSentences, TokenExamples, format_predictions, read_conll
from bert_hub.tasks.train import TASKS
from bert_hub.tasks.train_config import TASK_NAMES, TrainConfig
from bert_hub.tasks.words import first_pieces, split_words, word_pieces
from conftest import one_error_line, python_json, run
from token_tasks_sample import squad_examples, write_conll, write_squad


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# -- words and offsets -----------------------------------------------------------------------------------------

def test_words_keep_character_offsets_of_non_ascii_text():
    text = "Zoë met 北京's café-owner\tin  Zürich!"
    words, starts, ends = (t[0].numpy() for t in split_words(tf.constant([text])))
    assert [w.decode() for w in words] == ["Zoë", "met", "北", "京", "'", "s", "café", "-", "owner", "in",
                                           "Zürich", "!"]
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
    path = write(tmp_path / "d.conll", "-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n"
                 "\nPeter B-PER\nBlackburn I-PER\n\n\n")
    data = read_conll(path)
    assert data.words == [["EU", "rejects"], ["Peter", "Blackburn"]]
    assert data.tags == [["B-ORG", "O"], ["B-PER", "I-PER"]] and data.lines == [3, 6]
    assert data.tag_set() == ["O", "B-ORG", "B-PER", "I-PER"]


@pytest.mark.parametrize("content, words", [
    ("EU B-ORG\nrejects\n", r"line 2 has one column \('rejects'\); expected WORD ... TAG"),
    ("EU B-ORG\nrejects PER\n", r"line 2: tag 'PER' is not O or PREFIX-TYPE .* write e.g. B-PER"),
    ("\n\n", "has no sentences"),
])
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
    assert labels[0][:len(row)].tolist() == row and (labels[0][len(row):] == NO_LABEL).all()
    assert labels[1].tolist() == [NO_LABEL] + [0] * 10 + [NO_LABEL]  # 10 words fit, the other 10 are cut
    assert ex.cut_words == 10


# -- entity-level evaluation (conlleval) ------------------------------------------------------------------------

@pytest.mark.parametrize("tags, spans", [
    (["B-PER", "I-PER", "O", "B-LOC"], [("PER", 0, 2), ("LOC", 3, 4)]),
    (["I-PER", "I-PER", "O"], [("PER", 0, 2)]),                       # IOB1: I after O starts an entity
    (["B-PER", "B-PER"], [("PER", 0, 1), ("PER", 1, 2)]),
    (["B-LOC", "I-PER"], [("LOC", 0, 1), ("PER", 1, 2)]),              # a type change starts a new one
    (["S-LOC", "B-PER", "E-PER", "O"], [("LOC", 0, 1), ("PER", 1, 3)]),  # IOBES
    (["O", "O"], []),
])
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
    assert m["per_type"]["PER"] == {"precision": 0.5, "recall": 1.0, "f1": 2 / 3, "predicted": 2, "gold": 1,
                                    "correct": 1}
    assert m["per_type"]["LOC"]["recall"] == 0.0 and m["per_type"]["ORG"]["f1"] == 1.0


# -- SQuAD data, windows, decoding, metrics -------------------------------------------------------------------

def test_squad_metrics_hand_computed():
    assert normalize_answer("The  Eiffel-Tower!") == "eiffeltower"
    assert exact_match("the Eiffel Tower", "Eiffel Tower") == 1
    assert f1_score("in Paris France", "Paris") == pytest.approx(0.5)
    assert f1_score("", "") == 1.0 and f1_score("Paris", "") == 0.0
    m = squad_metrics([["Paris", "the city of Paris"], ["red"], []], ["city of Paris", "blue", ""])
    assert m["exact_match"] == pytest.approx(100 * 2 / 3) and m["f1"] == pytest.approx(100 * 2 / 3)
    assert m["has_answer"]["questions"] == 2 and m["no_answer"]["exact_match"] == 100.0


@pytest.mark.parametrize("mutate, words", [
    (lambda d: d["data"][0]["paragraphs"][0]["qas"][0].pop("question"),
     r"data\[0\]\.paragraphs\[0\]\.qas\[0\] has no field 'question'"),
    (lambda d: d["data"][0]["paragraphs"][0]["qas"][0]["answers"][0].update(answer_start=1),
     r"qas\[0\]\.answers\[0\]: answer_start 1 does not point at its text"),
    (lambda d: d["data"][0]["paragraphs"][1]["qas"][0].update(answers=[]),
     r"paragraphs\[1\]\.qas\[0\] has no answers and is not marked is_impossible"),
    (lambda d: d["data"][0].update(paragraphs="x"), r"data\[0\]\.paragraphs is a str, expected a list"),
])
def test_bad_squad_names_the_field(tmp_path, mutate, words):
    data = squad_examples(3, seed=1)
    mutate(data)
    path = write(tmp_path / "bad.json", json.dumps(data))
    with pytest.raises(InputError, match=words) as e:
        read_squad(path)
    assert str(path) in str(e.value)
    with pytest.raises(InputError, match="line 1: not valid JSON"):
        read_squad(write(tmp_path / "nojson.json", "{oops"))


def test_windows_cover_the_context_with_the_stride():
    question = tf.ragged.constant([[1, 2, 3], [4]], dtype=tf.int32)
    context = tf.ragged.constant([list(range(100, 125)), [7, 8]], dtype=tf.int32)
    example, q, c, start = windows(question, context, seq_length=16, stride=5, max_query=2)
    # room for context: 16 - 3 - 2 = 11 pieces; 25 pieces -> starts 0, 5, 10, 15 (the last reaches the end)
    assert example.numpy().tolist() == [0, 0, 0, 0, 1] and start.numpy().tolist() == [0, 5, 10, 15, 0]
    assert q.to_list() == [[1, 2]] * 4 + [[4]]
    assert c.to_list()[:4] == [list(range(100 + s, min(125, 111 + s))) for s in (0, 5, 10, 15)]
    assert c.to_list()[4] == [7, 8]


def test_an_answer_crossing_a_window_boundary_trains_only_where_it_is_whole(minilm):
    context = " ".join(f"w{i}" for i in range(60)) + " Buenos Aires is big."
    answer_start = context.index("Buenos Aires")
    data = SquadData(["a"], ["where?"], [context], [[("Buenos Aires", answer_start)]])
    cfg = TrainConfig(seq_length=40, max_query_length=8, doc_stride=20)
    ex = SquadExamples(minilm, data, cfg)
    assert len(ex) > 2
    x, y = next(iter(ex.dataset([np.arange(len(ex))], [40])))
    vocab = minilm.vocab()
    found = []
    for k in range(len(ex)):
        s, e = y[k].numpy()
        if s:
            found.append(k)
            assert " ".join(vocab[i] for i in x["input_word_ids"][k][s:e + 1].numpy()) == "buenos aires"
            assert x["input_type_ids"][k][s].numpy() == 1
        else:
            assert e == 0  # windows without the whole answer point at [CLS]
    assert len(found) >= 1 and len(found) < len(ex)


def test_best_span_is_valid_and_chosen_over_windows():
    seq = 8
    logits = np.full((3, seq, 2), -5.0, np.float32)
    # example 0 has windows 0 and 1; window 1 holds the better span. Example 1: only window 2.
    logits[0, 3, 0], logits[0, 4, 1] = 2.0, 2.0          # score 4 in window 0
    logits[1, 5, 0], logits[1, 6, 1] = 3.0, 3.0          # score 6 in window 1
    logits[1, 7, 0] = 9.0                                # a start outside the context: ignored
    logits[2, 6, 0], logits[2, 3, 1] = 9.0, 9.0          # end before start: not a span
    logits[2, 3, 0], logits[2, 3, 1] = 1.0, 9.0          # the best valid one
    best = best_answers(tf.constant(logits), tf.constant([0, 0, 1], tf.int64), tf.constant([1, 1, 1], tf.int64),
                        tf.constant([4, 4, 5], tf.int64), tf.constant([0, 10, 0], tf.int64), 2, 3)
    # window 1: positions 3..6 are context pieces 10..13 -> span 5..6 is pieces 12..13
    assert best["first"].numpy().tolist() == [12, 0] and best["last"].numpy().tolist() == [13, 0]
    assert best["score"].numpy().tolist() == [6.0, 10.0]
    empty = best_answers(tf.constant(logits[:1]), tf.constant([0], tf.int64), tf.constant([1], tf.int64),
                         tf.constant([0], tf.int64), tf.constant([0], tf.int64), 1, 3)
    assert empty["score"].numpy()[0] == NO_SPAN


def test_a_start_counts_only_in_the_window_where_it_has_most_context():
    logits = np.full((2, 8, 2), -5.0, np.float32)
    # one example, two windows of 4 context pieces (positions 3..6) starting at pieces 0 and 2: piece 3 is the
    # last of window 0 (no context after it) and the second of window 1 (context on both sides)
    logits[0, 6, 0], logits[0, 6, 1] = 10.0, 10.0   # piece 3 from window 0: an edge start, not counted
    logits[1, 4, 0], logits[1, 4, 1] = 5.0, 5.0     # piece 3 from window 1
    args = (tf.constant([0, 0], tf.int64), tf.constant([1, 1], tf.int64), tf.constant([4, 4], tf.int64),
            tf.constant([0, 2], tf.int64))
    best = best_answers(tf.constant(logits), *args, 1, 3)
    assert best["first"].numpy().tolist() == [3] and best["score"].numpy().tolist() == [10.0]
    offset = tf.range(8, dtype=tf.int64)[tf.newaxis] - 3
    in_context = (offset >= 0) & (offset < 4)
    is_max = (max_context(offset, in_context, *args[:1], args[2], args[3]) & in_context).numpy()
    # context score min(before, after) + 0.01 * 4: piece 2 has 1.04 in window 0, 0.04 in window 1; piece 3 has
    # 0.04 in window 0, 1.04 in window 1; pieces 0-1 and 4-5 are in one window only
    assert is_max[0, 3:7].tolist() == [True, True, True, False]
    assert is_max[1, 3:7].tolist() == [False, True, True, True]


def test_qa_settings_are_checked_for_question_answering_only():
    data = SquadData(["a"] * 4, ["q"] * 4, ["c d", "e f", "g h", "i j"], [[("c", 0)]] * 4)
    with pytest.raises(ConfigError, match="field 'doc_stride': must be at most seq_length - 3 - max_query_length"):
        QuestionAnswering().split(data, TrainConfig(seq_length=64, max_query_length=32, doc_stride=40))
    with pytest.raises(ConfigError, match="field 'max_query_length': leaves no room"):
        QuestionAnswering().split(data, TrainConfig(seq_length=32, max_query_length=30, doc_stride=1))
    assert TrainConfig().replace(seq_length=32).seq_length == 32  # other tasks: not their settings


def test_every_task_name_has_a_task():
    assert tuple(TASKS) == TASK_NAMES


# -- fine-tuning that learns, exports that serve raw strings --------------------------------------------------

@pytest.fixture(scope="module")
def ner_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ner")
    data = write_conll(folder / "train.conll", 300, seed=1)
    out = folder / "run"
    report = json.loads(run("train", "--task", "token-classification", "--data", str(data), "--out", str(out),
                            "--epochs", "2", "--batch-size", "16", "--seq-length", "64", "--json").stdout)
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
        assert text[w["start"]:w["end"]] == w["word"]
    for e in pred["entities"]:
        assert text[e["start"]:e["end"]] == e["text"]
    assert {(e["type"], e["text"]) for e in pred["entities"]} >= {("PER", "Frida Kahlo"), ("LOC", "Zürich")}
    shown = format_predictions([pred])
    assert "  PER        10-21   Frida Kahlo" in shown and "Zürich/B-LOC" in shown


@pytest.fixture(scope="module")
def qa_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("qa")
    data = write_squad(folder / "train.json", 300, seed=1, unanswerable=0.3)
    out = folder / "run"
    summary = json.loads(run("train", "--task", "question-answering", "--data", str(data), "--out", str(out),
                             "--epochs", "3", "--batch-size", "8", "--seq-length", "64", "--max-query-length", "16",
                             "--doc-stride", "16", "--json").stdout)
    return out, summary, write_squad(folder / "test.json", 40, seed=9, unanswerable=0.3)


def test_qa_learns_answers_and_no_answer(qa_run):
    out, summary, test = qa_run
    assert summary["task"] == "question-answering" and summary["no_answer"] is True
    ev = json.loads(run("evaluate", "--model", str(out), "--data", str(test), "--json").stdout)
    # three places per context: picking one at random scores about 33 on the answerable questions
    assert ev["exact_match"] > 70 and ev["has_answer"]["exact_match"] > 60 and ev["no_answer"]["exact_match"] > 60


def test_qa_answers_from_long_non_ascii_contexts(qa_run):
    out, _, _ = qa_run
    context = "Alan Turing lives in Lima. " * 12 + "Frida Kahlo lives in Zürich."
    res = json.loads(run("predict", "--model", str(out), "--question", "Where does Frida Kahlo live?",
                         "--context", context, "--json").stdout)["answers"][0]
    assert res["has_answer"] and res["answer"] == "Zürich" == context[res["start"]:res["end"]]
    empty = QuestionAnswerer(out).predict(["Where?"], [""])[0]
    assert empty == {"question": "Where?", "answer": "", "start": -1, "end": -1, "score": 0.0,
                     "has_answer": False}


def test_exports_serve_raw_strings_without_bert_hub(ner_run, qa_run):
    script = (
        "import json, sys, tensorflow as tf, tensorflow_text\n"
        f"ner = tf.saved_model.load({str(ner_run[0] / 'model')!r}).signatures['serving_default']\n"
        "r = ner(text=tf.constant(['Angela Merkel visited Paris']))\n"
        f"qa = tf.saved_model.load({str(qa_run[0] / 'model')!r}).signatures['serving_default']\n"
        "a = qa(question=tf.constant(['Where does Ada Lovelace live?']),"
        " context=tf.constant(['Ada Lovelace lives in Oslo. Isaac Newton lives in Cairo.']))\n"
        "print(json.dumps({'tags': [t.decode() for t in r['tags'].numpy()[0]], 'start': r['start'].numpy()[0].tolist(),"
        " 'answer': a['answer'].numpy()[0].decode(), 'bert_hub': 'bert_hub' in sys.modules}))\n")
    res = python_json(script)
    assert res["bert_hub"] is False and res["start"] == [0, 7, 14, 22]
    assert res["tags"][:2] == ["B-PER", "I-PER"] and res["answer"] == "Oslo"


def test_task_errors_are_one_line(tmp_path, ner_run, qa_run):
    conll = write(tmp_path / "x.conll", "EU B-ORG\nrejects\n")
    err = run("train", "--task", "token-classification", "--data", str(conll), "--out", str(tmp_path / "o"),
              check_rc=2).stderr
    assert "line 2 has one column" in one_error_line(err) and not (tmp_path / "o").exists()
    err = run("predict", "--model", str(ner_run[0]), "--question", "q", "--context", "c", check_rc=2).stderr
    assert "is a token-classification model" in one_error_line(err)
    err = run("predict", "--model", str(qa_run[0]), "a text", check_rc=2).stderr
    assert "--question and --context go with a question-answering model; give both" in one_error_line(err)
    err = run("evaluate", "--model", str(qa_run[0]), "--data", str(ner_run[2]), check_rc=2).stderr
    assert "not valid JSON" in one_error_line(err)
    sms = write(tmp_path / "sms.tsv", "ham\thello\nspam\twin\n" * 10)
    err = run("train", "--data", str(sms), "--out", str(ner_run[0]), "--resume", check_rc=2).stderr
    assert f"{ner_run[0]} is a token-classification run, and this is text-classification: resume it with " \
           "--task token-classification" in one_error_line(err)


# -- sentence pairs -----------------------------------------------------------------------------------------------

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
