"""Flags from options, and the one table that turns the library's argument names into ``bert-hub``'s flags.

Every group of options ([`Options`][bert_hub.finetune.options.Options]: the
training settings, each task's own settings, data options and predict
inputs) becomes flags here, one per field: ``text_col`` is ``--text-col``,
``fmt`` is ``--format`` (its ``flag``), a list is a repeated flag, the
positional field is the command's ``TEXT ...``. The library's messages name
what a Python caller wrote, in backticks (`` `text_col` ``,
`` `overwrite=True` ``); [`in_flags`][bert_hub.cli.flags.in_flags] writes the flag a
command-line user typed instead, with the table built from the same fields
and the commands' own parsers.

Examples:
    >>> from bert_hub.cli.flags import in_flags
    >>> in_flags("line 1 (header) has no column 'body'; choose it with `text_col`")
    "line 1 (header) has no column 'body'; choose it with --text-col"
    >>> in_flags("runs/spam already exists; pass `overwrite=True` to replace it")
    'runs/spam already exists; pass --overwrite to replace it'
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import re
from collections.abc import Iterable
from typing import Any

from bert_hub.cli.args import finite_float, positive_float, positive_int, seed_number
from bert_hub.finetune.options import Options

ARGUMENTS: dict[str, str] = {
    "config": "--config",
    "data": "--data",
    "out": "--out",
    "output": "--output",
    "output_path": "--output",
    "input": "--input",
    "input_path": "--input",
    "model": "--model",
    "task": "--task",
    "overwrite": "--overwrite",
    "resume": "--resume",
    "plot": "--plot",
    "strategy": "--strategy",
    "worker_timeout": "--worker-timeout",
    "key": "--key",
    "seq_length": "--seq-length",
    "batch_size": "--batch-size",
    "precision": "--precision",
    "buckets": "--buckets",
    "jit_compile": "--xla",
    "runner": "--runner",
    "layers": "--layers",
    "hidden": "--hidden",
    "heads": "--heads",
    "intermediate": "--intermediate",
    "max_position_embeddings": "--max-position-embeddings",
    "name": "--name",
    "tensorboard": "--tensorboard",
    "fmt": "--format",
    "quantize": "--quantize",
    "normalize": "--normalize",
    "run": "--model",
}
"""Arguments of the library's functions -> the flag that gives them (those that are no option field)."""


def flag_of(field: dataclasses.Field) -> str:
    """The flag of an option: its ``flag``, else ``--`` and its name with ``-`` for ``_``."""
    return field.metadata.get("flag") or "--" + field.name.replace("_", "-")


def option_groups() -> list[type[Options]]:
    """Every group of options the commands take: the training settings and each registered task's groups."""
    from bert_hub.finetune.tasks import TASKS
    from bert_hub.finetune.train_config import TrainConfig

    groups: list[type[Options]] = [TrainConfig]
    for task in TASKS.values():
        groups += [task.Settings, task.DataOptions, task.model_type().PredictInputs]
    return groups


@functools.cache
def table() -> dict[str, str]:
    """Every library argument or option name -> its flag (``positional`` options: their metavar)."""
    names = dict(ARGUMENTS)
    for group in option_groups():
        for field in group.fields():
            names.setdefault(
                field.name,
                field.metadata.get("metavar") or "TEXT" if field.metadata.get("positional") else flag_of(field),
            )
    return names


def in_flags(message: str) -> str:
    """``message`` with each backticked argument name (`` `name` `` or `` `name=True` ``) as its flag; other
    backticked words are left as they are."""
    names = table()

    def flag(m: re.Match) -> str:
        name = m.group(1)
        return names[name] if name in names else m.group(0)

    return re.sub(r"`([a-z][a-z_]*)(?:=True)?`", flag, message)


def add_options(parser: Any, group: type[Options], *, skip: Iterable[str] = (), seen: set[str] | None = None) -> None:
    """One argument of ``parser`` (a parser or an argument group) per field of ``group``, each with default
    ``None`` (given or not tells whether the field was set); ``seen`` (names already added) is updated."""
    for field in group.fields():
        if field.name in skip or (seen is not None and field.name in seen):
            continue
        if seen is not None:
            seen.add(field.name)
        meta = field.metadata
        help_text = meta.get("help", "")
        if field.default not in (None, (), "") and "default" not in help_text:
            help_text += f" (default {field.default})"
        if meta.get("positional"):
            parser.add_argument(field.name, nargs="*", metavar=meta.get("metavar") or "TEXT", help=help_text)
            continue
        kwargs: dict[str, Any] = {"dest": field.name, "default": None, "help": help_text}
        if isinstance(field.default, bool):
            kwargs["action"] = argparse.BooleanOptionalAction
        elif meta.get("repeated"):
            kwargs["action"] = "append"
        else:
            kwargs["type"] = _kind(field)
            if meta.get("choices"):
                kwargs["choices"] = meta["choices"]
            if meta.get("metavar"):
                kwargs["metavar"] = meta["metavar"]
        parser.add_argument(flag_of(field), **kwargs)


def _kind(field: dataclasses.Field) -> Any:
    """How a flag's text becomes the field's value (checked where a bad value is one line)."""
    meta, kind = field.metadata, str(field.type)
    if field.name == "seed":
        return seed_number
    if kind.startswith("int"):
        return positive_int if (meta.get("at_least") or 0) >= 1 else int
    if kind.startswith("float"):
        return positive_float if meta.get("positive") else finite_float
    return str


def given(args: argparse.Namespace, group: type[Options]) -> dict[str, Any]:
    """The fields of ``group`` given on the command line (as the field's type: lists as tuples)."""
    out = {}
    for name in group.names():
        value = getattr(args, name, None)
        if value is None or value == []:
            continue
        out[name] = tuple(value) if isinstance(value, list) else value
    return out
