"""Fine-tuning a text classifier (spam first): data pipeline, schedule, loop, checkpoints.

The model is the TensorFlow "classify text with BERT" one: preprocess ->
encoder (trainable) -> ``pooled_output`` -> dropout -> dense (one logit). It
trains with AdamW (weight decay off for LayerNorm and biases), a linear
warm-up over the first 10% of steps and a linear decay to zero.

Training does not pad every message to 128 tokens: all texts are tokenized
once, each epoch's batches group texts of similar length (seeded), and
``tf.data`` packs each batch with the preprocess model's
``bert_pack_inputs`` to the smallest bucket that holds it, with prefetching.
A checkpoint is written after every epoch; ``resume=True`` continues from the
last one and ends with the same number of steps as an uninterrupted run.

Example (a tiny run on the embedded default):

>>> from bert_hub.tasks.data import LabelledTexts
>>> from bert_hub.tasks.train import TrainConfig, train
>>> data = LabelledTexts(["win cash now", "lunch?"] * 8, [1, 0] * 8, ("ham", "spam"))
>>> result = train("default", data, "runs/doc", TrainConfig(epochs=1), overwrite=True)  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import shutil
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import yaml

from bert_hub.config import check_fields
from bert_hub.errors import ConfigError, InputError, Interrupted, plural
from bert_hub.outputs import (
    atomic_write_text,
    check_output_dir,
    make_directory,
    save_figure,
    staging_directory,
    swap_in,
)
from bert_hub.tasks.data import LabelledTexts, overlapping_texts, stratified_split

log = logging.getLogger(__name__)

WEIGHT_DECAY_EXCLUDE = ["layer_norm", "LayerNorm", "bias", "beta", "gamma"]


def _setting(default: Any, help: str) -> Any:
    """A :class:`TrainConfig` field; ``help`` is what ``bert-hub train --help`` says of it."""
    return dataclasses.field(default=default, metadata={"help": help})


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Training settings; every field can come from YAML or a CLI flag."""

    epochs: int = _setting(3, "passes over the training data")
    batch_size: int = _setting(32, "examples per step")
    learning_rate: float = _setting(3e-5, "peak learning rate (AdamW)")
    warmup_fraction: float = _setting(0.1, "fraction of steps with a linear warm-up")
    weight_decay: float = _setting(0.01, "AdamW weight decay (not on LayerNorm or biases)")
    dropout: float = _setting(0.1, "dropout before the classifier layer")
    class_weight: bool = _setting(False, "weight classes by inverse frequency")
    seed: int = _setting(0, "seed of the split, batches, initialisation and dropout")
    validation_fraction: float = _setting(0.1, "fraction of --data held out for validation")
    test_fraction: float = _setting(0.1, "fraction of --data held out for the test metrics")
    bucketing: bool = _setting(True, "pack each batch to its length bucket (else to seq_length)")
    bucket_step: int = _setting(8, "bucket lengths are multiples of this")
    seq_length: int = _setting(128, "longest packing, in tokens")
    threshold: float = _setting(0.5, "probability from which a text is positive")

    def problems(self) -> list[tuple[str, str]]:
        out = []
        for name in ("epochs", "batch_size", "bucket_step", "seq_length"):
            if getattr(self, name) < 1:
                out.append((name, "must be at least 1"))
        if self.learning_rate <= 0:
            out.append(("learning_rate", "must be positive"))
        for name in ("warmup_fraction", "dropout", "validation_fraction", "test_fraction", "threshold"):
            if not 0 <= getattr(self, name) < 1:
                out.append((name, "must be in [0, 1)"))
        if self.weight_decay < 0:
            out.append(("weight_decay", "must not be negative"))
        if self.seq_length < 3:
            out.append(("seq_length", "must be at least 3"))
        return out

    def replace(self, **changes: Any) -> "TrainConfig":
        changes = {k: v for k, v in changes.items() if v is not None}
        return validate_train_config(dataclasses.replace(self, **changes), "flags")


#: The training YAML's schema, derived from the dataclass: ``{field: (type, required)}``.
TRAIN_FIELDS = {f.name: (type(f.default), False) for f in dataclasses.fields(TrainConfig)}


def validate_train_config(cfg: TrainConfig, source: str) -> TrainConfig:
    for field, message in cfg.problems():
        raise ConfigError(f"{source}: field '{field}': {message}")
    return cfg


def load_train_config(path: str | Path | None) -> TrainConfig:
    """Reads a training YAML (fields of :class:`TrainConfig`); ``None`` gives the defaults."""
    if path is None:
        return TrainConfig()
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the training config ({e.strerror})") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: invalid YAML ({getattr(e, 'problem', e)})") from None
    fields = check_fields(raw, TRAIN_FIELDS, str(path))
    cfg = TrainConfig(**{k: (float(v) if TRAIN_FIELDS[k][0] is float else v) for k, v in fields.items()})
    return validate_train_config(cfg, str(path))


def buckets_for(cfg: TrainConfig) -> list[int]:
    if not cfg.bucketing:
        return [cfg.seq_length]
    return sorted({*range(cfg.bucket_step, cfg.seq_length, cfg.bucket_step), cfg.seq_length})


def epoch_batches(lengths: np.ndarray, batch_size: int, seed: int, epoch: int, bucketing: bool
                  ) -> list[np.ndarray]:
    """The batches (index arrays) of one epoch: shuffled; length-sorted within windows when bucketing.

    The number of batches is the same for every epoch and seed.
    """
    n = len(lengths)
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(n)
    if not bucketing:
        return [order[i:i + batch_size] for i in range(0, n, batch_size)]
    window = batch_size * 50
    batches = []
    for start in range(0, n, window):
        chunk = order[start:start + window]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


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


class _Examples:
    """Tokenized texts and labels, ready to be batched."""

    def __init__(self, bert: Any, data: LabelledTexts, seq_length: int):
        import tensorflow as tf

        parts = [bert.preprocessor.tokenize(tf.constant(data.texts[i:i + 2048])).merge_dims(1, -1)
                 for i in range(0, len(data), 2048)]
        self.tokens = tf.concat(parts, axis=0)
        self.lengths = np.minimum(self.tokens.row_lengths().numpy() + 2, seq_length)
        self.labels = np.asarray(data.labels, np.float32)

    def dataset(self, bert: Any, batches: Sequence[np.ndarray], buckets: Sequence[int]):
        import tensorflow as tf

        tokens, labels = self.tokens, tf.constant(self.labels)
        bucket_t = tf.constant(list(buckets), tf.int32)
        pack = bert.preprocessor.bert_pack_inputs
        index = [np.asarray(b, np.int64) for b in batches]

        def to_inputs(idx):
            segment = tf.gather(tokens, idx)
            longest = tf.cast(tf.reduce_max(segment.row_lengths()), tf.int32) + 2
            slot = tf.minimum(tf.searchsorted(bucket_t, tf.reshape(longest, [1]))[0], len(buckets) - 1)
            x = pack([segment], seq_length=tf.gather(bucket_t, slot))
            return x, tf.reshape(tf.gather(labels, idx), [-1, 1])

        ds = tf.data.Dataset.from_generator(lambda: iter(index),
                                            output_signature=tf.TensorSpec([None], tf.int64))
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
        return ds.with_options(options).map(to_inputs).prefetch(tf.data.AUTOTUNE)


def build_classifier(bert: Any, dropout: float):
    """pooled_output -> dropout -> dense(1), on the encoder's three inputs (any length)."""
    import tensorflow as tf
    import tf_keras

    from bert_hub.pipeline import INPUT_KEYS

    inputs = {k: tf_keras.layers.Input(shape=(None,), dtype=tf.int32, name=k) for k in INPUT_KEYS}
    pooled = bert.encoder_layer(inputs)["pooled_output"]
    logits = tf_keras.layers.Dense(1, name="classifier")(tf_keras.layers.Dropout(dropout)(pooled))
    return tf_keras.Model(inputs, logits, name="bert_classifier")


def length_sorted_batches(lengths: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Index batches in order of length (for evaluation: no shuffling, least padding)."""
    order = np.argsort(lengths, kind="stable")
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def predict_probabilities(model: Any, examples: _Examples, bert: Any, cfg: TrainConfig) -> np.ndarray:
    """Positive-class probabilities in input order (length-bucketed batches)."""
    batches = length_sorted_batches(examples.lengths, cfg.batch_size)
    out = np.zeros(len(examples.lengths), np.float32)
    for (x, _), idx in zip(examples.dataset(bert, batches, buckets_for(cfg)), batches):
        out[idx] = 1.0 / (1.0 + np.exp(-model(x, training=False).numpy()[:, 0]))
    return out


class _Run:
    """Where a training run is written, and what an interruption leaves.

    A new run is written in place (so it can be resumed after a crash); a run
    replacing an old one (``--overwrite``) is written beside it and swapped in
    when complete, so the old run survives a failure.
    """

    def __init__(self, out: Path, *, resume: bool, overwrite: bool):
        if resume and overwrite:
            raise InputError("give --resume or --overwrite, not both")
        self.out = out
        self.resume = resume
        if resume:
            if not out.is_dir():
                raise InputError(f"nothing to resume: run directory {out} does not exist")
            if self.saved_epochs(out) == 0:
                raise InputError(f"nothing to resume in {out}: no checkpoint was saved (the run stopped "
                                 "before its first epoch ended); start it again with --overwrite")
        else:
            check_output_dir(out, kind="run", overwrite=overwrite,
                             exists_hint="pass --resume to continue it or --overwrite to replace it")
        self.replacing = not resume and out.is_dir() and any(out.iterdir())
        self.dir = out
        self.fresh = self.existed = False

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
        if self.dir != self.out:
            swap_in(self.dir, self.out)

    def failed(self, error: BaseException, epochs: int) -> BaseException:
        """Cleans up after ``error``; returns what to raise (an :class:`Interrupted` for Ctrl-C)."""
        interrupted = isinstance(error, KeyboardInterrupt)
        if self.dir != self.out:
            shutil.rmtree(self.dir, ignore_errors=True)
            message = f"interrupted; {self.out} is as it was (the new run was discarded)"
        elif self.saved_epochs(self.dir) == 0 and not self.resume:
            if self.fresh:
                shutil.rmtree(self.dir, ignore_errors=True)
                if self.existed:
                    self.dir.mkdir()
            message = "interrupted before the first epoch was saved; nothing was left behind"
        else:
            saved = self.saved_epochs(self.dir)
            message = (f"interrupted; {self.out} keeps {plural(saved, 'epoch')} of {epochs}: continue it "
                       "with the same command and --resume")
        return Interrupted(message) if interrupted else error


def _splits(data: LabelledTexts | tuple[LabelledTexts, LabelledTexts, LabelledTexts], cfg: TrainConfig
            ) -> tuple[LabelledTexts, LabelledTexts, LabelledTexts]:
    """Train / validation / test data, checked: both classes in training, a non-empty validation split."""
    if isinstance(data, LabelledTexts):
        splits = stratified_split(data, validation=cfg.validation_fraction, test=cfg.test_fraction, seed=cfg.seed)
    else:
        splits = tuple(data)  # type: ignore[assignment]
    for name, split in zip(("train", "validation"), splits[:2]):
        if len(split) == 0 or len(set(split.labels)) < 2 and name == "train":
            raise InputError(f"the {name} split has {len(split)} examples ({split.describe()}); "
                             "it needs examples of both classes: give more data or change the fractions")
    return splits  # type: ignore[return-value]


def _distribution(strategy: str) -> Any:
    import tensorflow as tf

    if strategy == "mirrored":
        devices = [d.name for d in tf.config.list_logical_devices("GPU")] or \
                  [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices=devices)
    if strategy == "default":
        return tf.distribute.get_strategy()
    raise InputError(f"unknown strategy {strategy!r}; use default or mirrored")


def _compile(model: Any, cfg: TrainConfig, total_steps: int) -> Any:
    """AdamW with warm-up and linear decay, binary cross-entropy on logits."""
    import tf_keras

    schedule = warmup_linear_decay(cfg.learning_rate, total_steps, int(cfg.warmup_fraction * total_steps))
    optimizer = tf_keras.optimizers.AdamW(learning_rate=schedule, weight_decay=cfg.weight_decay)
    optimizer.exclude_from_weight_decay(var_names=WEIGHT_DECAY_EXCLUDE)
    model.compile(optimizer=optimizer, loss=tf_keras.losses.BinaryCrossentropy(from_logits=True),
                  metrics=[tf_keras.metrics.BinaryAccuracy(name="accuracy", threshold=0.0)])
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


def train(config: Any, data: LabelledTexts | tuple[LabelledTexts, LabelledTexts, LabelledTexts],
          out: str | Path, cfg: TrainConfig = TrainConfig(), *, resume: bool = False,
          overwrite: bool = False, strategy: str = "default", progress: bool = False,
          stop_after_epochs: int | None = None, callbacks: Sequence[Any] = ()) -> dict[str, Any]:
    """Fine-tunes the encoder of ``config`` on ``data`` and writes the run to ``out``.

    Everything is checked (run folder, data, splits) before anything is
    written. Interrupting (Ctrl-C) at any moment leaves either nothing, the
    previous run untouched (``overwrite``), or a run that ``resume=True``
    continues; the :class:`~bert_hub.errors.Interrupted` raised says which.

    Args:
        config: a model config (name, path or ModelConfig).
        data: labelled texts (split into train/validation/test with
            ``cfg``'s fractions) or a ready (train, validation, test) triple.
        out: the run directory: ``checkpoints/``, ``history.json``,
            ``curves.png``, ``metrics.json``, ``train_config.yaml`` and the
            exported ``model/``.
        resume: continue from the last checkpoint in ``out``.
        overwrite: replace an existing run in ``out`` (only a bert_hub run).
        strategy: ``default`` or ``mirrored`` (all visible CPU/GPU devices).
        progress: show Keras' progress bar (else one log line per epoch).
        stop_after_epochs: stop (as if interrupted) after this many epochs of
            this call; the run can be resumed.
        callbacks: extra ``tf_keras`` callbacks for ``fit``.

    Returns:
        A summary: data counts, examples/second, per-epoch history, test
        metrics and the export path.
    """
    from bert_hub.config import ModelConfig, load_config

    out = Path(out).expanduser().absolute()
    run = _Run(out, resume=resume, overwrite=overwrite)
    model_config = config if isinstance(config, ModelConfig) else load_config(config)
    if cfg.seq_length > model_config.architecture.max_position_embeddings:
        raise InputError(f"seq_length {cfg.seq_length} exceeds the model's max_position_embeddings "
                         f"({model_config.architecture.max_position_embeddings})")
    splits = _splits(data, cfg)
    dist = _distribution(strategy)
    dup = overlapping_texts(*splits)
    log.info("data: %d train (%s), %d validation, %d test; positive label %r", len(splits[0]),
             splits[0].describe(), len(splits[1]), len(splits[2]), splits[0].label_names[1])
    if dup:
        log.warning("warning: %d distinct texts occur in more than one split (duplicates in the data)", dup)
    workdir = run.open()
    try:
        summary = _train_in(workdir, model_config, splits, cfg, dist, resume=resume, progress=progress,
                            stop_after_epochs=stop_after_epochs, callbacks=callbacks)
        run.close()
    except BaseException as e:
        raise run.failed(e, cfg.epochs) from None
    summary.update(run=str(out), strategy=strategy, data={**summary["data"], "overlapping_texts": dup})
    if "export" in summary:
        summary["export"] = str(out / "model")
        _write_json(out / "summary.json", summary)
    return summary


def _train_in(workdir: Path, model_config: Any, splits: tuple[LabelledTexts, ...], cfg: TrainConfig,
              dist: Any, *, resume: bool, progress: bool, stop_after_epochs: int | None,
              callbacks: Sequence[Any]) -> dict[str, Any]:
    """The training itself, in ``workdir``: model, fit with checkpoints, evaluation, export."""
    import tensorflow as tf

    from bert_hub.pipeline import BertPipeline
    from bert_hub.tasks.classifier import export_classifier
    from bert_hub.tasks.metrics import binary_metrics

    train_data, val_data, test_data = splits
    seed_everything(cfg.seed)
    with dist.scope():
        bert = BertPipeline(model_config, trainable=True)
        model = build_classifier(bert, cfg.dropout)
        train_ex = _Examples(bert, train_data, cfg.seq_length)
        steps_per_epoch = len(epoch_batches(train_ex.lengths, cfg.batch_size, cfg.seed, 0, cfg.bucketing))
        optimizer = _compile(model, cfg, steps_per_epoch * cfg.epochs)
        epoch_var = tf.Variable(0, dtype=tf.int64, trainable=False, name="epochs_done")
        ckpt = tf.train.Checkpoint(model=model, optimizer=optimizer, epochs_done=epoch_var)
    manager = tf.train.CheckpointManager(ckpt, str(workdir / "checkpoints"), max_to_keep=2)
    history: list[dict[str, Any]] = []
    if resume:
        ckpt.restore(manager.latest_checkpoint).assert_existing_objects_matched()
        history = json.loads((workdir / "history.json").read_text()) if (workdir / "history.json").exists() else []
        log.info("resuming after epoch %d (step %d)", int(epoch_var.numpy()), int(optimizer.iterations.numpy()))
    seed_everything(cfg.seed, bert.encoder, step=int(optimizer.iterations.numpy()))
    atomic_write_text(workdir / "train_config.yaml", yaml.safe_dump(
        {"model": model_config.source, **dataclasses.asdict(cfg)}, sort_keys=False))

    class_weight = None
    if cfg.class_weight:
        pos = float(train_ex.labels.mean())
        class_weight = {0: 0.5 / (1 - pos), 1: 0.5 / pos}
    val_ex = _Examples(bert, val_data, cfg.seq_length)
    buckets = buckets_for(cfg)
    val_ds = val_ex.dataset(bert, length_sorted_batches(val_ex.lengths, cfg.batch_size), buckets)
    start_epoch = int(epoch_var.numpy())
    last_epoch = cfg.epochs if stop_after_epochs is None else min(cfg.epochs, start_epoch + stop_after_epochs)
    if start_epoch < last_epoch:
        # One fit() over the remaining epochs (so Keras shows "Epoch 2/3"); each epoch
        # draws its own batches, and the iterator runs on from epoch to epoch.
        batches = [b for epoch in range(start_epoch, last_epoch)
                   for b in epoch_batches(train_ex.lengths, cfg.batch_size, cfg.seed, epoch, cfg.bucketing)]
        after_epoch = _EpochEnd(
            lambda epoch, logs, seconds: _end_epoch(epoch, logs, seconds, optimizer, epoch_var, manager, history,
                                                    workdir, len(train_ex.labels), cfg.epochs))
        model.fit(train_ex.dataset(bert, batches, buckets), epochs=last_epoch, initial_epoch=start_epoch,
                  steps_per_epoch=steps_per_epoch, validation_data=val_ds, class_weight=class_weight,
                  verbose=1 if progress else 0, callbacks=[after_epoch, *callbacks])
    summary: dict[str, Any] = {
        "model": model_config.name, "replicas": dist.num_replicas_in_sync,
        "label_names": list(train_data.label_names),
        "data": {"train": train_data.counts(), "validation": val_data.counts(), "test": test_data.counts()},
        "steps_per_epoch": steps_per_epoch, "steps": int(optimizer.iterations.numpy()),
        "epochs_done": int(epoch_var.numpy()), "history": history,
    }
    summary["finished"] = summary["epochs_done"] >= cfg.epochs
    if not summary["finished"]:
        return summary
    plot_curves(history, workdir / "curves.png")
    if len(test_data):
        test_ex = _Examples(bert, test_data, cfg.seq_length)
        probs = predict_probabilities(model, test_ex, bert, cfg)
        summary["test_metrics"] = binary_metrics(test_data.labels, probs, cfg.threshold)
        _write_json(workdir / "metrics.json", summary["test_metrics"])
    summary["export"] = str(export_classifier(model, bert, workdir / "model", label_names=train_data.label_names,
                                              threshold=cfg.threshold, seq_length=cfg.seq_length,
                                              metadata={"model": model_config.name,
                                                        "test_metrics": summary.get("test_metrics")}))
    return summary


def _EpochEnd(on_end: Any) -> Any:
    """A Keras callback calling ``on_end(epoch, logs, seconds)`` after every epoch."""
    import tf_keras

    class EpochEnd(tf_keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            on_end(epoch, logs or {}, time.perf_counter() - self.started)

    return EpochEnd()


def _end_epoch(epoch: int, logs: dict, seconds: float, optimizer: Any, epoch_var: Any, manager: Any,
               history: list, out: Path, examples: int, epochs: int) -> None:
    """Records an epoch: history, checkpoint, one progress line."""
    record = {"epoch": epoch + 1, "steps": int(optimizer.iterations.numpy()), "seconds": round(seconds, 2),
              "examples_per_second": round(examples / seconds, 2), **{k: float(v) for k, v in logs.items()}}
    history.append(record)
    epoch_var.assign(epoch + 1)
    _write_json(out / "history.json", history)
    manager.save(checkpoint_number=epoch + 1)
    log.info("epoch %d/%d: loss %.4f accuracy %.4f val_loss %.4f val_accuracy %.4f (%s examples/s)",
             epoch + 1, epochs, record["loss"], record["accuracy"], record.get("val_loss", math.nan),
             record.get("val_accuracy", math.nan), record["examples_per_second"])


def _write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=1))


def plot_curves(history: list[dict[str, Any]], path: Path) -> Path:
    """Training and validation loss / accuracy per epoch, as a PNG (atomically)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5), dpi=100)
    for ax, metric in zip(axes, ("loss", "accuracy")):
        ax.plot(epochs, [h.get(metric, math.nan) for h in history], "o-", label="training")
        ax.plot(epochs, [h.get(f"val_{metric}", math.nan) for h in history], "s--", label="validation")
        ax.set_xlabel("epoch")
        ax.set_title(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return save_figure(fig, path)
