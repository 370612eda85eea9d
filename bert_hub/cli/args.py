"""What every ``bert-hub`` command shares: the parser class, value types, common flags and printing.

Examples:
    >>> from bert_hub.cli.args import positive_int
    >>> positive_int("8")
    8
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Callable
from typing import Any

from typing_extensions import override

from bert_hub.core.errors import plural

DEFAULT_CONFIG_HELP = "config name or YAML file (default: the embedded all-MiniLM-L6-v2)"

Handler = Callable[[argparse.Namespace], None]
"""A command's handler: reads its parsed arguments, calls the Python API and prints."""


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line naming the command's --help, and whose flags are matched
    exactly (``--inp`` is not ``--input``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["allow_abbrev"] = False
        super().__init__(*args, **kwargs)

    @override
    def error(self, message: str) -> Any:
        self.exit(2, f"error: {message} (see `{self.prog} --help`)\n")


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The parsers of ``parser``'s commands, by name (``bert-hub``'s, or a command's own sub-commands)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def command(
    sub: Any,
    name: str,
    handler: Handler,
    *,
    common: Any,
    help: str,
    description: str | None = None,
    parents: tuple[Any, ...] = (),
    frozen_weights: bool = False,
) -> Parser:
    """Declares the command ``name`` run by ``handler``.

    ``frozen_weights``: the command only runs models, never changes
    weights; as a program of its own it lets oneDNN pack each weight matrix
    once (see [`bert_hub.runtime.precision`][bert_hub.runtime.precision], "Frozen weights").
    """
    p = sub.add_parser(name, parents=[common, *parents], help=help, description=description or help)
    p.set_defaults(handler=handler, frozen_weights=frozen_weights)
    return p


def positive_int(text: str) -> int:
    """A whole number of at least 1 (an argument type)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def seed_number(text: str) -> int:
    """A random seed: a whole number from 0 to 2**32 - 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"must be from 0 to {2**32 - 1}, got {value}")
    return value


def finite_float(text: str) -> float:
    """A finite number (an argument type): ``nan`` and ``inf`` are refused."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """A finite number above 0 (an argument type)."""
    value = finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text!r}")
    return value


def add_model_args(p: argparse.ArgumentParser) -> None:
    """``--config``, ``--seq-length`` and the TEXT arguments of the commands that look at a model."""
    p.add_argument("--config", default="default", help=DEFAULT_CONFIG_HELP)
    p.add_argument(
        "--seq-length", type=positive_int, help="pack to this many tokens (default: the config's seq_length)"
    )
    p.add_argument("texts", nargs="+", metavar="TEXT")


def add_overwrite(p: argparse.ArgumentParser, what: str) -> None:
    """``--overwrite`` for a command whose output is ``what``."""
    p.add_argument(
        "--overwrite",
        action="store_true",
        help=f"replace an existing {what} (only one bert_hub wrote; anything else is refused)",
    )


def add_runner(p: argparse.ArgumentParser) -> None:
    """``--runner``: the command as an Apache Beam pipeline."""
    p.add_argument(
        "--runner",
        help="run as an Apache Beam pipeline on this runner (DirectRunner, DataflowRunner, "
        "FlinkRunner, ...): --input is a file or glob, --output a folder; other "
        "options go to Beam unchanged (needs `pip install bert_hub[beam]`)",
    )


def emit(args: argparse.Namespace, data: dict[str, Any], text: str) -> None:
    """Prints ``text`` for people, or ``data`` as one JSON object with ``--json``."""
    if args.json:
        print(json.dumps(data, indent=2, sort_keys=False))
    else:
        print(text)


def beam_summary(args: argparse.Namespace, summary: dict[str, Any], what: str) -> None:
    """The last lines of a Beam job (``embed`` or ``predict`` with ``--runner``)."""
    text = (
        f"{what} {plural(summary['rows'], 'line')} of {summary['input']} on {summary['runner']} in "
        f"{summary['seconds']} s: Parquet shards in {summary['output']}/data"
        + (
            f"\n  {plural(summary['errors'], 'line')} failed: see {summary['output']}/errors"
            if summary["errors"]
            else ""
        )
    )
    emit(args, summary, text)


def exit_now(message: str, signum: int) -> None:
    """A program interrupted during a Beam job (its output already cleaned up): says so and ends at once."""
    print(message, file=sys.stderr, flush=True)
    sys.stdout.flush()
    os._exit(128 + signum)


def beam_job_args(args: argparse.Namespace, command_name: str) -> dict[str, Any]:
    """What a Beam job of ``command_name`` takes from the command line: its options (checked) and how an
    interrupt ends it."""
    from bert_hub.integrations.beam import check_pipeline_args  # Apache Beam: an optional extra

    check_pipeline_args(args.pipeline_args, command_name, args.own_options)
    return {
        "pipeline_args": ["--runner", args.runner, *args.pipeline_args],
        "overwrite": args.overwrite,
        "exit_on_interrupt": exit_now if args.standalone else None,
    }
