"""Labelled texts, the data of text classification: reading (two labels, more, or a set per text) and
stratified splits.

The files are those of every sentence-level task (see
[`bert_hub.finetune.tasks.sentences`][bert_hub.finetune.tasks.sentences]: ``label<TAB>text``, CSV, TSV,
JSON Lines). Any label names work, kept as the file spells them. Two
labels are a binary task: `positive` names the positive class (matched
exactly, else ignoring case); without it, the label ``spam`` (any case) is
positive when present; otherwise the reader refuses with a line that lists
the labels found. More than two labels (or `multi_class`) are a
multi-class task: ``label_names`` are the labels found, sorted, and each
label is an index into them; with `multi_label`, each text has a set of
labels. [`stratified_split`][bert_hub.finetune.tasks.labelled_texts.stratified_split] makes seeded
train / validation / test splits that keep the class balance.

Examples:
    >>> from bert_hub.finetune.tasks.labelled_texts import LabelledTexts
    >>> d = LabelledTexts(["win a prize", "see you"], [1, 0], ("ham", "spam"))
    >>> d.counts()
    {'ham': 1, 'spam': 1}
    >>> LabelledTexts(["a", "b", "c"], [2, 0, 1], ("files", "math", "network"), multi_class=True).counts()
    {'files': 1, 'math': 1, 'network': 1}
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bert_hub.core.errors import InputError
from bert_hub.core.inputs import data_path
from bert_hub.finetune.options import option
from bert_hub.finetune.tasks.sentences import SentenceData, read_rows


@dataclasses.dataclass(frozen=True)
class LabelledData(SentenceData):
    """How a file of labelled texts is read: the sentence-level data options and what the labels are."""

    positive: str | None = option(None, "two labels: the positive one (default: spam when present, else required)")
    multi_class: bool = option(
        False,
        "a softmax over the labels even when there are two (more than two labels always are multi-class)",
        training_only=True,
    )
    multi_label: bool = option(
        False,
        "each label field holds none, one or several labels (files,network): a sigmoid and a threshold per label",
        training_only=True,
    )
    label_sep: str = option(",", "with multi_label: what separates a text's labels (default ,)")


@dataclasses.dataclass
class LabelledTexts:
    """Texts (or text pairs: ``pairs`` holds the second texts) with labels, indices into ``label_names``.

    Binary (``multi_class`` false): two labels, ``label_names[1]`` is the
    positive one. Multi-class: any number of labels, one per text.
    Multi-label: each text has a list of label indices (none, one or several).
    """

    texts: list[str]
    labels: list[Any]
    """Each text's label index (``int``), or with ``multi_label`` its list of them."""
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

    def subset(self, index: Sequence[int]) -> LabelledTexts:
        """The examples at ``index``, in that order."""
        return LabelledTexts(
            [self.texts[i] for i in index],
            [self.labels[i] for i in index],
            self.label_names,
            self.source,
            None if self.pairs is None else [self.pairs[i] for i in index],
            self.multi_class,
            self.multi_label,
        )

    def relabelled(self, label_names: Sequence[str]) -> LabelledTexts:
        """The same texts with labels as indices into ``label_names`` (a model's labels); a label
        that is not among them is an error naming it."""
        used = {i for ls in self.labels for i in ls} if self.multi_label else set(self.labels)
        unknown = sorted({self.label_names[i] for i in used} - set(label_names))
        if unknown:
            raise InputError(
                f"{self.source}: the label {unknown[0]!r} is not one of the model's labels ({', '.join(label_names)})"
            )
        index = {name: i for i, name in enumerate(label_names)}
        if self.multi_label:
            labels: list = [[index[self.label_names[i]] for i in ls] for ls in self.labels]
        else:
            labels = [index[self.label_names[i]] for i in self.labels]
        return dataclasses.replace(self, labels=labels, label_names=tuple(label_names))

    def describe(self) -> str:
        """The labels and their shares, in one phrase."""
        c = self.counts()
        n = max(len(self), 1)
        return ", ".join(f"{k} {v} ({100 * v / n:.1f}%)" for k, v in c.items())


def read_labelled(
    path: str | Path,
    *,
    fmt: str = "auto",
    text_col: str = "text",
    label_col: str = "label",
    positive: str | None = None,
    label_names: Sequence[str] | None = None,
    pair_col: str | None = None,
    multi_class: bool = False,
    multi_label: bool = False,
    label_sep: str = ",",
) -> LabelledTexts:
    """Reads a labelled data file (see the module docstring); the arguments are those of
    [`LabelledData`][bert_hub.finetune.tasks.labelled_texts.LabelledData], and ``label_names``.

    Args:
        fmt: ``auto`` (``.jsonl`` or a first line that is a JSON object ->
            jsonl; ``.csv`` -> csv; a header naming ``text_col`` and
            ``label_col`` -> tsv; else sms), ``sms``, ``csv``, ``tsv`` or ``jsonl``.
        positive: the positive label; must be one of the two labels found
            (default: ``spam`` when present, see
            [`choose_positive`][bert_hub.finetune.tasks.labelled_texts.choose_positive]).
        label_names: the allowed labels; a row with another label is an
            error. Default: any labels.
        pair_col: CSV/TSV only: the column of the second text of sentence
            pairs (e.g. a question and its answer, two sentences).
        multi_class: read two labels as a multi-class task too (softmax);
            more than two always are.
        multi_label: each label field holds none, one or several labels
            separated by ``label_sep`` (``files,network``; empty: none).
    """
    options = LabelledData(
        fmt=fmt,
        text_col=text_col,
        pair_col=pair_col,
        label_col=label_col,
        positive=positive,
        multi_class=multi_class,
        multi_label=multi_label,
        label_sep=label_sep,
    )
    if label_names is not None and (isinstance(label_names, str) or not all(isinstance(n, str) for n in label_names)):
        raise InputError(f"`label_names` must be a list of labels (strings), not {label_names!r}")
    path = data_path(path)
    rows, seconds, read_as = read_rows(path, options, label_sep=label_sep)
    if not multi_label:
        empty = next((number for number, label, _ in rows if not label), None)
        if empty is not None:
            raise InputError(
                f"{path}: line {empty} has no label; give every text its label (with `multi_label`, "
                "an empty label field is a text with none)"
            )
    _check_first_line(path, rows, read_as, label_sep if multi_label else None)
    if label_names is not None:
        allowed = list(label_names)
        for number, label, _ in rows:
            if label not in allowed:
                raise InputError(
                    f"{path}: line {number} has the unknown label {label!r}; expected one of {', '.join(allowed)}"
                )
    if multi_label:
        if positive is not None or multi_class:
            raise InputError(
                f"{path}: `multi_label` data has no positive class and is not multi-class: leave out "
                "`positive` and `multi_class`"
            )
        if not label_sep:
            raise InputError("`label_sep` is empty: give the character that separates a text's labels")
        sets = [list(dict.fromkeys(p.strip() for p in label.split(label_sep) if p.strip())) for _, label, _ in rows]
        names = sorted({name for s in sets for name in s})
        if not names:
            raise InputError(f"{path}: no row has a label; a multi-label classifier needs labels")
        index = {name: i for i, name in enumerate(names)}
        return LabelledTexts(
            [t for _, _, t in rows],
            [[index[n] for n in s] for s in sets],
            tuple(names),
            str(path),
            seconds,
            multi_label=True,
        )
    found = sorted({label for _, label, _ in rows})
    if len(found) > 2 or multi_class:
        if positive is not None:
            raise InputError(
                f"{path}: `positive` names the positive class of two labels; these "
                f"{len(found)} labels ({', '.join(found)}) are a multi-class task: leave it out"
            )
        index = {name: i for i, name in enumerate(found)}
        return LabelledTexts(
            [t for _, _, t in rows],
            [index[label] for _, label, _ in rows],
            tuple(found),
            str(path),
            seconds,
            multi_class=True,
        )
    if len(found) == 1 and label_names is not None and len(set(label_names)) == 2:
        found = sorted(set(label_names))  # evaluating a binary model on texts of one of its classes
    if len(found) == 1:
        raise InputError(f"{path}: every row has the label {found[0]!r}; a classifier needs two classes")
    positive = choose_positive(found, positive, str(path))
    negative = found[0] if found[1] == positive else found[1]
    return LabelledTexts(
        [t for _, _, t in rows],
        [int(label == positive) for _, label, _ in rows],
        (negative, positive),
        str(path),
        seconds,
    )


def _check_first_line(path: Path, rows: list[tuple[int, str, str]], fmt: str, label_sep: str | None) -> None:
    """Refuses a file without a header whose first line looks like one: its labels are on no other line."""
    if fmt != "sms" or len(rows) < 10:
        return

    def labels(label: str) -> set[str]:
        return {p.strip() for p in label.split(label_sep)} - {""} if label_sep else {label}

    first = labels(rows[0][1])
    if first and not first & set().union(*(labels(label) for _, label, _ in rows[1:])):
        raise InputError(
            f"{path}: line 1 looks like a header: its label {rows[0][1]!r} is on no other line; name "
            "the columns in it with `text_col` and `label_col` (a header is read as one when it names "
            "them), or remove the line"
        )


def choose_positive(found: Sequence[str], positive: str | None, source: str) -> str:
    """The positive label among the two ``found``: ``positive`` (exact, else ignoring case),
    else ``spam`` (any case) when present; otherwise a one-line error listing the labels."""
    if positive is not None:
        matches = [f for f in found if f == positive] or [f for f in found if f.lower() == positive.lower()]
        if len(matches) != 1:
            raise InputError(
                f"positive label {positive!r} does not occur in {source} "
                f"(labels: {', '.join(found)}); choose one of them with `positive`"
            )
        return matches[0]
    spam = [f for f in found if f.lower() == "spam"]
    if len(spam) == 1:
        return spam[0]
    raise InputError(
        f"{source}: which label is the positive class? The labels are {', '.join(map(repr, found))}; "
        "name one with `positive`"
    )


def stratified_split(
    data: LabelledTexts, *, validation: float = 0.1, test: float = 0.1, seed: int = 0
) -> tuple[LabelledTexts, LabelledTexts, LabelledTexts]:
    """Seeded train / validation / test splits with the class balance kept in each."""
    if not (0 <= validation < 1 and 0 <= test < 1 and validation + test < 1):
        raise InputError("validation and test fractions must be in [0, 1) and sum to less than 1")
    rng = np.random.default_rng(seed)
    parts: list[list[int]] = [[], [], []]
    if data.multi_label:  # label sets: a seeded shuffle, not stratified
        idx = rng.permutation(len(data))
        n_val, n_test = int(round(len(idx) * validation)), int(round(len(idx) * test))
        return (
            data.subset(idx[n_val + n_test :].tolist()),
            data.subset(idx[:n_val].tolist()),
            data.subset(idx[n_val : n_val + n_test].tolist()),
        )
    labels = np.asarray(data.labels)
    for cls in range(len(data.label_names)):
        idx = np.flatnonzero(labels == cls)
        rng.shuffle(idx)
        n_val, n_test = int(round(len(idx) * validation)), int(round(len(idx) * test))
        parts[1] += idx[:n_val].tolist()
        parts[2] += idx[n_val : n_val + n_test].tolist()
        parts[0] += idx[n_val + n_test :].tolist()
    for p in parts:
        rng.shuffle(p)
    return data.subset(parts[0]), data.subset(parts[1]), data.subset(parts[2])
