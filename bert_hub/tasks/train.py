"""Fine-tuning: one loop for every task (text, token, question answering); schedule, checkpoints, resume.

What a task adds (data splits, head, loss, export) is a
:class:`~bert_hub.tasks.task.Task`: text classification (spam first; the
default), token classification (NER) and extractive question answering.
Every model fine-tunes the encoder with AdamW (weight decay off for LayerNorm
and biases), a linear warm-up over the first 10% of steps and a linear decay
to zero.

Training does not pad every example to ``seq_length``: it batches with
:mod:`bert_hub.batching` (examples tokenized once, each epoch's batches
grouping examples of similar length, seeded, and ``tf.data`` packing each
batch to the smallest bucket that holds it, with prefetching).
A checkpoint is written after every epoch; ``resume=True`` continues from the
last one and ends with the same number of steps as an uninterrupted run.

Example (a tiny run on the embedded default):

>>> from bert_hub.tasks.data import LabelledTexts
>>> from bert_hub.tasks.train import train
>>> from bert_hub.tasks.train_config import STRATEGIES, TrainConfig
>>> data = LabelledTexts(["win cash now", "lunch?"] * 8, [1, 0] * 8, ("ham", "spam"))
>>> result = train("default", data, "runs/doc", TrainConfig(epochs=1), overwrite=True)  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import yaml

from bert_hub import batching
from bert_hub.config import ModelConfig, load_config
from bert_hub.errors import InputError, Interrupted, plural
from bert_hub.outputs import (
    atomic_write_text,
    check_output_dir,
    deferred_interrupts,
    make_directory,
    mark_directory,
    output_lock,
    save_figure,
    staging_directory,
    swap_in,
)
from bert_hub.pause import pause_point
from bert_hub.pipeline import BertPipeline
from bert_hub.precision import FROZEN_WEIGHTS_VARIABLE, weights_frozen
from bert_hub.tasks.classifier import TextClassification
from bert_hub.tasks.question_answering import QuestionAnswering
from bert_hub.tasks.regression import TextRegression
from bert_hub.tasks.task import Examples, Task, buckets_for
from bert_hub.tasks.token_classification import TokenClassification
from bert_hub.tasks.train_config import STRATEGIES, WORKER_TIMEOUT, TrainConfig, recorded_train_config

log = logging.getLogger(__name__)

WEIGHT_DECAY_EXCLUDE = ["layer_norm", "LayerNorm", "bias", "beta", "gamma"]


def warmup_linear_decay(peak: float, total: int, warmup: int):
    """A schedule: linear warm-up to ``peak`` over ``warmup`` steps, then linear decay to 0 at ``total``."""
    import tensorflow as tf
    import tf_keras

    class WarmupLinearDecay(tf_keras.optimizers.schedules.LearningRateSchedule):
        def __call__(self, step):
            step = tf.cast(step, tf.float32)
            warm = peak * step / max(warmup, 1)
            decay = peak * tf.maximum(0.0, (total - step) / max(total - warmup, 1))
            return tf.where(step < warmup, warm, decay)

        def get_config(self):
            return {"peak": peak, "total": total, "warmup": warmup}

    return WarmupLinearDecay()


#: ``--task`` name -> the task; text classification is the default.
TASKS: dict[str, type[Task]] = {t.name: t for t in (TextClassification, TextRegression, TokenClassification,
                                                    QuestionAnswering)}


def task_for(data: Any, task: str | Task | None = None) -> Task:
    """The task named ``task``, else the one whose data ``data`` is (checked against each other)."""
    if isinstance(task, Task):
        chosen = task
    elif task is not None:
        if task not in TASKS:
            raise InputError(f"unknown task {task!r}; use one of {', '.join(TASKS)}")
        chosen = TASKS[task]()
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


class _Run:
    """Where a training run is written, and what an interruption leaves.

    The run holds ``out``'s lock (:func:`~bert_hub.outputs.output_lock`) from
    its checks to its end: a second run writing the same folder is refused. A
    new run is written in place (so it can be resumed after a crash), its
    manifest brought up to date after every epoch; a run replacing an old one
    (``--overwrite``) is written beside it and exchanged with it when
    complete, so the old run survives any failure or interrupt before that.
    """

    def __init__(self, out: Path, *, resume: bool, overwrite: bool):
        if resume and overwrite:
            raise InputError("give --resume or --overwrite, not both")
        self.out = out
        self.resume = resume
        self.dir = out
        self.fresh = self.existed = self.swapped = False
        self._lock = output_lock(out, what="--out")
        self._lock.__enter__()
        try:
            self._check(overwrite)
        except BaseException:
            self.release()
            raise
        self.replacing = not resume and out.is_dir() and any(out.iterdir())

    def check_unfinished(self, epochs: int) -> None:
        """A resumed run must have epochs left (of ``epochs``) or no export yet."""
        saved = self.saved_epochs(self.out)
        if saved >= epochs and (self.out / "model").is_dir():
            raise InputError(f"{self.out} is finished ({plural(saved, 'epoch')} of {epochs}, exported): nothing "
                             "to resume; pass a larger --epochs to train on, or --overwrite to start again")

    def _check(self, overwrite: bool) -> None:
        out = self.out
        if self.resume:
            if not out.is_dir():
                raise InputError(f"nothing to resume: run directory {out} does not exist")
            if self.saved_epochs(out) == 0:
                raise InputError(f"nothing to resume in {out}: no checkpoint was saved (the run stopped "
                                 "before its first epoch ended); start it again with --overwrite")
        else:
            check_output_dir(out, kind="run", overwrite=overwrite,
                             exists_hint="pass --resume to continue it or --overwrite to replace it")

    def release(self) -> None:
        """Lets go of ``out``'s lock (once)."""
        if self._lock is not None:
            lock, self._lock = self._lock, None
            lock.__exit__(None, None, None)

    @staticmethod
    def saved_epochs(path: Path) -> int:
        """Epochs saved in ``path/checkpoints`` (checkpoint ``ckpt-N`` is epoch N)."""
        import tensorflow as tf

        latest = tf.train.latest_checkpoint(str(path / "checkpoints")) if (path / "checkpoints").is_dir() else None
        return int(latest.rsplit("-", 1)[1]) if latest else 0

    def open(self) -> Path:
        """Creates the folder the run is written to (called once every check has passed)."""
        if self.replacing:
            self.dir = staging_directory(self.out, "run")
        elif not self.resume:
            self.existed = self.out.is_dir()  # an empty folder: keep it, but nothing in it
            make_directory(self.out, "run")
            self.fresh = True
        return self.dir

    def close(self) -> None:
        """The run is complete: swap it in (``--overwrite``) or bring its manifest up to date."""
        if self.dir != self.out:
            swap_in(self.dir, self.out, on_swapped=self._swapped)
        else:
            with deferred_interrupts():
                mark_directory(self.dir, "run")
                self.swapped = True

    def _swapped(self) -> None:
        self.swapped = True

    def failed(self, error: BaseException, epochs: int) -> BaseException:
        """Cleans up after ``error``; returns what to raise (an :class:`Interrupted` for Ctrl-C).

        A second Ctrl-C during the clean-up waits for it to end.
        """
        interrupted = isinstance(error, KeyboardInterrupt)
        with deferred_interrupts(redeliver=False):
            if self.swapped:
                message = f"interrupted after the run was complete; {self.out} holds the new run"
            elif self.dir != self.out:
                shutil.rmtree(self.dir, ignore_errors=True)
                message = f"interrupted; {self.out} is as it was (the new run was discarded)"
            elif self.saved_epochs(self.dir) == 0 and not self.resume:
                if self.fresh:
                    shutil.rmtree(self.dir, ignore_errors=True)
                    if self.existed:
                        self.dir.mkdir()
                message = "interrupted before the first epoch was saved; nothing was left behind"
            else:
                mark_directory(self.dir, "run")
                saved = self.saved_epochs(self.dir)
                message = (f"interrupted; {self.out} keeps {plural(saved, 'epoch')} of {epochs}: continue it "
                           "with the same command and --resume")
        return Interrupted(message) if interrupted else _no_answer(error)


def _check_resumed_settings(out: Path, cfg: TrainConfig) -> None:
    """Refuses to resume with settings other than the run's own (the number of epochs may change)."""
    recorded = recorded_train_config(out)
    if recorded is None:
        return
    differ = [f.name for f in dataclasses.fields(TrainConfig)
              if f.name != "epochs" and getattr(cfg, f.name) != getattr(recorded, f.name)]
    if differ:
        given = ", ".join(f"{name} {getattr(cfg, name)!r}" for name in differ[:4])
        kept = ", ".join(f"{getattr(recorded, name)!r}" for name in differ[:4])
        raise InputError(f"--resume continues {out} with the settings it started with; {given} differ from its "
                         f"train_config.yaml ({kept}): leave them out (only --epochs may change), or start a "
                         "new run with --overwrite or another --out")


def _check_resumed_task(out: Path, task: str) -> None:
    """Refuses to resume a run of another task (its checkpoint would not fit the model)."""
    try:
        recorded = (yaml.safe_load((out / "train_config.yaml").read_text(encoding="utf-8")) or {}).get(
            "task", TextClassification.name)  # runs of earlier releases were all text classification
    except (OSError, yaml.YAMLError, AttributeError):
        return
    if recorded != task:
        raise InputError(f"{out} is a {recorded} run, and this is {task}: resume it with --task {recorded} "
                         "and its data")


def _tf_config() -> dict[str, Any]:
    """The cluster and this process's task, from ``TF_CONFIG`` (multi-worker training)."""
    try:
        config = json.loads(os.environ["TF_CONFIG"])
        cluster, task = config["cluster"], config.get("task", {})
        if not isinstance(cluster, dict) or not isinstance(task, dict):
            raise TypeError
    except (KeyError, ValueError, TypeError):
        raise InputError("--strategy multi-worker needs the cluster in TF_CONFIG, e.g. "
                         '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
                         '"task": {"type": "worker", "index": 0}}') from None
    return {"cluster": cluster, "task": task}


def _writes_the_run(strategy: str) -> bool:
    """Whether this process writes the run: the chief, or worker 0 when there is no chief.

    Read from ``TF_CONFIG`` before the strategy exists, so that the chief checks
    ``--out`` (and refuses a bad one) before it joins the cluster.
    """
    if strategy != "multi-worker":
        return True
    config = _tf_config()
    kind, index = config["task"].get("type"), config["task"].get("index", 0)
    if "chief" in config["cluster"]:
        return kind == "chief"
    return kind == "worker" and index == 0


def _join_cluster_within(cluster: dict[str, Any], seconds: float) -> None:
    """Configures TensorFlow's coordination service as the strategy would, with a registration timeout.

    Without it a worker waits for the cluster's leader (the chief) without end;
    with it, one that is not there in ``seconds`` (say it refused its --out)
    ends the wait with an error.
    """
    import tensorflow as tf
    # TensorFlow's own strategy module and the helpers it uses for this (pinned TensorFlow 2.21).
    from tensorflow.python.distribute import collective_all_reduce_strategy as strategy_module
    from tensorflow.python.distribute import multi_worker_util
    from tensorflow.python.eager import context

    protos = getattr(strategy_module, "coordination_config_pb2", None)
    if protos is None:  # another TensorFlow: keep its default (wait for the leader)
        log.warning("warning: this TensorFlow offers no registration timeout; --worker-timeout covers only "
                    "the synchronisation points after the start")
        return
    spec = tf.train.ClusterSpec(cluster)
    jobs = [protos.CoordinatedJob(name=job, num_tasks=spec.num_tasks(job))
            for job in ("chief", "worker") if job in spec.jobs]
    context.context().configure_coordination_service(
        service_type="standalone", service_leader=multi_worker_util.coordination_leader(spec),
        coordinated_jobs=jobs, cluster_register_timeout_in_ms=int(seconds * 1000))


def _no_answer(error: BaseException) -> BaseException:
    """The one-line error for a worker the others did not answer (else ``error`` itself)."""
    import tensorflow as tf

    if isinstance(error, (tf.errors.DeadlineExceededError, tf.errors.UnavailableError)):
        return InputError("the other workers did not answer in time (--worker-timeout): check that every "
                          "worker of TF_CONFIG runs, and the chief's output (it stops at once if --out "
                          "is refused)")
    return error


def _distribution(strategy: str, worker_timeout: float = WORKER_TIMEOUT) -> Any:
    import tensorflow as tf

    if strategy == "multi-worker":
        cluster = _tf_config()["cluster"]
        log.info("multi-worker training: %s", ", ".join(f"{k} {v}" for k, v in cluster.items()))
        _join_cluster_within(cluster, worker_timeout)
        options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=worker_timeout)
        return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    if strategy == "mirrored":
        devices = [d.name for d in tf.config.list_logical_devices("GPU")] or \
                  [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices=devices)
    if strategy == "default":
        return tf.distribute.get_strategy()
    raise InputError(f"unknown strategy {strategy!r}; use one of {', '.join(STRATEGIES)}")


class _ScratchRun:
    """Where a non-chief worker of a multi-worker run writes: a temporary folder, removed at the end.

    Every worker must take part in saving checkpoints and the export
    (collective operations); only the chief's copies are the user's.
    """

    def __init__(self, out: Path):
        self.out = out
        self.dir = Path(tempfile.mkdtemp(prefix="bert_hub_worker_"))

    def open(self) -> Path:
        return self.dir

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    def release(self) -> None:
        pass

    def failed(self, error: BaseException, epochs: int) -> BaseException:
        self.close()
        if isinstance(error, KeyboardInterrupt):
            return Interrupted("interrupted (a worker of a multi-worker run: the chief's run folder says "
                               "what was kept)")
        return _no_answer(error)


def _compile(model: Any, task: Task, cfg: TrainConfig, total_steps: int) -> Any:
    """AdamW with warm-up and linear decay, the task's loss and metrics."""
    import tf_keras

    schedule = warmup_linear_decay(cfg.learning_rate, total_steps, int(cfg.warmup_fraction * total_steps))
    optimizer = tf_keras.optimizers.AdamW(learning_rate=schedule, weight_decay=cfg.weight_decay)
    optimizer.exclude_from_weight_decay(var_names=WEIGHT_DECAY_EXCLUDE)
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


def train(config: Any, data: Any, out: str | Path, cfg: TrainConfig = TrainConfig(), *,
          task: str | Task | None = None, resume: bool = False,
          overwrite: bool = False, strategy: str = "default", progress: bool = False,
          stop_after_epochs: int | None = None, callbacks: Sequence[Any] = (),
          worker_timeout: float = WORKER_TIMEOUT) -> dict[str, Any]:
    """Fine-tunes the encoder of ``config`` on ``data`` and writes the run to ``out``.

    Everything is checked (run folder, data, splits) before anything is
    written. Interrupting (Ctrl-C, or SIGTERM in the CLI) at any moment
    leaves either nothing, the previous run untouched (``overwrite``), the
    complete new run, or a run that ``resume=True`` continues; the
    :class:`~bert_hub.errors.Interrupted` raised says which. One process at a
    time writes ``out`` (a second is refused, naming the first).

    Args:
        config: a model config (name, path or ModelConfig).
        data: the task's data (split into train/validation/test with
            ``cfg``'s fractions) or a ready (train, validation, test) triple:
            :class:`~bert_hub.tasks.data.LabelledTexts`,
            :class:`~bert_hub.tasks.token_classification.TaggedSentences` or
            :class:`~bert_hub.tasks.question_answering.SquadData`.
        task: a name of :data:`TASKS`; default: the task of ``data``.
        out: the run directory: ``checkpoints/``, ``history.json``,
            ``curves.png``, ``metrics.json``, ``train_config.yaml`` and the
            exported ``model/``.
        resume: continue from the last checkpoint in ``out``, with the run's
            own settings: ``cfg`` must equal its ``train_config.yaml`` but for
            ``epochs`` (refused otherwise); a finished run is refused.
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

    Returns:
        A summary: data counts, examples/second, per-epoch history, the
        task's metrics and the export path.
    """
    out = Path(out).expanduser().absolute()
    chosen = task_for(data, task)
    chief = _writes_the_run(strategy)
    # The chief checks --out first: refused, it never joins the cluster. Then the strategy,
    # before any other TensorFlow work (a multi-worker strategy must come first).
    run: _Run | _ScratchRun = _Run(out, resume=resume, overwrite=overwrite) if chief else _ScratchRun(out)
    try:
        return _train_run(run, config, data, out, cfg, chosen, chief, resume=resume, strategy=strategy,
                          progress=progress, stop_after_epochs=stop_after_epochs, callbacks=callbacks,
                          worker_timeout=worker_timeout)
    finally:
        run.release()


def _train_run(run: Any, config: Any, data: Any, out: Path, cfg: TrainConfig, chosen: Task, chief: bool, *,
               resume: bool, strategy: str, progress: bool, stop_after_epochs: int | None,
               callbacks: Sequence[Any], worker_timeout: float) -> dict[str, Any]:
    """:func:`train` once ``run`` holds the output."""
    pause_point("train-start")
    if resume and chief:
        _check_resumed_task(out, chosen.name)
        _check_resumed_settings(out, cfg)
        run.check_unfinished(cfg.epochs)
    try:
        dist = _distribution(strategy, worker_timeout)
    except Exception as e:
        raise run.failed(e, cfg.epochs) from None  # nothing opened yet: a worker's scratch folder goes
    if weights_frozen():
        raise InputError(f"{FROZEN_WEIGHTS_VARIABLE} is on in this process: TensorFlow's oneDNN matmuls would "
                         "keep the weights of the first step and the model would not learn; unset it (it is "
                         "for processes that only run inference)")
    model_config = config if isinstance(config, ModelConfig) else load_config(config)
    if cfg.seq_length > model_config.architecture.max_position_embeddings:
        raise InputError(f"seq_length {cfg.seq_length} exceeds the model's max_position_embeddings "
                         f"({model_config.architecture.max_position_embeddings})")
    splits = chosen.split(data, cfg)
    dup = chosen.overlap(splits)
    log.info("%s", chosen.describe(splits))
    if dup:
        log.warning("warning: %d distinct examples occur in more than one split (duplicates in the data)", dup)
    workdir = run.open()
    try:
        summary = _train_in(workdir, model_config, chosen, splits, cfg, dist, resume=resume, progress=progress,
                            stop_after_epochs=stop_after_epochs, callbacks=callbacks,
                            restore_from=workdir if chief else out)
        summary.update(run=str(out), strategy=strategy, chief=chief,
                       data={**summary["data"], "overlapping_examples": dup})
        if not chief:
            summary.pop("export", None)  # a worker's copy was temporary
        elif "export" in summary:
            summary["export"] = str(out / "model")
            _write_json(workdir / "summary.json", summary)  # in the run before it is put in place
        run.close()
    except BaseException as e:
        raise run.failed(e, cfg.epochs) from None
    return summary


def _train_in(workdir: Path, model_config: Any, task: Task, splits: tuple[Any, Any, Any], cfg: TrainConfig,
              dist: Any, *, resume: bool, progress: bool, stop_after_epochs: int | None,
              callbacks: Sequence[Any], restore_from: Path) -> dict[str, Any]:
    """The training itself, in ``workdir``: model, fit with checkpoints, then the task's export and metrics.

    ``restore_from`` is where ``resume`` reads the checkpoint (the chief's
    run folder, for every worker of a multi-worker run).
    """
    import tensorflow as tf

    train_data, val_data, test_data = splits
    seed_everything(cfg.seed)
    with dist.scope():
        bert = BertPipeline(model_config, trainable=True)
        model = task.build_model(bert, cfg)
        train_ex = task.examples(bert, train_data, cfg)
        steps_per_epoch = len(_epoch_batches(train_ex, cfg, 0, dist))
        optimizer = _compile(model, task, cfg, steps_per_epoch * cfg.epochs)
        epoch_var = tf.Variable(0, dtype=tf.int64, trainable=False, name="epochs_done")
        ckpt = tf.train.Checkpoint(model=model, optimizer=optimizer, epochs_done=epoch_var)
    manager = tf.train.CheckpointManager(ckpt, str(workdir / "checkpoints"), max_to_keep=2)
    history: list[dict[str, Any]] = []
    if resume:
        latest = tf.train.latest_checkpoint(str(restore_from / "checkpoints"))
        try:
            ckpt.restore(latest).assert_existing_objects_matched()
        except Exception as e:  # noqa: BLE001 - a damaged file raises OpError, IndexError, ValueError, ...
            first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
            raise InputError(f"cannot resume {restore_from}: its checkpoint {latest} is damaged or does not fit "
                             f"this model ({first}); start the run again with --overwrite") from None
        saved = restore_from / "history.json"
        history = json.loads(saved.read_text()) if saved.exists() else []
        log.info("resuming after epoch %d (step %d)", int(epoch_var.numpy()), int(optimizer.iterations.numpy()))
    seed_everything(cfg.seed, bert.encoder, step=int(optimizer.iterations.numpy()))
    atomic_write_text(workdir / "train_config.yaml", yaml.safe_dump(
        {"model": model_config.source, "task": task.name, **dataclasses.asdict(cfg)}, sort_keys=False))

    val_ex = task.examples(bert, val_data, cfg)
    buckets = buckets_for(cfg)
    val_ds = val_ex.dataset(batching.length_sorted_batches(val_ex.lengths, cfg.batch_size), buckets)
    start_epoch = int(epoch_var.numpy())
    last_epoch = cfg.epochs if stop_after_epochs is None else min(cfg.epochs, start_epoch + stop_after_epochs)
    if start_epoch < last_epoch:
        # One fit() over the remaining epochs (so Keras shows "Epoch 2/3"); each epoch
        # draws its own batches, and the iterator runs on from epoch to epoch.
        batches = [b for epoch in range(start_epoch, last_epoch) for b in _epoch_batches(train_ex, cfg, epoch, dist)]
        best = best_checkpoint(model)
        after_epoch = _EpochEnd(
            lambda epoch, logs, seconds: _end_epoch(epoch, logs, seconds, optimizer, epoch_var, manager, history,
                                                    workdir, len(train_ex), cfg.epochs, best))
        model.fit(_training_data(dist, train_ex, batches, buckets), epochs=last_epoch, initial_epoch=start_epoch,
                  steps_per_epoch=steps_per_epoch, validation_data=val_ds,
                  class_weight=task.class_weight(train_ex, cfg),
                  verbose=1 if progress else 0, callbacks=[after_epoch, *callbacks])
    summary: dict[str, Any] = {
        "model": model_config.name, "task": task.name, "replicas": dist.num_replicas_in_sync, **task.info(),
        "data": {"train": task.counts(train_data), "validation": task.counts(val_data),
                 "test": task.counts(test_data)},
        "steps_per_epoch": steps_per_epoch, "steps": int(optimizer.iterations.numpy()),
        "epochs_done": int(epoch_var.numpy()), "history": history,
    }
    summary["finished"] = summary["epochs_done"] >= cfg.epochs
    if not summary["finished"]:
        return summary
    pause_point("training-done")
    plot_curves(history, workdir / "curves.png")
    if cfg.keep_best and history and (workdir / "checkpoints" / "best.index").exists():
        best_checkpoint(model).read(str(workdir / "checkpoints" / "best")).expect_partial()
        summary["best_epoch"] = min(history, key=lambda h: h.get("val_loss", math.inf))["epoch"]
    summary.update(task.finish(model, bert, workdir / "model", splits, cfg, {"model": model_config.name}, val_ex))
    if "test_metrics" in summary:
        _write_json(workdir / "metrics.json", summary["test_metrics"])
    return summary


def _multi_worker(dist: Any) -> bool:
    import tensorflow as tf

    return isinstance(dist, tf.distribute.MultiWorkerMirroredStrategy)


def _epoch_batches(train_ex: Examples, cfg: TrainConfig, epoch: int, dist: Any) -> list[np.ndarray]:
    """One epoch's global batches; on several workers none smaller than the number of workers."""
    batches = batching.shuffled_batches(train_ex.lengths, cfg.batch_size, cfg.seed, epoch, cfg.bucketing)
    return batching.at_least(batches, dist.num_replicas_in_sync) if _multi_worker(dist) else batches


def _training_data(dist: Any, train_ex: Examples, batches: Sequence[np.ndarray], buckets: Sequence[int]) -> Any:
    """The training input: global batches; on several workers, worker i takes every N-th example of each.

    Every worker draws the same global batches (same seed), so a step of a
    multi-worker run trains on exactly the examples of the same step of a
    single-process run, and the learning-rate schedule counts global steps.
    """
    if not _multi_worker(dist):
        return train_ex.dataset(batches, buckets)
    import tf_keras

    def per_worker(context: Any) -> Any:
        share = [b[context.input_pipeline_id::context.num_input_pipelines] for b in batches]
        return train_ex.dataset(share, buckets)

    return tf_keras.utils.experimental.DatasetCreator(per_worker)


def _EpochEnd(on_end: Any) -> Any:
    """A Keras callback calling ``on_end(epoch, logs, seconds)`` after every epoch."""
    import tf_keras

    class EpochEnd(tf_keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            on_end(epoch, logs or {}, time.perf_counter() - self.started)

    return EpochEnd()


def best_checkpoint(model: Any) -> Any:
    """The weights of the best epoch so far (``checkpoints/best``; the model only)."""
    import tensorflow as tf

    return tf.train.Checkpoint(model=model)


def _end_epoch(epoch: int, logs: dict, seconds: float, optimizer: Any, epoch_var: Any, manager: Any,
               history: list, out: Path, examples: int, epochs: int, best: Any) -> None:
    """Records an epoch: history, checkpoint (and the best one by validation loss), one progress line."""
    record = {"epoch": epoch + 1, "steps": int(optimizer.iterations.numpy()), "seconds": round(seconds, 2),
              "examples_per_second": round(examples / seconds, 2), **{k: float(v) for k, v in logs.items()}}
    history.append(record)
    epoch_var.assign(epoch + 1)
    _write_json(out / "history.json", history)
    if record.get("val_loss", math.inf) <= min(h.get("val_loss", math.inf) for h in history):
        best.write(str(out / "checkpoints" / "best"))
    manager.save(checkpoint_number=epoch + 1)
    mark_directory(out, "run")  # the manifest lists what this epoch wrote
    pause_point("epoch-end")
    log.info("epoch %d/%d: %s (%s examples/s)", epoch + 1, epochs,
             " ".join(f"{k} {float(v):.4f}" for k, v in logs.items()), record["examples_per_second"])


def _write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=1))


def plot_curves(history: list[dict[str, Any]], path: Path) -> Path:
    """Training and validation loss and the task's metric (accuracy; MAE for scores) per epoch, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    skip = {"epoch", "steps", "seconds", "examples_per_second", "loss"}
    second = next((k for k in (history[0] if history else {}) if k not in skip and not k.startswith("val_")),
                  "accuracy")  # accuracy, or a regressor's mae
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5), dpi=100)
    for ax, metric in zip(axes, ("loss", second)):
        ax.plot(epochs, [h.get(metric, math.nan) for h in history], "o-", label="training")
        ax.plot(epochs, [h.get(f"val_{metric}", math.nan) for h in history], "s--", label="validation")
        ax.set_xlabel("epoch")
        ax.set_title(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return save_figure(fig, path)
