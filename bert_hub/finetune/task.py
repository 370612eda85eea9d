"""What a fine-tuning task gives the training loop: data splits, batches, a model, a loss, an export.

[`bert_hub.finetune.train.train`][bert_hub.finetune.train.train] is one loop (run folder, checkpoints,
resume, distribution, progress) for every task; a [`Task`][bert_hub.finetune.task.Task] says what is
particular to one:

| task | data | head on the encoder |
|---|---|---|
| text-classification | `LabelledTexts` | ``pooled_output`` -> dense(1, or labels) |
| text-regression | `ScoredTexts` | ``pooled_output`` -> dense(1), linear |
| token-classification | CoNLL sentences (words and tags) | ``sequence_output`` -> dense(tags) |
| question-answering | SQuAD questions and contexts | ``sequence_output`` -> dense(2) |

Each task batches with `bert_hub.runtime.batching` (examples tokenized once,
packed per batch to the smallest length bucket) and exports a SavedModel
that takes raw strings.

Examples:
    >>> from bert_hub.finetune.task import split_groups
    >>> split_groups(["a", "a", "b", "c", "d"], validation=0.25, test=0.0, seed=1)  # both "a" in validation
    ([2, 3, 4], [0, 1], [])
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from bert_hub.core.errors import InputError
from bert_hub.finetune.exported import ExportedModel
from bert_hub.finetune.options import NoOptions, Options
from bert_hub.runtime import batching

if TYPE_CHECKING:  # annotations only: the pipeline module loads TensorFlow
    from bert_hub.finetune.train_config import TrainConfig
    from bert_hub.hub.pipeline import BertPipeline


class Examples:
    """A task's examples, tokenized once: ``lengths`` (packed, for batching) and their batches."""

    lengths: np.ndarray

    def to_batch(self, buckets: Any) -> Any:
        """A TensorFlow function: ``int64 [batch]`` index -> ``(inputs, targets)`` packed to a bucket."""
        raise NotImplementedError

    def dataset(self, batches: Sequence[np.ndarray], buckets: Sequence[int]) -> Any:
        """A ``tf.data`` dataset of ``batches`` (index arrays), each packed to its bucket."""
        import tensorflow as tf

        return batching.dataset(batches, self.to_batch(tf.constant(list(buckets), tf.int32)))

    def __len__(self) -> int:
        return len(self.lengths)


class Task:
    """The task-specific parts of fine-tuning (see the module docstring).

    A task is a class registered by name (built in, or from a package's
    ``bert_hub.tasks`` entry point: see [`bert_hub.finetune.tasks`][bert_hub.finetune.tasks]);
    an instance holds its own settings (``Settings``, checked). Everything the
    CLI, the exporter and Beam know of a task comes from these attributes and
    methods: its settings, its data options and reader, its head, loss and
    metrics, its export and the model that serves it.
    """

    name: ClassVar[str] = ""
    """The task's name (``--task``)."""
    summary: ClassVar[str] = ""
    """One line for ``bert-hub train --help``."""
    data_type: ClassVar[type] = object
    """The type of the data this task trains on (what `read` returns)."""
    Settings: ClassVar[type[Options]] = NoOptions
    """The settings only this task has (the common ones are
    [`TrainConfig`][bert_hub.finetune.train_config.TrainConfig])."""
    DataOptions: ClassVar[type[Options]] = NoOptions
    """The options of this task's data reader (`read`)."""
    predict_example: ClassVar[str] = "TEXT"
    """How ``bert-hub predict`` is called on this task's model (after ``--model RUN``)."""

    def __init__(self, settings: Options | None = None, **changes: Any) -> None:
        """A task with ``settings`` (default: its ``Settings``' defaults) and ``changes`` to them, checked."""
        settings = self.Settings() if settings is None else settings
        if not isinstance(settings, self.Settings):
            raise InputError(
                f"the task {self.name} takes {self.Settings.__name__} settings, not {type(settings).__name__}"
            )
        self.settings = settings.replace(**changes) if changes else settings.checked()

    @classmethod
    def read(cls, path: str | Path, options: Options | None = None) -> Any:
        """This task's data from a file (``options``: a ``DataOptions``; default: its defaults)."""
        raise NotImplementedError

    @classmethod
    def looks_like(cls, head: str) -> bool:
        """Whether a file that begins with ``head`` (its first few thousand characters) looks like this
        task's data: a guess for the hint when another task cannot read the file, never for reading."""
        return False

    @staticmethod
    def model_type() -> type[ExportedModel]:
        """The [`ExportedModel`][bert_hub.finetune.exported.ExportedModel] subclass that serves this task's exports."""
        raise NotImplementedError

    @classmethod
    def load(cls, path: str | Path, precision: str = "float32") -> ExportedModel:
        """This task's exported model at ``path`` (a run folder or its ``model/``), to serve in ``precision``."""
        return cls.model_type()(path, precision)

    def check(self, cfg: TrainConfig) -> None:
        """Refuses settings of this task that do not fit the common ones ``cfg`` (in one line)."""

    def split(self, data: Any, cfg: TrainConfig) -> tuple[Any, Any, Any]:
        """Seeded train / validation / test splits of ``data`` (``cfg``'s fractions), checked; the task
        learns from them what its head needs (labels, tags)."""
        raise NotImplementedError

    def describe(self, splits: tuple[Any, Any, Any]) -> str:
        """One log line on the data."""
        return f"data: {len(splits[0])} train, {len(splits[1])} validation, {len(splits[2])} test"

    def overlap(self, splits: tuple[Any, Any, Any]) -> int:
        """How many examples occur in more than one split (duplicates in the data)."""
        return 0

    def counts(self, split: Any) -> dict[str, int]:
        """How many examples ``split`` has (per class, where there are classes)."""
        return {"examples": len(split)}

    def examples(self, bert: BertPipeline, data: Any, cfg: TrainConfig) -> Examples:
        """``data`` tokenized once, for batching."""
        raise NotImplementedError

    def build_model(self, bert: BertPipeline, cfg: TrainConfig) -> Any:
        """The ``tf_keras`` model to fine-tune: ``bert``'s encoder layer with this task's head."""
        raise NotImplementedError

    def reads_pooled_output(self) -> bool:
        """Whether the head `build_model` puts on the encoder starts from its ``pooled_output`` (with LoRA, the
        pooler then trains with the head: [`bert_hub.finetune.lora`][bert_hub.finetune.lora])."""
        return False

    def loss_and_metrics(self) -> tuple[Any, list[Any]]:
        """The Keras loss and metrics (one named ``accuracy``)."""
        raise NotImplementedError

    def class_weight(self, examples: Examples, cfg: TrainConfig) -> dict[int, float] | None:
        """Keras' ``class_weight`` for training (None: every class weighs the same)."""
        return None

    def info(self) -> dict[str, Any]:
        """What the run's summary says of the task (labels, tags)."""
        return {}

    def finish(
        self,
        model: Any,
        bert: BertPipeline,
        out: Path,
        splits: tuple[Any, Any, Any],
        cfg: TrainConfig,
        metadata: dict[str, Any],
        validation: Examples,
    ) -> dict[str, Any]:
        """After the last epoch: export to ``out`` and evaluate; returns summary entries (``export`` included).

        ``validation`` is the validation split as `examples` made it for training.
        """
        raise NotImplementedError


def buckets_for(cfg: TrainConfig) -> tuple[int, ...]:
    """The packed lengths batches may take: every ``bucket_step`` when bucketing, else ``seq_length``."""
    return batching.default_buckets(cfg.seq_length, cfg.bucket_step) if cfg.bucketing else (cfg.seq_length,)


def check_splits(splits: tuple[Any, Any, Any], what: str = "examples") -> tuple[Any, Any, Any]:
    """Refuses an empty training or validation split, in one line."""
    for name, split in zip(("train", "validation"), splits[:2]):
        if len(split) == 0:
            raise InputError(f"the {name} split has 0 {what}: give more data or change the fractions")
    return splits


def seeded_splits(data: Any, cfg: TrainConfig, data_type: type) -> tuple[Any, Any, Any]:
    """``data`` (a ``data_type``) split by example into train / validation / test with ``cfg``'s fractions
    and seed, or a ready (train, validation, test) triple as it is."""
    if not isinstance(data, data_type):
        train, validation, test = data
        return train, validation, test
    whole: Any = data
    parts = split_groups(range(len(whole)), validation=cfg.validation_fraction, test=cfg.test_fraction, seed=cfg.seed)
    train, validation, test = (whole.subset(p) for p in parts)
    return train, validation, test


def split_groups(
    groups: Sequence[Hashable], *, validation: float, test: float, seed: int
) -> tuple[list[int], list[int], list[int]]:
    """Seeded train / validation / test index lists; examples of one group stay together.

    A group is what must not be spread over splits: the context of SQuAD
    questions (its questions would otherwise leak answers), or each sentence.
    """
    if not (0 <= validation < 1 and 0 <= test < 1 and validation + test < 1):
        raise InputError("validation and test fractions must be in [0, 1) and sum to less than 1")
    distinct = list(dict.fromkeys(groups))
    order = np.random.default_rng(seed).permutation(len(distinct))
    n_val = int(round(len(distinct) * validation))
    n_test = int(round(len(distinct) * test))
    part = {}
    for rank, g in enumerate(order):
        part[distinct[g]] = 1 if rank < n_val else 2 if rank < n_val + n_test else 0
    out: tuple[list[int], list[int], list[int]] = ([], [], [])
    for i, g in enumerate(groups):
        out[part[g]].append(i)
    return out


def export_metrics(export: Any, out: Path, splits: tuple[Any, Any, Any]) -> dict[str, Any]:
    """The loaded ``export`` at ``out`` scored on the validation split (and the test split, if any)."""
    summary: dict[str, Any] = {"export": str(out), "validation_metrics": export.evaluate(splits[1])}
    if len(splits[2]):
        summary["test_metrics"] = export.evaluate(splits[2])
    return summary


def masked_scalar_loss(per_position: Any, mask: Any) -> Any:
    """The mean of ``per_position`` where ``mask`` is true (0 when nothing is)."""
    import tensorflow as tf

    mask = tf.cast(mask, per_position.dtype)
    return tf.reduce_sum(per_position * mask) / tf.maximum(tf.reduce_sum(mask), 1.0)
