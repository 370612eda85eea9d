"""What the sentence-level tasks share: data files of texts (or pairs) with a label each, the head on a text
vector, and the exported model that serves raw strings.

Text classification and text regression both read a label per text (a
class, a set of classes, or a number) from the same files, pool the encoder
into one vector per text and serve raw strings (``text``, and ``text_pair``
for sentence pairs); they differ in what the label is and what the head's
outputs mean. A new sentence-level task builds on this module.

Data files, in four formats:

* ``sms``: the SMS Spam Collection format, ``label<TAB>text`` per line, no header;
* ``csv`` / ``tsv`` with a header row naming the text and label columns
  (`text_col` / `label_col`, default ``text`` and ``label``), and for
  sentence pairs the second text's column (`pair_col`: the pair is packed
  as ``[CLS] text [SEP] second [SEP]``, ``input_type_ids`` 0 then 1);
* ``jsonl``, JSON Lines, what dataset libraries export: one object a line,
  ``{"text": ..., "label": ...}``, ``"labels": [...]`` for label sets,
  ``"text_pair"`` for pairs (field names as the columns above).

Every row has as many fields as its header (see
[`bert_hub.finetune.delimited`][bert_hub.finetune.delimited]). Errors name the file and the line.

Examples:
    >>> import tempfile, pathlib
    >>> from bert_hub.finetune.tasks.sentences import SentenceData, read_rows
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "d.csv"
    >>> _ = path.write_text('label,text\\nham,"hello, how are you"\\n')
    >>> read_rows(path, SentenceData())
    ([(2, 'ham', 'hello, how are you')], None, 'csv')
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from typing_extensions import override

from bert_hub.core.errors import InputError
from bert_hub.core.inputs import check_texts, data_path, read_data_file
from bert_hub.core.interface import INPUT_KEYS
from bert_hub.finetune.delimited import checked_rows, split_tab_line
from bert_hub.finetune.exported import ExportedModel, ServedModel, served_batches, serving_function
from bert_hub.finetune.options import Options, option
from bert_hub.finetune.seeded_dropout import SeededDropout
from bert_hub.finetune.task import Examples
from bert_hub.runtime import batching

if TYPE_CHECKING:  # annotations only: the pipeline module loads TensorFlow
    from bert_hub.hub.pipeline import BertPipeline

FORMATS = ("sms", "csv", "tsv", "jsonl")
"""The data formats besides ``auto``."""
NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
"""A score as people write it (``4``, ``-0.5``, ``3e-2``; not ``1_5``, which Python's ``float`` reads as 15)."""
POOLINGS = ("pooled_output", "mean")
"""How a text becomes one vector for the head."""


@dataclasses.dataclass(frozen=True)
class SentenceData(Options):
    """How a file of texts with a label each is read (the data options of every sentence-level task)."""

    source: ClassVar[str] = "data options"

    fmt: str = option(
        "auto",
        "sms: label<TAB>text, no header; csv/tsv: with a header; jsonl: JSON Lines, "
        '{"text": ..., "label": ...} a line (default: auto, by suffix and content)',
        choices=("auto", *FORMATS),
        flag="--format",
    )
    text_col: str = option("text", "text column (CSV/TSV) or field (JSON Lines)")
    pair_col: str | None = option(
        None, "second text column of CSV/TSV data: sentence pairs (JSON Lines: a text_pair field is found by itself)"
    )
    label_col: str = option("label", "label column or field (JSON Lines: label, or labels for a list)")


@dataclasses.dataclass(frozen=True)
class SentenceSettings(Options):
    """The settings of every sentence-level task: how a text becomes one vector."""

    source: ClassVar[str] = "task settings"

    pooling: str = option(
        "pooled_output",
        "text vector for the head: pooled_output or mean (of sequence_output over the real tokens)",
        choices=POOLINGS,
    )


@dataclasses.dataclass(frozen=True)
class TextInputs(Options):
    """What a sentence-level model predicts from: texts, or texts read two by two as pairs."""

    source: ClassVar[str] = "predict inputs"

    texts: tuple[str, ...] = option((), "the texts", positional=True, metavar="TEXT")
    pair: bool = option(False, "sentence-pair model: read TEXTs two by two")

    def texts_and_pairs(self) -> tuple[list[str], list[str] | None]:
        """The texts, and with `pair` the second texts (the texts read two by two)."""
        texts = list(self.texts)
        if not self.pair:
            return texts, None
        if len(texts) % 2:
            raise InputError(
                f"`pair` reads the texts two by two (first, second, ...); got {len(texts)} "
                f"text{'s' if len(texts) != 1 else ''}"
            )
        return texts[0::2], texts[1::2]


def read_rows(
    path: str | Path, options: SentenceData, *, label_sep: str = ","
) -> tuple[list[tuple[int, str, str]], list[str] | None, str]:
    """The ``(line, label, text)`` rows of a data file (see the module docstring), the second texts of pairs
    (`pair_col`; in JSON Lines also a ``text_pair`` field) or None, and the format read (``fmt``, ``auto``
    decided). The label is kept as written (stripped; a JSON list of labels is joined with ``label_sep``, a
    whole number written as ``1.0`` is ``1``)."""
    path = data_path(path)
    content = read_data_file(path)
    if not content.strip():
        raise InputError(f"data file {path} is empty")
    first = content.split("\n", 1)[0].rstrip("\r")
    fmt, text_col, label_col, pair_col = options.fmt, options.text_col, options.label_col, options.pair_col
    if fmt == "auto":
        if path.suffix.lower() in (".jsonl", ".ndjson") or content.lstrip().startswith("{"):
            fmt = "jsonl"
        elif path.suffix.lower() == ".csv":
            fmt = "csv"
        elif _names_columns(split_tab_line(first), {text_col, label_col}):
            fmt = "tsv"  # a header naming a column (in any case: a wrong one is an error naming the columns)
        else:
            fmt = "sms"
    if fmt not in FORMATS:
        raise InputError(f"unknown data format {fmt!r} (`fmt`); use auto, {', '.join(FORMATS)}")
    if fmt == "jsonl":
        return (*_json_lines(path, content, options, label_sep), fmt)
    if pair_col is not None and fmt == "sms":
        raise InputError(
            f"{path}: sentence pairs (`pair_col` {pair_col}) need a CSV/TSV file with a header naming the columns"
        )

    def check_header(header: list[str]) -> None:
        for col, name in ((text_col, "text_col"), (label_col, "label_col"), (pair_col, "pair_col")):
            if col is not None and col not in header:
                raise InputError(
                    f"{path}: line 1 (header) has no column {col!r} (columns: "
                    f"{', '.join(header)}); choose it with `{name}`"
                )
            if col is not None and header.count(col) > 1:
                raise InputError(
                    f"{path}: line 1 (header) names the column {col!r} {header.count(col)} times; rename the others"
                )

    header, table = checked_rows(path, content, fmt, header=fmt != "sms", check_header=check_header)
    if header is None:
        rows = [(number, fields[0].strip(), fields[1]) for number, fields in table]
        seconds: list[str] = []
    else:
        ti, li = header.index(text_col), header.index(label_col)
        pi = header.index(pair_col) if pair_col is not None else ti
        rows = [(number, fields[li].strip(), fields[ti]) for number, fields in table]
        seconds = [fields[pi] for _, fields in table]
    if not rows:
        raise InputError(f"data file {path} has no data rows")
    return rows, seconds if pair_col is not None else None, fmt


def head_labels(head: str) -> list[str] | None:
    """The label fields of a file's first lines when they read as ``label<TAB>text`` (or a pair), or as JSON
    Lines with a text and a label; else ``None``. A guess for hints (the first line may be a header).

    Examples:
        >>> head_labels("ham\\tsee you at 6\\nspam\\tWIN a prize now\\n")
        ['ham', 'spam']
        >>> head_labels('{"data": [{"paragraphs": []}]}') is None
        True
    """
    lines = [line for line in head.split("\n")[:20] if line.strip()]
    if len(lines) > 2:
        lines = lines[:-1]  # the head may end in the middle of a line
    if len(lines) < 2:
        return None
    if all(line.lstrip().startswith("{") for line in lines):
        labels = []
        for line in lines:
            try:
                row = json.loads(line)
            except ValueError:
                return None
            if not isinstance(row, dict) or "text" not in row or not {"label", "labels"} & set(row):
                return None
            labels.append(str(row.get("label", row.get("labels"))))
        return labels
    rows = [line.rstrip("\r").split("\t") for line in lines]
    if not all(len(r) in (2, 3) and r[-1].strip() for r in rows) or not any(r[0].strip() for r in rows):
        return None  # an empty label is a label set's none
    return [r[0].strip() for r in rows]


def scores_like(labels: list[str]) -> bool:
    """Whether the labels of ``head_labels`` are scores: numbers, some with a fraction (``0``/``1`` are classes).
    The first may be a header's."""
    scores = labels[1:]
    return bool(scores) and all(NUMBER.fullmatch(s) for s in scores) and any("." in s for s in scores)


def _names_columns(fields: list[str], columns: set[str]) -> bool:
    """Whether a first line's ``fields`` name one of ``columns`` (spaces around and case aside)."""
    return bool({f.strip().lower() for f in fields} & {c.lower() for c in columns})


class _DuplicateKey(ValueError):
    """A JSON object that names a field twice (``json`` would keep the last in silence)."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    for k in keys:
        if keys.count(k) > 1:
            raise _DuplicateKey(k)
    return dict(pairs)


def _json_lines(
    path: Path, content: str, options: SentenceData, label_sep: str
) -> tuple[list[tuple[int, str, str]], list[str] | None]:
    """JSON Lines rows: one object per line, ``{"text": ..., "label": ...}`` (``"labels": [...]`` for
    label sets, ``"text_pair"`` for pairs); field names as `text_col` / `label_col` / `pair_col`."""
    text_col, label_col, pair_col = options.text_col, options.label_col, options.pair_col
    rows: list[tuple[int, str, str]] = []
    seconds: list[str] = []
    for number, line in enumerate(content.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line, object_pairs_hook=_unique_keys)
        except _DuplicateKey as e:
            raise InputError(f"{path}: line {number} gives the field {e.args[0]!r} twice; keep one") from None
        except json.JSONDecodeError as e:
            raise InputError(
                f"{path}: line {number} is not valid JSON ({e.msg}); JSON Lines has one object a line"
            ) from None
        if not isinstance(item, dict):
            raise InputError(f'{path}: line {number} is not a JSON object; write {{"text": ..., "label": ...}}')
        if pair_col is None and "text_pair" in item:
            if rows:
                raise InputError(
                    f'{path}: line {number} has a "text_pair" field and the lines before it have '
                    "none: give every line its second text, or none"
                )
            pair_col = "text_pair"
        label_field = label_col if label_col in item or label_col != "label" else "labels"
        for field, name in ((text_col, "text_col"), (label_field, "label_col"), (pair_col, "pair_col")):
            if field is not None and field not in item:
                raise InputError(
                    f"{path}: line {number} has no field {field!r} (fields: {', '.join(item)}); choose it with `{name}`"
                )
        label = item[label_field]
        if isinstance(label, list):
            if any(not isinstance(x, str) or label_sep in x for x in label):
                raise InputError(
                    f"{path}: line {number}: field {label_field!r} must be a list of labels (strings "
                    f"without {label_sep!r})"
                )
            label = label_sep.join(label)
        elif isinstance(label, bool) or not isinstance(label, (str, int, float)):
            raise InputError(
                f"{path}: line {number}: field {label_field!r} must be a label (a string), a list of labels or a number"
            )
        elif isinstance(label, float):
            if not math.isfinite(label):
                raise InputError(f"{path}: line {number}: field {label_field!r} is {label}, not a finite number")
            label = int(label) if label.is_integer() else label  # 1.0 is the label 1, as pandas writes it
        for field in (text_col, pair_col):
            if field is not None and not isinstance(item[field], str):
                raise InputError(f"{path}: line {number}: field {field!r} must be a string")
        rows.append((number, str(label).strip(), item[text_col]))
        if pair_col is not None:
            seconds.append(item[pair_col])
    if not rows:
        raise InputError(f"data file {path} has no data rows")
    return rows, seconds if pair_col is not None else None


def overlapping_texts(*splits: Any) -> int:
    """How many distinct texts (or pairs) occur in more than one split."""
    seen: dict[Any, int] = {}
    for k, split in enumerate(splits):
        for t in set(split.texts if split.pairs is None else zip(split.texts, split.pairs)):
            seen[t] = seen.get(t, 0) | (1 << k)
    return sum(1 for mask in seen.values() if mask & (mask - 1))


def check_pairs_match(splits: Sequence[Any]) -> None:
    """Refuses splits of which some are sentence pairs and some are not."""
    if len({s.pairs is None for s in splits if len(s)}) > 1:
        raise InputError(
            "some data files are sentence pairs and some are not: give every file the same columns (`pair_col`)"
        )


class TextExamples(Examples):
    """Texts (or pairs) with their labels, tokenized once, ready to be batched.

    ``data`` has ``texts``, ``pairs`` (or None) and ``labels``; with
    ``label_matrix()`` and ``multi_label`` set, the labels are its matrix.
    """

    def __init__(self, bert: BertPipeline, data: Any, seq_length: int):
        self.preprocessor = bert.preprocessor
        self.tokenized = batching.tokenize(bert.preprocessor, data.texts, seq_length, pairs=data.pairs)
        self.lengths = self.tokenized.lengths
        multi_label = getattr(data, "multi_label", False)
        self.labels = data.label_matrix() if multi_label else np.asarray(data.labels, np.float32)

    @override
    def to_batch(self, buckets: Any) -> Any:
        import tensorflow as tf

        labels = tf.constant(self.labels)
        rank = len(self.labels.shape)

        def batch(idx: Any) -> Any:
            x = batching.pack_to_bucket(
                self.preprocessor, [tf.gather(s, idx) for s in self.tokenized.segments], buckets
            )
            y = tf.gather(labels, idx)
            return x, (tf.reshape(y, [-1, 1]) if rank == 1 else y)

        return batch


def build_sentence_model(
    bert: BertPipeline, dropout: float, pooling: str = "pooled_output", outputs: int = 1, seed: int = 0
) -> Any:
    """text vector -> dropout -> dense(``outputs``), on the encoder's three inputs (any length).

    The text vector is ``pooled_output`` (the tutorial's) or the mean of
    ``sequence_output`` over the real tokens (what sentence encoders such as
    all-MiniLM-L6-v2 are trained for). The dropout is drawn from
    ``(seed, training step)`` (`SeededDropout`).
    """
    import tensorflow as tf
    import tf_keras

    inputs = {k: tf_keras.layers.Input(shape=(None,), dtype=tf.int32, name=k) for k in INPUT_KEYS}
    encoded = bert.encoder_layer(inputs)
    if pooling == "pooled_output":
        vector = encoded["pooled_output"]
    else:
        mask = tf_keras.layers.Lambda(lambda m: tf.expand_dims(tf.cast(m, tf.float32), -1), name="real_tokens")(
            inputs["input_mask"]
        )
        summed = tf_keras.layers.Dot(axes=1, name="sum_over_tokens")([mask, encoded["sequence_output"]])
        count = tf_keras.layers.Lambda(lambda m: tf.reduce_sum(m, axis=1), name="token_count")(mask)
        vector = tf_keras.layers.Lambda(lambda a: a[0][:, 0] / a[1], name="mean_pooling")([summed, count])
    scores = tf_keras.layers.Dense(outputs, name="classifier")(SeededDropout(dropout, seed, name="dropout")(vector))
    return tf_keras.Model(inputs, scores, name="bert_classifier")


def serving_module(model: Any, bert: BertPipeline, seq_length: int, head: Any, **constants: Any) -> Any:
    """A ``tf.Module`` that serves raw strings with ``model``: ``serve(text)`` and ``serve_pairs(text,
    text_pair)`` tokenize with ``bert``'s preprocess model, pack each batch to its length bucket (at most
    ``seq_length``) and return ``head(module, inputs)``; ``constants`` become tensors of the module."""
    import tensorflow as tf

    def pieces(module: Any, text: Any) -> Any:
        return module.preprocessor.tokenize(text).merge_dims(1, -1)

    def run(module: Any, segments: list[Any]) -> Any:
        return head(module, batching.pack_to_bucket(module.preprocessor, segments, module.buckets))

    class Serving(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            ServedModel(model, bert).attach(self, "model")
            self.preprocessor = bert.preprocessor
            self.buckets = tf.constant(batching.default_buckets(seq_length), tf.int32)
            for name, value in constants.items():
                setattr(self, name, tf.constant(value))

        @serving_function(tf.TensorSpec([None], tf.string, name="text"))
        def serve(self, text: Any) -> Any:
            return run(self, [pieces(self, text)])

        @serving_function(
            tf.TensorSpec([None], tf.string, name="text"), tf.TensorSpec([None], tf.string, name="text_pair")
        )
        def serve_pairs(self, text: Any, text_pair: Any) -> Any:
            return run(self, [pieces(self, text), pieces(self, text_pair)])

    return Serving()


class ServedTexts(ExportedModel):
    """An exported model that takes raw strings (or pairs), loaded with plain TensorFlow: the checks of
    texts and pairs and the batching that the sentence-level tasks share."""

    verb = "scores"
    """What the model does to a text, in messages (``classifies``)."""
    PredictInputs: ClassVar[type[Options]] = TextInputs

    def __init__(self, path: str | Path, precision: str = "float32"):
        super().__init__(path, precision)
        self._serve = self.signatures["serving_default"]

    def _checked_pairs(self, data: Any) -> Any:
        """``data`` as read, refused when it has no second texts and the model takes pairs."""
        if self.pairs and data.pairs is None:
            raise InputError(
                f"{self.path} {self.verb} sentence pairs: name the second text's column with "
                '`pair_col` (in JSON Lines, a "text_pair" field is found by itself)'
            )
        return data

    @property
    def pairs(self) -> bool:
        """Whether the model takes sentence pairs (``text`` and ``text_pair``)."""
        return bool(self.info.get("pairs", False))

    def _checked(self, texts: Sequence[str], pairs: Sequence[str] | None) -> tuple[list[str], list[str] | None]:
        """The texts (and second texts) checked against each other and against the model's kind."""
        texts = check_texts(texts)
        if self.pairs and pairs is None:
            raise InputError(f"{self.path} {self.verb} sentence pairs: give each text's second text (`pair`)")
        if pairs is not None and not self.pairs:
            raise InputError(f"{self.path} {self.verb} single texts, not pairs")
        if pairs is None:
            return texts, None
        checked = check_texts(pairs, "pairs")
        if len(checked) != len(texts):
            raise InputError(f"{len(texts)} texts but {len(checked)} second texts: give one pair per text")
        return texts, checked

    def _outputs(self, texts: Sequence[str], pairs: Sequence[str] | None, batch_size: int) -> dict[str, Any]:
        """Every serving output for all the texts, in input order (``[n, ...]`` each), served in batches of
        similar length ([`served_batches`][bert_hub.finetune.exported.served_batches]: little padding)."""
        out: dict[str, Any] = {}
        for idx, res in served_batches(self._serve, {"text": texts, "text_pair": pairs}, batch_size):
            for key, value in res.items():
                if key not in out:
                    out[key] = np.empty((len(texts),) + value.shape[1:], value.dtype)
                out[key][idx] = value
        return out
