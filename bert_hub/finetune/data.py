"""Labelled text data for classification: reading, checking, splitting.

Three formats:

* the SMS Spam Collection format: ``label<TAB>text`` per line, no header
  (labels ``ham`` / ``spam``);
* CSV or TSV with a header row, naming the text and label columns
  (``text_col`` / ``label_col``, default ``text`` and ``label``), and for
  sentence pairs the second text's column (``pair_col``: the pair is packed
  as ``[CLS] text [SEP] second [SEP]``, ``input_type_ids`` 0 then 1);
* JSON Lines, what dataset libraries export: one object a line,
  ``{"text": ..., "label": ...}``, ``"labels": [...]`` for label sets,
  ``"text_pair"`` for pairs (field names as the columns above).

Any label names work, in both formats, kept as the file spells them. Two
labels are a binary task: ``positive`` names the positive class (matched
exactly, else ignoring case); without it, the label ``spam`` (any case) is
positive when present; otherwise the reader refuses with a line that lists
the labels found. More than two labels (or ``multi_class=True``) are a
multi-class task: ``label_names`` are the labels found, sorted, and each
label is an index into them. Errors name the file and the line. [`stratified_split`][bert_hub.finetune.data.stratified_split] makes seeded train / validation /
test splits that keep the class balance, and reports texts that occur in more
than one split.

Examples:
    >>> from bert_hub.finetune.data import LabelledTexts
    >>> d = LabelledTexts(["win a prize", "see you"], [1, 0], ("ham", "spam"))
    >>> d.counts()
    {'ham': 1, 'spam': 1}
    >>> LabelledTexts(["a", "b", "c"], [2, 0, 1], ("files", "math", "network"), multi_class=True).counts()
    {'files': 1, 'math': 1, 'network': 1}
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from bert_hub.core.errors import InputError
from bert_hub.core.inputs import readable_file
from bert_hub.finetune.delimited import checked_rows


FORMATS = ("sms", "csv", "tsv", "jsonl")
"""``--format`` choices besides ``auto``."""


@dataclasses.dataclass
class LabelledTexts:
    """Texts (or text pairs: ``pairs`` holds the second texts) with labels, indices into ``label_names``.

    Binary (``multi_class`` false): two labels, ``label_names[1]`` is the
    positive one. Multi-class: any number of labels, one per text.
    Multi-label: each text has a list of label indices (none, one or several).
    """

    texts: list[str]
    labels: list[int]
    label_names: tuple[str, ...]
    source: str = "<memory>"
    pairs: list[str] | None = None
    multi_class: bool = False
    multi_label: bool = False

    def __len__(self) -> int:
        return len(self.texts)

    def counts(self) -> dict[str, int]:
        """Texts per label (multi-label: texts that have the label)."""
        flat = [i for ls in self.labels for i in ls] if self.multi_label else self.labels
        counts = np.bincount(np.asarray(flat, np.int64), minlength=len(self.label_names))
        return {name: int(n) for name, n in zip(self.label_names, counts)}

    def label_matrix(self) -> np.ndarray:
        """Multi-label: ``float32 [texts, labels]``, 1 where a text has a label."""
        matrix = np.zeros((len(self.labels), len(self.label_names)), np.float32)
        for row, ls in enumerate(self.labels):
            matrix[row, list(ls)] = 1
        return matrix

    def subset(self, index: Sequence[int]) -> "LabelledTexts":
        return LabelledTexts([self.texts[i] for i in index], [self.labels[i] for i in index],
                             self.label_names, self.source,
                             None if self.pairs is None else [self.pairs[i] for i in index], self.multi_class,
                             self.multi_label)

    def relabelled(self, label_names: Sequence[str]) -> "LabelledTexts":
        """The same texts with labels as indices into ``label_names`` (a model's labels); a label
        that is not among them is an error naming it."""
        used = {i for ls in self.labels for i in ls} if self.multi_label else set(self.labels)
        unknown = sorted(set(self.label_names[i] for i in used) - set(label_names))
        if unknown:
            raise InputError(f"{self.source}: the label {unknown[0]!r} is not one of the model's labels "
                             f"({', '.join(label_names)})")
        index = {name: i for i, name in enumerate(label_names)}
        if self.multi_label:
            labels: list = [[index[self.label_names[i]] for i in ls] for ls in self.labels]
        else:
            labels = [index[self.label_names[i]] for i in self.labels]
        return dataclasses.replace(self, labels=labels, label_names=tuple(label_names))

    def describe(self) -> str:
        c = self.counts()
        n = max(len(self), 1)
        return ", ".join(f"{k} {v} ({100 * v / n:.1f}%)" for k, v in c.items())


def read_data_file(path: Path) -> str:
    """The text of a data file; a missing file, bad UTF-8 or a NUL byte is one line naming the file and line.

    A UTF-8 byte-order mark is skipped.
    """
    path = readable_file(path, "data file", "the data file itself")
    raw = path.read_bytes()
    if b"\0" in raw:
        line = raw[: raw.index(b"\0")].count(b"\n") + 1
        raise InputError(f"{path}: line {line} holds a NUL byte (is the file UTF-16?); re-encode it as UTF-8")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise InputError(f"{path}: line {line} is not valid UTF-8; re-encode the file as UTF-8") from None


def read_rows(path: Path, *, fmt: str = "auto", text_col: str = "text", label_col: str = "label",
              pair_col: str | None = None, label_sep: str = ",") -> tuple[list[tuple[int, str, str]], list[str] | None]:
    """The ``(line, label, text)`` rows of a data file (see the module docstring), and the second
    texts of pairs (``pair_col``; in JSON Lines also a ``text_pair`` field) or None; the label is kept as
    written (stripped; a JSON list of labels is joined with ``label_sep``)."""
    content = read_data_file(path)
    if not content.strip():
        raise InputError(f"data file {path} is empty")
    first = content.split("\n", 1)[0].rstrip("\r")
    if fmt == "auto":
        if path.suffix.lower() in (".jsonl", ".ndjson") or content.lstrip().startswith("{"):
            fmt = "jsonl"
        elif path.suffix.lower() == ".csv":
            fmt = "csv"
        elif set(first.split("\t")) >= {text_col, label_col}:
            fmt = "tsv"
        else:
            fmt = "sms"
    if fmt not in FORMATS:
        raise InputError(f"unknown data format {fmt!r}; use auto, {', '.join(FORMATS)}")
    if fmt == "jsonl":
        return _json_lines(path, content, text_col, label_col, pair_col, label_sep)
    if pair_col is not None and fmt == "sms":
        raise InputError(f"{path}: sentence pairs (--pair-col {pair_col}) need a CSV/TSV file with a header "
                         "naming the columns")

    def check_header(header: list[str]) -> None:
        for col, flag in ((text_col, "--text-col"), (label_col, "--label-col"), (pair_col, "--pair-col")):
            if col is not None and col not in header:
                raise InputError(f"{path}: line 1 (header) has no column {col!r} (columns: "
                                 f"{', '.join(header)}); choose it with {flag}")
            if col is not None and header.count(col) > 1:
                raise InputError(f"{path}: line 1 (header) names the column {col!r} {header.count(col)} times; "
                                 "rename the others")

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
    return rows, seconds if pair_col is not None else None


class _DuplicateKey(ValueError):
    """A JSON object that names a field twice (``json`` would keep the last in silence)."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    for k in keys:
        if keys.count(k) > 1:
            raise _DuplicateKey(k)
    return dict(pairs)


def _json_lines(path: Path, content: str, text_col: str, label_col: str, pair_col: str | None, label_sep: str
                ) -> tuple[list[tuple[int, str, str]], list[str] | None]:
    """JSON Lines rows: one object per line, ``{"text": ..., "label": ...}`` (``"labels": [...]`` for
    label sets, ``"text_pair"`` for pairs); field names as ``text_col`` / ``label_col`` / ``pair_col``."""
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
            raise InputError(f"{path}: line {number} is not valid JSON ({e.msg}); JSON Lines has one object a "
                             "line") from None
        if not isinstance(item, dict):
            raise InputError(f"{path}: line {number} is not a JSON object; write {{\"text\": ..., \"label\": ...}}")
        if pair_col is None and "text_pair" in item and not rows:
            pair_col = "text_pair"
        label_field = label_col if label_col in item or label_col != "label" else "labels"
        for field, flag in ((text_col, "--text-col"), (label_field, "--label-col"), (pair_col, "--pair-col")):
            if field is not None and field not in item:
                raise InputError(f"{path}: line {number} has no field {field!r} (fields: {', '.join(item)}); "
                                 f"choose it with {flag}")
        label = item[label_field]
        if isinstance(label, list):
            if any(not isinstance(x, str) or label_sep in x for x in label):
                raise InputError(f"{path}: line {number}: field {label_field!r} must be a list of labels (strings "
                                 f"without {label_sep!r})")
            label = label_sep.join(label)
        elif isinstance(label, bool) or not isinstance(label, (str, int, float)):
            raise InputError(f"{path}: line {number}: field {label_field!r} must be a label (a string), a list of "
                             "labels or a number")
        for field in (text_col, pair_col):
            if field is not None and not isinstance(item[field], str):
                raise InputError(f"{path}: line {number}: field {field!r} must be a string")
        rows.append((number, str(label).strip(), item[text_col]))
        if pair_col is not None:
            seconds.append(item[pair_col])
    if not rows:
        raise InputError(f"data file {path} has no data rows")
    return rows, seconds if pair_col is not None else None


def read_labelled(path: str | Path, *, fmt: str = "auto", text_col: str = "text", label_col: str = "label",
                  positive: str | None = None, label_names: Sequence[str] | None = None,
                  pair_col: str | None = None, multi_class: bool = False, multi_label: bool = False,
                  label_sep: str = ",") -> LabelledTexts:
    """Reads a labelled data file (see the module docstring).

    Args:
        fmt: ``auto`` (``.jsonl`` or a first line that is a JSON object ->
            jsonl; ``.csv`` -> csv; a header naming ``text_col`` and
            ``label_col`` -> tsv; else sms), ``sms``, ``csv``, ``tsv`` or ``jsonl``.
        positive: the positive label; must be one of the two labels found
            (default: ``spam`` when present, see `choose_positive`).
        label_names: the allowed labels; a row with another label is an
            error. Default: any labels.
        pair_col: CSV/TSV only: the column of the second text of sentence
            pairs (e.g. a question and its answer, two sentences).
        multi_class: read two labels as a multi-class task too (softmax);
            more than two always are.
        multi_label: each label field holds none, one or several labels
            separated by ``label_sep`` (``files,network``; empty: none).
    """
    path = Path(path)
    rows, seconds = read_rows(path, fmt=fmt, text_col=text_col, label_col=label_col, pair_col=pair_col,
                              label_sep=label_sep)
    if label_names is not None:
        allowed = list(label_names)
        for number, label, _ in rows:
            if label not in allowed:
                raise InputError(f"{path}: line {number} has the unknown label {label!r}; "
                                 f"expected one of {', '.join(allowed)}")
    if multi_label:
        if positive is not None or multi_class:
            raise InputError(f"{path}: --multi-label data has no positive class and is not multi-class: leave out "
                             "--positive and --multi-class")
        if not label_sep:
            raise InputError("--label-sep is empty: give the character that separates a text's labels")
        sets = [list(dict.fromkeys(p.strip() for p in label.split(label_sep) if p.strip())) for _, label, _ in rows]
        names = sorted({name for s in sets for name in s})
        if not names:
            raise InputError(f"{path}: no row has a label; a multi-label classifier needs labels")
        index = {name: i for i, name in enumerate(names)}
        return LabelledTexts([t for _, _, t in rows], [[index[n] for n in s] for s in sets], tuple(names),
                             str(path), seconds, multi_label=True)
    found = sorted({label for _, label, _ in rows})
    if len(found) > 2 or multi_class:
        if positive is not None:
            raise InputError(f"{path}: --positive names the positive class of two labels; these "
                             f"{len(found)} labels ({', '.join(found)}) are a multi-class task: leave it out")
        index = {name: i for i, name in enumerate(found)}
        return LabelledTexts([t for _, _, t in rows], [index[label] for _, label, _ in rows], tuple(found),
                             str(path), seconds, multi_class=True)
    if len(found) == 1:
        raise InputError(f"{path}: every row has the label {found[0]!r}; a classifier needs two classes")
    positive = choose_positive(found, positive, str(path))
    negative = found[0] if found[1] == positive else found[1]
    return LabelledTexts([t for _, _, t in rows], [int(label == positive) for _, label, _ in rows],
                         (negative, positive), str(path), seconds)


def choose_positive(found: Sequence[str], positive: str | None, source: str) -> str:
    """The positive label among the two ``found``: ``positive`` (exact, else ignoring case),
    else ``spam`` (any case) when present; otherwise a one-line error listing the labels."""
    if positive is not None:
        matches = [f for f in found if f == positive] or [f for f in found if f.lower() == positive.lower()]
        if len(matches) != 1:
            raise InputError(f"positive label {positive!r} does not occur in {source} "
                             f"(labels: {', '.join(found)}); choose one of them with --positive")
        return matches[0]
    spam = [f for f in found if f.lower() == "spam"]
    if len(spam) == 1:
        return spam[0]
    raise InputError(f"{source}: which label is the positive class? The labels are {', '.join(map(repr, found))}; "
                     "name one with --positive")


def stratified_split(data: LabelledTexts, *, validation: float = 0.1, test: float = 0.1, seed: int = 0
                     ) -> tuple[LabelledTexts, LabelledTexts, LabelledTexts]:
    """Seeded train / validation / test splits with the class balance kept in each."""
    if not (0 <= validation < 1 and 0 <= test < 1 and validation + test < 1):
        raise InputError("validation and test fractions must be in [0, 1) and sum to less than 1")
    rng = np.random.default_rng(seed)
    parts: list[list[int]] = [[], [], []]
    if data.multi_label:  # label sets: a seeded shuffle, not stratified
        idx = rng.permutation(len(data))
        n_val, n_test = int(round(len(idx) * validation)), int(round(len(idx) * test))
        return (data.subset(idx[n_val + n_test:].tolist()), data.subset(idx[:n_val].tolist()),
                data.subset(idx[n_val:n_val + n_test].tolist()))
    labels = np.asarray(data.labels)
    for cls in range(len(data.label_names)):
        idx = np.flatnonzero(labels == cls)
        rng.shuffle(idx)
        n_val, n_test = int(round(len(idx) * validation)), int(round(len(idx) * test))
        parts[1] += idx[:n_val].tolist()
        parts[2] += idx[n_val:n_val + n_test].tolist()
        parts[0] += idx[n_val + n_test:].tolist()
    for p in parts:
        rng.shuffle(p)
    return data.subset(parts[0]), data.subset(parts[1]), data.subset(parts[2])


def overlapping_texts(*splits: LabelledTexts) -> int:
    """How many distinct texts occur in more than one split."""
    seen: dict[Any, int] = {}
    for k, split in enumerate(splits):
        for t in set(split.texts if split.pairs is None else zip(split.texts, split.pairs)):
            seen[t] = seen.get(t, 0) | (1 << k)
    return sum(1 for mask in seen.values() if mask & (mask - 1))
