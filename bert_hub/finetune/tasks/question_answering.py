"""Extractive question answering (SQuAD v1.1 / v2.0): data, windows, the span head, its export.

A question and its context are packed as a sentence pair:
``[CLS] question [SEP] context window [SEP]`` with ``input_type_ids`` 0 for
the question and 1 for the context. A dense layer on ``sequence_output``
gives each position a start and an end logit (the encoder fine-tuned).

**Windows.** The question keeps at most ``max_query_length`` wordpieces; the
context fills the rest of ``seq_length``. A longer context is read in
overlapping windows whose starts are ``doc_stride`` wordpieces apart (BERT's
``run_squad`` rule; the defaults 128 / 64 make consecutive windows share
about a third of their context). A training answer that lies wholly in a
window is that window's target; a window without it (and every window of an
unanswerable question) targets ``[CLS]``.

**Answers.** In every window, the best span is the context span (end >=
start, at most ``max_answer_length`` wordpieces, starting at a piece that
has in this window more context than in any other: ``run_squad``'s
"max context" rule) with the highest start + end logit; the question's
answer is the best span over its windows, widened
to whole words and returned as the context's own characters (with character
offsets). With SQuAD v2.0 data (questions marked ``is_impossible``), the
model also learns "no answer": it answers only when its best span scores
above the ``[CLS]`` score (start + end logit of ``[CLS]``, the lowest over
the windows), as BERT's ``run_squad`` does with a null threshold of 0.

The export takes raw strings: ``serving_default(question, context)`` returns
``answer``, ``start`` / ``end`` (characters, ``-1`` for none), ``score`` and
``has_answer``, with TensorFlow and tensorflow_text only.

Examples:
    After ``bert-hub train --task question-answering ... --out runs/qa``:

    ```python
    from bert_hub.finetune.tasks.question_answering import QuestionAnswerer
    qa = QuestionAnswerer("runs/qa")
    qa.predict(["Where did she go?"], ["Angela Merkel visited Paris in May."])[0]["answer"]
    ```
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from typing_extensions import override

from bert_hub.core.errors import ConfigError, InputError
from bert_hub.core.inputs import check_texts, data_path, read_data_file
from bert_hub.core.interface import INPUT_KEYS
from bert_hub.finetune.exported import ExportedModel, ServedModel, save_export, served_batches, serving_function
from bert_hub.finetune.options import Options, option
from bert_hub.finetune.task import Examples, Task, check_splits, export_metrics, masked_scalar_loss, split_groups
from bert_hub.finetune.tasks.squad_eval import format_squad_metrics, squad_metrics
from bert_hub.finetune.tasks.words import TextWords, WordSplit, text_words, word_pieces
from bert_hub.runtime import batching

if TYPE_CHECKING:
    from bert_hub.finetune.train_config import TrainConfig
    from bert_hub.hub.pipeline import BertPipeline

log = logging.getLogger(__name__)

TASK_NAME = "question-answering"
_PADDING_LOGIT = -10000.0
"""Added to the span logits of positions that are padding (never an answer)."""
NO_SPAN = float(np.finfo(np.float32).min)
"""The score of "no valid span" (the lowest float32, which segment maxima start from)."""


@dataclasses.dataclass
class SquadData:
    """Questions on contexts, with their gold answers (SQuAD's fields).

    Attributes:
        ids, questions, contexts: one per question.
        answers: each question's gold answers as ``(text, start character)``;
            empty for an unanswerable question (SQuAD v2.0 ``is_impossible``).
    """

    ids: list[str]
    questions: list[str]
    contexts: list[str]
    answers: list[list[tuple[str, int]]]
    source: str = "<memory>"

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, index: Sequence[int]) -> SquadData:
        """The questions at ``index``, in that order."""
        return SquadData(
            [self.ids[i] for i in index],
            [self.questions[i] for i in index],
            [self.contexts[i] for i in index],
            [self.answers[i] for i in index],
            self.source,
        )

    @property
    def unanswerable(self) -> int:
        """How many questions have no answer."""
        return sum(1 for a in self.answers if not a)


_JSON_KINDS = {str: "a string", int: "a whole number", list: "a list", dict: "an object", float: "a number"}
"""JSON's words for the Python types a parsed file holds."""


def _json_kind(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    return _JSON_KINDS.get(type(value), type(value).__name__)


def _field(obj: Any, key: str, kind: type, where: str, path: Path) -> Any:
    """``obj[key]`` of type ``kind``; ``where`` is ``obj``'s place in the file (empty: the top level)."""
    place = f"{where}.{key}" if where else key
    owner = where or "the top level"
    if not isinstance(obj, dict):
        raise InputError(f"{path}: {owner} is {_json_kind(obj)}, expected an object with a field {key!r}")
    if key not in obj:
        raise InputError(f"{path}: {owner} has no field {key!r} (SQuAD JSON: data[].paragraphs[].qas[])")
    value = obj[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise InputError(f"{path}: {place} is {_json_kind(value)}, expected {_JSON_KINDS.get(kind, kind.__name__)}")
    return value


def read_squad(path: str | Path) -> SquadData:
    """Reads SQuAD v1.1 or v2.0 JSON; errors name the file and the field (``data[0].paragraphs[1]...``).

    Every answer's ``answer_start`` must point at its ``text`` in the
    context (the SQuAD files satisfy this).
    """
    path = data_path(path)
    try:
        raw = json.loads(read_data_file(path))
    except json.JSONDecodeError as e:
        raise InputError(f"{path}: line {e.lineno}: not valid JSON ({e.msg})") from None
    data = SquadData([], [], [], [], str(path))
    for a, article in enumerate(_field(raw, "data", list, "", path)):
        for p, paragraph in enumerate(_field(article, "paragraphs", list, f"data[{a}]", path)):
            where = f"data[{a}].paragraphs[{p}]"
            context = _field(paragraph, "context", str, where, path)
            for q, qa in enumerate(_field(paragraph, "qas", list, where, path)):
                at = f"{where}.qas[{q}]"
                question = _field(qa, "question", str, at, path)
                impossible = qa.get("is_impossible", False)
                if not isinstance(impossible, bool):
                    raise InputError(
                        f"{path}: {at}.is_impossible is {impossible!r}; write true or false (a JSON "
                        "boolean, not a string)"
                    )
                answers = []
                for k, answer in enumerate([] if impossible else _field(qa, "answers", list, at, path)):
                    text = _field(answer, "text", str, f"{at}.answers[{k}]", path)
                    start = _field(answer, "answer_start", int, f"{at}.answers[{k}]", path)
                    if not text.strip():
                        raise InputError(
                            f"{path}: {at}.answers[{k}].text is empty; give the answer's words (or "
                            "mark the question is_impossible)"
                        )
                    if start < 0:
                        raise InputError(
                            f"{path}: {at}.answers[{k}].answer_start is {start!r}; give the "
                            "character offset of the answer in the context (0 or more)"
                        )
                    if context[start : start + len(text)] != text:
                        raise InputError(
                            f"{path}: {at}.answers[{k}]: answer_start {start} does not point at "
                            f"its text {text!r} in the context (found "
                            f"{context[start : start + len(text)]!r})"
                        )
                    answers.append((text, start))
                if not impossible and not answers:
                    raise InputError(
                        f"{path}: {at} has no answers and is not marked is_impossible "
                        "(SQuAD v2.0 marks unanswerable questions)"
                    )
                data.ids.append(str(qa.get("id", f"{a}.{p}.{q}")))
                data.questions.append(question)
                data.contexts.append(context)
                data.answers.append(answers)
    if not data.ids:
        raise InputError(f"data file {path} has no questions")
    return data


def context_pieces(preprocessor: Any, contexts: Any, words: Any = None) -> tuple[Any, Any, WordSplit]:
    """The contexts' wordpieces, each piece's word and the words (with their offsets).

    ``words`` splits the words (default: [`TextWords`][bert_hub.finetune.tasks.words.TextWords]).
    Returns ``(pieces [n, (pieces)], piece_word [n, (pieces)], split)``: ``piece_word`` indexes the
    context's words, which ``split`` holds with their character and byte offsets.
    """
    import tensorflow as tf

    split = (words or TextWords()).split(contexts)
    nested = word_pieces(preprocessor, split.words)
    pieces = nested.merge_dims(1, 2)
    word = nested.values.value_rowids()  # each piece's word among all contexts' words
    piece_word = pieces.with_flat_values(word - tf.gather(split.words.row_starts(), pieces.value_rowids()))
    return pieces, piece_word, split


def windows(question: Any, context: Any, *, seq_length: int, stride: int, max_query: int) -> tuple[Any, Any, Any, Any]:
    """Splits each question + context into windows (see the module docstring).

    ``question``, ``context``: wordpiece RaggedTensors ``[n, (pieces)]``.
    Returns ``(example, question_pieces, context_pieces, context_start)``:
    for every window, the index of its example, its two segments and the
    index of its first context piece in the whole context. Plain tensor
    arithmetic (no ragged gathers), so a LiteRT export holds it too.
    """
    import tensorflow as tf

    question_length = tf.minimum(question.row_lengths(), max_query)
    room = tf.constant(seq_length - batching.specials(2), tf.int64) - question_length
    length = context.row_lengths()
    stride = tf.constant(stride, tf.int64)
    zero = tf.constant(0, tf.int64)
    count = 1 + tf.maximum(zero, _floordiv(length - room + stride - 1, stride))
    example = tf.repeat(tf.range(tf.size(length, out_type=tf.int64)), count)
    window = tf.range(tf.size(example, out_type=tf.int64))
    start = (window - tf.gather(tf.cumsum(count, exclusive=True), example)) * stride
    size = tf.maximum(zero, tf.minimum(tf.gather(room, example), tf.gather(length, example) - start))
    # each window's pieces read from the flat context at [first, first + size), as int32 indexes (training
    # windows a whole data set at once)
    first = tf.cast(tf.gather(context.row_starts(), example) + start, tf.int32)
    widest = tf.reduce_max(tf.concat([tf.cast(size, tf.int32), [0]], 0))
    pieces = tf.concat([context.flat_values, tf.zeros([1], context.dtype)], 0)  # (a 0 to read: no context)
    at = tf.minimum(first[:, tf.newaxis] + tf.range(widest)[tf.newaxis, :], tf.size(pieces) - 1)
    questions = question.to_tensor(0, shape=[None, max_query])  # (cut to max_query pieces)
    return (
        example,
        tf.RaggedTensor.from_tensor(tf.gather(questions, example), lengths=tf.gather(question_length, example)),
        tf.RaggedTensor.from_tensor(tf.gather(pieces, at), lengths=size),
        start,
    )


class SquadExamples(Examples):
    """Questions tokenized and cut into windows once; each window's start/end target."""

    def __init__(self, bert: BertPipeline, data: SquadData, seq_length: int, settings: AnswerSettings):
        import tensorflow as tf

        self.preprocessor = bert.preprocessor
        q = batching.word_pieces(bert.preprocessor, data.questions)
        c, piece_word, split = context_pieces(bert.preprocessor, tf.constant(data.contexts, tf.string))
        example, self.question, self.context, start = windows(
            q, c, seq_length=seq_length, stride=settings.doc_stride, max_query=settings.max_query_length
        )
        self.example = example.numpy()
        spans = answer_pieces(data, piece_word, split.starts, split.ends)
        start = start.numpy()
        size = self.context.row_lengths().numpy()
        question = self.question.row_lengths().numpy()
        offset = question + 2 - start  # packed position of context piece i: i + offset
        self.targets = np.zeros((len(self.example), 2), np.int32)
        for w, e in enumerate(self.example):
            if spans[e] is not None and start[w] <= spans[e][0] and spans[e][1] < start[w] + size[w]:
                self.targets[w] = np.asarray(spans[e]) + offset[w]
        self.lengths = (question + size + batching.specials(2)).astype(np.int64)
        self.skipped = sum(1 for s, a in zip(spans, data.answers) if s is None and a)

    @override
    def to_batch(self, buckets: Any) -> Any:
        import tensorflow as tf

        targets = tf.constant(self.targets)

        def batch(idx):
            x = batching.pack_to_bucket(
                self.preprocessor, [tf.gather(self.question, idx), tf.gather(self.context, idx)], buckets
            )
            return x, tf.gather(targets, idx)

        return batch


def answer_pieces(data: SquadData, piece_word: Any, starts: Any, ends: Any) -> list[tuple[int, int] | None]:
    """Each question's first answer as (first, last) context wordpiece, or None (no answer, or no piece)."""
    out: list[tuple[int, int] | None] = []
    # NumPy rows converted at once, not a tensor slice per question
    for answers, s, e, words in zip(data.answers, _rows(starts), _rows(ends), _rows(piece_word)):
        if not answers:
            out.append(None)
            continue
        text, a = answers[0]
        b = a + len(text)
        inside = np.flatnonzero((s < b) & (e > a))
        hit = np.flatnonzero(np.isin(words, inside))
        out.append((int(hit[0]), int(hit[-1])) if len(hit) else None)
    return out


def _rows(ragged: Any) -> list[np.ndarray]:
    """The rows of a 2-D RaggedTensor as NumPy arrays."""
    values, splits = ragged.flat_values.numpy(), ragged.row_splits.numpy()
    return [values[a:b] for a, b in zip(splits[:-1], splits[1:])]


def build_span_model(bert: BertPipeline) -> Any:
    """``sequence_output`` -> dense(2): start and end logits ``[batch, seq, 2]``, padding pushed down."""
    import tensorflow as tf
    import tf_keras

    inputs = {k: tf_keras.layers.Input(shape=(None,), dtype=tf.int32, name=k) for k in INPUT_KEYS}
    sequence = bert.encoder_layer(inputs)["sequence_output"]
    logits = tf_keras.layers.Dense(2, name="span")(sequence)
    masked = tf_keras.layers.Lambda(
        lambda a: a[0] + tf.expand_dims(1.0 - tf.cast(a[1], a[0].dtype), -1) * _PADDING_LOGIT, name="mask_padding"
    )([logits, inputs["input_mask"]])
    return tf_keras.Model(inputs, masked, name="bert_span")


def _span_loss(targets: Any, logits: Any) -> Any:
    """Mean of the start and end cross-entropies over positions."""
    import tensorflow as tf

    targets = tf.cast(targets, tf.int32)
    per_end = [tf.nn.sparse_softmax_cross_entropy_with_logits(targets[:, k], logits[:, :, k]) for k in (0, 1)]
    return masked_scalar_loss((per_end[0] + per_end[1]) / 2, tf.ones_like(per_end[0], tf.bool))


def _span_accuracy(targets: Any, logits: Any) -> Any:
    """The share of start and end positions predicted exactly (each on its own)."""
    import tensorflow as tf

    best = tf.argmax(logits, axis=1, output_type=tf.int32)  # [batch, 2]
    return tf.reduce_mean(tf.cast(tf.equal(best, tf.cast(targets, tf.int32)), tf.float32))


@dataclasses.dataclass(frozen=True)
class AnswerSettings(Options):
    """Question answering's own settings: how questions and contexts are cut into windows."""

    source: ClassVar[str] = "task settings"

    doc_stride: int = option(
        64, "question answering: wordpieces between the starts of a long context's overlapping windows", at_least=1
    )
    max_query_length: int = option(32, "question answering: wordpieces kept of a question", at_least=1)
    max_answer_length: int = option(30, "question answering: longest answer, in wordpieces", at_least=1)

    def window_problems(self, seq_length: int) -> list[tuple[str, str]]:
        """The windows of ``seq_length`` tokens must hold context and overlap (or touch)."""
        room = seq_length - 3 - self.max_query_length
        if room < 1:
            return [
                (
                    "max_query_length",
                    f"leaves no room for the context in seq_length {seq_length} "
                    "(a question pair needs 3 special tokens): lower it",
                )
            ]
        if self.doc_stride > room:
            return [
                (
                    "doc_stride",
                    f"must be at most seq_length - 3 - max_query_length = {room}, or the windows would skip context",
                )
            ]
        return []


class QuestionAnswering(Task):
    """Extractive question answering; see the module docstring."""

    name = TASK_NAME
    data_type = SquadData
    summary = "extractive answers from a context, from SQuAD v1.1 / v2.0 JSON"
    Settings = AnswerSettings
    settings: AnswerSettings
    predict_example = '--question "..." --context "..."'

    @override
    @classmethod
    def read(cls, path: str | Path, options: Options | None = None) -> SquadData:
        return read_squad(path)

    @override
    @classmethod
    def looks_like(cls, head: str) -> bool:
        return head.lstrip().startswith("{") and ('"paragraphs"' in head or '"qas"' in head)

    @override
    @staticmethod
    def model_type() -> type[QuestionAnswerer]:
        return QuestionAnswerer

    @override
    def check(self, cfg: TrainConfig) -> None:
        for field, message in self.settings.window_problems(cfg.seq_length):
            raise ConfigError(f"task settings: field '{field}': {message}")

    @override
    def split(self, data: Any, cfg: TrainConfig) -> tuple[SquadData, SquadData, SquadData]:
        self.check(cfg)
        if isinstance(data, SquadData):
            index = split_groups(
                data.contexts, validation=cfg.validation_fraction, test=cfg.test_fraction, seed=cfg.seed
            )  # a context's questions stay together
            train, validation, test = (data.subset(i) for i in index)
        else:
            train, validation, test = data
        self.no_answer = any(s.unanswerable for s in (train, validation, test))
        return check_splits((train, validation, test), "questions")

    @override
    def describe(self, splits: tuple[Any, Any, Any]) -> str:
        return (
            f"data: {len(splits[0])} train questions ({splits[0].unanswerable} unanswerable), "
            f"{len(splits[1])} validation, {len(splits[2])} test"
            + ("; SQuAD v2.0: the model learns to say no answer" if self.no_answer else "")
        )

    @override
    def counts(self, split: SquadData) -> dict[str, int]:
        return {"questions": len(split), "unanswerable": split.unanswerable}

    @override
    def examples(self, bert: BertPipeline, data: SquadData, cfg: TrainConfig) -> SquadExamples:
        examples = SquadExamples(bert, data, cfg.seq_length, self.settings)
        if examples.skipped:
            log.warning(
                "warning: %d answers of %s have no wordpiece (only characters the tokenizer drops) "
                "and train as no answer",
                examples.skipped,
                data.source,
            )
        log.info("%s: %d questions in %d windows", data.source, len(data), len(examples))
        return examples

    @override
    def build_model(self, bert: BertPipeline, cfg: TrainConfig) -> Any:
        return build_span_model(bert)

    @override
    def loss_and_metrics(self) -> tuple[Any, list[Any]]:
        import tf_keras

        return _span_loss, [tf_keras.metrics.MeanMetricWrapper(_span_accuracy, name="accuracy")]

    @override
    def info(self) -> dict[str, Any]:
        return {"no_answer": self.no_answer}

    @override
    def finish(
        self,
        model: Any,
        bert: BertPipeline,
        out: Path,
        splits: tuple[Any, Any, Any],
        cfg: TrainConfig,
        metadata: dict[str, Any],
        validation: Examples,
    ) -> dict[str, Any]:
        export_answerer(
            model,
            bert,
            out,
            seq_length=cfg.seq_length,
            doc_stride=self.settings.doc_stride,
            max_query_length=self.settings.max_query_length,
            max_answer_length=self.settings.max_answer_length,
            no_answer=self.no_answer,
            metadata=metadata,
        )
        return export_metrics(QuestionAnswerer(out), out, splits)


def best_answers(
    logits: Any,
    example: Any,
    question_length: Any,
    context_length: Any,
    context_start: Any,
    examples: Any,
    max_answer_length: int,
) -> dict[str, Any]:
    """Each example's best span over its windows, as context wordpiece indexes (TensorFlow).

    ``logits``: ``[windows, seq, 2]``. A span may start only at a piece of
    its window's context that has there its *maximum context* (of all the
    windows holding the piece, the one where it is farthest from both
    edges: BERT's ``run_squad`` rule), so overlapping windows do not
    propose the same start twice from less context. Returns ``first``,
    ``last`` (context pieces), ``score`` (start + end logit;
    `NO_SPAN` when no window has context) and ``null`` (the lowest
    ``[CLS]`` score over the windows).
    """
    import tensorflow as tf

    start, end = logits[:, :, 0], logits[:, :, 1]
    seq = tf.shape(logits)[1]
    position = tf.range(seq, dtype=tf.int64)
    low = question_length + 2
    in_context = (position[tf.newaxis] >= low[:, tf.newaxis]) & (
        position[tf.newaxis] < (low + context_length)[:, tf.newaxis]
    )
    may_start = in_context & max_context(
        position[tf.newaxis] - low[:, tf.newaxis], in_context, example, context_length, context_start
    )
    # (expand_dims, not [..., tf.newaxis]: LiteRT's strided slice adds no axis to a 2-D tensor)
    span = tf.expand_dims(start, 2) + tf.expand_dims(end, 1)  # [window, first, last]
    width = position[tf.newaxis, :] - position[:, tf.newaxis]
    valid = (
        tf.expand_dims(may_start, 2)
        & tf.expand_dims(in_context, 1)
        & tf.expand_dims((width >= 0) & (width < max_answer_length), 0)
    )
    span = tf.where(valid, span, NO_SPAN)
    flat = tf.reshape(span, [tf.shape(span)[0], -1])
    best = tf.argmax(flat, axis=1, output_type=tf.int64)
    score = tf.reduce_max(flat, axis=1)
    seq64 = tf.cast(seq, tf.int64)
    shift = context_start - low
    first, last = _floordiv(best, seq64) + shift, best % seq64 + shift
    example32, examples32 = tf.cast(example, tf.int32), tf.cast(examples, tf.int32)  # LiteRT: int32 segments
    top = tf.math.unsorted_segment_max(score, example32, examples32)
    window = tf.range(tf.size(example))
    best_of_example = tf.where(score >= tf.gather(top, example), window, tf.size(window))
    chosen = tf.math.unsorted_segment_min(best_of_example, example32, examples32)  # the first best window
    null = tf.math.unsorted_segment_min(start[:, 0] + end[:, 0], example32, examples32)
    return {"first": tf.gather(first, chosen), "last": tf.gather(last, chosen), "score": top, "null": null}


def max_context(offset: Any, in_context: Any, example: Any, context_length: Any, context_start: Any) -> Any:
    """Whether each window position holds its context piece with the most context (``[window, seq]``).

    ``offset`` is the position's index in its window's context. A piece's
    context in a window is ``min(pieces before it, pieces after it) + 0.01 *
    window size``, as in BERT's ``run_squad``; ties go to every window that
    has the maximum.
    """
    import tensorflow as tf

    size = tf.cast(context_length, tf.float32)[:, tf.newaxis]
    here = tf.cast(offset, tf.float32)
    score = tf.minimum(here, size - 1.0 - here) + 0.01 * size
    score = tf.where(in_context, score, -1.0)
    zero = tf.zeros([1], tf.int64)  # (no windows: an empty batch)
    span = tf.reduce_max(tf.concat([context_start, zero], 0)) + tf.cast(tf.shape(offset)[1], tf.int64) + 1
    piece = tf.where(in_context, example[:, tf.newaxis] * span + context_start[:, tf.newaxis] + offset, 0)
    count = (tf.reduce_max(tf.concat([example, zero], 0)) + 1) * span  # span: pieces per example, at most
    piece, count = tf.cast(piece, tf.int32), tf.cast(count, tf.int32)  # LiteRT: int32 segments
    best = tf.math.unsorted_segment_max(tf.reshape(score, [-1]), tf.reshape(piece, [-1]), count)
    return score >= tf.gather(best, piece)


def export_answerer(
    model: Any,
    bert: BertPipeline,
    out: str | Path,
    *,
    seq_length: int,
    doc_stride: int,
    max_query_length: int,
    max_answer_length: int,
    no_answer: bool,
    metadata: dict | None = None,
    overwrite: bool = True,
) -> Path:
    """Saves the span model + ``bert``'s preprocess model as a SavedModel answering raw strings (atomically)."""
    settings: dict[str, Any] = {
        "seq_length": seq_length,
        "doc_stride": doc_stride,
        "max_query_length": max_query_length,
        "max_answer_length": max_answer_length,
        "no_answer": no_answer,
    }
    module, signatures = answerer_serving(model, bert, **settings)
    return save_export(
        module, out, signatures, {"task": TASK_NAME, **settings, **(metadata or {})}, overwrite=overwrite
    )


def answerer_serving(
    model: Any,
    bert: BertPipeline,
    *,
    seq_length: int,
    doc_stride: int,
    max_query_length: int,
    max_answer_length: int,
    no_answer: bool,
) -> tuple[Any, dict[str, Any]]:
    """An answerer's serving module and its signature (``question`` and ``context`` to the answer)."""
    import tensorflow as tf

    class Serving(tf.Module):
        def __init__(self):
            super().__init__()
            ServedModel(model, bert).attach(self, "spans")
            self.preprocessor = bert.preprocessor
            self.words = text_words(bert)
            self.buckets = tf.constant(batching.default_buckets(seq_length), tf.int32)

        @serving_function(
            tf.TensorSpec([None], tf.string, name="question"), tf.TensorSpec([None], tf.string, name="context")
        )
        def serve(self, question, context):
            q = self.preprocessor.tokenize(question).merge_dims(1, -1)
            c, piece_word, split = context_pieces(self.preprocessor, context, self.words)
            example, q_win, c_win, c_start = windows(
                q, c, seq_length=seq_length, stride=doc_stride, max_query=max_query_length
            )
            logits = self.spans(
                batching.pack_to_bucket(self.preprocessor, [q_win, c_win], self.buckets), training=False
            )
            n = tf.size(question, out_type=tf.int64)
            best = best_answers(
                logits, example, q_win.row_lengths(), c_win.row_lengths(), c_start, n, max_answer_length
            )
            has_span = best["score"] > NO_SPAN
            found = has_span & (best["score"] > best["null"]) if no_answer else has_span
            first, last = _at(piece_word, best["first"]), _at(piece_word, best["last"])
            start = tf.where(found, _at(split.starts, first), -1)
            end = tf.where(found, _at(split.ends, last), -1)
            byte_start = tf.where(found, _at(split.byte_starts, first), 0)[:, tf.newaxis]
            byte_end = tf.where(found, _at(split.byte_ends, last), 0)[:, tf.newaxis]
            answer = self.words.cut(context, byte_start, byte_end)[:, 0]  # "" where none is found
            score = best["score"] - best["null"] if no_answer else best["score"]
            return {
                "answer": answer,
                "start": start,
                "end": end,
                "has_answer": found,
                "score": tf.where(has_span, score, 0.0),
            }

    module = Serving()
    return module, {"serving_default": module.serve}


def _floordiv(a: Any, b: Any) -> Any:
    """``a // b`` of ``int64`` tensors, divided in ``int32`` (LiteRT divides no ``int64``; indexes fit)."""
    import tensorflow as tf

    return tf.cast(tf.math.floordiv(tf.cast(a, tf.int32), tf.cast(b, tf.int32)), tf.int64)


def _at(ragged: Any, index: Any) -> Any:
    """``ragged[i][index[i]]`` for every row ``i``: 0 past the row's end, its first item below 0 (callers
    mask what they read for a row without an answer)."""
    import tensorflow as tf

    dense = tf.pad(ragged.to_tensor(0), [[0, 0], [0, 1]])
    safe = tf.clip_by_value(index, 0, tf.cast(tf.shape(dense)[1], tf.int64) - 1)
    return tf.gather(dense, safe[:, tf.newaxis], batch_dims=1)[:, 0]


@dataclasses.dataclass(frozen=True)
class QuestionInputs(Options):
    """What a question answerer predicts from: questions on one context."""

    source: ClassVar[str] = "predict inputs"

    question: tuple[str, ...] = option((), "a question (repeat for several)", repeated=True)
    context: str | None = option(None, "the text the answers come from")


class QuestionAnswerer(ExportedModel):
    """A loaded exported question answerer (plain TensorFlow; bert_hub adds batching and checks)."""

    PredictInputs = QuestionInputs

    task = TASK_NAME
    beam_columns = {
        "question": "string",
        "answer": "string",
        "start": "int64",
        "end": "int64",
        "score": "float32",
        "has_answer": "bool",
    }

    weights_name = "spans"

    def __init__(self, path: str | Path, precision: str = "float32"):
        super().__init__(path, precision)
        self._serve = self.signatures["serving_default"]

    @classmethod
    @override
    def rebuild_model(cls, bert: BertPipeline, settings: dict[str, Any], info: dict[str, Any]) -> Any:
        return build_span_model(bert)

    @classmethod
    @override
    def serving_module(cls, model: Any, bert: BertPipeline, info: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        keys = ("seq_length", "doc_stride", "max_query_length", "max_answer_length", "no_answer")
        return answerer_serving(model, bert, **{k: info[k] for k in keys})

    @staticmethod
    def check_line(line: str) -> None:
        """A line must be a JSON object with a "question" and a "context" string."""
        try:
            item = json.loads(line)
        except ValueError:
            item = None
        if not (
            isinstance(item, dict) and isinstance(item.get("question"), str) and isinstance(item.get("context"), str)
        ):
            raise InputError('not a JSON object with a "question" and a "context" (strings)')

    def beam_rows(self, lines: Sequence[str]) -> list[dict[str, Any]]:
        """Each line is a JSON object ``{"question": ..., "context": ...}`` (see
        [`check_line`][bert_hub.finetune.tasks.question_answering.QuestionAnswerer.check_line]); its answer."""
        items = [json.loads(line) for line in lines]
        return self.predict([i["question"] for i in items], [i["context"] for i in items])

    @override
    def read_data(self, path: str | Path, options: Options | None = None) -> SquadData:
        return read_squad(path)

    @override
    @staticmethod
    def format_metrics(metrics: dict[str, Any], info: dict[str, Any]) -> str:
        return format_squad_metrics(metrics)

    @override
    def predict_inputs(self, inputs: Options) -> dict[str, Any]:
        assert isinstance(inputs, QuestionInputs)
        if not (inputs.question and inputs.context is not None):
            raise InputError(f"{self.path} answers questions on a context: give both `question` and `context`")
        rows = self.predict(list(inputs.question), [inputs.context] * len(inputs.question))
        return {"model": str(self.path), "context": inputs.context, "answers": rows}

    @override
    def format_report(self, report: dict[str, Any]) -> str:
        return format_answers(report["answers"])

    def predict(self, questions: Sequence[str], contexts: Sequence[str], batch_size: int = 16) -> list[dict[str, Any]]:
        """``[{"question", "answer", "start", "end", "score", "has_answer"}]`` in input order.

        ``start`` / ``end`` are character offsets into the context (``end``
        exclusive; -1 and answer ``""`` when there is no answer).
        """
        questions, contexts = check_texts(questions, "questions"), check_texts(contexts, "contexts")
        if len(questions) != len(contexts):
            raise InputError(f"{len(questions)} questions but {len(contexts)} contexts: give one context per question")
        out: list[dict[str, Any]] = [{} for _ in questions]
        for idx, res in served_batches(self._serve, {"question": questions, "context": contexts}, batch_size):
            for k, i in enumerate(idx):
                out[i] = {
                    "question": questions[i],
                    "answer": res["answer"][k].decode(),
                    "start": int(res["start"][k]),
                    "end": int(res["end"][k]),
                    "score": round(float(res["score"][k]), 4),
                    "has_answer": bool(res["has_answer"][k]),
                }
        return out

    def evaluate(
        self, data: SquadData, plot: str | Path | None = None, overwrite: bool = False, batch_size: int = 16
    ) -> dict[str, Any]:
        """Exact match and F1 (percent, the SQuAD scripts' definitions) on ``data``."""
        data = self._data(data)
        self._refuse_plot(plot)
        predictions = self.predict(data.questions, data.contexts, batch_size)
        return squad_metrics([[text for text, _ in a] for a in data.answers], [p["answer"] for p in predictions])


def format_answers(rows: list[dict[str, Any]]) -> str:
    """Answers, for people: each question and its answer with its place in the context."""
    lines = []
    for r in rows:
        answer = (
            f"{r['answer']}  (characters {r['start']}-{r['end']}, score {r['score']:.3f})"
            if r["has_answer"]
            else "(no answer)"
        )
        lines.append(f"Q: {r['question']}\nA: {answer}")
    return "\n".join(lines)
