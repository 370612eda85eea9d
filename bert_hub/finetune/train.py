"""Fine-tuning: one loop for every task (text, token, question answering); schedule, checkpoints, resume.

What a task adds (data splits, head, loss, export) is a
[`Task`][bert_hub.finetune.task.Task]: text classification (spam first; the
default), token classification (NER) and extractive question answering.
Every model fine-tunes the encoder with AdamW ([`bert_hub.finetune.optimizer`][bert_hub.finetune.optimizer]: weight
decay off for LayerNorm
and biases), a linear warm-up over the first 10% of steps and a linear decay
to zero, in float32 or in mixed bfloat16 precision where the CPU computes it
natively ([`bert_hub.finetune.mixed_precision`][bert_hub.finetune.mixed_precision]).

Training does not pad every example to ``seq_length``: it batches with
`bert_hub.runtime.batching` (examples tokenized once, each epoch's batches
grouping examples of similar length, seeded, and ``tf.data`` packing each
batch to the smallest bucket that holds it, with prefetching).
A checkpoint is written after every epoch; ``resume=True`` continues from the
last one and ends with the same number of steps as an uninterrupted run.

Examples:
    A tiny run on the embedded default:

    >>> from bert_hub.finetune.tasks.labelled_texts import LabelledTexts
    >>> from bert_hub.finetune.train import train
    >>> from bert_hub.finetune.train_config import STRATEGIES, TrainConfig
    >>> data = LabelledTexts(["win cash now", "lunch?"] * 8, [1, 0] * 8, ("ham", "spam"))
    >>> result = train("default", data, "runs/doc", TrainConfig(epochs=1), overwrite=True)  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from bert_hub.core.atomic import atomic_write_text
from bert_hub.core.config import ModelConfig, load_config
from bert_hub.core.errors import InputError, plural
from bert_hub.core.manifests import mark_directory
from bert_hub.core.pause import pause_point
from bert_hub.finetune.distribution import distribution_strategy, is_multi_worker, training_data, writes_the_run
from bert_hub.finetune.early_stopping import DEFAULT_MONITOR, best_epoch, check_monitor, stop_reason
from bert_hub.finetune.lora import (
    RECORD,
    Lora,
    adapter_layer,
    base_record,
    merged_model,
    with_adapters,
)
from bert_hub.finetune.mixed_precision import choose_precision
from bert_hub.finetune.optimizer import adamw
from bert_hub.finetune.plots import plot_curves
from bert_hub.finetune.run_folder import (
    RUN,
    RunFolder,
    ScratchRun,
    check_resumed_base,
    check_resumed_data,
    check_resumed_settings,
    check_resumed_task,
    write_json,
)
from bert_hub.finetune.task import Examples, Task, buckets_for
from bert_hub.finetune.tasks import TASKS, get_task
from bert_hub.finetune.tensorboard import tensorboard_callback
from bert_hub.finetune.train_config import WORKER_TIMEOUT, TrainConfig, recorded_settings, recorded_train_config
from bert_hub.hub.pipeline import BertPipeline
from bert_hub.runtime import batching
from bert_hub.runtime.calibration import model_shape
from bert_hub.runtime.precision import FROZEN_WEIGHTS_VARIABLE, weights_frozen

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class RunOptions:
    """How a training run is carried out, beside what it learns
    ([`TrainConfig`][bert_hub.finetune.train_config.TrainConfig]):
    built once from the arguments of [`train`][bert_hub.finetune.train.train] (or the CLI's flags), it travels
    whole to the loop.

    Attributes:
        resume: continue the run in ``out`` from its last checkpoint.
        overwrite: replace an existing run in ``out`` (only a bert_hub run).
        strategy: ``default``, ``mirrored`` or ``multi-worker``.
        worker_timeout: seconds a worker of a multi-worker run waits for the others.
        progress: Keras' progress bar (else one log line per epoch).
        stop_after_epochs: stop (as if interrupted) after this many epochs of this call.
        callbacks: extra ``tf_keras`` callbacks for ``fit``.
        tensorboard: write TensorBoard event files into the run
            (see [`bert_hub.finetune.tensorboard`][bert_hub.finetune.tensorboard]).
    """

    resume: bool = False
    overwrite: bool = False
    strategy: str = "default"
    worker_timeout: float = WORKER_TIMEOUT
    progress: bool = False
    stop_after_epochs: int | None = None
    callbacks: Sequence[Any] = ()
    tensorboard: bool = False


def task_for(data: Any, task: str | type[Task] | Task | None = None) -> Task:
    """The task named ``task`` (a name, a class or an instance with its settings), else the one whose data
    ``data`` is (checked against each other)."""
    if isinstance(task, Task):
        chosen = task
    elif isinstance(task, type) and issubclass(task, Task):
        chosen = task()
    elif task is not None:
        chosen = get_task(task)()
    else:
        first = data[0] if isinstance(data, (tuple, list)) else data
        kinds = [t for t in TASKS.values() if isinstance(first, t.data_type)]
        if not kinds:
            raise InputError(f"no task trains on {type(first).__name__}; give the data of one of {', '.join(TASKS)}")
        chosen = kinds[0]()
    parts = data if isinstance(data, (tuple, list)) else [data]
    for part in parts:
        if not isinstance(part, chosen.data_type):
            raise InputError(f"task {chosen.name} trains on {chosen.data_type.__name__}, not {type(part).__name__}")
    return chosen


def data_fingerprint(data: Any) -> str:
    """A SHA-256 of what ``data`` holds (examples and labels, not where it was read from): a resumed run
    refuses other data.

    >>> from bert_hub.finetune.tasks.labelled_texts import LabelledTexts
    >>> a = LabelledTexts(["hi"], [0], ("ham", "spam"), source="a.tsv")
    >>> data_fingerprint(a) == data_fingerprint(LabelledTexts(["hi"], [0], ("ham", "spam"), source="b.tsv"))
    True
    """
    digest = hashlib.sha256()
    for part in data if isinstance(data, (tuple, list)) else [data]:
        fields = (
            dataclasses.asdict(part)
            if dataclasses.is_dataclass(part) and not isinstance(part, type)
            else {"data": part}
        )
        digest.update(repr({k: v for k, v in fields.items() if k not in ("source", "lines")}).encode("utf-8"))
    return digest.hexdigest()


def _compile(model: Any, task: Task, cfg: TrainConfig, total_steps: int) -> Any:
    """AdamW with warm-up and linear decay, the task's loss and metrics."""
    optimizer = adamw(cfg.peak_learning_rate, total_steps, int(cfg.warmup_fraction * total_steps), cfg.weight_decay)
    loss, metrics = task.loss_and_metrics()
    model.compile(optimizer=optimizer, loss=loss, metrics=metrics)
    optimizer.build(model.trainable_variables)
    return optimizer


def seed_everything(seed: int, encoder: Any = None, step: int = 0) -> None:
    """Seeds Python, NumPy and TensorFlow, and the dropout of bert_hub-built encoders.

    Encoders bert_hub writes carry ``dropout_seed`` (``int64 [2]``): their
    dropout is stateless, drawn from ``(seed, training step)``, so a run and
    its resumed continuation repeat exactly. Kaggle / TF Hub encoders have no
    such variable; their dropout ops were saved unseeded.
    """
    import tf_keras

    tf_keras.utils.set_random_seed(seed)
    if encoder is not None and hasattr(encoder, "dropout_seed"):
        encoder.dropout_seed.assign([seed, step])


DEFAULT_SETTINGS = TrainConfig()
"""The settings of a run given none (frozen: one object serves every call)."""


def train(
    config: Any,
    data: Any,
    out: str | Path,
    cfg: TrainConfig = DEFAULT_SETTINGS,
    *,
    task: str | type[Task] | Task | None = None,
    resume: bool = False,
    overwrite: bool = False,
    strategy: str = "default",
    progress: bool = False,
    stop_after_epochs: int | None = None,
    callbacks: Sequence[Any] = (),
    worker_timeout: float = WORKER_TIMEOUT,
    tensorboard: bool = False,
) -> dict[str, Any]:
    """Fine-tunes the encoder of ``config`` on ``data`` and writes the run to ``out``.

    Everything is checked (run folder, data, splits) before anything is
    written. Interrupting (Ctrl-C, or SIGTERM in the CLI) at any moment
    leaves either nothing, the previous run untouched (``overwrite``), the
    complete new run, or a run that ``resume=True`` continues; the
    [`Interrupted`][bert_hub.core.errors.Interrupted] raised says which. One process at a
    time writes ``out`` (a second is refused, naming the first).

    Args:
        config: a model config (name, path or ModelConfig).
        data: the task's data (split into train/validation/test with
            ``cfg``'s fractions) or a ready (train, validation, test) triple:
            [`LabelledTexts`][bert_hub.finetune.tasks.labelled_texts.LabelledTexts],
            [`ScoredTexts`][bert_hub.finetune.tasks.regression.ScoredTexts],
            [`TaggedSentences`][bert_hub.finetune.tasks.token_classification.TaggedSentences] or
            [`SquadData`][bert_hub.finetune.tasks.question_answering.SquadData].
        out: the run directory: ``checkpoints/``, ``history.json``,
            ``curves.png``, ``metrics.json``, ``train_config.yaml`` and the
            exported ``model/``.
        cfg: the settings every task shares.
        task: a task with its own settings (``TextClassification(tune_threshold=True)``),
            a task class, or a name of [`TASKS`][bert_hub.finetune.tasks.TASKS];
            default: the task of ``data``, with its default settings.
        resume: continue from the last checkpoint in ``out``, with the run's
            own settings: ``cfg`` and the task's settings must equal its
            ``train_config.yaml`` but for ``epochs`` and ``precision`` (refused
            otherwise; left at their defaults, the run's own are kept); a
            finished run is refused.
        overwrite: replace an existing run in ``out`` (only a bert_hub run).
        strategy: ``default``, ``mirrored`` (all visible CPU/GPU devices) or
            ``multi-worker`` (``MultiWorkerMirroredStrategy``, the cluster from
            ``TF_CONFIG``; the chief writes the run, other workers nothing).
        worker_timeout: multi-worker only: seconds a worker waits for the
            others at a synchronisation point (the first one included) before
            it gives up with an error, so that a worker whose chief refused to
            start does not wait forever.
        progress: show Keras' progress bar (else one log line per epoch).
        stop_after_epochs: stop (as if interrupted) after this many epochs of
            this call; the run can be resumed.
        callbacks: extra ``tf_keras`` callbacks for ``fit``.
        tensorboard: write TensorBoard event files into ``out/tensorboard``
            (each step's loss and learning rate, each epoch's values).

    Returns:
        A summary: data counts, examples/second, per-epoch history, the
        task's metrics and the export path.
    """
    if not isinstance(cfg, TrainConfig):
        raise InputError(f"`cfg` must be a TrainConfig (such as TrainConfig(epochs=2)), not a {type(cfg).__name__}")
    options = RunOptions(
        resume=resume,
        overwrite=overwrite,
        strategy=strategy,
        worker_timeout=worker_timeout,
        progress=progress,
        stop_after_epochs=stop_after_epochs,
        callbacks=tuple(callbacks),
        tensorboard=tensorboard,
    )
    if not str(out).strip():
        raise InputError("`out` is empty; give the run folder to write")
    out = Path(out).expanduser().absolute()
    chosen = task_for(data, task)
    chosen.check(cfg)
    chief = writes_the_run(strategy)
    # The chief checks --out first: refused, it never joins the cluster. Then the strategy,
    # before any other TensorFlow work (a multi-worker strategy must come first).
    run: RunFolder | ScratchRun = RunFolder(out, resume=resume, overwrite=overwrite) if chief else ScratchRun(out)
    try:
        return _train_run(run, config, data, out, cfg, chosen, chief, options)
    finally:
        run.release()


def _resumed_settings(out: Path, cfg: TrainConfig, task: Task) -> tuple[TrainConfig, Task]:
    """A resumed run keeps its planned epochs and precision unless told otherwise (the CLI reads them too; the
    Python API may be given the defaults), and its task's settings when given the defaults."""
    recorded = recorded_train_config(out)
    if recorded is not None:
        if cfg.epochs is None:
            cfg = cfg.replace(epochs=recorded.epochs)
        if cfg.precision == "auto":
            cfg = cfg.replace(precision=recorded.precision)
        if cfg.learning_rate is None:
            cfg = cfg.replace(learning_rate=recorded.learning_rate)
    own = recorded_settings(out, task.Settings)
    if own is not None and task.settings == task.Settings():
        task = type(task)(own)
    return cfg, task


def _train_run(
    run: RunFolder | ScratchRun,
    config: Any,
    data: Any,
    out: Path,
    cfg: TrainConfig,
    chosen: Task,
    chief: bool,
    options: RunOptions,
) -> dict[str, Any]:
    """[`train`][bert_hub.finetune.train.train] once ``run`` holds the output."""
    pause_point("train-start")
    if options.resume:
        cfg, chosen = _resumed_settings(out, cfg, chosen)
    fingerprint = data_fingerprint(data)
    if options.resume and isinstance(run, RunFolder):  # the chief
        check_resumed_task(out, chosen.name)
        check_resumed_settings(out, cfg, chosen.settings)
        check_resumed_data(out, fingerprint)
        run.check_unfinished(cfg.epochs)
    try:
        dist = distribution_strategy(options.strategy, options.worker_timeout)
    except Exception as e:
        raise run.failed(e, cfg.epochs) from None  # nothing opened yet: a worker's scratch folder goes
    if weights_frozen():
        raise InputError(
            f"{FROZEN_WEIGHTS_VARIABLE} is on in this process: TensorFlow's oneDNN matmuls would "
            "keep the weights of the first step and the model would not learn; unset it (it is "
            "for processes that only run inference)"
        )
    model_config = config if isinstance(config, ModelConfig) else load_config(config)
    if cfg.seq_length > model_config.architecture.max_position_embeddings:
        raise InputError(
            f"seq_length {cfg.seq_length} exceeds the model's max_position_embeddings "
            f"({model_config.architecture.max_position_embeddings})"
        )
    splits = chosen.split(data, cfg)
    dup = chosen.overlap(splits)
    log.info("%s", chosen.describe(splits))
    if dup:
        log.warning("warning: %d distinct examples occur in more than one split (duplicates in the data)", dup)
    workdir = run.open()
    try:
        summary = _train_in(
            workdir,
            model_config,
            chosen,
            splits,
            cfg,
            dist,
            options,
            restore_from=workdir if chief else out,
            fingerprint=fingerprint,
        )
        summary.update(
            run=str(out), strategy=options.strategy, chief=chief, data={**summary["data"], "overlapping_examples": dup}
        )
        if not chief:
            summary.pop("export", None)  # a worker's copy was temporary
        elif "export" in summary:
            summary["export"] = str(out / "model")
            write_json(workdir / "summary.json", summary)  # in the run before it is put in place
        run.close()
    except BaseException as e:
        raise run.failed(e, cfg.epochs) from None
    return summary


def _train_in(
    workdir: Path,
    model_config: ModelConfig,
    task: Task,
    splits: tuple[Any, Any, Any],
    cfg: TrainConfig,
    dist: Any,
    options: RunOptions,
    *,
    restore_from: Path,
    fingerprint: str,
) -> dict[str, Any]:
    """The training itself, in ``workdir``: model, fit with checkpoints, then the task's export and metrics.

    ``restore_from`` is where a resumed run reads its checkpoint (the chief's
    run folder, for every worker of a multi-worker run); ``fingerprint`` (of
    the data) is recorded with the settings.
    """
    import tensorflow as tf

    train_data, val_data, test_data = splits
    seed_everything(cfg.seed)
    lora = Lora.from_settings(cfg)
    cfg = cfg.replace(learning_rate=cfg.peak_learning_rate)  # recorded as it runs
    with dist.scope():
        bert = BertPipeline(model_config, trainable=lora is None)
        adapters = None if lora is None else adapter_layer(bert, lora, cfg.seed, pooler=task.reads_pooled_output())
        model = task.build_model(bert if adapters is None else with_adapters(bert, adapters), cfg)
        train_ex = task.examples(bert, train_data, cfg)
        steps_per_epoch = len(_epoch_batches(train_ex, cfg, 0, dist))
        epochs = cfg.planned_epochs(steps_per_epoch)
        if cfg.epochs is None:
            cfg = cfg.replace(epochs=epochs)
            log.info(
                "%s of %d steps (the default for %s; `epochs` chooses)",
                plural(epochs, "epoch"),
                steps_per_epoch,
                plural(len(train_ex), "training example"),
            )
        optimizer = _compile(model, task, cfg, steps_per_epoch * epochs)
        epoch_var = tf.Variable(0, dtype=tf.int64, trainable=False, name="epochs_done")
        ckpt = tf.train.Checkpoint(model=model, optimizer=optimizer, epochs_done=epoch_var)
    # Resuming needs the last epoch's checkpoint only (the manager writes a new one before it drops the old).
    manager = tf.train.CheckpointManager(ckpt, str(workdir / "checkpoints"), max_to_keep=1)
    history: list[dict[str, Any]] = []
    base = None
    if lora is not None:
        log.info("%s", lora.describe())
        base = {RECORD: base_record(bert)}
        if options.resume:
            check_resumed_base(restore_from, base[RECORD]["fingerprint"], bert.config.source)
    if options.resume:
        history = _restore(ckpt, restore_from, model, optimizer, epoch_var, cfg, workdir)
    encoder = bert.encoder if adapters is None else adapters.module
    seed_everything(cfg.seed, encoder, step=int(optimizer.iterations.numpy()))
    atomic_write_text(
        workdir / "train_config.yaml",
        yaml.safe_dump(
            {
                "model": model_config.source,
                "task": task.name,
                "data_fingerprint": fingerprint,
                **cfg.as_dict(),
                **task.settings.as_dict(),
                **(base or {}),
            },
            sort_keys=False,
        ),
    )

    val_ex = task.examples(bert, val_data, cfg)
    buckets = buckets_for(cfg)
    val_ds = val_ex.dataset(batching.length_sorted_batches(val_ex.lengths, cfg.batch_size), buckets)
    start_epoch = int(epoch_var.numpy())
    last_epoch = epochs if options.stop_after_epochs is None else min(epochs, start_epoch + options.stop_after_epochs)
    # A run resumed after it decided to stop (an interrupt came before its export) trains no more.
    stopped = _stop_reason(history, cfg)
    if start_epoch < last_epoch and stopped is None:
        # One fit() over the remaining epochs (so Keras shows "Epoch 2/3"); each epoch
        # draws its own batches, and the iterator runs on from epoch to epoch.
        batches = [b for epoch in range(start_epoch, last_epoch) for b in _epoch_batches(train_ex, cfg, epoch, dist)]
        shape = (
            model_shape(model_config.architecture)
            + (
                "" if hasattr(encoder, "dropout_seed") else " | saved graph"  # not bert_hub's: its own speeds
            )
            + ("" if lora is None else f" | lora {lora.rank} {','.join(lora.targets)}")
        )
        precision = choose_precision(
            cfg.precision,
            model,
            train_ex,
            buckets,
            cfg.batch_size,
            shape,
            dist,
            multi_worker=is_multi_worker(dist),
            notify=log.info,
        )
        (log.warning if precision.warning else log.info)("%s", precision.describe())
        recorder = EpochRecorder(
            workdir,
            history,
            optimizer,
            epoch_var,
            manager,
            examples=len(train_ex),
            epochs=epochs,
            precision=precision.precision,
            cfg=cfg,
            best=best_checkpoint(model) if cfg.exports_best else None,
        )
        callbacks = [recorder.callback()]
        if options.tensorboard:
            callbacks.append(tensorboard_callback(workdir, optimizer, history))
        with precision.steps(model):
            model.fit(
                training_data(dist, train_ex, batches, buckets),
                epochs=last_epoch,
                initial_epoch=start_epoch,
                steps_per_epoch=steps_per_epoch,
                validation_data=val_ds,
                class_weight=task.class_weight(train_ex, cfg),
                verbose=1 if options.progress else 0,
                callbacks=[*callbacks, *options.callbacks],
            )
        stopped = recorder.stopped
    summary: dict[str, Any] = {
        "model": model_config.name,
        "task": task.name,
        "replicas": dist.num_replicas_in_sync,
        **task.info(),
        "data": {"train": task.counts(train_data), "validation": task.counts(val_data), "test": task.counts(test_data)},
        "epochs": epochs,
        "steps_per_epoch": steps_per_epoch,
        "steps": int(optimizer.iterations.numpy()),
        "epochs_done": int(epoch_var.numpy()),
        "history": history,
        "precision": history[-1].get("precision", "float32") if history else None,
    }
    if stopped is not None:
        summary["stopped_early"] = {"epoch": summary["epochs_done"], "reason": stopped}
        log.info("stopped after epoch %d: %s", summary["epochs_done"], stopped)
    summary["finished"] = summary["epochs_done"] >= epochs or stopped is not None
    if not summary["finished"]:
        return summary
    pause_point("training-done")
    plot_curves(history, workdir / "curves.png")
    if cfg.exports_best and history and (workdir / "checkpoints" / "best.index").exists():
        best_checkpoint(model).read(str(workdir / "checkpoints" / "best")).expect_partial()
        summary["best_epoch"] = best_epoch(history, cfg.monitor)
    if adapters is not None and lora is not None:  # the adapters merged into the encoder: the export is plain
        with dist.scope():  # the plain model's head as the trained one was built
            plain = task.build_model(bert, cfg)
        model = merged_model(adapters, model, plain, bert.encoder_layer)
        summary["lora"] = dataclasses.asdict(lora)
    summary.update(task.finish(model, bert, workdir / "model", splits, cfg, {"model": model_config.name}, val_ex))
    if "test_metrics" in summary:
        write_json(workdir / "metrics.json", summary["test_metrics"])
    return summary


def _restore(
    ckpt: Any, restore_from: Path, model: Any, optimizer: Any, epoch_var: Any, cfg: TrainConfig, workdir: Path
) -> list[dict[str, Any]]:
    """Restores a resumed run's last checkpoint; returns its history, as far as the checkpoint goes."""
    import tensorflow as tf

    latest = tf.train.latest_checkpoint(str(restore_from / "checkpoints"))
    try:
        ckpt.restore(latest).assert_existing_objects_matched()
    except Exception as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise InputError(
            f"cannot resume {restore_from}: its checkpoint {latest} does not load into the model this "
            f"data and these settings build, or is damaged ({first}); resume it with its own data, or "
            "start a new run with `overwrite=True` or another `out`"
        ) from None
    saved = restore_from / "history.json"
    # The history is written before the checkpoint: an interrupt between the two leaves a record of an
    # epoch the checkpoint does not hold, which this run trains again.
    done = int(epoch_var.numpy())
    history = [h for h in (json.loads(saved.read_text()) if saved.exists() else []) if h["epoch"] <= done]
    if cfg.exports_best and history and best_epoch(history, cfg.monitor) == done:
        best_checkpoint(model).write(str(workdir / "checkpoints" / "best"))  # an interrupt may have come first
    log.info("resuming after epoch %d (step %d)", done, int(optimizer.iterations.numpy()))
    return history


def _epoch_batches(train_ex: Examples, cfg: TrainConfig, epoch: int, dist: Any) -> list[np.ndarray]:
    """One epoch's global batches; on several workers none smaller than the number of workers."""
    batches = batching.shuffled_batches(train_ex.lengths, cfg.batch_size, cfg.seed, epoch, cfg.bucketing)
    return batching.at_least(batches, dist.num_replicas_in_sync) if is_multi_worker(dist) else batches


def best_checkpoint(model: Any) -> Any:
    """The weights of the best epoch so far (``checkpoints/best``; the model only)."""
    import tensorflow as tf

    return tf.train.Checkpoint(model=model)


def _stop_reason(history: list[dict[str, Any]], cfg: TrainConfig) -> str | None:
    """Why a run with ``early_stopping`` stops after the last epoch of ``history`` (``None``: it goes on)."""
    if cfg.early_stopping is None or not history:
        return None
    return stop_reason(history, cfg.monitor, cfg.early_stopping, cfg.min_delta)


@dataclasses.dataclass
class EpochRecorder:
    """What a run keeps of each epoch, in ``out``: its history record, its checkpoint (and with ``best``, the
    best weights by validation loss), the manifest, one progress line.

    In this order: a resumed run drops history records its checkpoint does not
    hold, and writes the best weights again when its last epoch is the best one.
    """

    out: Path
    history: list[dict[str, Any]]
    optimizer: Any
    epoch_var: Any
    manager: Any
    examples: int
    epochs: int
    precision: str
    cfg: TrainConfig = DEFAULT_SETTINGS
    best: Any | None = None
    stopped: str | None = None

    def record(self, epoch: int, logs: dict[str, Any], seconds: float) -> None:
        """Records epoch ``epoch`` (0-based), which took ``seconds`` and ended with Keras' ``logs``; with early
        stopping, sets `stopped` to the reason when the run stops here."""
        if self.cfg.early_stopping is not None or self.cfg.monitor != DEFAULT_MONITOR:
            check_monitor(self.cfg.monitor, list(logs))  # before this epoch is written
        record = {
            "epoch": epoch + 1,
            "steps": int(self.optimizer.iterations.numpy()),
            "seconds": round(seconds, 2),
            "examples_per_second": round(self.examples / seconds, 2),
            "precision": self.precision,
            **{k: float(v) for k, v in logs.items()},
        }
        self.history.append(record)
        self.epoch_var.assign(epoch + 1)
        write_json(self.out / "history.json", self.history)
        pause_point("history-written")
        self.manager.save(checkpoint_number=epoch + 1)
        if self.best is not None and best_epoch(self.history, self.cfg.monitor) == epoch + 1:
            self.best.write(str(self.out / "checkpoints" / "best"))
        mark_directory(self.out, RUN)  # the manifest lists what this epoch wrote
        pause_point("epoch-end")
        log.info(
            "epoch %d/%d: %s (%s examples/s)",
            epoch + 1,
            self.epochs,
            " ".join(f"{k} {float(v):.4f}" for k, v in logs.items()),
            record["examples_per_second"],
        )
        self.stopped = _stop_reason(self.history, self.cfg)

    def callback(self) -> Any:
        """A Keras callback that records every epoch as it ends."""
        import tf_keras

        recorder = self

        class EpochEnd(tf_keras.callbacks.Callback):
            def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
                self.started = time.perf_counter()

            def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
                recorder.record(epoch, logs or {}, time.perf_counter() - self.started)
                if recorder.stopped is not None:
                    self.model.stop_training = True

        return EpochEnd()
