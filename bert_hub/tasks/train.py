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
import math
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import yaml

from bert_hub.config import check_fields
from bert_hub.errors import ConfigError, InputError
from bert_hub.tasks.data import LabelledTexts, overlapping_texts, stratified_split

WEIGHT_DECAY_EXCLUDE = ["layer_norm", "LayerNorm", "bias", "beta", "gamma"]


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Training settings; every field can come from YAML or a CLI flag."""

    epochs: int = 3
    batch_size: int = 32
    learning_rate: float = 3e-5
    warmup_fraction: float = 0.1
    weight_decay: float = 0.01
    dropout: float = 0.1
    class_weight: bool = False
    seed: int = 0
    validation_fraction: float = 0.1
    test_fraction: float = 0.1
    bucketing: bool = True
    bucket_step: int = 8
    seq_length: int = 128
    threshold: float = 0.5

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


_TRAIN_FIELDS = {f.name: ({int: int, float: float, bool: bool}[type(f.default)], False)
                 for f in dataclasses.fields(TrainConfig)}


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
    fields = check_fields(raw, _TRAIN_FIELDS, str(path))
    cfg = TrainConfig(**{k: (float(v) if _TRAIN_FIELDS[k][0] is float else v) for k, v in fields.items()})
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


def train(config: Any, data: LabelledTexts | tuple[LabelledTexts, LabelledTexts, LabelledTexts],
          out: str | Path, cfg: TrainConfig = TrainConfig(), *, resume: bool = False,
          overwrite: bool = False, strategy: str = "default", progress: bool = False,
          stop_after_epochs: int | None = None, log: Any = None) -> dict[str, Any]:
    """Fine-tunes the encoder of ``config`` on ``data`` and writes the run to ``out``.

    Args:
        config: a model config (name, path or ModelConfig).
        data: labelled texts (split into train/validation/test with
            ``cfg``'s fractions) or a ready (train, validation, test) triple.
        out: the run directory: ``checkpoints/``, ``history.json``,
            ``curves.png``, ``metrics.json``, ``train_config.yaml`` and the
            exported ``model/``.
        resume: continue from the last checkpoint in ``out``.
        strategy: ``default`` or ``mirrored`` (all visible CPU/GPU devices).
        stop_after_epochs: stop (as if interrupted) after this many epochs of
            this call; the run can be resumed.
        log: where progress lines go (default: stderr).

    Returns:
        A summary: data counts, examples/second, per-epoch history, test
        metrics and the export path.
    """
    import tensorflow as tf
    import tf_keras

    from bert_hub.config import ModelConfig, load_config
    from bert_hub.pipeline import BertPipeline
    from bert_hub.tasks.classifier import export_classifier
    from bert_hub.tasks.metrics import binary_metrics

    log = log or sys.stderr
    out = Path(out).expanduser().absolute()
    if out.exists() and not (resume or overwrite):
        raise InputError(f"run directory {out} already exists; pass --resume to continue it or --overwrite")
    if resume and not (out / "checkpoints").is_dir():
        raise InputError(f"nothing to resume in {out}: no checkpoints/ folder")
    if not out.parent.is_dir():
        raise InputError(f"the parent directory of {out} does not exist")
    if overwrite and not resume and out.exists():
        shutil.rmtree(out)
    model_config = config if isinstance(config, ModelConfig) else load_config(config)

    if isinstance(data, LabelledTexts):
        splits = stratified_split(data, validation=cfg.validation_fraction, test=cfg.test_fraction, seed=cfg.seed)
    else:
        splits = tuple(data)
    train_data, val_data, test_data = splits
    for name, split in zip(("train", "validation"), (train_data, val_data)):
        if len(split) == 0 or len(set(split.labels)) < 2 and name == "train":
            raise InputError(f"the {name} split has {len(split)} examples ({split.describe()}); "
                             "it needs examples of both classes: give more data or change the fractions")
    dup = overlapping_texts(*splits)
    print(f"data: {len(train_data)} train ({train_data.describe()}), {len(val_data)} validation, "
          f"{len(test_data)} test; positive label {train_data.label_names[1]!r}", file=log)
    if dup:
        print(f"warning: {dup} distinct texts occur in more than one split (duplicates in the data)", file=log)

    if strategy == "mirrored":
        devices = [d.name for d in tf.config.list_logical_devices("GPU")] or \
                  [d.name for d in tf.config.list_logical_devices("CPU")]
        dist = tf.distribute.MirroredStrategy(devices=devices)
    elif strategy == "default":
        dist = tf.distribute.get_strategy()
    else:
        raise InputError(f"unknown strategy {strategy!r}; use default or mirrored")

    with dist.scope():
        bert = BertPipeline(model_config, trainable=True)
        if cfg.seq_length > model_config.architecture.max_position_embeddings:
            raise InputError(f"seq_length {cfg.seq_length} exceeds the model's max_position_embeddings")
        model = build_classifier(bert, cfg.dropout)
        train_ex = _Examples(bert, train_data, cfg.seq_length)
        steps_per_epoch = len(epoch_batches(train_ex.lengths, cfg.batch_size, cfg.seed, 0, cfg.bucketing))
        total = steps_per_epoch * cfg.epochs
        schedule = warmup_linear_decay(cfg.learning_rate, total, int(cfg.warmup_fraction * total))
        optimizer = tf_keras.optimizers.AdamW(learning_rate=schedule, weight_decay=cfg.weight_decay)
        optimizer.exclude_from_weight_decay(var_names=WEIGHT_DECAY_EXCLUDE)
        model.compile(optimizer=optimizer, loss=tf_keras.losses.BinaryCrossentropy(from_logits=True),
                      metrics=[tf_keras.metrics.BinaryAccuracy(name="accuracy", threshold=0.0)])
        optimizer.build(model.trainable_variables)
        epoch_var = tf.Variable(0, dtype=tf.int64, trainable=False, name="epochs_done")
        ckpt = tf.train.Checkpoint(model=model, optimizer=optimizer, epochs_done=epoch_var)
    manager = tf.train.CheckpointManager(ckpt, str(out / "checkpoints"), max_to_keep=2)
    history: list[dict[str, Any]] = []
    if resume:
        ckpt.restore(manager.latest_checkpoint).assert_existing_objects_matched()
        history = json.loads((out / "history.json").read_text()) if (out / "history.json").exists() else []
        print(f"resuming after epoch {int(epoch_var.numpy())} (step {int(optimizer.iterations.numpy())})", file=log)
    out.mkdir(parents=True, exist_ok=True)
    (out / "train_config.yaml").write_text(yaml.safe_dump(
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
                                                    out, len(train_ex.labels), cfg.epochs, log))
        model.fit(train_ex.dataset(bert, batches, buckets), epochs=last_epoch, initial_epoch=start_epoch,
                  steps_per_epoch=steps_per_epoch, validation_data=val_ds, class_weight=class_weight,
                  verbose=1 if progress else 0, callbacks=[after_epoch])
    summary: dict[str, Any] = {
        "run": str(out), "model": model_config.name, "strategy": strategy,
        "replicas": dist.num_replicas_in_sync, "label_names": list(train_data.label_names),
        "data": {"train": train_data.counts(), "validation": val_data.counts(), "test": test_data.counts(),
                 "overlapping_texts": dup},
        "steps_per_epoch": steps_per_epoch, "steps": int(optimizer.iterations.numpy()),
        "epochs_done": int(epoch_var.numpy()), "history": history,
    }
    if int(epoch_var.numpy()) < cfg.epochs:
        summary["finished"] = False
        return summary
    summary["finished"] = True
    plot_curves(history, out / "curves.png")
    if len(test_data):
        test_ex = _Examples(bert, test_data, cfg.seq_length)
        probs = predict_probabilities(model, test_ex, bert, cfg)
        summary["test_metrics"] = binary_metrics(test_data.labels, probs, cfg.threshold)
        _write_json(out / "metrics.json", summary["test_metrics"])
    summary["export"] = str(export_classifier(model, bert, out / "model", label_names=train_data.label_names,
                                              threshold=cfg.threshold, seq_length=cfg.seq_length,
                                              metadata={"model": model_config.name,
                                                        "test_metrics": summary.get("test_metrics")}))
    _write_json(out / "summary.json", summary)
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
               history: list, out: Path, examples: int, epochs: int, log: Any) -> None:
    """Records an epoch: history, checkpoint, one progress line."""
    record = {"epoch": epoch + 1, "steps": int(optimizer.iterations.numpy()), "seconds": round(seconds, 2),
              "examples_per_second": round(examples / seconds, 2), **{k: float(v) for k, v in logs.items()}}
    history.append(record)
    epoch_var.assign(epoch + 1)
    manager.save(checkpoint_number=epoch + 1)
    _write_json(out / "history.json", history)
    print(f"epoch {epoch + 1}/{epochs}: loss {record['loss']:.4f} accuracy {record['accuracy']:.4f} "
          f"val_loss {record.get('val_loss', float('nan')):.4f} val_accuracy "
          f"{record.get('val_accuracy', float('nan')):.4f} ({record['examples_per_second']} examples/s)", file=log)


def _write_json(path: Path, data: Any) -> None:
    from bert_hub.fsutil import atomic_write_text

    atomic_write_text(path, json.dumps(data, indent=1))


def plot_curves(history: list[dict[str, Any]], path: Path) -> Path:
    """Training and validation loss / accuracy per epoch, as a PNG (atomically)."""
    import matplotlib

    from bert_hub.fsutil import save_figure

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
