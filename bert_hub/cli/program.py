"""Runs one ``bert-hub`` command: parse, silence TensorFlow, run, turn errors and signals into one line.

Exit status: 0 done; 2 bad input (argument errors too) or a full disk, as
``error: <one line>``; 130 Ctrl-C and 143 SIGTERM, with a line saying what
was left on disk; 1 is kept for bert_hub's own bugs. A closed pipe
(``bert-hub models | head``) ends quietly.
"""

from __future__ import annotations

import argparse
import errno
import os
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

from bert_hub import __version__
from bert_hub.cli import build, catalog, embed, explore, export, finetune
from bert_hub.cli.args import Parser, subcommands
from bert_hub.cli.flags import in_flags
from bert_hub.cli.quiet import quiet_tensorflow, show_progress_lines
from bert_hub.core.errors import BertHubError, Interrupted
from bert_hub.core.manifests import track_written

COMMAND_GROUPS = (catalog, explore, embed, finetune, export, build)
"""The command groups, in the order ``bert-hub --help`` lists them: each module declares its commands' parsers and
runs them (``register(sub, common)``)."""
LEGACY_KERAS_VARIABLE = "TF_USE_LEGACY_KERAS"
"""TensorFlow's switch making ``tf.keras`` the Keras 2 package ``tf_keras`` (read when TensorFlow is imported)."""


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The ``bert-hub`` parser; ``argv`` lets ``train`` show the flags of the ``--task`` it names."""
    common = Parser(add_help=False)
    common.add_argument("--json", action="store_true", help="print machine-readable JSON")
    common.add_argument("--verbose", action="store_true", help="show TensorFlow's logging and tracebacks")
    parser = Parser(
        prog="bert-hub", description="Kaggle / TF Hub BERT models from Keras: load, inspect, embed, fine-tune, export."
    )
    parser.add_argument("--version", action="version", version=f"bert-hub {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)
    for group in COMMAND_GROUPS:
        if group is finetune:
            group.register(sub, common, argv)
        else:
            group.register(sub, common)
    return parser


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C would be, so that the same clean-up runs (exit status 143)."""


def _raise_terminated(signum: int, frame: Any) -> None:
    raise Terminated()


_NO_ROOM = ("No space left on device", "Disk quota exceeded", "File too large")
"""Words in an OS or TensorFlow error that mean the disk (or a size limit) refused a write."""


def _interrupted_status(error: BaseException | None) -> int:
    return 143 if isinstance(error, Terminated) or isinstance(getattr(error, "__context__", None), Terminated) else 130


def _run(args: argparse.Namespace) -> int:
    written: list = []
    try:
        with track_written() as written:
            args.handler(args)
            sys.stdout.flush()
    except Interrupted as e:
        print(in_flags(str(e)), file=sys.stderr)
        return _interrupted_status(e)
    except BertHubError as e:
        print(f"error: {in_flags(str(e))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:
        if written:
            done = ", ".join(str(p) for p in written)
            print(f"interrupted after writing {done} (complete)", file=sys.stderr)
        else:
            print("interrupted; nothing was written (existing outputs are as they were)", file=sys.stderr)
        return _interrupted_status(e)
    except BrokenPipeError:
        # The reader went away (`bert-hub models | head`): stop quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 0
    except OSError as e:
        if e.errno not in (errno.EACCES, errno.EPERM, errno.EROFS) or not e.filename or args.verbose:
            return _unexpected(e, args)
        print(
            f"error: cannot access {e.filename}: {e.strerror}; check its permissions, or choose another location",
            file=sys.stderr,
        )
        return 2
    except Exception as e:
        return _unexpected(e, args)
    return 0


def _unexpected(e: Exception, args: argparse.Namespace) -> int:
    """A full disk in one line (exit 2); anything else is a bert_hub bug: one line (exit 1) unless --verbose."""
    first = (str(e).strip().splitlines() or [""])[0][:300]
    if any(words in str(e) for words in _NO_ROOM) and not args.verbose:
        where = f" {e.filename}" if isinstance(e, OSError) and e.filename else ""
        first = e.strerror if isinstance(e, OSError) and e.strerror else first
        print(
            f"error: cannot write{where}: {first}; free some space (or raise the limit) and run the command "
            "again (nothing half-written was left in place of an output)",
            file=sys.stderr,
        )
        return 2
    if args.verbose:
        raise e
    print(
        f"error: unexpected {type(e).__name__}: {first} (a bert_hub bug; run again with --verbose for details)",
        file=sys.stderr,
    )
    return 1


def _parse(argv: Sequence[str]) -> argparse.Namespace:
    """Parsed arguments; an error or ``--help`` raises ``SystemExit`` after printing."""
    parser = build_parser(argv)
    commands = subcommands(parser)
    # Unknown flags are named before missing ones (`--dta x` is a typo, not a missing --data): a first
    # parse with no flag required finds them.
    required = [a for sub in commands.values() for a in sub._actions if a.required]
    for action in required:
        action.required = False
    try:
        args, extra = parser.parse_known_args(argv)
    finally:
        for action in required:
            action.required = True
    sub = commands[args.command]
    if extra and not getattr(args, "runner", None):
        explain = getattr(args, "explain_unknown", None)
        sub.error((explain and explain(args, extra)) or _unknown(extra, sub))
    args, extra = parser.parse_known_args(argv)
    args.pipeline_args = extra  # with --runner: Beam pipeline options, checked, then passed to Beam
    args.own_options = [o for action in sub._actions for o in action.option_strings]
    return args


def _unknown(extra: Sequence[str], sub: argparse.ArgumentParser) -> str:
    """What is wrong with the arguments a command does not take: the first unknown flag, with the nearest
    flag it has, or the stray values.

    Examples:
        >>> p = Parser(prog="bert-hub x"); _ = p.add_argument("--data")
        >>> _unknown(["--dta", "x"], p)
        'unknown flag --dta (did you mean --data?)'
    """
    import difflib

    flags = [arg.split("=", 1)[0] for arg in extra if arg.startswith("-") and arg != "-"]
    if not flags:
        return f"unexpected {'argument' if len(extra) == 1 else 'arguments'}: {' '.join(extra)}"
    known = [o for action in sub._actions for o in action.option_strings if o.startswith("--")]
    if flags[0] in known:  # given before the command's name
        return f"{flags[0]} goes after the command's name: {sub.prog} {flags[0]}"
    near = difflib.get_close_matches(flags[0], known, n=1, cutoff=0.6)
    return f"unknown flag {flags[0]}" + (f" (did you mean {near[0]}?)" if near else "")


def keras_2_only() -> None:
    """Sets ``TF_USE_LEGACY_KERAS=1`` (unless the environment has a value) before TensorFlow is imported.

    The program runs Keras 2 alone (``tf_keras``: what ``hub.KerasLayer``
    needs); without the variable, importing TensorFlow (and TensorFlow Hub's
    look at ``tf.keras``) also imports Keras 3 and scikit-learn: about 1.5 s
    of every command's start-up.
    """
    from bert_hub.runtime.precision import set_before_tensorflow

    set_before_tensorflow(LEGACY_KERAS_VARIABLE)


def main(argv: Sequence[str] | None = None, *, standalone: bool | None = None) -> int:
    """Runs one ``bert-hub`` command; returns the exit status.

    ``standalone`` (default: ``argv is None``, i.e. run as the ``bert-hub``
    program) says the process runs nothing else: before TensorFlow starts,
    every command turns on its oneDNN kernels on an AVX2 CPU where it would
    leave them off ([`enable_onednn`][bert_hub.runtime.precision.enable_onednn]), makes
    ``tf.keras`` Keras 2 (`keras_2_only`), and the
    commands that only run models set ``TF_ONEDNN_ASSUME_FROZEN_WEIGHTS``,
    which a process that goes on to train must not have.
    """
    try:
        args = _parse(sys.argv[1:] if argv is None else list(argv))
    except SystemExit as e:  # --help, --version, or an argument error already printed in one line
        return int(e.code or 0)
    args.standalone = argv is None if standalone is None else standalone
    if args.standalone:
        from bert_hub.runtime.precision import assume_frozen_weights, enable_onednn

        enable_onednn()
        keras_2_only()
        if args.frozen_weights:
            assume_frozen_weights()
    try:
        quiet_tensorflow(args.verbose)
    except KeyboardInterrupt:  # Ctrl-C while TensorFlow loads: nothing has started
        print("interrupted; nothing was written (existing outputs are as they were)", file=sys.stderr)
        status = 130
    else:
        show_progress_lines(args.verbose)
        on_term = signal.signal(signal.SIGTERM, _raise_terminated) if _main_thread() else None
        try:
            status = _run(args)
        finally:
            if on_term is not None:
                signal.signal(signal.SIGTERM, on_term)
    if args.standalone and status in (130, 143):
        # Interrupted: every output is already as the last line says. Work that the interrupt cut
        # short may still run in threads (a Beam runner's, gRPC's) and crash the interpreter's
        # shutdown under it; the program ends here instead.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    return status


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()
