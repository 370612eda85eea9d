"""Training settings: [`TrainConfig`][bert_hub.finetune.train_config.TrainConfig], from a YAML file and ``bert-hub train`` flags.

Each setting is stated once, as a dataclass field with its default and its
help text; the training YAML's schema (`TRAIN_FIELDS`) and the CLI's
flags are derived from the fields.

Examples:
    >>> from bert_hub.finetune.train_config import TrainConfig
    >>> TrainConfig().replace(epochs=1, learning_rate=2e-5).learning_rate
    2e-05
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import yaml

from bert_hub.core.config import check_fields, yaml_schema
from bert_hub.core.errors import ConfigError
from bert_hub.runtime.precision import PRECISIONS


POOLINGS = ("pooled_output", "mean")
"""How a text becomes one vector for the classifier."""


DEFAULT_EPOCHS = 4
"""Epochs of a run whose ``epochs`` is not set, on a training set of at least ``MIN_STEPS`` batches of
``DEFAULT_EPOCHS`` (see `TrainConfig.planned_epochs`)."""
MIN_STEPS = 320
"""Steps a run whose ``epochs`` is not set takes at least: smaller sets get more epochs."""
MAX_AUTO_EPOCHS = 16
"""The most epochs a run whose ``epochs`` is not set takes, however small its data."""

STRATEGIES = ("default", "mirrored", "multi-worker")
"""``--strategy`` choices of ``bert-hub train``."""
WORKER_TIMEOUT = 600.0
"""Seconds a worker of a multi-worker run waits for the others at a synchronisation point."""


def _setting(default: Any, help: str, choices: tuple[str, ...] | None = None) -> Any:
    """A [`TrainConfig`][bert_hub.finetune.train_config.TrainConfig] field; ``help`` is what ``bert-hub train --help`` says of it, ``choices`` the
    values it takes (a string setting)."""
    return dataclasses.field(default=default, metadata={"help": help, "choices": choices})


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Training settings; every field can come from YAML or a CLI flag."""

    epochs: int | None = _setting(None, f"passes over the training data (default: {DEFAULT_EPOCHS}, or more "
                                        f"on a small set, up to {MAX_AUTO_EPOCHS}, so that training takes at "
                                        f"least {MIN_STEPS} steps)")
    batch_size: int = _setting(32, "examples per step")
    learning_rate: float = _setting(1e-4, "peak learning rate (AdamW)")
    warmup_fraction: float = _setting(0.1, "fraction of steps with a linear warm-up")
    weight_decay: float = _setting(0.01, "AdamW weight decay (not on LayerNorm or biases)")
    dropout: float = _setting(0.1, "dropout before the classifier layer")
    class_weight: bool = _setting(False, "weight classes by inverse frequency")
    seed: int = _setting(0, "seed of the split, batches, initialisation and dropout")
    validation_fraction: float = _setting(0.1, "fraction of --data held out for validation")
    test_fraction: float = _setting(0.0, "fraction of --data held out for the test metrics (0: none; train on "
                                         "more rows, evaluate on a held-out file of your own)")
    bucketing: bool = _setting(True, "pack each batch to its length bucket (else to seq_length)")
    bucket_step: int = _setting(1, "bucket lengths are multiples of this (1: each batch is packed to its "
                                   "longest text)")
    seq_length: int = _setting(128, "longest packing, in tokens")
    threshold: float = _setting(0.5, "probability from which a text is positive (see tune_threshold)")
    tune_threshold: bool = _setting(False, "choose the threshold on the validation split (best F1) and "
                                           "store it with the model")
    pooling: str = _setting("pooled_output", "text vector for the classifier: pooled_output or mean (of "
                                             "sequence_output over the real tokens)", POOLINGS)
    precision: str = _setting("auto", "bfloat16: matmuls in bfloat16, weights, optimizer and loss in float32 "
                                      "(oneDNN's mixed precision); auto: bfloat16 where the CPU computes it "
                                      "natively and a measure finds it faster, else float32", PRECISIONS)
    keep_best: bool = _setting(False, "export the epoch with the lowest validation loss, not the last")
    doc_stride: int = _setting(64, "question answering: wordpieces between the starts of a long context's "
                                   "overlapping windows")
    max_query_length: int = _setting(32, "question answering: wordpieces kept of a question")
    max_answer_length: int = _setting(30, "question answering: longest answer, in wordpieces")

    def problems(self) -> list[tuple[str, str]]:
        out = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, float) and not math.isfinite(value):
                return [(f.name, f"must be a finite number, not {value}")]
        if self.epochs is not None and self.epochs < 1:
            out.append(("epochs", "must be at least 1"))
        for name in ("batch_size", "bucket_step", "seq_length", "doc_stride", "max_query_length",
                     "max_answer_length"):
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
        for f in dataclasses.fields(self):
            choices = f.metadata.get("choices")
            if choices and getattr(self, f.name) not in choices:
                out.append((f.name, f"must be one of {', '.join(choices)}, got {getattr(self, f.name)!r}"))
        return out

    def planned_epochs(self, steps_per_epoch: int) -> int:
        """The epochs a run takes: ``epochs`` when set, else chosen from the size of the data.

        Four epochs are enough on thousands of examples (the SMS spam set: 102
        steps an epoch), but on a few hundred they are fewer than a hundred
        steps and a fine-tuned BERT stays behind a linear TF-IDF model on topic
        data; so a small set gets the epochs that make ``MIN_STEPS`` steps, at
        most ``MAX_AUTO_EPOCHS``.

        Examples:
            >>> TrainConfig().planned_epochs(102), TrainConfig().planned_epochs(29), TrainConfig().planned_epochs(2)
            (4, 12, 16)
            >>> TrainConfig(epochs=2).planned_epochs(2)
            2
        """
        if self.epochs is not None:
            return self.epochs
        return max(DEFAULT_EPOCHS, min(MAX_AUTO_EPOCHS, math.ceil(MIN_STEPS / max(1, steps_per_epoch))))

    def window_problems(self) -> list[tuple[str, str]]:
        """Question answering only: the windows must hold context and overlap (or touch)."""
        room = self.seq_length - 3 - self.max_query_length
        if room < 1:
            return [("max_query_length", f"leaves no room for the context in seq_length {self.seq_length} "
                                         "(a question pair needs 3 special tokens): lower it")]
        if self.doc_stride > room:
            return [("doc_stride", f"must be at most seq_length - 3 - max_query_length = {room}, or the "
                                   "windows would skip context")]
        return []

    def replace(self, **changes: Any) -> "TrainConfig":
        changes = {k: v for k, v in changes.items() if v is not None}
        return validate_train_config(dataclasses.replace(self, **changes), "flags")


TRAIN_FIELDS = yaml_schema(TrainConfig)
"""The training YAML's schema, derived from the dataclass: ``{field: (type, required)}``."""


def validate_train_config(cfg: TrainConfig, source: str) -> TrainConfig:
    for field, message in cfg.problems():
        raise ConfigError(f"{source}: field '{field}': {message}")
    return cfg


def load_train_config(path: str | Path | None, base: TrainConfig | None = None) -> TrainConfig:
    """Reads a training YAML (fields of [`TrainConfig`][bert_hub.finetune.train_config.TrainConfig]) over ``base`` (default: the defaults);
    ``None`` gives ``base``."""
    base = base or TrainConfig()
    if path is None:
        return base
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the training config ({e.strerror})") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: invalid YAML ({getattr(e, 'problem', e)})") from None
    fields = check_fields(raw, TRAIN_FIELDS, str(path))
    cfg = dataclasses.replace(base, **{k: (float(v) if TRAIN_FIELDS[k][0] is float else v)
                                       for k, v in fields.items()})
    return validate_train_config(cfg, str(path))


def recorded_train_config(run: str | Path) -> TrainConfig | None:
    """The settings a run was trained with (its ``train_config.yaml``), or None when it has none readable."""
    try:
        raw = yaml.safe_load((Path(run) / "train_config.yaml").read_text(encoding="utf-8")) or {}
        names = {f.name for f in dataclasses.fields(TrainConfig)}
        return TrainConfig(**{k: v for k, v in raw.items() if k in names})
    except (OSError, yaml.YAMLError, AttributeError, TypeError):
        return None
