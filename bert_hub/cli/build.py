"""``bert-hub build | convert``: write models in the TF Hub SavedModel format."""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path
from typing import Any

from bert_hub.cli.args import add_overwrite, command, emit, positive_int, seed_number

log = logging.getLogger("bert_hub")


def register(sub: Any, common: Any) -> None:
    """Declares ``build`` and ``convert``."""
    p = command(
        sub,
        "build",
        run_build,
        common=common,
        help="write a random-weight model bundle",
        description="Write DIR/preprocess, DIR/encoder and DIR/bert_hub.yaml with randomly initialised "
        "weights (for fixtures and benchmarks).",
    )
    p.add_argument("--layers", type=positive_int, required=True, help="Transformer blocks (L)")
    p.add_argument("--hidden", type=positive_int, required=True, help="hidden size (H)")
    p.add_argument("--heads", type=positive_int, required=True, help="attention heads (A)")
    p.add_argument("--intermediate", type=positive_int, help="feed-forward size (default 4*H)")
    vocab = p.add_mutually_exclusive_group()
    vocab.add_argument("--vocab", help="WordPiece vocab.txt (default: the vocab of --vocab-from)")
    vocab.add_argument(
        "--vocab-from",
        default="default",
        help="use the vocab of this config's preprocess model (default: the embedded default's "
        "30522-token uncased vocab)",
    )
    p.add_argument("--cased", action="store_true", help="do not lower-case text (default: uncased)")
    p.add_argument("--max-position-embeddings", type=positive_int, default=512)
    p.add_argument(
        "--seq-length", type=positive_int, default=128, help="default packing length of the preprocess model"
    )
    p.add_argument("--seed", type=seed_number, default=0, help="seed of the random weights (default 0)")
    p.add_argument("--no-mlm", action="store_true", help="leave out the masked-LM head")
    p.add_argument("--name", help="model name written to bert_hub.yaml")
    p.add_argument("--out", required=True, help="output directory")
    add_overwrite(p, "--out bundle")

    p = command(
        sub,
        "convert",
        run_convert,
        common=common,
        help="convert a BERT checkpoint to TF Hub format",
        description="Convert a checkpoint directory (config.json, model.safetensors, vocab.txt) into "
        "DIR/preprocess, DIR/encoder, DIR/bert_hub.yaml.",
    )
    p.add_argument("--from", dest="source", required=True, help="checkpoint directory")
    p.add_argument("--out", required=True, help="output directory")
    case = p.add_mutually_exclusive_group()
    case.add_argument(
        "--uncased",
        dest="lower_case",
        action="store_const",
        const=True,
        help="lower-case text (default: from tokenizer_config.json)",
    )
    case.add_argument("--cased", dest="lower_case", action="store_const", const=False)
    p.add_argument("--seq-length", type=positive_int, default=128)
    p.add_argument("--name", help="model name written to bert_hub.yaml")
    add_overwrite(p, "--out bundle")


def bundle_report(config: Any, out: str, started: float) -> dict[str, Any]:
    """What ``build`` and ``convert`` report of the bundle they wrote."""
    from bert_hub.hub.loading import root_attributes
    from bert_hub.hub.resolution import resolve

    encoder_dir = resolve(config.encoder)
    return {
        "out": out,
        "config": config.source,
        "name": config.name,
        "preprocess": str(resolve(config.preprocess)),
        "encoder": str(encoder_dir),
        "architecture": config.architecture.to_dict(),
        "has_mlm": "mlm" in root_attributes(encoder_dir),
        "seq_length": config.seq_length,
        "seconds": round(time.perf_counter() - started, 2),
    }


def bundle_text(report: dict[str, Any]) -> str:
    """A bundle's report, for people."""
    a = report["architecture"]
    return (
        f"Wrote {report['name']} (L={a['layers']} H={a['hidden']} A={a['heads']} "
        f"I={a['intermediate']}, vocab {a['vocab_size']}, {'cased' if a['cased'] else 'uncased'}"
        f", MLM head: {'yes' if report['has_mlm'] else 'no'}) in {report['seconds']} s\n"
        f"  preprocess: {report['preprocess']}\n  encoder:    {report['encoder']}\n"
        f"  config:     {report['config']}  (use it with --config)"
    )


def vocab_of(config_name: str) -> Path:
    """The ``vocab.txt`` of a config's preprocess model."""
    from bert_hub.core.config import load_config
    from bert_hub.hub.resolution import resolve

    return resolve(load_config(config_name).preprocess) / "assets" / "vocab.txt"


def run_build(args: argparse.Namespace) -> None:
    """``bert-hub build``: a random-weight bundle."""
    from bert_hub.builder.bundle import BUNDLE, build_random_bundle
    from bert_hub.builder.vocab import read_vocab, special_token_ids
    from bert_hub.core.outputs import check_output_dir

    check_output_dir(args.out, overwrite=args.overwrite, kind=BUNDLE)
    vocab = args.vocab or vocab_of(args.vocab_from)
    special_token_ids(read_vocab(vocab), source=str(vocab))
    started = time.perf_counter()
    log.info(
        "bert-hub: building a random-weight encoder L=%d H=%d A=%d into %s ...",
        args.layers,
        args.hidden,
        args.heads,
        args.out,
    )
    config = build_random_bundle(
        args.out,
        layers=args.layers,
        hidden=args.hidden,
        heads=args.heads,
        intermediate=args.intermediate,
        vocab_file=vocab,
        lower_case=not args.cased,
        max_position_embeddings=args.max_position_embeddings,
        seq_length=args.seq_length,
        seed=args.seed,
        with_mlm=not args.no_mlm,
        name=args.name,
        overwrite=args.overwrite,
    )
    report = bundle_report(config, args.out, started)
    emit(args, report, bundle_text(report))


def run_convert(args: argparse.Namespace) -> None:
    """``bert-hub convert``: a checkpoint folder into a bundle."""
    from bert_hub.builder.bundle import BUNDLE, convert_checkpoint_bundle
    from bert_hub.builder.checkpoint import read_checkpoint
    from bert_hub.core.outputs import check_output_dir

    check_output_dir(args.out, overwrite=args.overwrite, kind=BUNDLE)
    started = time.perf_counter()
    checkpoint = read_checkpoint(args.source, lower_case=args.lower_case)
    log.info("bert-hub: converting %s into %s ...", args.source, args.out)
    config = convert_checkpoint_bundle(
        checkpoint, args.out, seq_length=args.seq_length, name=args.name, overwrite=args.overwrite
    )
    report = bundle_report(config, args.out, started)
    emit(args, report, bundle_text(report))
