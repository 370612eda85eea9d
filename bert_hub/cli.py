"""``bert-hub``: the command line, a thin layer over the Python API.

Every command takes ``--json`` for machine-readable output and ``--verbose``
to get TensorFlow's own logging back (it is silenced by default). Bad input
ends with ``error: <one line>`` and exit status 2.

    bert-hub models [--json]
    bert-hub demo [--config C] [--json]
    bert-hub inspect [--config C] [--pair] [--seq-length N] TEXT...
    bert-hub compare-layers [--config C] [--plot out.png] TEXT...
    bert-hub fill-mask [--config C] [--top-k K] TEXT...
    bert-hub embed --config C --input texts.txt --output out.npy [--key K]
    bert-hub train --config C --data sms.tsv --out runs/spam
    bert-hub evaluate --model runs/spam --data test.tsv
    bert-hub predict --model runs/spam TEXT...
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


def _cmd_embed(args: argparse.Namespace) -> None:
    from pathlib import Path

    from bert_hub.errors import InputError
    from bert_hub.pipeline import load_pipeline
    from bert_hub.tasks.embed import Embedder, check_key, cpu_supports_bf16

    out = Path(args.output).expanduser()
    if not Path(args.input).expanduser().is_file():
        raise InputError(f"--input {args.input}: no such file")
    if not out.absolute().parent.is_dir():
        raise InputError(f"--output {args.output}: the directory {out.absolute().parent} does not exist")
    if out.suffix != ".npy":
        raise InputError(f"--output {args.output}: the output is a NumPy file; name it *.npy")
    bert = load_pipeline(args.config)
    check_key(args.key, bert.config.architecture.layers)
    bf16 = args.precision == "bfloat16" or (args.precision == "auto" and cpu_supports_bf16())
    buckets = None
    if args.buckets:
        try:
            buckets = [int(b) for b in args.buckets.split(",")]
        except ValueError:
            raise InputError(f"--buckets {args.buckets!r}: expected comma-separated lengths like 16,32,64,128") from None
    embedder = Embedder(bert, key=args.key, batch_size=args.batch_size, bucketing=not args.no_bucketing,
                        buckets=buckets, seq_length=args.seq_length, jit_compile=args.xla, bf16=bf16)
    report = embedder.embed_file(Path(args.input).expanduser(), out, progress=not args.no_progress)
    report.update(precision="bfloat16" if bf16 else "float32", xla=embedder.jit_compile, config=bert.config.name)
    text = (f"Embedded {report['texts']} texts ({report['real_tokens']} real tokens) with "
            f"{bert.config.name}, key {args.key}, {report['precision']}"
            f"{', XLA' if embedder.jit_compile else ''}{', bucketing' if not args.no_bucketing else ', fixed length'}\n"
            f"  {report['seconds']} s: {report['texts_per_second']} texts/s, "
            f"{report['real_tokens_per_second']} real tokens/s\n  wrote {report['output']} "
            f"[{report['texts'] if args.key in ('pooled_output', 'cls', 'mean') else report['real_tokens']}, {report['width']}]"
            + (f" and {report['lengths']}" if "lengths" in report else ""))
    _emit(args, report, text)


def _read_data(args: argparse.Namespace, path: str) -> Any:
    from bert_hub.tasks.data import read_labelled

    return read_labelled(path, fmt=args.format, text_col=args.text_col, label_col=args.label_col,
                         positive=args.positive)


def _cmd_train(args: argparse.Namespace) -> None:
    from bert_hub.errors import InputError
    from bert_hub.tasks.metrics import format_metrics
    from bert_hub.tasks.train import load_train_config, train

    cfg = load_train_config(args.train_config).replace(
        epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate,
        warmup_fraction=args.warmup_fraction, weight_decay=args.weight_decay, dropout=args.dropout,
        seed=args.seed, seq_length=args.seq_length, validation_fraction=args.validation_fraction,
        test_fraction=args.test_fraction, class_weight=True if args.class_weight else None,
        bucketing=False if args.no_bucketing else None)
    if args.cpu_replicas:
        import tensorflow as tf

        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * args.cpu_replicas)
    data = _read_data(args, args.data)
    if args.validation_data or args.test_data:
        if not (args.validation_data and args.test_data):
            raise InputError("give both --validation-data and --test-data, or neither (then --data is split)")
        data = (data, _read_data(args, args.validation_data), _read_data(args, args.test_data))
    summary = train(args.config, data, args.out, cfg, resume=args.resume, overwrite=args.overwrite,
                    strategy=args.strategy, progress=not args.no_progress and not args.json)
    lines = [f"Trained {summary['model']} for {summary['epochs_done']} epochs ({summary['steps']} steps, "
             f"{summary['replicas']} replica(s)); run in {summary['run']}"]
    if summary["history"]:
        eps = [h["examples_per_second"] for h in summary["history"]]
        lines.append(f"  training speed: {sum(eps) / len(eps):.1f} examples/s")
    if "test_metrics" in summary:
        lines += ["", "Test split:", format_metrics(summary["test_metrics"], summary["label_names"])]
    if "export" in summary:
        lines += ["", f"Exported for serving: {summary['export']}  (bert-hub predict --model {args.out} TEXT)"]
    _emit(args, summary, "\n".join(lines))


def _cmd_evaluate(args: argparse.Namespace) -> None:
    from bert_hub.tasks.classifier import Classifier
    from bert_hub.tasks.metrics import format_metrics

    clf = Classifier(args.model)
    args.positive = args.positive or clf.info["positive_label"]
    metrics = clf.evaluate(_read_data(args, args.data))
    _emit(args, {"model": str(clf.path), "data": args.data, **metrics}, format_metrics(metrics, clf.label_names))


def _cmd_predict(args: argparse.Namespace) -> None:
    from bert_hub.tasks.classifier import Classifier

    clf = Classifier(args.model)
    rows = clf.predict(args.texts)
    width = max(len(r["label"]) for r in rows)
    text = "\n".join(f"{r['label']:<{width}}  {r['probability']:.4f}  {r['text']}" for r in rows)
    _emit(args, {"model": str(clf.path), "positive_label": clf.info["positive_label"], "predictions": rows}, text)


def _cmd_models(args: argparse.Namespace) -> None:
    from bert_hub.catalog import catalog, format_catalog

    rows = [entry.as_dict() for entry in catalog()]
    _emit(args, {"models": rows}, format_catalog(rows))


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
        prog="bert-hub",
        description="Kaggle / TF Hub BERT models from Keras: load, inspect, embed, fine-tune, export.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("models", parents=[common], help="list the model catalog and what is available offline",
                       description="Every model config in configs/: L/H/A, parameters, handles, and whether "
                                   "its preprocess and encoder are on disk right now (no network used).")
    p.set_defaults(func=_cmd_models)

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

    p = sub.add_parser("embed", parents=[common], help="embed a text file (one text per line) into .npy",
                       description="Tokenize once, bucket by length, run compiled encoder calls; "
                                   "stream INPUT into OUTPUT.npy in input order.")
    p.add_argument("--config", default="default", help="config name or YAML file")
    p.add_argument("--input", required=True, help="UTF-8 text file, one text per line (blank lines kept)")
    p.add_argument("--output", required=True, help="output .npy file")
    p.add_argument("--key", default="pooled_output",
                   help="pooled_output, cls, mean, sequence_output or encoder_outputs[i] (default pooled_output)")
    p.add_argument("--batch-size", type=_positive_int, default=32)
    p.add_argument("--seq-length", type=_positive_int, help="longest packing (default: the config's)")
    p.add_argument("--buckets", help="comma-separated packed lengths (default: multiples of 8)")
    p.add_argument("--no-bucketing", action="store_true", help="the notebook's fixed-length path")
    p.add_argument("--xla", action=argparse.BooleanOptionalAction, default=None,
                   help="compile each bucket with XLA (default: on in float32, where it is faster "
                        "here; off in bfloat16, which XLA would bypass)")
    p.add_argument("--precision", choices=("auto", "float32", "bfloat16"), default="auto",
                   help="auto = bfloat16 on CPUs with native bf16 (AVX512-BF16/AMX), else float32")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.set_defaults(func=_cmd_embed)

    data = argparse.ArgumentParser(add_help=False)
    data.add_argument("--format", choices=("auto", "sms", "csv", "tsv"), default="auto",
                      help="sms: label<TAB>text, no header; csv/tsv: with a header (default: auto)")
    data.add_argument("--text-col", default="text", help="text column of CSV/TSV data")
    data.add_argument("--label-col", default="label", help="label column of CSV/TSV data")
    data.add_argument("--positive", help="the positive label (default: spam, else the second label)")

    p = sub.add_parser("train", parents=[common, data], help="fine-tune a spam (binary) classifier",
                       description="Fine-tune the encoder with a dropout + dense head on labelled texts; "
                                   "checkpoint every epoch, evaluate, export for serving.")
    p.add_argument("--config", default="default", help="model config (default: the embedded model)")
    p.add_argument("--data", required=True, help="labelled data (split into train/validation/test)")
    p.add_argument("--validation-data", help="separate validation file (with --test-data)")
    p.add_argument("--test-data", help="separate test file (with --validation-data)")
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument("--train-config", help="training YAML (epochs, batch_size, learning_rate, ...)")
    p.add_argument("--epochs", type=_positive_int)
    p.add_argument("--batch-size", type=_positive_int)
    p.add_argument("--learning-rate", type=float)
    p.add_argument("--warmup-fraction", type=float)
    p.add_argument("--weight-decay", type=float)
    p.add_argument("--dropout", type=float)
    p.add_argument("--seed", type=int)
    p.add_argument("--seq-length", type=_positive_int)
    p.add_argument("--validation-fraction", type=float)
    p.add_argument("--test-fraction", type=float)
    p.add_argument("--class-weight", action="store_true", help="weight classes by inverse frequency")
    p.add_argument("--no-bucketing", action="store_true", help="pad every batch to --seq-length")
    p.add_argument("--strategy", choices=("default", "mirrored"), default="default")
    p.add_argument("--cpu-replicas", type=_positive_int,
                   help="split the CPU into this many logical devices (for --strategy mirrored)")
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --out")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("evaluate", parents=[common, data], help="metrics of a trained classifier on data")
    p.add_argument("--model", required=True, help="run directory of `bert-hub train` (or its model/)")
    p.add_argument("--data", required=True, help="labelled data")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("predict", parents=[common], help="classify texts with a trained classifier")
    p.add_argument("--model", required=True, help="run directory of `bert-hub train` (or its model/)")
    p.add_argument("texts", nargs="+", metavar="TEXT")
    p.set_defaults(func=_cmd_predict)

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
