"""``bert-hub embed``: a text file (one text per line, or ``-`` for standard input) into an ``.npy``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from bert_hub.cli.args import add_overwrite, add_runner, beam_job_args, beam_summary, command, emit, positive_int
from bert_hub.core.errors import InputError, plural


def register(sub: Any, common: Any) -> None:
    """Declares ``embed``."""
    from bert_hub.runtime.precision import PRECISIONS

    p = command(
        sub,
        "embed",
        run_embed,
        common=common,
        frozen_weights=True,
        help="embed a text file (one text per line) into .npy",
        description="Tokenize once, bucket by length, run compiled encoder calls; stream INPUT into "
        "OUTPUT.npy in input order.",
    )
    p.add_argument("--config", default="default", help="config name or YAML file")
    p.add_argument(
        "--input",
        required=True,
        help="UTF-8 text file, one text per line (blank lines kept), or - "
        "for standard input; with --runner, a path or glob",
    )
    p.add_argument("--output", required=True, help="output .npy file; with --runner, a folder")
    add_overwrite(p, "--output")
    p.add_argument(
        "--key",
        default="pooled_output",
        help="sentence (the model's own sentence vector: sentence-transformers' pooling, length and "
        "normalisation for a model converted from it, else pooled_output), pooled_output, cls, mean, max, "
        "sequence_output or encoder_outputs[i] (default pooled_output)",
    )
    p.add_argument("--normalize", action="store_true", help="scale every vector to length 1")
    p.add_argument("--batch-size", type=positive_int, default=32)
    p.add_argument(
        "--seq-length",
        type=positive_int,
        help="longest packing (default: the config's; --key sentence: the model's sentence length)",
    )
    p.add_argument(
        "--buckets",
        help="comma-separated packed lengths (default: each batch's longest text; "
        "bfloat16: multiples of 8; XLA: of 32)",
    )
    p.add_argument("--no-bucketing", action="store_true", help="the notebook's fixed-length path")
    p.add_argument(
        "--xla",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="compile each bucket with XLA (default: whichever is faster on this CPU, measured)",
    )
    p.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="auto",
        help="auto = the faster of float32 and (on CPUs with native bf16) bfloat16 on this CPU, "
        "measured once per CPU and model shape and kept in the cache; int8 = the Transformer's matmuls in int8 "
        "(asked for only: auto never picks it)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    add_runner(p)


def parse_buckets(text: str | None) -> tuple[int, ...] | None:
    """``--buckets 32,64,128`` as bucket lengths (None: the default buckets)."""
    if not text:
        return None
    try:
        return tuple(int(b) for b in text.split(","))
    except ValueError:
        raise InputError(f"--buckets {text!r}: expected comma-separated lengths like 16,32,64,128") from None


def embed_options(args: argparse.Namespace) -> Any:
    """The [`EmbedOptions`][bert_hub.runtime.embedder.EmbedOptions] the flags give."""
    from bert_hub.runtime.embedder import EmbedOptions

    return EmbedOptions(
        key=args.key,
        batch_size=args.batch_size,
        bucketing=not args.no_bucketing,
        buckets=parse_buckets(args.buckets),
        seq_length=args.seq_length,
        normalize=args.normalize,
        precision=args.precision,
        jit_compile=args.xla,
    )


def run_embed(args: argparse.Namespace) -> None:
    """``bert-hub embed``: a file of texts into an ``.npy`` file, or a Beam job with ``--runner``."""
    options = embed_options(args)
    if args.runner:
        from bert_hub.integrations.beam import run_embed as run_beam_embed

        if args.input == "-":
            raise InputError("--input - (standard input) is for a local run; with --runner give files or a glob")
        summary = run_beam_embed(
            args.input, args.output, config=args.config, options=options, **beam_job_args(args, "embed")
        )
        return beam_summary(args, summary, "Embedded")
    from bert_hub.core.inputs import input_file

    with input_file(args.input) as source:
        _embed_file(args, options, str(source))


def _embed_file(args: argparse.Namespace, options: Any, source: str) -> None:
    from bert_hub.runtime.embedder import Embedder, check_embed_paths

    check_embed_paths(source, args.output, overwrite=args.overwrite)
    embedder = Embedder.from_config(args.config, options, notify=lambda line: print(line, file=sys.stderr, flush=True))
    bert = embedder.bert
    report = embedder.embed_file(source, args.output, progress=not args.no_progress, overwrite=args.overwrite)
    report.update(config=bert.config.name)
    if args.input == "-":
        report["input"] = "-"
    rows = report["texts"] if not embedder.per_token else report["real_tokens"]
    truncated = (
        f"\n  truncated to {embedder.seq_length} tokens: {plural(report['truncated_texts'], 'text')}"
        if report["truncated_texts"]
        else ""
    )
    text = (
        f"Embedded {plural(report['texts'], 'text')} ({report['real_tokens']} real tokens) with "
        f"{bert.config.name}, key {_key_words(report)}, {report['precision']}"
        f"{', XLA' if embedder.jit_compile else ''}{', bucketing' if not args.no_bucketing else ', fixed length'}\n"
        f"  {report['seconds']} s: {report['texts_per_second']} texts/s, "
        f"{report['real_tokens_per_second']} real tokens/s\n  wrote {report['output']} "
        f"[{rows}, {report['width']}]" + (f" and {report['lengths']}" if "lengths" in report else "") + truncated
    )
    emit(args, report, text)


def _key_words(report: dict[str, Any]) -> str:
    """The key as the summary names it: ``sentence (mean of 256 tokens, normalised)``, ``cls``."""
    how = []
    if report["key"] == "sentence":
        how.append(f"{report['pooling']} of up to {report['seq_length']} tokens")
    if report["normalize"]:
        how.append("normalised")
    return report["key"] + (f" ({', '.join(how)})" if how else "")
