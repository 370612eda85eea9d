"""Token classification (named entities): CoNLL data, the tagger, its export and its predictions.

The model is a dense layer on ``sequence_output`` (one logit per tag, the
encoder fine-tuned). Words are split into wordpieces by the model's own
preprocess model; **a word's tag is learned and read on its first piece**,
its other pieces carry no label and are left out of the loss (the rule of
BERT's paper). A word whose first piece falls beyond ``seq_length`` (a very
long sentence) is not trained on and is predicted ``O``; the counts are
reported.

Data is CoNLL-style text: one word per line with its tag in the last
column, columns separated by spaces or tabs (a no-break space belongs to
its word; CoNLL-2003's four columns work as they are; every word line has
as many columns as the first), a blank line between
sentences, ``-DOCSTART-`` lines skipped. Tags are BIO /
IOB2 / IOBES with any entity types (see `bert_hub.finetune.tasks.entities`).

The export takes raw text: ``serving_default(text)`` splits it into words
(`bert_hub.finetune.tasks.words`) and returns each word, its tag, the tag's
probability and the word's character offsets; ``tag_words(words)`` tags text
that is already split into words (``""`` pads a batch).
[`TokenClassifier`][bert_hub.finetune.tasks.token_classification.TokenClassifier]
adds the entity spans (type, text, character offsets).

Examples:
    After ``bert-hub train --task token-classification ... --out runs/ner``:

    ```python
    from bert_hub.finetune.tasks.token_classification import TokenClassifier
    ner = TokenClassifier("runs/ner")
    ner.predict(["Angela Merkel visited Paris in May"])[0]["entities"]
    # [{'type': 'PER', 'text': 'Angela Merkel', 'start': 0, 'end': 13, ...}, ...]
    ```
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from typing_extensions import override

from bert_hub.core.errors import InputError
from bert_hub.core.inputs import check_texts, data_path, read_data_file
from bert_hub.core.interface import INPUT_KEYS
from bert_hub.finetune.exported import (
    ExportedModel,
    ServedModel,
    batches_by_length,
    save_export,
    served_batches,
    serving_function,
)
from bert_hub.finetune.options import Options, option
from bert_hub.finetune.seeded_dropout import SeededDropout
from bert_hub.finetune.task import Examples, Task, check_splits, export_metrics, masked_scalar_loss, seeded_splits
from bert_hub.finetune.tasks.entities import OUTSIDE, entity_metrics, entity_spans, format_entity_metrics, tag_problem
from bert_hub.finetune.tasks.words import first_pieces, padded, text_words, word_pieces
from bert_hub.runtime import batching

if TYPE_CHECKING:  # annotations only: the pipeline module loads TensorFlow
    from bert_hub.finetune.train_config import TrainConfig
    from bert_hub.hub.pipeline import BertPipeline

log = logging.getLogger(__name__)

TASK_NAME = "token-classification"
DOCUMENT_START = "-DOCSTART-"
_COLUMN_SEPARATOR = re.compile(r"[ \t\r\f\v]+")
"""What separates columns: ASCII spaces and tabs (a no-break space, U+00A0, is part of its word)."""
"""CoNLL lines that separate documents, not sentences' words."""
NO_LABEL = -1
"""The label of a wordpiece that is not a word's first (left out of the loss)."""


@dataclasses.dataclass
class TaggedSentences:
    """Sentences as words, each word with its tag.

    Attributes:
        words, tags: one list per sentence, of the same length.
        lines: the line of each sentence's first word in ``source`` (for messages).
    """

    words: list[list[str]]
    tags: list[list[str]]
    source: str = "<memory>"
    lines: list[int] = dataclasses.field(default_factory=list)

    def __len__(self) -> int:
        return len(self.words)

    def subset(self, index: Sequence[int]) -> TaggedSentences:
        """The sentences at ``index``, in that order."""
        return TaggedSentences(
            [self.words[i] for i in index],
            [self.tags[i] for i in index],
            self.source,
            [self.lines[i] for i in index] if self.lines else [],
        )

    def tag_set(self) -> list[str]:
        """``O`` first, then the other tags in order."""
        return [OUTSIDE, *sorted({t for tags in self.tags for t in tags} - {OUTSIDE})]


def read_conll(path: str | Path) -> TaggedSentences:
    """Reads CoNLL-style data (see the module docstring); errors name the file and the line."""
    path = data_path(path)
    content = read_data_file(path)
    data = TaggedSentences([], [], str(path))
    words: list[str] = []
    tags: list[str] = []
    first = 0
    columns: tuple[int, int] | None = None  # (line, count) of the first word line
    for number, line in enumerate([*content.split("\n"), ""], start=1):
        fields = _COLUMN_SEPARATOR.split(line.strip(" \t\r\f\v")) if line.strip(" \t\r\f\v") else []
        if not fields or fields[0] == DOCUMENT_START:
            if words:
                data.words.append(words)
                data.tags.append(tags)
                data.lines.append(first)
            words, tags = [], []
            continue
        if len(fields) < 2:
            raise InputError(
                f"{path}: line {number} has one column ({fields[0]!r}); expected WORD ... TAG "
                "(the tag in the last column, a blank line between sentences)"
            )
        if columns is None:
            columns = (number, len(fields))
        elif len(fields) != columns[1]:
            raise InputError(
                f"{path}: line {number} has {len(fields)} columns, the first word's line "
                f"({columns[0]}) has {columns[1]}; every word line needs the same columns (a word "
                "holding a space would read as two columns)"
            )
        problem = tag_problem(fields[-1])
        if problem:
            raise InputError(f"{path}: line {number}: {problem}")
        if not words:
            first = number
        words.append(fields[0])
        tags.append(fields[-1])
    if not data.words:
        raise InputError(f"data file {path} has no sentences (one WORD ... TAG per line)")
    return data


class TokenExamples(Examples):
    """Sentences tokenized once: wordpieces, and each piece's tag id (``-1``: not a word's first piece)."""

    def __init__(self, bert: BertPipeline, data: TaggedSentences, tags: Sequence[str], seq_length: int):
        import tensorflow as tf

        self.preprocessor = bert.preprocessor
        words = (
            tf.ragged.constant(data.words, dtype=tf.string, ragged_rank=1)
            if len(data)
            else tf.RaggedTensor.from_row_lengths(tf.zeros([0], tf.string), tf.zeros([0], tf.int64))
        )
        nested = word_pieces(bert.preprocessor, words)
        self.pieces = nested.merge_dims(1, 2)
        first, counts = (t.numpy() for t in first_pieces(nested))
        totals = self.pieces.row_lengths().numpy()
        ids = {t: i for i, t in enumerate(tags)}
        labels = [np.full(n, NO_LABEL, np.int32) for n in totals]
        self.cut_words = 0
        for k, (f, c, sentence_tags) in enumerate(zip(first, counts, data.tags)):
            read = c > 0
            labels[k][f[read]] = [ids[t] for t, r in zip(sentence_tags, read) if r]
            self.cut_words += int((read & (f >= seq_length - 2)).sum())
        self.labels = tf.RaggedTensor.from_row_lengths(np.concatenate(labels or [np.zeros(0, np.int32)]), totals)
        self.lengths = np.minimum(totals + batching.specials(1), seq_length).astype(np.int64)

    @override
    def to_batch(self, buckets: Any) -> Any:
        import tensorflow as tf

        def batch(idx):
            x = batching.pack_to_bucket(self.preprocessor, tf.gather(self.pieces, idx), buckets)
            length = tf.shape(x["input_word_ids"])[1]
            labels = tf.gather(self.labels, idx)[:, : length - 2].to_tensor(NO_LABEL)
            pad = length - 1 - tf.shape(labels)[1]
            return x, tf.pad(labels, [[0, 0], [1, pad]], constant_values=NO_LABEL)  # [CLS] ... [SEP] pad

        return batch


def build_tagger(bert: BertPipeline, num_tags: int, dropout: float, seed: int = 0) -> Any:
    """``sequence_output`` -> dropout (drawn from ``(seed, training step)``) -> dense(num_tags): one logit per
    tag and position."""
    import tensorflow as tf
    import tf_keras

    inputs = {k: tf_keras.layers.Input(shape=(None,), dtype=tf.int32, name=k) for k in INPUT_KEYS}
    sequence = bert.encoder_layer(inputs)["sequence_output"]
    logits = tf_keras.layers.Dense(num_tags, name="tagger")(SeededDropout(dropout, seed, name="dropout")(sequence))
    return tf_keras.Model(inputs, logits, name="bert_tagger")


def _tag_loss(labels: Any, logits: Any) -> Any:
    """Cross-entropy over the labelled positions (each word's first piece)."""
    import tensorflow as tf

    labels = tf.cast(labels, tf.int32)
    per_position = tf.nn.sparse_softmax_cross_entropy_with_logits(tf.maximum(labels, 0), logits)
    return masked_scalar_loss(per_position, labels >= 0)


def _tag_accuracy(labels: Any, logits: Any) -> Any:
    """The share of labelled positions whose best tag is right."""
    import tensorflow as tf

    labels = tf.cast(labels, tf.int32)
    right = tf.cast(tf.equal(tf.argmax(logits, -1, output_type=tf.int32), labels), tf.float32)
    return masked_scalar_loss(right, labels >= 0)


class TokenClassification(Task):
    """Tagging the words of sentences (NER); see the module docstring."""

    name = TASK_NAME
    data_type = TaggedSentences
    summary = "a tag per word (NER), from CoNLL files"

    @override
    @classmethod
    def read(cls, path: str | Path, options: Options | None = None) -> TaggedSentences:
        return read_conll(path)

    @override
    @classmethod
    def looks_like(cls, head: str) -> bool:
        lines = [line.split() for line in head.split("\n")[:40] if line.strip()]
        lines = [fields for fields in lines[:-1] if not fields[0].startswith("-DOCSTART-")]
        return len(lines) >= 2 and all(2 <= len(f) <= 6 and tag_problem(f[-1]) is None for f in lines)

    @override
    @staticmethod
    def model_type() -> type[TokenClassifier]:
        return TokenClassifier

    @override
    def split(self, data: Any, cfg: TrainConfig) -> tuple[TaggedSentences, TaggedSentences, TaggedSentences]:
        splits = seeded_splits(data, cfg, TaggedSentences)
        found = {t for s in splits for t in s.tag_set()}
        self.tags = [OUTSIDE, *sorted(found - {OUTSIDE})]
        return check_splits(splits, "sentences")

    @override
    def describe(self, splits: tuple[Any, Any, Any]) -> str:
        words = self.counts(splits[0])["words"]
        return (
            f"data: {len(splits[0])} train sentences ({words} words), {len(splits[1])} validation, "
            f"{len(splits[2])} test; {len(self.tags)} tags: {', '.join(self.tags)}"
        )

    @override
    def counts(self, split: TaggedSentences) -> dict[str, int]:
        return {"sentences": len(split), "words": sum(len(w) for w in split.words)}

    @override
    def examples(self, bert: BertPipeline, data: TaggedSentences, cfg: TrainConfig) -> TokenExamples:
        examples = TokenExamples(bert, data, self.tags, cfg.seq_length)
        if examples.cut_words:
            log.warning(
                "warning: %d words of %s lie beyond seq_length (%d tokens) and are not trained on; "
                "raise seq_length to keep them",
                examples.cut_words,
                data.source,
                cfg.seq_length,
            )
        return examples

    @override
    def build_model(self, bert: BertPipeline, cfg: TrainConfig) -> Any:
        return build_tagger(bert, len(self.tags), cfg.dropout, cfg.seed)

    @override
    def loss_and_metrics(self) -> tuple[Any, list[Any]]:
        import tf_keras

        return _tag_loss, [tf_keras.metrics.MeanMetricWrapper(_tag_accuracy, name="accuracy")]

    @override
    def info(self) -> dict[str, Any]:
        return {"tags": self.tags}

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
        export_tagger(model, bert, out, tags=self.tags, seq_length=cfg.seq_length, metadata=metadata)
        return export_metrics(TokenClassifier(out), out, splits)


def export_tagger(
    model: Any,
    bert: BertPipeline,
    out: str | Path,
    *,
    tags: Sequence[str],
    seq_length: int = 128,
    metadata: dict | None = None,
    overwrite: bool = True,
) -> Path:
    """Saves the tagger + ``bert``'s preprocess model as a SavedModel that tags raw text (atomically)."""
    module, signatures = tagger_serving(model, bert, tags=tags, seq_length=seq_length)
    info = {"task": TASK_NAME, "tags": list(tags), "seq_length": seq_length, **(metadata or {})}
    return save_export(module, out, signatures, info, overwrite=overwrite)


def tagger_serving(model: Any, bert: BertPipeline, *, tags: Sequence[str], seq_length: int) -> tuple[Any, dict]:
    """A tagger's serving module and its signatures: ``serving_default`` (``text``) and ``tag_words``.

    Traced with ``bert``'s [`text_words`][bert_hub.finetune.tasks.words.text_words], so the same code
    becomes a SavedModel or a LiteRT file.
    """
    import tensorflow as tf

    class Serving(tf.Module):
        def __init__(self):
            super().__init__()
            ServedModel(model, bert).attach(self, "tagger")
            self.preprocessor = bert.preprocessor
            self.words = text_words(bert)
            self.tags = tf.constant([*tags, ""])  # "" (last): what a padding word gets
            self.buckets = tf.constant(batching.default_buckets(seq_length), tf.int32)

        def tag(self, words):
            nested = word_pieces(self.preprocessor, words)
            first, counts = first_pieces(nested)
            inputs = batching.pack_to_bucket(self.preprocessor, nested.merge_dims(1, 2), self.buckets)
            logits = self.tagger(inputs, training=False)
            position = first.flat_values + 1  # after [CLS]; plain tensors: LiteRT has no ragged ops
            readable = (counts.flat_values > 0) & (position < tf.cast(tf.shape(logits)[1], tf.int64) - 1)
            at = padded(first.with_flat_values(tf.where(readable, position, 0)))
            probabilities = tf.nn.softmax(tf.gather(logits, at, batch_dims=1))
            readable = tf.cast(padded(first.with_flat_values(tf.cast(readable, tf.int32))), tf.bool)
            best = tf.where(readable, tf.argmax(probabilities, -1, output_type=tf.int32), 0)  # 0 is O
            is_word = tf.cast(padded(words.with_flat_values(tf.ones_like(words.flat_values, tf.int32))), tf.bool)
            return {
                "tags": tf.gather(self.tags, tf.where(is_word, best, len(tags))),
                "probability": tf.where(readable, tf.reduce_max(probabilities, -1), 0.0),
                "tagged": readable,
                "word_count": tf.cast(words.row_lengths(), tf.int32),
            }

        @serving_function(tf.TensorSpec([None], tf.string, name="text"))
        def serve(self, text):
            split = self.words.split(text)
            return {
                **self.tag(split.words),
                "words": self.words.cut(text, padded(split.byte_starts), padded(split.byte_ends)),
                "start": padded(split.starts, -1),
                "end": padded(split.ends, -1),
            }

        @serving_function(tf.TensorSpec([None, None], tf.string, name="words"))
        def tag_words(self, words):
            return self.tag(tf.RaggedTensor.from_tensor(words, padding=""))

    module = Serving()
    return module, {"serving_default": module.serve, "tag_words": module.tag_words}


@dataclasses.dataclass(frozen=True)
class TaggerInputs(Options):
    """What a tagger predicts from: texts (each split into words inside the model)."""

    source: ClassVar[str] = "predict inputs"

    texts: tuple[str, ...] = option((), "the texts", positional=True, metavar="TEXT")


class TokenClassifier(ExportedModel):
    """A loaded exported tagger (plain TensorFlow; bert_hub adds batching, entities and checks)."""

    PredictInputs = TaggerInputs

    task = TASK_NAME
    beam_columns = {"words": "list<string>", "tags": "list<string>", "entities": "list<span>"}
    weights_name = "tagger"

    @classmethod
    @override
    def rebuild_model(cls, bert: BertPipeline, settings: dict[str, Any], info: dict[str, Any]) -> Any:
        return build_tagger(bert, len(info["tags"]), 0.0)

    @classmethod
    @override
    def serving_module(cls, model: Any, bert: BertPipeline, info: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        return tagger_serving(model, bert, tags=info["tags"], seq_length=info["seq_length"])

    def beam_rows(self, lines: Sequence[str]) -> list[dict[str, Any]]:
        """Each line's words and tags, and its entities (type, text, character start and end)."""
        return [
            {
                "words": [w["word"] for w in r["words"]],
                "tags": [w["tag"] for w in r["words"]],
                "entities": [{k: e[k] for k in ("type", "text", "start", "end")} for e in r["entities"]],
            }
            for r in self.predict(list(lines))
        ]

    def __init__(self, path: str | Path, precision: str = "float32"):
        super().__init__(path, precision)
        self._serve = self.signatures["serving_default"]
        self._tag_words = self.signatures["tag_words"]

    @override
    def read_data(self, path: str | Path, options: Options | None = None) -> TaggedSentences:
        return read_conll(path)

    @override
    @staticmethod
    def format_metrics(metrics: dict[str, Any], info: dict[str, Any]) -> str:
        return format_entity_metrics(metrics)

    @override
    def predict_inputs(self, inputs: Options) -> dict[str, Any]:
        assert isinstance(inputs, TaggerInputs)
        return {"model": str(self.path), "predictions": self.predict(list(inputs.texts))}

    @override
    def format_report(self, report: dict[str, Any]) -> str:
        return format_predictions(report["predictions"])

    @property
    def tags(self) -> list[str]:
        """The tags, in the order of the model's outputs (``O`` first)."""
        return list(self.info["tags"])

    def predict(self, texts: Sequence[str], batch_size: int = 32) -> list[dict[str, Any]]:
        """Each text's words (tag, probability, character offsets) and entities, in input order.

        Returns ``[{"text", "words": [{"word", "tag", "probability", "start", "end"}],
        "entities": [{"type", "text", "start", "end", "words"}], "untagged_words"}]``;
        ``end`` is exclusive, offsets count characters of the text; words
        past ``seq_length`` are tagged ``O`` and counted in ``untagged_words``.
        """
        texts = check_texts(texts)
        out: list[dict[str, Any]] = [{} for _ in texts]
        for idx, res in served_batches(self._serve, {"text": texts}, batch_size):  # little padding in each batch
            for k, i in enumerate(idx):
                text = texts[i]
                n = int(res["word_count"][k])
                words = [
                    {
                        "word": text[int(s) : int(e)],
                        "tag": t.decode(),
                        "probability": round(float(p), 4),
                        "start": int(s),
                        "end": int(e),
                    }
                    for t, p, s, e in zip(
                        res["tags"][k][:n], res["probability"][k][:n], res["start"][k][:n], res["end"][k][:n]
                    )
                ]
                out[i] = {
                    "text": text,
                    "words": words,
                    "entities": _entities(text, words),
                    "untagged_words": int(n - res["tagged"][k][:n].sum()),
                }
        return out

    def tag_words(self, sentences: Sequence[Sequence[str]], batch_size: int = 32) -> list[list[str]]:
        """The tags of sentences given as words (CoNLL-style)."""
        import tensorflow as tf

        out: list[list[str]] = [[] for _ in sentences]
        for idx in batches_by_length([[" ".join(s) for s in sentences]], batch_size):  # little padding
            chunk = [list(sentences[i]) for i in idx]
            width = max((len(s) for s in chunk), default=0)
            padded = np.array([s + [""] * (width - len(s)) for s in chunk], dtype=object).reshape(len(chunk), width)
            tags = self._tag_words(words=tf.constant(padded, tf.string))["tags"].numpy()
            for i, row, s in zip(idx, tags, chunk):
                out[i] = [t.decode() for t in row[: len(s)]]
        return out

    def evaluate(
        self, data: TaggedSentences, plot: str | Path | None = None, overwrite: bool = False, batch_size: int = 32
    ) -> dict[str, Any]:
        """Entity-level precision / recall / F1 (CoNLL rules, per type) and token accuracy on ``data``."""
        data = self._data(data)
        self._refuse_plot(plot)
        unknown = sorted({t for tags in data.tags for t in tags} - set(self.tags))
        if unknown:
            log.warning(
                "warning: %s has tags the model never learned (%s): those entities count as missed",
                data.source,
                ", ".join(unknown),
            )
        return entity_metrics(data.tags, self.tag_words(data.words, batch_size))


def _entities(text: str, words: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Entity spans of one text from its tagged words, with character offsets into ``text``."""
    spans = entity_spans([w["tag"] for w in words])
    return [
        {
            "type": kind,
            "text": text[words[a]["start"] : words[b - 1]["end"]],
            "start": words[a]["start"],
            "end": words[b - 1]["end"],
            "words": b - a,
        }
        for kind, a, b in spans
    ]


def format_predictions(rows: list[dict[str, Any]]) -> str:
    """One block per text: its entities (type, offsets, text), then the tagged words."""
    lines = []
    for row in rows:
        lines.append(row["text"])
        for e in row["entities"]:
            lines.append(f"  {e['type']:<8} {e['start']:>4}-{e['end']:<4} {e['text']}")
        if not row["entities"]:
            lines.append("  (no entities)")
        lines.append("  " + " ".join(f"{w['word']}/{w['tag']}" for w in row["words"]))
        if row["untagged_words"]:
            lines.append(f"  {row['untagged_words']} words past seq_length were not tagged")
    return "\n".join(lines)
