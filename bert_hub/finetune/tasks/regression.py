"""Text regression: a score per text (or text pair), such as a 0-5 similarity (GLUE's STS-B) or a rating.

`TextRegression` is ``bert-hub train --task text-regression``: the
classifier's model (preprocess -> encoder, trainable -> ``pooled_output`` or
the mean of ``sequence_output`` -> dropout -> dense) with one linear output,
trained with mean squared error on a numeric label column. The data files
are those of classification (``label<TAB>text``, CSV/TSV with a header,
`pair_col` for sentence pairs) with numbers as labels.

`export_regressor` writes a SavedModel whose ``serving_default``
signature takes ``text`` (and ``text_pair`` for pairs) and returns ``score``
(``float32 [batch]``), loadable with plain TensorFlow after ``import
tensorflow_text``. [`Regressor`][bert_hub.finetune.tasks.regression.Regressor] loads it for ``predict`` and
``evaluate`` (Pearson, Spearman, MSE, MAE).

Examples:
    >>> from bert_hub.finetune.tasks.regression import ScoredTexts
    >>> ScoredTexts(["a fine day", "awful"], [4.5, 0.5]).describe()
    'scores 0.5 to 4.5, mean 2.5'
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from typing_extensions import override

from bert_hub.core.errors import InputError
from bert_hub.core.figures import check_image_path
from bert_hub.core.inputs import data_path
from bert_hub.finetune.exported import save_export, with_pairs
from bert_hub.finetune.metrics import format_regression_metrics, regression_metrics
from bert_hub.finetune.options import Options
from bert_hub.finetune.plots import plot_scores
from bert_hub.finetune.task import Task, buckets_for, check_splits, seeded_splits
from bert_hub.finetune.tasks.sentences import (
    NUMBER,
    SentenceData,
    SentenceSettings,
    ServedTexts,
    TextExamples,
    TextInputs,
    build_sentence_model,
    check_pairs_match,
    head_labels,
    overlapping_texts,
    read_rows,
    scores_like,
    serving_module,
)
from bert_hub.runtime import batching

if TYPE_CHECKING:  # annotations only: the pipeline module loads TensorFlow
    from bert_hub.finetune.train_config import TrainConfig
    from bert_hub.hub.pipeline import BertPipeline

TASK_NAME = "text-regression"


@dataclasses.dataclass
class ScoredTexts:
    """Texts (or text pairs: ``pairs`` holds the second texts) with a number each."""

    texts: list[str]
    scores: list[float]
    source: str = "<memory>"
    pairs: list[str] | None = None

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def labels(self) -> list[float]:
        """The scores, under the name the shared batching code reads."""
        return self.scores

    def subset(self, index: Sequence[int]) -> ScoredTexts:
        """The examples at ``index``, in that order."""
        return ScoredTexts(
            [self.texts[i] for i in index],
            [self.scores[i] for i in index],
            self.source,
            None if self.pairs is None else [self.pairs[i] for i in index],
        )

    def describe(self) -> str:
        """The range and mean of the scores, in one phrase."""
        if not self.scores:
            return "no scores"
        return f"scores {min(self.scores):g} to {max(self.scores):g}, mean {float(np.mean(self.scores)):.3g}"


def read_scored(
    path: str | Path,
    *,
    fmt: str = "auto",
    text_col: str = "text",
    label_col: str = "label",
    pair_col: str | None = None,
) -> ScoredTexts:
    """Reads a data file whose labels are numbers; a label that is not a finite number names its line."""
    path = data_path(path)
    rows, seconds, _ = read_rows(path, SentenceData(fmt=fmt, text_col=text_col, pair_col=pair_col, label_col=label_col))
    scores = []
    for number, label, _ in rows:
        value = float(label) if NUMBER.fullmatch(label) else math.nan
        if not math.isfinite(value):
            raise InputError(
                f"{path}: line {number} has the label {label!r}, not a finite number; text "
                "regression needs a number per text (for classes, train text-classification)"
            )
        scores.append(value)
    return ScoredTexts([t for _, _, t in rows], scores, str(path), seconds)


class TextRegression(Task):
    """A score per text (or pair): linear head, mean squared error; see the module docstring."""

    name = TASK_NAME
    data_type = ScoredTexts
    summary = "a score per text or pair (0-5 similarity, a rating): linear head, mean squared error"
    Settings = SentenceSettings
    DataOptions = SentenceData
    settings: SentenceSettings

    @override
    @classmethod
    def read(cls, path: str | Path, options: Options | None = None) -> ScoredTexts:
        return read_scored(path, **(options or SentenceData()).as_dict())

    @override
    @classmethod
    def looks_like(cls, head: str) -> bool:
        labels = head_labels(head)
        return labels is not None and scores_like(labels)

    @override
    @staticmethod
    def model_type() -> type[Regressor]:
        return Regressor

    @override
    def split(self, data: Any, cfg: TrainConfig) -> tuple[ScoredTexts, ScoredTexts, ScoredTexts]:
        splits = seeded_splits(data, cfg, ScoredTexts)
        check_splits(splits)
        check_pairs_match(splits)
        if len(set(splits[0].scores)) < 2:
            raise InputError(
                f"every training example has the score {splits[0].scores[0]:g}: there is nothing "
                "to learn; give data with different scores"
            )
        self.pairs = splits[0].pairs is not None
        return splits

    @override
    def describe(self, splits: tuple[Any, Any, Any]) -> str:
        """The range and mean of the scores, in one phrase."""
        return (
            f"data: {len(splits[0])} train ({splits[0].describe()}), {len(splits[1])} validation, "
            f"{len(splits[2])} test; regression" + ("; sentence pairs" if self.pairs else "")
        )

    @override
    def overlap(self, splits: tuple[Any, Any, Any]) -> int:
        return overlapping_texts(*splits)

    @override
    def examples(self, bert: BertPipeline, data: ScoredTexts, cfg: TrainConfig) -> TextExamples:
        return TextExamples(bert, data, cfg.seq_length)

    @override
    def reads_pooled_output(self) -> bool:
        return self.settings.pooling == "pooled_output"

    @override
    def build_model(self, bert: BertPipeline, cfg: TrainConfig) -> Any:
        return build_sentence_model(bert, cfg.dropout, self.settings.pooling, 1, cfg.seed)

    @override
    def loss_and_metrics(self) -> tuple[Any, list[Any]]:
        import tf_keras

        return tf_keras.losses.MeanSquaredError(), [tf_keras.metrics.MeanAbsoluteError(name="mae")]

    @override
    def info(self) -> dict[str, Any]:
        return {"pairs": self.pairs}

    @override
    def finish(
        self,
        model: Any,
        bert: BertPipeline,
        out: Path,
        splits: tuple[Any, Any, Any],
        cfg: TrainConfig,
        metadata: dict[str, Any],
        validation: Any,
    ) -> dict[str, Any]:
        summary: dict[str, Any] = {}
        if len(splits[2]):
            test = TextExamples(bert, splits[2], cfg.seq_length)
            summary["test_metrics"] = regression_metrics(
                splits[2].scores, predict_scores(model, test, buckets_for(cfg), cfg.batch_size)
            )
        summary["export"] = str(
            export_regressor(
                model,
                bert,
                out,
                seq_length=cfg.seq_length,
                pairs=self.pairs,
                metadata={**metadata, "test_metrics": summary.get("test_metrics")},
            )
        )
        return summary


def predict_scores(model: Any, examples: TextExamples, buckets: Sequence[int], batch_size: int) -> np.ndarray:
    """The model's scores in input order (length-bucketed batches)."""
    batches = batching.length_sorted_batches(examples.lengths, batch_size)
    out = np.zeros(len(examples.lengths), np.float32)
    for (x, _), idx in zip(examples.dataset(batches, buckets), batches):
        out[idx] = model(x, training=False).numpy()[:, 0]
    return out


def export_regressor(
    model: Any,
    bert: BertPipeline,
    out: str | Path,
    *,
    seq_length: int = 128,
    pairs: bool = False,
    metadata: dict | None = None,
    overwrite: bool = True,
) -> Path:
    """Saves ``model`` + ``bert``'s preprocess model as a serving SavedModel returning ``score`` (atomically)."""
    module, signatures = regressor_serving(model, bert, seq_length=seq_length, pairs=pairs)
    info = {"task": TASK_NAME, "seq_length": seq_length, "pairs": pairs, **(metadata or {})}
    return save_export(module, out, signatures, info, overwrite=overwrite)


def regressor_serving(
    model: Any, bert: BertPipeline, *, seq_length: int = 128, pairs: bool = False
) -> tuple[Any, dict[str, Any]]:
    """A regressor's serving module and its signature (``text``, and ``text_pair`` for ``pairs``, to
    ``score``)."""

    def score(module: Any, inputs: Any) -> dict[str, Any]:
        return {"score": module.model(inputs, training=False)[:, 0]}

    module = serving_module(model, bert, seq_length, score)
    return module, {"serving_default": module.serve_pairs if pairs else module.serve}


class Regressor(ServedTexts):
    """A loaded exported regressor (plain TensorFlow; bert_hub adds batching and checks)."""

    task = TASK_NAME
    verb = "scores"
    beam_columns = {"score": "float32"}

    @classmethod
    @override
    def rebuild_model(cls, bert: BertPipeline, settings: dict[str, Any], info: dict[str, Any]) -> Any:
        return build_sentence_model(bert, 0.0, settings.get("pooling", "pooled_output"), 1)

    @classmethod
    @override
    def serving_module(cls, model: Any, bert: BertPipeline, info: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        return regressor_serving(model, bert, seq_length=info["seq_length"], pairs=bool(info.get("pairs")))

    @override
    def beam_rows(self, lines: Sequence[str]) -> list[dict[str, Any]]:
        return [{"score": float(s)} for s in self.scores(list(lines))]

    def scores(self, texts: Sequence[str], pairs: Sequence[str] | None = None, batch_size: int = 64) -> np.ndarray:
        """``[n]`` scores in input order."""
        texts, pairs = self._checked(texts, pairs)
        return self._outputs(texts, pairs, batch_size)["score"]

    def predict(
        self, texts: Sequence[str], pairs: Sequence[str] | None = None, batch_size: int = 64
    ) -> list[dict[str, Any]]:
        """``[{"text", "score"}]`` in input order (``"text_pair"`` too for pairs)."""
        texts, pairs = self._checked(texts, pairs)
        scores = self.scores(texts, pairs, batch_size)
        return [
            {"text": t, **({"text_pair": pairs[i]} if pairs is not None else {}), "score": float(scores[i])}
            for i, t in enumerate(texts)
        ]

    def read_data(self, path: str | Path, options: Options | None = None) -> ScoredTexts:
        """Scored data for this regressor (pairs for a pair model)."""
        return self._checked_pairs(read_scored(path, **(options or SentenceData()).as_dict()))

    @override
    @staticmethod
    def format_metrics(metrics: dict[str, Any], info: dict[str, Any]) -> str:
        return format_regression_metrics(metrics)

    @override
    def predict_inputs(self, inputs: Options) -> dict[str, Any]:
        assert isinstance(inputs, TextInputs)
        texts, pairs = inputs.texts_and_pairs()
        return {"model": str(self.path), "predictions": self.predict(texts, pairs=pairs)}

    @override
    def format_report(self, report: dict[str, Any]) -> str:
        return "    score  text\n" + with_pairs(report["predictions"], lambda r: f"{r['score']:>9.4f}  {r['text']}")

    def evaluate(
        self, data: ScoredTexts, plot: str | Path | None = None, overwrite: bool = False, batch_size: int = 64
    ) -> dict[str, Any]:
        """Pearson, Spearman, MSE and MAE on scored data; ``plot``: predicted against true scores."""
        data = self._data(data)
        if plot is not None:
            plot = check_image_path(plot, overwrite=overwrite)
        predicted = self.scores(data.texts, data.pairs, batch_size)
        metrics = regression_metrics(data.scores, predicted)
        if plot is not None:
            metrics["plot"] = str(plot_scores(data.scores, predicted, metrics, plot, overwrite=overwrite))
        return metrics
