"""``bert-hub``: the command line, a thin layer over the Python API.

Every command takes ``--json`` for machine-readable output and ``--verbose``
to get TensorFlow's own logging back (it is silenced by default). Bad input
ends with ``error: <one line>`` and exit status 2 (argument errors too);
Ctrl-C ends with a line saying what was left on disk and status 130 (SIGTERM
the same, status 143); a full disk is one line, status 2; a
closed pipe (``bert-hub models | head``) ends quietly. Status 1 is kept for
bert_hub's own bugs.

    bert-hub models [--json]
    bert-hub demo [--config C] [--json]
    bert-hub inspect [--config C] [--pair] [--seq-length N] TEXT...
    bert-hub compare-layers [--config C] [--plot out.png] TEXT...
    bert-hub fill-mask [--config C] [--top-k K] TEXT...
    bert-hub embed --config C --input texts.txt --output out.npy [--key K]
    bert-hub train [--task T] --config C --data sms.tsv --out runs/spam
    bert-hub evaluate --model runs/spam --data test.tsv
    bert-hub predict --model runs/spam TEXT...
    bert-hub predict --model runs/qa --question Q --context C
    bert-hub build --layers L --hidden H --heads A --out DIR
    bert-hub convert --from CHECKPOINT_DIR --out DIR
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import logging
import math
import os
import signal
import sys
import tempfile
import threading
import warnings
from typing import Any, Callable, Sequence

from bert_hub.errors import BertHubError, Interrupted
from bert_hub.outputs import track_written
from bert_hub.precision import PRECISIONS, assume_frozen_weights
from bert_hub.tasks.train_config import STRATEGIES, TASK_NAMES, WORKER_TIMEOUT, TrainConfig

DEFAULT_CONFIG_HELP = "config name or YAML file (default: the embedded all-MiniLM-L6-v2)"
#: Commands that only run models, never change weights: as a program of their own, they let
#: oneDNN pack each weight matrix once (see :mod:`bert_hub.precision`, "Frozen weights").
INFERENCE_COMMANDS = frozenset({"demo", "inspect", "compare-layers", "fill-mask", "embed", "evaluate", "predict"})


# -- running ------------------------------------------------------------------

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
    logging.getLogger().setLevel(logging.ERROR)  # Apache Beam warns on the root logger
    logging.getLogger("apache_beam").setLevel(logging.CRITICAL)  # its failures reach us as exceptions
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
        except BaseException as e:
            os.dup2(saved, 2)
            if not isinstance(e, KeyboardInterrupt):  # a failed import: show what TensorFlow said
                held.seek(0)
                sys.stderr.write(held.read().decode("utf-8", "replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


class _StderrHandler(logging.StreamHandler):
    """Progress lines of the ``bert_hub`` logger, to whatever ``sys.stderr`` is now."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter("%(message)s"))

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def _show_progress_lines(verbose: bool) -> None:
    """Library code logs to the ``bert_hub`` logger; the CLI shows its INFO lines on stderr."""
    logger = logging.getLogger("bert_hub")
    if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
        logger.addHandler(_StderrHandler())
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    logger.propagate = False


# -- the parser -------------------------------------------------------------------

class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line naming the command's --help."""

    def error(self, message: str) -> Any:  # type: ignore[override]
        self.exit(2, f"error: {message} (see `{self.prog} --help`)\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    value = _finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text!r}")
    return value


def _add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default="default", help=DEFAULT_CONFIG_HELP)
    p.add_argument("--seq-length", type=_positive_int,
                   help="pack to this many tokens (default: the config's seq_length)")
    p.add_argument("texts", nargs="+", metavar="TEXT")


def _add_overwrite(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--overwrite", action="store_true",
                   help=f"replace an existing {what} (only one bert_hub wrote; anything else is refused)")


def _add_runner(p: argparse.ArgumentParser) -> None:
    p.add_argument("--runner", help="run as an Apache Beam pipeline on this runner (DirectRunner, DataflowRunner, "
                                    "FlinkRunner, ...): --input is a file or glob, --output a folder; other "
                                    "options go to Beam unchanged (needs `pip install bert_hub[beam]`)")


def _models_parser(sub: Any, common: Any) -> None:
    p = sub.add_parser("models", parents=[common], help="list the model catalog and what is available offline",
                       description="Every model config in configs/: L/H/A, parameters, handles, and whether "
                                   "its preprocess and encoder are on disk right now (no network used).")
    p.set_defaults(command_name="models")


def _demo_parser(sub: Any, common: Any) -> None:
    p = sub.add_parser("demo", parents=[common], help="walk the notebook workflow on two sentences",
                       description="Preprocess two sentences and run the encoder, as the notebook does.")
    p.add_argument("--config", default="default", help=DEFAULT_CONFIG_HELP)
    p.set_defaults(command_name="demo")


def _inspect_parsers(sub: Any, common: Any) -> None:
    p = sub.add_parser("inspect", parents=[common], help="show the tokens, ids, mask and type ids of texts",
                       description="A table per text: position, id, wordpiece, mask, type id; the [CLS], "
                                   "[SEP] and first padding positions; whether the text was truncated.")
    _add_model_args(p)
    p.add_argument("--pair", action="store_true", help="read TEXTs two by two as sentence pairs")
    p.set_defaults(command_name="inspect")

    p = sub.add_parser("compare-layers", parents=[common], help="compare the encoder's layer outputs",
                       description="Check encoder_outputs[-1] == sequence_output, the L x L layer "
                                   "similarity of real tokens, each layer against the final "
                                   "representation, and pooled_output against [CLS].")
    _add_model_args(p)
    p.add_argument("--plot", help="write the layer-similarity heatmap to this file (.png, .pdf, .svg, .jpg)")
    _add_overwrite(p, "--plot file")
    p.add_argument("--reference", default="sequence_output",
                   help="per-token output to compare each layer with (sequence_output or encoder_outputs[i])")
    p.set_defaults(command_name="compare_layers")

    p = sub.add_parser("fill-mask", parents=[common], help="predict the [MASK]ed wordpieces",
                       description="Top-k predictions for every [MASK] in each TEXT, through the "
                                   "encoder's masked-LM head (mlm).")
    _add_model_args(p)
    p.add_argument("--top-k", type=_positive_int, default=5)
    p.set_defaults(command_name="fill_mask")


def _embed_parser(sub: Any, common: Any) -> None:
    p = sub.add_parser("embed", parents=[common], help="embed a text file (one text per line) into .npy",
                       description="Tokenize once, bucket by length, run compiled encoder calls; "
                                   "stream INPUT into OUTPUT.npy in input order.")
    p.add_argument("--config", default="default", help="config name or YAML file")
    p.add_argument("--input", required=True, help="UTF-8 text file, one text per line (blank lines kept); "
                                                  "with --runner, a path or glob")
    p.add_argument("--output", required=True, help="output .npy file; with --runner, a folder")
    _add_overwrite(p, "--output")
    p.add_argument("--key", default="pooled_output",
                   help="pooled_output, cls, mean, sequence_output or encoder_outputs[i] (default pooled_output)")
    p.add_argument("--batch-size", type=_positive_int, default=32)
    p.add_argument("--seq-length", type=_positive_int, help="longest packing (default: the config's)")
    p.add_argument("--buckets", help="comma-separated packed lengths (default: multiples of 8)")
    p.add_argument("--no-bucketing", action="store_true", help="the notebook's fixed-length path")
    p.add_argument("--xla", action=argparse.BooleanOptionalAction, default=None,
                   help="compile each bucket with XLA (default: whichever is faster on this CPU, measured)")
    p.add_argument("--precision", choices=PRECISIONS, default="auto",
                   help="auto = the faster of float32 and (on CPUs with native bf16) bfloat16 on this CPU, "
                        "measured once per CPU and model shape and kept in the cache")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    _add_runner(p)
    p.set_defaults(command_name="embed")


def _data_args() -> argparse.ArgumentParser:
    data = argparse.ArgumentParser(add_help=False)
    data.add_argument("--format", choices=("auto", "sms", "csv", "tsv"), default="auto",
                      help="text classification: sms: label<TAB>text, no header; csv/tsv: with a header "
                           "(default: auto). Token classification reads CoNLL, question answering SQuAD JSON")
    data.add_argument("--text-col", default="text", help="text column of CSV/TSV data")
    data.add_argument("--pair-col", help="second text column of CSV/TSV data: classify sentence pairs")
    data.add_argument("--label-col", default="label", help="label column of CSV/TSV data")
    data.add_argument("--positive", help="two labels: the positive one (default: spam when present, else "
                                          "required)")
    data.add_argument("--multi-class", action="store_true",
                      help="train a softmax over the labels even when there are two (more than two labels "
                           "always are multi-class)")
    data.add_argument("--multi-label", action="store_true",
                      help="each label field holds none, one or several labels (files,network): a sigmoid and "
                           "a threshold per label")
    data.add_argument("--label-sep", default=",", help="--multi-label: what separates a text's labels (default ,)")
    return data


def _add_train_config_flags(p: argparse.ArgumentParser) -> None:
    """One flag per :class:`TrainConfig` field (``--batch-size``, ``--class-weight``/``--no-...``)."""
    for f in dataclasses.fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        help_text = f"{f.metadata.get('help', '')} (default {f.default})"
        if isinstance(f.default, bool):
            p.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        else:
            kinds = {int: _positive_int, float: _finite_float}
            kind = int if f.name == "seed" else kinds.get(f.default.__class__, f.default.__class__)
            p.add_argument(flag, dest=f.name, type=kind, help=help_text)


def _classify_parsers(sub: Any, common: Any) -> None:
    data = _data_args()
    p = sub.add_parser("train", parents=[common, data], help="fine-tune a classifier, tagger or question answerer",
                       description="Fine-tune the encoder with a task head: text classification (labelled texts "
                                   "or pairs, the default; two labels or more), text regression (a score per "
                                   "text or pair), token classification (CoNLL) or question answering "
                                   "(SQuAD JSON); checkpoint every epoch, evaluate, export for serving. Settings "
                                   "come from --train-config YAML, then the flags.")
    p.add_argument("--task", choices=TASK_NAMES, default=TASK_NAMES[0],
                   help=f"what to fine-tune for (default {TASK_NAMES[0]})")
    p.add_argument("--config", default="default", help="model config (default: the embedded model)")
    p.add_argument("--data", required=True, help="labelled data (split into train/validation/test)")
    p.add_argument("--validation-data", help="separate validation file (with --test-data)")
    p.add_argument("--test-data", help="separate test file (with --validation-data)")
    p.add_argument("--out", required=True, help="run directory (created, parents included)")
    p.add_argument("--train-config", help="training YAML (epochs, batch_size, learning_rate, ...)")
    _add_train_config_flags(p)
    p.add_argument("--strategy", choices=STRATEGIES, default="default",
                   help="mirrored: all local devices; multi-worker: MultiWorkerMirroredStrategy over the cluster "
                        "in TF_CONFIG (the chief writes --out)")
    p.add_argument("--worker-timeout", type=_positive_float, default=WORKER_TIMEOUT, metavar="SECONDS",
                   help="multi-worker: give up when the other workers do not answer for this long "
                        f"(default {WORKER_TIMEOUT:g})")
    p.add_argument("--cpu-replicas", type=_positive_int,
                   help="split the CPU into this many logical devices (for --strategy mirrored)")
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --out")
    _add_overwrite(p, "--out run")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(command_name="train")

    p = sub.add_parser("evaluate", parents=[common, data], help="metrics of a trained model on data",
                       description="Binary classifier: accuracy, precision, recall, F1, ROC-AUC; multi-class: "
                                   "accuracy, macro / micro / weighted F1, MCC, per class; regressor: Pearson, "
                                   "Spearman, MSE, MAE; tagger: entity-level "
                                   "precision / recall / F1 per type (CoNLL rules) and token accuracy; question "
                                   "answerer: exact match and F1 (SQuAD rules).")
    p.add_argument("--model", required=True, help="run directory of `bert-hub train` (or its model/)")
    p.add_argument("--data", required=True, help="data in the model's task format")
    p.add_argument("--plot", help="write the confusion matrix and the precision-recall curve to this file")
    _add_overwrite(p, "--plot file")
    p.set_defaults(command_name="evaluate")

    p = sub.add_parser("predict", parents=[common], help="classify, tag or answer with a trained model")
    p.add_argument("--model", required=True, help="run directory of `bert-hub train` (or its model/)")
    p.add_argument("texts", nargs="*", metavar="TEXT")
    p.add_argument("--pair", action="store_true", help="sentence-pair classifier: read TEXTs two by two")
    p.add_argument("--top-k", type=_positive_int, default=1,
                   help="multi-class classifier: show the K most probable labels of each text (default 1)")
    p.add_argument("--question", action="append", help="question answerer: a question (repeat for several)")
    p.add_argument("--context", help="question answerer: the text the answers come from")
    p.add_argument("--input", help="with --runner: text files, one text per line (a path or a glob)")
    p.add_argument("--output", help="with --runner: the output folder (Parquet shards, errors, summary)")
    _add_overwrite(p, "--output folder")
    _add_runner(p)
    p.set_defaults(command_name="predict")


def _builder_parsers(sub: Any, common: Any) -> None:
    p = sub.add_parser("build", parents=[common], help="write a random-weight model bundle",
                       description="Write DIR/preprocess, DIR/encoder and DIR/bert_hub.yaml with "
                                   "randomly initialised weights (for fixtures and benchmarks).")
    p.add_argument("--layers", type=_positive_int, required=True, help="Transformer blocks (L)")
    p.add_argument("--hidden", type=_positive_int, required=True, help="hidden size (H)")
    p.add_argument("--heads", type=_positive_int, required=True, help="attention heads (A)")
    p.add_argument("--intermediate", type=_positive_int, help="feed-forward size (default 4*H)")
    vocab = p.add_mutually_exclusive_group()
    vocab.add_argument("--vocab", help="WordPiece vocab.txt (default: the vocab of --vocab-from)")
    vocab.add_argument("--vocab-from", default="default",
                       help="use the vocab of this config's preprocess model (default: the embedded "
                            "default's 30522-token uncased vocab)")
    p.add_argument("--cased", action="store_true", help="do not lower-case text (default: uncased)")
    p.add_argument("--max-position-embeddings", type=_positive_int, default=512)
    p.add_argument("--seq-length", type=_positive_int, default=128,
                   help="default packing length of the preprocess model")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-mlm", action="store_true", help="leave out the masked-LM head")
    p.add_argument("--name", help="model name written to bert_hub.yaml")
    p.add_argument("--out", required=True, help="output directory")
    _add_overwrite(p, "--out bundle")
    p.set_defaults(command_name="build")

    p = sub.add_parser("convert", parents=[common], help="convert a BERT checkpoint to TF Hub format",
                       description="Convert a checkpoint directory (config.json, model.safetensors, "
                                   "vocab.txt) into DIR/preprocess, DIR/encoder, DIR/bert_hub.yaml.")
    p.add_argument("--from", dest="source", required=True, help="checkpoint directory")
    p.add_argument("--out", required=True, help="output directory")
    case = p.add_mutually_exclusive_group()
    case.add_argument("--uncased", dest="lower_case", action="store_const", const=True,
                      help="lower-case text (default: from tokenizer_config.json)")
    case.add_argument("--cased", dest="lower_case", action="store_const", const=False)
    p.add_argument("--seq-length", type=_positive_int, default=128)
    p.add_argument("--name", help="model name written to bert_hub.yaml")
    _add_overwrite(p, "--out bundle")
    p.set_defaults(command_name="convert")


def build_parser() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    common.add_argument("--json", action="store_true", help="print machine-readable JSON")
    common.add_argument("--verbose", action="store_true", help="show TensorFlow's logging and tracebacks")
    parser = _Parser(prog="bert-hub",
                     description="Kaggle / TF Hub BERT models from Keras: load, inspect, embed, fine-tune, export.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)
    for add in (_models_parser, _demo_parser, _inspect_parsers, _embed_parser, _classify_parsers,
                _builder_parsers):
        add(sub, common)
    return parser


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C would be, so that the same clean-up runs (exit status 143)."""


def _raise_terminated(signum: int, frame: Any) -> None:
    raise Terminated()


#: Words in an OS or TensorFlow error that mean the disk (or a size limit) refused a write.
_NO_ROOM = ("No space left on device", "Disk quota exceeded", "File too large")


def _interrupted_status(error: BaseException | None) -> int:
    return 143 if isinstance(error, Terminated) or isinstance(getattr(error, "__context__", None), Terminated) \
        else 130


def _run(args: argparse.Namespace) -> int:
    written: list = []
    try:
        with track_written() as written:
            # The commands load TensorFlow: imported only now, once its logging is silenced.
            commands = importlib.import_module("bert_hub.commands")
            func: Callable[[argparse.Namespace], None] = getattr(commands, f"cmd_{args.command_name}")
            func(args)
            sys.stdout.flush()
    except Interrupted as e:
        print(str(e), file=sys.stderr)
        return _interrupted_status(e)
    except BertHubError as e:
        print(f"error: {e}", file=sys.stderr)
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
    except Exception as e:  # noqa: BLE001 - last resort: one line unless --verbose
        first = (str(e).strip().splitlines() or [""])[0][:300]
        if any(words in str(e) for words in _NO_ROOM) and not args.verbose:
            where = f" {e.filename}" if isinstance(e, OSError) and e.filename else ""
            first = e.strerror if isinstance(e, OSError) and e.strerror else first
            print(f"error: cannot write{where}: {first}; free some space (or raise the limit) and run the command "
                  "again (nothing half-written was left in place of an output)", file=sys.stderr)
            return 2
        if args.verbose:
            raise
        print(f"error: unexpected {type(e).__name__}: {first} (a bert_hub bug; run again with --verbose "
              "for details)", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None, *, standalone: bool | None = None) -> int:
    """Runs one ``bert-hub`` command; returns the exit status.

    ``standalone`` (default: ``argv is None``, i.e. run as the ``bert-hub``
    program) says the process runs nothing else: the inference commands
    then set ``TF_ONEDNN_ASSUME_FROZEN_WEIGHTS`` before TensorFlow starts,
    which a process that goes on to train must not have.
    """
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
        if extra and not getattr(args, "runner", None):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        args.pipeline_args = extra  # with --runner: Beam pipeline options, checked, then passed to Beam
        sub = parser._subparsers._group_actions[0].choices[args.command]  # type: ignore[union-attr]
        args.own_options = [o for action in sub._actions for o in action.option_strings]
    except SystemExit as e:  # --help, or an argument error already printed in one line
        return int(e.code or 0)
    args.standalone = argv is None if standalone is None else standalone
    if args.standalone and args.command in INFERENCE_COMMANDS:
        assume_frozen_weights()
    try:
        _quiet_tensorflow(args.verbose)
    except KeyboardInterrupt:  # Ctrl-C while TensorFlow loads: nothing has started
        print("interrupted; nothing was written (existing outputs are as they were)", file=sys.stderr)
        status = 130
    else:
        _show_progress_lines(args.verbose)
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



if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
