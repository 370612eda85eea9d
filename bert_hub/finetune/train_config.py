"""Training settings: [`TrainConfig`][bert_hub.finetune.train_config.TrainConfig], from a YAML file and ``bert-hub
train`` flags.

Each setting is stated once, as a dataclass field with its default, its
help text and its checks ([`bert_hub.finetune.options`][bert_hub.finetune.options]);
the training YAML's schema and the CLI's flags are derived from the fields.
A YAML file holds the common settings and those of the task it trains.

Examples:
    >>> from bert_hub.finetune.train_config import TrainConfig
    >>> TrainConfig().replace(epochs=1, learning_rate=2e-5).learning_rate
    2e-05
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import yaml
from typing_extensions import override

from bert_hub.core.config import read_yaml
from bert_hub.core.errors import ConfigError, InputError
from bert_hub.finetune.early_stopping import DEFAULT_MONITOR
from bert_hub.finetune.lora import DEFAULT_LEARNING_RATE as LORA_LEARNING_RATE
from bert_hub.finetune.lora import DEFAULT_TARGETS as LORA_TARGETS
from bert_hub.finetune.lora import GROUPS as LORA_GROUPS
from bert_hub.finetune.lora import TARGETS as LORA_NAMES
from bert_hub.finetune.lora import Lora
from bert_hub.finetune.options import NoOptions, Options, option
from bert_hub.runtime.precision import PRECISIONS, TRAINING_PRECISIONS

DEFAULT_EPOCHS = 4
"""Epochs of a run whose ``epochs`` is not set, on a training set of at least ``MIN_STEPS`` batches of
``DEFAULT_EPOCHS`` (see `TrainConfig.planned_epochs`)."""
MIN_STEPS = 320
"""Steps a run whose ``epochs`` is not set takes at least: smaller sets get more epochs."""
DEFAULT_LEARNING_RATE = 1e-4
"""The peak learning rate of a run that fine-tunes every weight, unless ``learning_rate`` says otherwise."""
MAX_AUTO_EPOCHS = 16
"""The most epochs a run whose ``epochs`` is not set takes, however small its data."""

STRATEGIES = ("default", "mirrored", "multi-worker")
"""``--strategy`` choices of ``bert-hub train``."""
WORKER_TIMEOUT = 600.0
"""Seconds a worker of a multi-worker run waits for the others at a synchronisation point."""


@dataclasses.dataclass(frozen=True)
class TrainConfig(Options):
    """The training settings every task shares; every field can come from YAML or a CLI flag.

    A task's own settings (a classifier's threshold, question answering's
    windows) are its [`Task`][bert_hub.finetune.task.Task]'s ``Settings``.
    """

    source: ClassVar[str] = "training settings"

    epochs: int | None = option(
        None,
        f"passes over the training data (default: {DEFAULT_EPOCHS}, or more on a "
        f"small set, up to {MAX_AUTO_EPOCHS}, so that training takes at least "
        f"{MIN_STEPS} steps)",
        at_least=1,
    )
    batch_size: int = option(32, "examples per step", at_least=1)
    learning_rate: float | None = option(
        None,
        f"peak learning rate (AdamW; default: {DEFAULT_LEARNING_RATE:g}, or {LORA_LEARNING_RATE:g} with LoRA)",
        positive=True,
    )
    warmup_fraction: float = option(0.1, "fraction of steps with a linear warm-up", fraction=True)
    weight_decay: float = option(0.01, "AdamW weight decay (not on LayerNorm or biases)", at_least=0)
    dropout: float = option(0.1, "dropout before the task's output layer", fraction=True)
    seed: int = option(0, "seed of the split, batches, initialisation and dropout", at_least=0, at_most=2**32 - 1)
    validation_fraction: float = option(0.1, "fraction of the data held out for validation", fraction=True)
    test_fraction: float = option(
        0.0,
        "fraction of the data held out for the test metrics (0: none; train on "
        "more rows, evaluate on a held-out file of your own)",
        fraction=True,
    )
    bucketing: bool = option(True, "pack each batch to its length bucket (else to seq_length)")
    bucket_step: int = option(
        1, "bucket lengths are multiples of this (1: each batch is packed to its longest text)", at_least=1
    )
    seq_length: int = option(128, "longest packing, in tokens", at_least=3)
    precision: str = option(
        "auto",
        "bfloat16: matmuls in bfloat16, weights, optimizer and loss in float32 "
        "(oneDNN's mixed precision); auto: bfloat16 where the CPU computes it "
        "natively and a measure finds it faster, else float32 (int8 is for inference: training refuses it)",
        choices=PRECISIONS,
    )
    keep_best: bool = option(
        False, "export the best epoch by the monitored value (the lowest validation loss), not the last"
    )
    early_stopping: int | None = option(
        None,
        "stop when the monitored value has not improved for this many epochs, and export the best epoch "
        "(default: never)",
        at_least=1,
        metavar="EPOCHS",
    )
    monitor: str = option(
        DEFAULT_MONITOR,
        "what early stopping and the best epoch watch: val_loss or a metric the run logs (val_accuracy, ...); "
        "a loss is better lower, any other metric higher",
        metavar="METRIC",
    )
    min_delta: float = option(
        0.0, "the least change of the monitored value that counts as an improvement", at_least=0, metavar="DELTA"
    )
    lora: int | None = option(
        None,
        "train low-rank adapters of this rank with the head, the encoder frozen (LoRA; default: fine-tune "
        "every weight)",
        at_least=1,
        metavar="RANK",
    )
    lora_alpha: float | None = option(
        None, "LoRA adapters are scaled by alpha / rank (default: alpha = 2 x rank)", positive=True, metavar="ALPHA"
    )
    lora_targets: str = option(
        LORA_TARGETS,
        f"the matmuls LoRA adapts, comma-separated: {', '.join(LORA_NAMES)}, or a group: {', '.join(LORA_GROUPS)}",
        metavar="TARGETS",
    )

    @property
    def peak_learning_rate(self) -> float:
        """`learning_rate`, or its default: `DEFAULT_LEARNING_RATE`, with LoRA `LORA_LEARNING_RATE`."""
        if self.learning_rate is not None:
            return self.learning_rate
        return DEFAULT_LEARNING_RATE if self.lora is None else LORA_LEARNING_RATE

    @property
    def exports_best(self) -> bool:
        """Whether the export is the best epoch by `monitor` (``keep_best``, or early stopping), not the last."""
        return self.keep_best or self.early_stopping is not None

    @override
    def more_problems(self) -> list[tuple[str, str]]:
        if self.precision not in TRAINING_PRECISIONS:
            return [
                (
                    "precision",
                    f"{self.precision} is for inference (embedding): training computes its "
                    f"gradients in floats; use one of {', '.join(TRAINING_PRECISIONS)}",
                )
            ]
        if self.lora is None and self.lora_alpha is not None:
            return [("lora_alpha", "scales LoRA adapters, and this run has none: give lora (--lora RANK) too")]
        try:
            Lora.parse_targets(self.lora_targets)
        except InputError as e:
            return [("lora_targets", str(e).split(": ", 1)[1])]
        if not self.monitor.strip():
            return [("monitor", "is empty; name a value the run logs, such as val_loss or val_accuracy")]
        total = self.validation_fraction + self.test_fraction
        if total >= 1:
            return [
                (
                    "test_fraction",
                    f"and `validation_fraction` ({self.test_fraction:g} + "
                    f"{self.validation_fraction:g}) must sum to less than 1: nothing is left to "
                    "train on",
                )
            ]
        return []

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


def _read_yaml(path: Path) -> dict[str, Any]:
    raw = read_yaml(path, "training config")
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a training config is a mapping of settings (epochs: 3, ...), not {raw!r}")
    return raw


def load_train_config(
    path: str | Path | None,
    base: TrainConfig | None = None,
    *,
    settings: Options | None = None,
    task: str = "",
    others: Mapping[str, str] | None = None,
) -> tuple[TrainConfig, Options]:
    """Reads a training YAML: the common settings over ``base`` and the task's own over ``settings``.

    Args:
        path: the YAML file (``None``: ``base`` and ``settings`` as they are).
        base: the common settings it changes (default: the defaults).
        settings: the task's own settings it changes (their class says which fields the task has).
        task: the task's name, for messages.
        others: fields of other tasks -> their task's name: such a field is refused, naming its task.

    Returns:
        ``(common settings, the task's settings)``, checked.
    """
    base = base or TrainConfig()
    settings = settings if settings is not None else NoOptions()
    if path is None:
        return base, settings
    path = Path(path)
    raw = _read_yaml(path)
    own = set(settings.names())
    for key in raw:
        if key not in own and key not in TrainConfig.names() and key in (others or {}):
            raise ConfigError(
                f"{path}: field '{key}' is a setting of {(others or {})[key]}, not of {task}: leave "
                f"it out, or train the task {(others or {})[key]}"
            )
    common = {k: v for k, v in raw.items() if k not in own}
    return (
        TrainConfig.from_mapping(common, str(path), base),
        type(settings).from_mapping({k: v for k, v in raw.items() if k in own}, str(path), settings),
    )


def recorded_train_config(run: str | Path) -> TrainConfig | None:
    """The common settings a run was trained with (its ``train_config.yaml``), or None when it has none readable."""
    return recorded_settings(run, TrainConfig)  # type: ignore[return-value]


def recorded_settings(run: str | Path, kind: type[Options]) -> Options | None:
    """The settings of class ``kind`` (the common ones, or a task's) a run was trained with (its
    ``train_config.yaml``; other keys are the model, the task and other groups), or None when unreadable."""
    try:
        raw = yaml.safe_load((Path(run) / "train_config.yaml").read_text(encoding="utf-8")) or {}
        return kind(**{k: v for k, v in raw.items() if k in kind.names()})
    except (OSError, yaml.YAMLError, AttributeError, TypeError):
        return None
