"""``bert-hub``: the command line, a thin layer over the Python API.

Every command takes ``--json`` for machine-readable output and ``--verbose``
to get TensorFlow's own logging back (it is silenced by default). Bad input
ends with ``error: <one line>`` and exit status 2.

    bert-hub demo [--config C] [--json]
    bert-hub inspect [--config C] [--pair] [--seq-length N] TEXT...
    bert-hub compare-layers [--config C] [--plot out.png] TEXT...
    bert-hub fill-mask [--config C] [--top-k K] TEXT...
    bert-hub build --layers L --hidden H --heads A --vocab VOCAB --out DIR
    bert-hub convert --from CHECKPOINT_DIR --out DIR
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
import warnings
from typing import Any, Callable, Sequence

from bert_hub.errors import BertHubError


def _quiet_tensorflow(verbose: bool) -> None:
    """Silences TensorFlow's C++ and Python logging unless ``verbose``."""
    if verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0")
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    warnings.filterwarnings("ignore")
    try:
        import absl.logging

        absl.logging.set_verbosity(absl.logging.ERROR)
    except ImportError:  # pragma: no cover - absl comes with TensorFlow
        pass
    for name in ("tensorflow", "kagglehub", "absl"):
        logging.getLogger(name).setLevel(logging.ERROR)
    # TensorFlow's native libraries log at load time, before absl's logging is
    # initialised, ignoring TF_CPP_MIN_LOG_LEVEL; hold file descriptor 2 while
    # they load, and replay what was written only if the import fails.
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            import tensorflow  # noqa: F401
            import tensorflow_hub  # noqa: F401
            import tensorflow_text  # noqa: F401
        except BaseException:
            os.dup2(saved, 2)
            held.seek(0)
            sys.stderr.write(held.read().decode("utf-8", "replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _emit(args: argparse.Namespace, data: dict[str, Any], text: str) -> None:
    if args.json:
        print(json.dumps(data, indent=2, sort_keys=False))
    else:
        print(text)


def _cmd_demo(args: argparse.Namespace) -> None:
    from bert_hub.tasks.demo import format_demo, run_demo

    report = run_demo(args.config)
    _emit(args, report, format_demo(report))


def _cmd_inspect(args: argparse.Namespace) -> None:
    from bert_hub.errors import InputError
    from bert_hub.pipeline import load_pipeline
    from bert_hub.tasks.inspect import format_inspection, inspect_texts

    items: list = list(args.texts)
    if args.pair:
        if len(items) % 2:
            raise InputError(f"--pair takes texts two by two (first, second, ...); got {len(items)} texts")
        items = [(items[i], items[i + 1]) for i in range(0, len(items), 2)]
    reports = inspect_texts(load_pipeline(args.config), items, seq_length=args.seq_length)
    _emit(args, {"texts": reports}, format_inspection(reports))


def _cmd_compare_layers(args: argparse.Namespace) -> None:
    from pathlib import Path

    from bert_hub.errors import InputError
    from bert_hub.pipeline import load_pipeline
    from bert_hub.tasks.layers import (
        compare_layers,
        find_pooler,
        format_layers,
        plot_layer_similarity,
    )

    if args.plot and not Path(args.plot).expanduser().absolute().parent.is_dir():
        raise InputError(f"--plot {args.plot}: the directory {Path(args.plot).parent} does not exist")
    bert = load_pipeline(args.config)
    inputs = bert.preprocess(args.texts, seq_length=args.seq_length)
    report = compare_layers(bert.encode_inputs(inputs), inputs["input_mask"], reference=args.reference,
                            pooler=find_pooler(bert.encoder))
    if args.plot:
        report["plot"] = str(plot_layer_similarity(report["layer_similarity"], Path(args.plot).expanduser(),
                                                   title=f"{bert.config.name}: layer similarity"))
    _emit(args, report, format_layers(report))


def _cmd_fill_mask(args: argparse.Namespace) -> None:
    from bert_hub.pipeline import load_pipeline
    from bert_hub.tasks.fill_mask import fill_mask, format_fill_mask

    results = fill_mask(load_pipeline(args.config), args.texts, top_k=args.top_k, seq_length=args.seq_length)
    _emit(args, {"results": results}, format_fill_mask(results))


def _bundle_report(config: Any, out: str, started: float) -> dict[str, Any]:
    from bert_hub.handles import resolve
    from bert_hub.loading import root_attributes

    encoder_dir = resolve(config.encoder)
    has_mlm = "mlm" in root_attributes(encoder_dir)
    return {"out": out, "config": config.source, "name": config.name,
            "preprocess": str(resolve(config.preprocess)), "encoder": str(encoder_dir),
            "architecture": config.architecture.to_dict(), "has_mlm": has_mlm,
            "seq_length": config.seq_length, "seconds": round(time.perf_counter() - started, 2)}


def _bundle_text(report: dict[str, Any]) -> str:
    a = report["architecture"]
    return (f"Wrote {report['name']} (L={a['layers']} H={a['hidden']} A={a['heads']} "
            f"I={a['intermediate']}, vocab {a['vocab_size']}, {'cased' if a['cased'] else 'uncased'}"
            f", MLM head: {'yes' if report['has_mlm'] else 'no'}) in {report['seconds']} s\n"
            f"  preprocess: {report['preprocess']}\n  encoder:    {report['encoder']}\n"
            f"  config:     {report['config']}  (use it with --config)")


def _cmd_build(args: argparse.Namespace) -> None:
    from bert_hub.builder.bundle import build_random_bundle
    from bert_hub.builder.vocab import read_vocab, special_token_ids
    from bert_hub.fsutil import check_output_dir

    check_output_dir(args.out, overwrite=args.overwrite)
    special_token_ids(read_vocab(args.vocab), source=args.vocab)
    started = time.perf_counter()
    print(f"bert-hub: building a random-weight encoder L={args.layers} H={args.hidden} "
          f"A={args.heads} into {args.out} ...", file=sys.stderr, flush=True)
    config = build_random_bundle(args.out, layers=args.layers, hidden=args.hidden, heads=args.heads,
                                 intermediate=args.intermediate, vocab_file=args.vocab,
                                 lower_case=not args.cased,
                                 max_position_embeddings=args.max_position_embeddings,
                                 seq_length=args.seq_length, seed=args.seed,
                                 with_mlm=not args.no_mlm, name=args.name,
                                 overwrite=args.overwrite)
    report = _bundle_report(config, args.out, started)
    _emit(args, report, _bundle_text(report))


def _cmd_convert(args: argparse.Namespace) -> None:
    from bert_hub.builder.bundle import convert_checkpoint_bundle
    from bert_hub.builder.checkpoint import read_checkpoint
    from bert_hub.fsutil import check_output_dir

    check_output_dir(args.out, overwrite=args.overwrite)
    started = time.perf_counter()
    checkpoint = read_checkpoint(args.source, lower_case=args.lower_case)
    print(f"bert-hub: converting {args.source} into {args.out} ...", file=sys.stderr, flush=True)
    config = convert_checkpoint_bundle(checkpoint, args.out,
                                       seq_length=args.seq_length, name=args.name,
                                       overwrite=args.overwrite)
    report = _bundle_report(config, args.out, started)
    _emit(args, report, _bundle_text(report))


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print machine-readable JSON")
    common.add_argument("--verbose", action="store_true", help="show TensorFlow's logging")

    parser = argparse.ArgumentParser(
        prog="bert-hub", description="Kaggle / TF Hub BERT models from Keras: load, inspect, embed.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("demo", parents=[common], help="walk the notebook workflow on two sentences",
                       description="Preprocess two sentences and run the encoder, as the notebook does.")
    p.add_argument("--config", default="default",
                   help="config name or YAML file (default: the embedded all-MiniLM-L6-v2)")
    p.set_defaults(func=_cmd_demo)

    def model_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("--config", default="default",
                       help="config name or YAML file (default: the embedded all-MiniLM-L6-v2)")
        p.add_argument("--seq-length", type=_positive_int,
                       help="pack to this many tokens (default: the config's seq_length)")
        p.add_argument("texts", nargs="+", metavar="TEXT")

    p = sub.add_parser("inspect", parents=[common], help="show the tokens, ids, mask and type ids of texts",
                       description="A table per text: position, id, wordpiece, mask, type id; the [CLS], "
                                   "[SEP] and first padding positions; whether the text was truncated.")
    model_args(p)
    p.add_argument("--pair", action="store_true", help="read TEXTs two by two as sentence pairs")
    p.set_defaults(func=_cmd_inspect)

    p = sub.add_parser("compare-layers", parents=[common], help="compare the encoder's layer outputs",
                       description="Check encoder_outputs[-1] == sequence_output, the L x L layer "
                                   "similarity of real tokens, each layer against the final "
                                   "representation, and pooled_output against [CLS].")
    model_args(p)
    p.add_argument("--plot", help="write the layer-similarity heatmap to this PNG")
    p.add_argument("--reference", default="sequence_output",
                   help="per-token output to compare each layer with (sequence_output or encoder_outputs[i])")
    p.set_defaults(func=_cmd_compare_layers)

    p = sub.add_parser("fill-mask", parents=[common], help="predict the [MASK]ed wordpieces",
                       description="Top-k predictions for every [MASK] in each TEXT, through the "
                                   "encoder's masked-LM head (mlm).")
    model_args(p)
    p.add_argument("--top-k", type=_positive_int, default=5)
    p.set_defaults(func=_cmd_fill_mask)

    p = sub.add_parser("build", parents=[common], help="write a random-weight model bundle",
                       description="Write DIR/preprocess, DIR/encoder and DIR/bert_hub.yaml with "
                                   "randomly initialised weights (for fixtures and benchmarks).")
    p.add_argument("--layers", type=_positive_int, required=True, help="Transformer blocks (L)")
    p.add_argument("--hidden", type=_positive_int, required=True, help="hidden size (H)")
    p.add_argument("--heads", type=_positive_int, required=True, help="attention heads (A)")
    p.add_argument("--intermediate", type=_positive_int, help="feed-forward size (default 4*H)")
    p.add_argument("--vocab", required=True, help="WordPiece vocab.txt")
    p.add_argument("--cased", action="store_true", help="do not lower-case text (default: uncased)")
    p.add_argument("--max-position-embeddings", type=_positive_int, default=512)
    p.add_argument("--seq-length", type=_positive_int, default=128,
                   help="default packing length of the preprocess model")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-mlm", action="store_true", help="leave out the masked-LM head")
    p.add_argument("--name", help="model name written to bert_hub.yaml")
    p.add_argument("--out", required=True, help="output directory (must not exist)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    p.set_defaults(func=_cmd_build)

    p = sub.add_parser("convert", parents=[common], help="convert a BERT checkpoint to TF Hub format",
                       description="Convert a checkpoint directory (config.json, model.safetensors, "
                                   "vocab.txt) into DIR/preprocess, DIR/encoder, DIR/bert_hub.yaml.")
    p.add_argument("--from", dest="source", required=True, help="checkpoint directory")
    p.add_argument("--out", required=True, help="output directory (must not exist)")
    case = p.add_mutually_exclusive_group()
    case.add_argument("--uncased", dest="lower_case", action="store_const", const=True,
                      help="lower-case text (default: from tokenizer_config.json)")
    case.add_argument("--cased", dest="lower_case", action="store_const", const=False)
    p.add_argument("--seq-length", type=_positive_int, default=128)
    p.add_argument("--name", help="model name written to bert_hub.yaml")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    p.set_defaults(func=_cmd_convert)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _quiet_tensorflow(args.verbose)
    func: Callable[[argparse.Namespace], None] = args.func
    try:
        func(args)
    except BertHubError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; no partial output was left behind", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - last resort: one line unless --verbose
        if args.verbose:
            raise
        first = (str(e).strip().splitlines() or [""])[0][:300]
        print(f"error: unexpected {type(e).__name__}: {first} (run again with --verbose for details)",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
