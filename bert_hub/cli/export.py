"""``bert-hub export``: a run's serving model, or an embedder, as one LiteRT file or a SavedModel."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from bert_hub.cli.args import add_overwrite, command, emit, positive_int
from bert_hub.core.errors import InputError


def register(sub: Any, common: Any) -> None:
    """Declares ``export``."""
    from bert_hub.export.litert import QUANTIZATIONS
    from bert_hub.export.serving import FORMATS

    p = command(
        sub,
        "export",
        run_export,
        common=common,
        help="export a run's model, or an embedder, for serving: LiteRT (.tflite) or SavedModel",
        description="Raw strings in, the tokenizer inside: --model RUN exports a fine-tuned run with its "
        "signatures; --config NAME --key KEY exports an embedder (one key out).",
    )
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", help="run folder of `bert-hub train`")
    source.add_argument("--config", help="config name or YAML file: export an embedder")
    p.add_argument("--out", required=True, help="output: a *.tflite file (litert) or a folder (savedmodel)")
    p.add_argument("--format", dest="fmt", choices=FORMATS, default="litert", help="default litert")
    p.add_argument(
        "--quantize",
        choices=QUANTIZATIONS,
        default="none",
        help="litert: dynamic-int8 (int8 weights, 3.6x smaller) or float16 weights (default none)",
    )
    p.add_argument("--key", help="with --config: the embed key (sentence, pooled_output, cls, mean, max, ...)")
    p.add_argument("--seq-length", type=positive_int, help="with --config: the longest packing (default as embed's)")
    p.add_argument("--normalize", action="store_true", help="with --config: scale every vector to length 1")
    add_overwrite(p, "--out")


def run_export(args: argparse.Namespace) -> None:
    """``bert-hub export``."""
    if args.model is not None:
        given = [flag for flag, value in (("--key", args.key), ("--seq-length", args.seq_length)) if value is not None]
        if args.normalize:
            given.append("--normalize")
        if given:
            raise InputError(f"{', '.join(given)} choose an embedder's output: use them with --config, not --model")
        from bert_hub.export.run import export_run

        report = export_run(
            args.model, args.out, fmt=args.fmt, quantize=args.quantize, overwrite=args.overwrite, notify=_notify(args)
        )
        what = f"the {report['task']} model of {report['run']} ({report['model']})"
    else:
        if args.key is None:
            raise InputError("--config exports an embedder: give its --key (sentence, pooled_output, cls, mean, ...)")
        from bert_hub.export.embedder import export_embedder

        report = export_embedder(
            args.config,
            args.out,
            key=args.key,
            seq_length=args.seq_length,
            normalize=args.normalize,
            fmt=args.fmt,
            quantize=args.quantize,
            overwrite=args.overwrite,
            notify=_notify(args),
        )
        what = f"{report['model']}'s {report['key']} (up to {report['seq_length']} tokens)"
    quantized = f", {report['quantize']} weights" if report["quantize"] != "none" else ""
    ops = (
        f"\n  custom ops (tensorflow-text's; register them with the interpreter): {', '.join(report['custom_ops'])}"
        if report["custom_ops"]
        else ""
    )
    text = (
        f"Exported {what} as {report['format']}{quantized}: {report['output']} "
        f"({report['bytes'] / 1e6:.1f} MB, {report['seconds']} s)\n"
        f"  signatures: {', '.join(report['signatures'])}{ops}"
    )
    emit(args, report, text)


def _notify(args: argparse.Namespace) -> Any:
    """Where the export's one line before its seconds of work goes: stderr (nowhere with ``--json``)."""
    return None if args.json else lambda line: print(line, file=sys.stderr, flush=True)
