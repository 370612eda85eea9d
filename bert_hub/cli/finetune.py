"""``bert-hub train | evaluate | predict``: fine-tuning and using what it exports, for every task.

Nothing here knows a task by name: each one comes from the registry
([`bert_hub.finetune.tasks`][bert_hub.finetune.tasks]), which says which data flags and training
settings apply to it, how it reads its data and which model serves its
exports. ``bert-hub train --task T --help`` shows T's flags only.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bert_hub.cli.args import (
    add_overwrite,
    add_runner,
    beam_job_args,
    beam_summary,
    command,
    emit,
    positive_float,
    positive_int,
)
from bert_hub.cli.flags import add_options, flag_of, given
from bert_hub.core.errors import InputError, plural
from bert_hub.finetune.options import Options
from bert_hub.finetune.task import Task
from bert_hub.finetune.tasks import DEFAULT_TASK, TASKS, get_task, settings_owners
from bert_hub.finetune.train_config import STRATEGIES, WORKER_TIMEOUT, TrainConfig


def register(sub: Any, common: Any, argv: Sequence[str] = ()) -> None:
    """Declares ``train`` (with the flags of the ``--task`` in ``argv``), ``evaluate`` and ``predict``."""
    # An unknown --task is refused by the parser (its choices); its help shows the default task's flags.
    task = TASKS.get(_task_in(argv) or DEFAULT_TASK, get_task(DEFAULT_TASK))
    _train_parser(sub, common, task)
    _evaluate_parser(sub, common)
    _predict_parser(sub, common)


def _task_in(argv: Sequence[str]) -> str | None:
    """The ``--task`` of a ``train`` command line, read before parsing (it decides which flags exist)."""
    argv = list(argv)
    for i, arg in enumerate(argv):
        if arg == "--task" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--task="):
            return arg.split("=", 1)[1]
    return None


def _train_parser(sub: Any, common: Any, task: type[Task]) -> None:
    tasks = "\n".join(f"  {t.name:<22} {t.summary}" for t in TASKS.values())
    p = command(
        sub,
        "train",
        run_train,
        common=common,
        help="fine-tune a classifier, regressor, tagger or question answerer",
        description=f"Fine-tune the encoder with a task head; checkpoint every epoch, evaluate, export "
        f"for serving. Settings come from --train-config YAML, then the flags.\n\nTasks:\n"
        f"{tasks}\n\nThe flags below are those of {task.name}; `bert-hub train --task T "
        "--help` shows another task's.",
    )
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument(
        "--task", choices=tuple(TASKS), default=DEFAULT_TASK, help=f"what to fine-tune for (default {DEFAULT_TASK})"
    )
    p.add_argument("--config", default="default", help="model config (default: the embedded model)")
    p.add_argument("--data", required=True, help="the task's data (split into train/validation/test)")
    p.add_argument("--validation-data", help="separate validation file (with --test-data)")
    p.add_argument("--test-data", help="separate test file (with --validation-data)")
    p.add_argument("--out", required=True, help="run directory (created, parents included)")
    p.add_argument("--train-config", help="training YAML (epochs, batch_size, learning_rate, ...)")
    if task.DataOptions.fields():
        add_options(p.add_argument_group(f"data ({task.name})"), task.DataOptions)
    add_options(p.add_argument_group("training settings (every task)"), TrainConfig)
    if task.Settings.fields():
        add_options(p.add_argument_group(f"training settings ({task.name})"), task.Settings)
    p.add_argument(
        "--strategy",
        choices=STRATEGIES,
        default="default",
        help="mirrored: all local devices; multi-worker: MultiWorkerMirroredStrategy over the cluster "
        "in TF_CONFIG (the chief writes --out)",
    )
    p.add_argument(
        "--worker-timeout",
        type=positive_float,
        default=WORKER_TIMEOUT,
        metavar="SECONDS",
        help=f"multi-worker: give up when the other workers do not answer for this long (default {WORKER_TIMEOUT:g})",
    )
    p.add_argument(
        "--cpu-replicas",
        type=positive_int,
        help="split the CPU into this many logical devices (for --strategy mirrored)",
    )
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --out")
    p.add_argument(
        "--tensorboard",
        action="store_true",
        help="write TensorBoard event files into the run (tensorboard --logdir RUN/tensorboard)",
    )
    add_overwrite(p, "--out run")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(task_type=task, explain_unknown=_belongs_to_another_task)


def _belongs_to_another_task(args: argparse.Namespace, unknown: Sequence[str]) -> str | None:
    """Why a train flag is unknown, when it is another task's (``--doc-stride`` without ``--task``)."""
    flags = {arg.split("=", 1)[0] for arg in unknown if arg.startswith("--")}
    for t in TASKS.values():
        theirs = {flag_of(f) for group in (t.Settings, t.DataOptions) for f in group.fields()}
        for f in t.Settings.fields():
            theirs.add("--no-" + f.name.replace("_", "-"))
        hit = sorted(flags & theirs)
        if hit and t is not args.task_type:
            return f"{hit[0]} is a setting of {t.name}, not of {args.task_type.name}: add --task {t.name}"
    return None


def _data_groups() -> list[type[Options]]:
    """Every task's data options, once each."""
    return list(dict.fromkeys(t.DataOptions for t in TASKS.values()))


def _evaluate_parser(sub: Any, common: Any) -> None:
    p = command(
        sub,
        "evaluate",
        run_evaluate,
        common=common,
        frozen_weights=True,
        help="metrics of a trained model on data",
        description="Binary classifier: accuracy, precision, recall, F1, ROC-AUC; multi-class: accuracy, "
        "macro / micro / weighted F1, MCC, per class; multi-label: micro / macro / samples "
        "F1, subset accuracy, Hamming loss, per label; regressor: Pearson, Spearman, MSE, "
        "MAE; tagger: entity-level precision / recall / F1 per type (CoNLL rules) and token "
        "accuracy; question answerer: exact match and F1 (SQuAD rules).",
    )
    p.add_argument("--model", required=True, help="run directory of `bert-hub train` (or its model/)")
    p.add_argument("--data", required=True, help="data in the model's task format")
    group, seen = p.add_argument_group("data (as the model's task reads it)"), set[str]()
    for options in _data_groups():
        add_options(
            group, options, skip=[f.name for f in options.fields() if f.metadata.get("training_only")], seen=seen
        )
    _add_serving_precision(p)
    p.add_argument(
        "--plot",
        help="write the model's figures to this file (classifiers: confusion matrix and "
        "precision-recall curve or per-label bars; regressors: predicted vs true)",
    )
    add_overwrite(p, "--plot file")


def _predict_parser(sub: Any, common: Any) -> None:
    p = command(
        sub,
        "predict",
        run_predict,
        common=common,
        frozen_weights=True,
        help="classify, score, tag or answer with a trained model",
    )
    p.add_argument("--model", required=True, help="run directory of `bert-hub train` (or its model/)")
    seen: set[str] = set()
    for inputs in dict.fromkeys(t.model_type().PredictInputs for t in TASKS.values()):
        add_options(p, inputs, seen=seen)
    p.add_argument(
        "--input",
        help="a UTF-8 text file, one text per line (- for standard input); with --runner, "
        "text files (a path or a glob)",
    )
    p.add_argument("--output", help="with --runner: the output folder (Parquet shards, errors, summary)")
    add_overwrite(p, "--output folder")
    _add_serving_precision(p)
    add_runner(p)


def _add_serving_precision(p: Any) -> None:
    from bert_hub.finetune.exported import SERVING_PRECISIONS

    p.add_argument(
        "--precision",
        choices=SERVING_PRECISIONS,
        default="float32",
        help="float32: the exported model as it is (default); int8: rebuilt from the run's weights with the "
        "encoder's Transformer matmuls in int8 (a few seconds to build; needs the run folder and its model)",
    )


def _task_data(args: argparse.Namespace, task: type[Task], path: str) -> Any:
    try:
        return task.read(path, task.DataOptions(**given(args, task.DataOptions)).checked())
    except InputError as e:
        raise InputError(f"{e}{_other_task_hint(path, task.name, 'train it with --task {}')}") from None


def _other_task_hint(path: str, task: str, advice: str) -> str:
    """``"; it looks like NAME data (ADVICE)"`` when the file at ``path``, which ``task`` could not read, looks
    like another task's data; else empty."""
    from bert_hub.finetune.tasks import guess_task

    other = guess_task(path, besides=task) if path != "-" else None
    return f"; it looks like {other.name} data ({advice.format(other.name)})" if other else ""


def run_train(args: argparse.Namespace) -> None:
    """``bert-hub train``: the settings from the run (resumed), the YAML and the flags; the data; the run."""
    import tensorflow as tf

    from bert_hub.finetune.train import train
    from bert_hub.finetune.train_config import load_train_config, recorded_settings, recorded_train_config

    task_type: type[Task] = args.task_type
    # A resumed run starts from its own settings; the YAML and flags given must not change them.
    out = Path(args.out).expanduser()
    for flag, path in (
        ("--data", args.data),
        ("--validation-data", args.validation_data),
        ("--test-data", args.test_data),
    ):
        if path and out.absolute() in Path(path).expanduser().absolute().parents:
            raise InputError(
                f"{flag} {path} is inside --out {args.out}, which the run writes (and --overwrite "
                "replaces): keep the data outside the run folder"
            )
    base = recorded_train_config(out) if args.resume else None
    own = recorded_settings(out, task_type.Settings) if args.resume else None
    owners = {name: owner for name, owner in settings_owners().items() if owner != task_type.name}
    cfg, settings = load_train_config(
        args.train_config, base, settings=own or task_type.Settings(), task=task_type.name, others=owners
    )
    cfg = cfg.replace(**given(args, TrainConfig))
    task = task_type(settings.replace(**given(args, task_type.Settings)))
    if args.cpu_replicas:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * args.cpu_replicas)
    data = _task_data(args, task_type, args.data)
    if args.validation_data or args.test_data:
        if not (args.validation_data and args.test_data):
            raise InputError("give both --validation-data and --test-data, or neither (then --data is split)")
        data = (data, _task_data(args, task_type, args.validation_data), _task_data(args, task_type, args.test_data))
    summary = train(
        args.config,
        data,
        args.out,
        cfg,
        task=task,
        resume=args.resume,
        overwrite=args.overwrite,
        strategy=args.strategy,
        worker_timeout=args.worker_timeout,
        progress=not args.no_progress and not args.json and sys.stdout.isatty(),
        tensorboard=args.tensorboard,
    )
    if not summary["chief"]:
        return emit(
            args,
            summary,
            f"Worker done: {plural(summary['steps'], 'step')} of a multi-worker run; "
            f"the chief writes the run in {summary['run']}",
        )
    lines = [
        f"Trained {summary['model']} ({summary['task']}) for {plural(summary['epochs_done'], 'epoch')} "
        f"({plural(summary['steps'], 'step')}, {summary['replicas']} replica(s), {_precisions(summary)}); "
        f"run in {summary['run']}"
    ]
    if summary["history"]:
        eps = [h["examples_per_second"] for h in summary["history"]]
        lines.append(f"  training speed: {sum(eps) / len(eps):.1f} examples/s")
    if "stopped_early" in summary:
        lines.append(
            f"  stopped early after epoch {summary['stopped_early']['epoch']} of {summary['epochs']}: "
            f"{summary['stopped_early']['reason']}"
        )
    if "best_epoch" in summary:
        lines.append(f"  exported the best epoch: {summary['best_epoch']} (by {cfg.monitor})")
    if args.tensorboard:
        lines.append(f"  TensorBoard: tensorboard --logdir {Path(summary['run']) / 'tensorboard'}")
    for split in ("validation", "test"):
        if f"{split}_metrics" in summary:
            lines += [
                "",
                f"{split.capitalize()} split:",
                task_type.model_type().format_metrics(summary[f"{split}_metrics"], summary),
            ]
    if "export" in summary:
        lines += [
            "",
            f"Exported for serving: {summary['export']}  "
            f"(bert-hub predict --model {args.out} {task_type.predict_example})",
        ]
    emit(args, summary, "\n".join(lines))


def _precisions(summary: dict) -> str:
    """The run's precision, or its precisions in order when a resumed run changed it.

    Examples:
        >>> _precisions({"history": [{"precision": "bfloat16"}, {"precision": "float32"}], "precision": "float32"})
        'bfloat16, then float32'
    """
    seen = [h.get("precision", "float32") for h in summary["history"]] or [summary["precision"]]
    return ", then ".join(p for i, p in enumerate(seen) if p and (i == 0 or p != seen[i - 1])) or "no epoch trained"


def run_evaluate(args: argparse.Namespace) -> None:
    """``bert-hub evaluate``: the model's metrics on data read as its task reads it."""
    from bert_hub.finetune.tasks import get_task, load_model

    model = load_model(args.model, args.precision)
    options = get_task(model.task).DataOptions
    _refuse_others(args, options, _data_groups(), model)
    try:
        data = model.read_data(args.data, options(**given(args, options)).checked())
    except InputError as e:
        hint = _other_task_hint(args.data, model.task, "a {} model evaluates it")
        raise InputError(f"{e}{hint}") from None
    metrics = model.evaluate(data, plot=args.plot, overwrite=args.overwrite)
    emit(
        args,
        {
            "model": str(model.path),
            "data": args.data,
            "task": model.task,
            "serving_precision": model.precision,
            **metrics,
        },
        model.format_metrics(metrics, model.info),
    )


def _refuse_others(args: argparse.Namespace, takes: type[Options], groups: Sequence[type[Options]], model: Any) -> None:
    """Refuses a flag of ``groups`` that the model's group ``takes`` has not (``--question`` for a
    classifier), naming what the model takes."""
    for group in groups:
        for name in given(args, group):
            if name not in takes.names():
                field = next(f for f in group.fields() if f.name == name)
                kinds = (
                    ", ".join(flag_of(f) if not f.metadata.get("positional") else "TEXT" for f in takes.fields())
                    or "no such options"
                )
                raise InputError(
                    f"{flag_of(field) if not field.metadata.get('positional') else 'TEXT'} is not "
                    f"for {model.path}, a {model.task} model (it takes {kinds})"
                )


def run_predict(args: argparse.Namespace) -> None:
    """``bert-hub predict``: the model's predictions from the inputs its task takes."""
    if args.runner:
        from bert_hub.integrations.beam import run_predict as run_beam_predict

        if not (args.input and args.output) or args.texts or args.input == "-":
            raise InputError(
                "predict --runner reads --input FILES and writes --output FOLDER; give both, and no TEXT arguments"
            )
        summary = run_beam_predict(
            args.input, args.output, model=args.model, precision=args.precision, **beam_job_args(args, "predict")
        )
        return beam_summary(args, summary, "Scored")
    if args.output:
        raise InputError(
            "--output goes with --runner (a folder of Parquet shards); without it, predictions "
            "are printed (--json for machine-readable output)"
        )
    from bert_hub.finetune.tasks import load_model

    if args.input:
        if args.texts:
            raise InputError("give TEXT arguments or --input FILE, not both")
        args.texts = _lines_of(args.input)
    model = load_model(args.model, args.precision)
    inputs = model.PredictInputs
    _refuse_others(args, inputs, [t.model_type().PredictInputs for t in TASKS.values()], model)
    values = given(args, inputs)
    if "texts" in inputs.names() and not values.get("texts"):
        raise InputError(f"{model.path} predicts from texts: give TEXT arguments or --input FILE")
    report = model.predict_inputs(inputs(**values).checked())
    emit(args, {**report, "serving_precision": model.precision}, model.format_report(report))


def _lines_of(source: str) -> list[str]:
    """The texts of ``--input`` (one per line; ``-`` reads standard input), checked first."""
    from bert_hub.core.inputs import input_file, read_lines, readable_file, scan_text_file

    with input_file(source) as path:
        readable_file(path, "--input", "a text file, one text per line")
        if not scan_text_file(path):
            raise InputError(
                f"--input {'- (standard input)' if source == '-' else source} is empty; give one text per line"
            )
        return list(read_lines(path))
