"""Extractive question answering: SQuAD data, windows, span decoding, the SQuAD metrics on hand-computed
cases, and a fine-tuning run that learns answers and no-answer and serves raw strings."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from conftest import assert_same_outputs, litert_export, one_error_line, python_json, run
from hypothesis import given, settings
from hypothesis import strategies as st

from bert_hub.core.errors import ConfigError, InputError
from bert_hub.explore.samples import PEOPLE, PLACES, squad_examples, write_squad
from bert_hub.finetune.tasks.question_answering import (
    NO_SPAN,
    AnswerSettings,
    QuestionAnswerer,
    QuestionAnswering,
    SquadData,
    SquadExamples,
    best_answers,
    max_context,
    read_squad,
    windows,
)
from bert_hub.finetune.tasks.squad_eval import exact_match, f1_score, normalize_answer, squad_metrics
from bert_hub.finetune.train_config import TrainConfig


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# -- words and offsets -----------------------------------------------------------------------------------------


def test_squad_metrics_hand_computed():
    assert normalize_answer("The  Eiffel-Tower!") == "eiffeltower"
    assert exact_match("the Eiffel Tower", "Eiffel Tower") == 1
    assert f1_score("in Paris France", "Paris") == pytest.approx(0.5)
    assert f1_score("", "") == 1.0 and f1_score("Paris", "") == 0.0
    m = squad_metrics([["Paris", "the city of Paris"], ["red"], []], ["city of Paris", "blue", ""])
    assert m["exact_match"] == pytest.approx(100 * 2 / 3) and m["f1"] == pytest.approx(100 * 2 / 3)
    assert m["has_answer"]["questions"] == 2 and m["no_answer"]["exact_match"] == 100.0


@pytest.mark.parametrize(
    "mutate, words",
    [
        (
            lambda d: d["data"][0]["paragraphs"][0]["qas"][0].pop("question"),
            r"data\[0\]\.paragraphs\[0\]\.qas\[0\] has no field 'question'",
        ),
        (
            lambda d: d["data"][0]["paragraphs"][0]["qas"][0]["answers"][0].update(answer_start=1),
            r"qas\[0\]\.answers\[0\]: answer_start 1 does not point at its text",
        ),
        (
            lambda d: d["data"][0]["paragraphs"][1]["qas"][0].update(answers=[]),
            r"paragraphs\[1\]\.qas\[0\] has no answers and is not marked is_impossible",
        ),
        (lambda d: d["data"][0].update(paragraphs="x"), r"data\[0\]\.paragraphs is a string, expected a list"),
        (lambda d: d.update(data=5), r": data is a whole number, expected a list"),
        (lambda d: d["data"].__setitem__(0, [1]), r"data\[0\] is a list, expected an object with a field 'paragraphs'"),
        # "false" as a string is true to Python: never read a question's answers away in silence
        (
            lambda d: d["data"][0]["paragraphs"][0]["qas"][0].update(is_impossible="false"),
            r"qas\[0\]\.is_impossible is 'false'; write true or false",
        ),
        (
            lambda d: d["data"][0]["paragraphs"][0]["qas"][0]["answers"][0].update(answer_start=True),
            r"answer_start is true, expected a whole number",
        ),
    ],
)
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


@settings(max_examples=60, deadline=None)
@given(
    questions=st.lists(st.integers(0, 12), min_size=0, max_size=4),
    contexts=st.lists(st.integers(0, 50), min_size=4, max_size=4),
    seq_length=st.integers(12, 40),
    stride=st.integers(1, 12),
    max_query=st.integers(1, 8),
)
def test_windows_are_run_squads_windows(questions, contexts, seq_length, stride, max_query):
    # BERT's run_squad rule, one example at a time: the question cut to max_query, the context read from 0 in
    # steps of stride until a window reaches its end, each window as long as the room left
    contexts = contexts[: len(questions)]
    question = [list(range(1, n + 1)) for n in questions]
    context = [list(range(100 * (i + 1), 100 * (i + 1) + n)) for i, n in enumerate(contexts)]
    want = []
    for i, (q, c) in enumerate(zip(question, context)):
        q = q[:max_query]
        room = seq_length - 3 - len(q)
        begin = 0
        while True:
            want.append((i, q, c[begin : begin + max(0, room)], begin))
            if begin + room >= len(c):
                break
            begin += stride
    got = windows(
        tf.ragged.constant(question, dtype=tf.int32, ragged_rank=1, row_splits_dtype=tf.int64)
        if question
        else tf.RaggedTensor.from_row_lengths(tf.zeros([0], tf.int32), tf.zeros([0], tf.int64)),
        tf.ragged.constant(context, dtype=tf.int32, ragged_rank=1, row_splits_dtype=tf.int64)
        if context
        else tf.RaggedTensor.from_row_lengths(tf.zeros([0], tf.int32), tf.zeros([0], tf.int64)),
        seq_length=seq_length,
        stride=stride,
        max_query=max_query,
    )
    example, q, c, start = (t.to_list() if isinstance(t, tf.RaggedTensor) else t.numpy().tolist() for t in got)
    assert list(zip(example, q, c, start)) == want


def test_an_answer_crossing_a_window_boundary_trains_only_where_it_is_whole(minilm):
    context = " ".join(f"w{i}" for i in range(60)) + " Buenos Aires is big."
    answer_start = context.index("Buenos Aires")
    data = SquadData(["a"], ["where?"], [context], [[("Buenos Aires", answer_start)]])
    ex = SquadExamples(minilm, data, 40, AnswerSettings(max_query_length=8, doc_stride=20))
    assert len(ex) > 2
    x, y = next(iter(ex.dataset([np.arange(len(ex))], [40])))
    vocab = minilm.vocab()
    found = []
    for k in range(len(ex)):
        s, e = y[k].numpy()
        if s:
            found.append(k)
            assert " ".join(vocab[i] for i in x["input_word_ids"][k][s : e + 1].numpy()) == "buenos aires"
            assert x["input_type_ids"][k][s].numpy() == 1
        else:
            assert e == 0  # windows without the whole answer point at [CLS]
    assert len(found) >= 1 and len(found) < len(ex)


def test_best_span_is_valid_and_chosen_over_windows():
    seq = 8
    logits = np.full((3, seq, 2), -5.0, np.float32)
    # example 0 has windows 0 and 1; window 1 holds the better span. Example 1: only window 2.
    logits[0, 3, 0], logits[0, 4, 1] = 2.0, 2.0  # score 4 in window 0
    logits[1, 5, 0], logits[1, 6, 1] = 3.0, 3.0  # score 6 in window 1
    logits[1, 7, 0] = 9.0  # a start outside the context: ignored
    logits[2, 6, 0], logits[2, 3, 1] = 9.0, 9.0  # end before start: not a span
    logits[2, 3, 0], logits[2, 3, 1] = 1.0, 9.0  # the best valid one
    best = best_answers(
        tf.constant(logits),
        tf.constant([0, 0, 1], tf.int64),
        tf.constant([1, 1, 1], tf.int64),
        tf.constant([4, 4, 5], tf.int64),
        tf.constant([0, 10, 0], tf.int64),
        2,
        3,
    )
    # window 1: positions 3..6 are context pieces 10..13 -> span 5..6 is pieces 12..13
    assert best["first"].numpy().tolist() == [12, 0] and best["last"].numpy().tolist() == [13, 0]
    assert best["score"].numpy().tolist() == [6.0, 10.0]
    empty = best_answers(
        tf.constant(logits[:1]),
        tf.constant([0], tf.int64),
        tf.constant([1], tf.int64),
        tf.constant([0], tf.int64),
        tf.constant([0], tf.int64),
        1,
        3,
    )
    assert empty["score"].numpy()[0] == NO_SPAN


def test_a_start_counts_only_in_the_window_where_it_has_most_context():
    logits = np.full((2, 8, 2), -5.0, np.float32)
    # one example, two windows of 4 context pieces (positions 3..6) starting at pieces 0 and 2: piece 3 is the
    # last of window 0 (no context after it) and the second of window 1 (context on both sides)
    logits[0, 6, 0], logits[0, 6, 1] = 10.0, 10.0  # piece 3 from window 0: an edge start, not counted
    logits[1, 4, 0], logits[1, 4, 1] = 5.0, 5.0  # piece 3 from window 1
    args = (
        tf.constant([0, 0], tf.int64),
        tf.constant([1, 1], tf.int64),
        tf.constant([4, 4], tf.int64),
        tf.constant([0, 2], tf.int64),
    )
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
        QuestionAnswering(max_query_length=32, doc_stride=40).split(data, TrainConfig(seq_length=64))
    with pytest.raises(ConfigError, match="field 'max_query_length': leaves no room"):
        QuestionAnswering(max_query_length=30, doc_stride=1).split(data, TrainConfig(seq_length=32))
    assert TrainConfig().replace(seq_length=32).seq_length == 32  # other tasks: not their settings


@pytest.fixture(scope="module")
def qa_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("qa")
    data = write_squad(folder / "train.json", 300, seed=1, unanswerable=0.3)
    out = folder / "run"
    # Four epochs: over three, whether the model finds the answers (the loss drops from ~1.3 to ~0.01 within an
    # epoch) or is still looking depends on the dropout masks drawn (seeds 0-4: 3 of 5 runs at 97.5-100 exact
    # match, 2 at 58-78); over four, it has found them.
    summary = json.loads(
        run(
            "train",
            "--task",
            "question-answering",
            "--data",
            str(data),
            "--out",
            str(out),
            "--epochs",
            "4",
            "--batch-size",
            "8",
            "--seq-length",
            "64",
            "--max-query-length",
            "16",
            "--doc-stride",
            "16",
            "--json",
        ).stdout
    )
    return out, summary, write_squad(folder / "test.json", 40, seed=9, unanswerable=0.3)


def test_qa_learns_answers_and_no_answer(qa_run):
    out, summary, test = qa_run
    assert summary["task"] == "question-answering" and summary["no_answer"] is True
    ev = json.loads(run("evaluate", "--model", str(out), "--data", str(test), "--json").stdout)
    # three places per context: picking one at random scores about 33 on the answerable questions
    assert ev["exact_match"] > 70 and ev["has_answer"]["exact_match"] > 60 and ev["no_answer"]["exact_match"] > 60


def test_qa_answers_from_long_non_ascii_contexts(qa_run):
    out, _, _ = qa_run
    # Sentences like the training contexts' (each window holds other people), the answer only in the last
    # window: 9 sentences do not fit one window of 64 wordpieces with the question.
    others = [(p, c) for p, c in zip(PEOPLE, PLACES[::-1]) if p != "Frida Kahlo" and c != "Zürich"]
    context = " ".join(f"{p} lives in {c}." for p, c in others) + " Frida Kahlo lives in Zürich."
    res = json.loads(
        run(
            "predict", "--model", str(out), "--question", "Where does Frida Kahlo live?", "--context", context, "--json"
        ).stdout
    )["answers"][0]
    assert res["has_answer"] and res["answer"] == "Zürich" == context[res["start"] : res["end"]]
    empty = QuestionAnswerer(out).predict(["Where?"], [""])[0]
    assert empty == {"question": "Where?", "answer": "", "start": -1, "end": -1, "score": 0.0, "has_answer": False}
    both = QuestionAnswerer(out).predict(["Where does Frida Kahlo live?", "Where?"], [context, ""], batch_size=1)
    assert both[0]["answer"] == "Zürich" and both[1] == empty  # batched shortest first, given in input order


def test_export_answers_raw_strings_without_bert_hub(qa_run):
    script = (
        "import json, sys, tensorflow as tf, tensorflow_text\n"
        f"qa = tf.saved_model.load({str(qa_run[0] / 'model')!r}).signatures['serving_default']\n"
        "a = qa(question=tf.constant(['Where does Ada Lovelace live?']),"
        " context=tf.constant(['Ada Lovelace lives in Oslo. Isaac Newton lives in Cairo.']))\n"
        "print(json.dumps({'answer': a['answer'].numpy()[0].decode(), 'bert_hub': 'bert_hub' in sys.modules}))\n"
    )
    res = python_json(script)
    assert res["bert_hub"] is False and res["answer"] == "Oslo"


def test_answerer_errors_are_one_line(tmp_path, qa_run):
    err = run("predict", "--model", str(qa_run[0]), "a text", check_rc=2).stderr
    assert (
        "TEXT is not for " in one_error_line(err)
        and "a question-answering model (it takes --question, --context)" in err
    )
    err = run("predict", "--model", str(qa_run[0]), "--question", "where?", check_rc=2).stderr
    assert "answers questions on a context: give both --question and --context" in one_error_line(err)
    conll = write(tmp_path / "x.conll", "EU B-ORG\nrejects O\nGerman B-MISC\n")
    err = run("evaluate", "--model", str(qa_run[0]), "--data", str(conll), check_rc=2).stderr
    assert "not valid JSON" in one_error_line(err)
    assert one_error_line(err).endswith(
        "; it looks like token-classification data (a token-classification model evaluates it)"
    )


def test_beam_answers_json_lines_and_sends_other_lines_to_the_errors(tmp_path, qa_run):
    pytest.importorskip("apache_beam", reason="Apache Beam is the optional extra bert_hub[beam]")
    from bert_hub.integrations.beam import read_errors, read_output

    good = {
        "question": "Where does Ada Lovelace live?",
        "context": "Ada Lovelace lives in Oslo. Alan Turing lives in Lima.",
    }
    (tmp_path / "q.jsonl").write_text(json.dumps(good) + "\n", encoding="utf-8")
    (tmp_path / "bad.jsonl").write_text("not a question\n", encoding="utf-8")
    run(
        "predict",
        "--model",
        qa_run[0],
        "--runner",
        "DirectRunner",
        "--input",
        f"{tmp_path}/*.jsonl",
        "--output",
        tmp_path / "answers",
    )
    [row] = read_output(tmp_path / "answers")
    assert row["answer"] == "Oslo" and row["has_answer"] and good["context"][row["start"] : row["end"]] == "Oslo"
    [error] = read_errors(tmp_path / "answers")
    assert error["file"].endswith("bad.jsonl") and "not a JSON object" in error["error"]


QUESTIONS = ["Where does Alice live?", "Who lives in Rome?", "Where?", "Wo wohnt Jürgen?", "x", ""]
CONTEXTS = [
    "Alice lives in Paris. Bob lives in Rome.",
    "Alice lives in Paris. Bob lives in Rome. " * 12,  # several windows
    "",
    "Jürgen wohnt in Zürich… 中文 😀 (seit 2005).",
    "Bob",
    "Alice lives in Paris.",
]


def test_an_answerer_exports_to_litert_and_answers_as_its_saved_model(qa_run, cli, tmp_path):
    out = qa_run[0]
    report, model = litert_export(cli, out, tmp_path / "qa.tflite")
    assert report["signatures"] == ["serving_default"]
    saved = tf.saved_model.load(str(out / "model")).signatures["serving_default"]
    assert model.signatures["serving_default"]["inputs"] == ["context", "question"]
    for n in (len(QUESTIONS), 1, 0):
        got = model(question=np.array(QUESTIONS[:n], dtype=object), context=np.array(CONTEXTS[:n], dtype=object))
        expected = saved(question=tf.constant(QUESTIONS[:n], tf.string), context=tf.constant(CONTEXTS[:n], tf.string))
        assert_same_outputs(got, expected, atol=1e-3, note=n)
    assert (
        model(question=np.array(["Where does Alice live?"]), context=np.array([CONTEXTS[0]]))["answer"][0] == b"Paris"
    )


def test_an_answerer_exports_again_as_a_saved_model(qa_run, cli, tmp_path):
    out = qa_run[0]
    rc, _, _ = cli("export", "--model", str(out), "--format", "savedmodel", "--out", str(tmp_path / "again"))
    assert rc == 0
    question, context = tf.constant(QUESTIONS), tf.constant(CONTEXTS)
    again = tf.saved_model.load(str(tmp_path / "again")).signatures["serving_default"](
        question=question, context=context
    )
    first = tf.saved_model.load(str(out / "model")).signatures["serving_default"](question=question, context=context)
    for key in ("answer", "start", "end", "has_answer"):
        assert again[key].numpy().tolist() == first[key].numpy().tolist()
    np.testing.assert_allclose(again["score"].numpy(), first["score"].numpy(), atol=1e-4)
