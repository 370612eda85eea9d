"""A task from outside bert_hub, as a user's package would write it: which topic a text is about, from
``label|text`` lines.

It has one setting of its own (``hidden_units``: a hidden layer in the head),
one data option (``separator``: what parts the label from the text) and one
predict input (``prefix``: put before every text). It is registered with an
entry point in the group ``bert_hub.tasks`` (the test writes the
``.dist-info`` a ``pip install`` would), and trains, evaluates, predicts and
exports through ``bert-hub`` without any bert_hub module naming it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from bert_hub.core.errors import InputError
from bert_hub.core.inputs import read_data_file
from bert_hub.finetune.exported import save_export
from bert_hub.finetune.options import Options, option
from bert_hub.finetune.task import Task, check_splits, export_metrics, seeded_splits
from bert_hub.finetune.tasks.sentences import ServedTexts, TextExamples, serving_module

NAME = "keyword-topics"


@dataclasses.dataclass
class Topics:
    """Texts with a topic each (an index into ``labels``)."""

    texts: list[str]
    labels: list[int]
    names: tuple[str, ...]
    pairs: None = None

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, index: Sequence[int]) -> Topics:
        return Topics([self.texts[i] for i in index], [self.labels[i] for i in index], self.names)


@dataclasses.dataclass(frozen=True)
class TopicData(Options):
    separator: str = option("|", "what parts the topic from the text on each line")


@dataclasses.dataclass(frozen=True)
class TopicSettings(Options):
    hidden_units: int = option(16, "units of the head's hidden layer", at_least=1)


@dataclasses.dataclass(frozen=True)
class TopicInputs(Options):
    texts: tuple[str, ...] = option((), "the texts", positional=True, metavar="TEXT")
    prefix: str = option("", "put before every text")


def read_topics(path: str | Path, options: TopicData, names: Sequence[str] | None = None) -> Topics:
    lines = [(n, line) for n, line in enumerate(read_data_file(path).splitlines(), 1) if line.strip()]
    rows = []
    for number, line in lines:
        if options.separator not in line:
            raise InputError(f"{path}: line {number} has no {options.separator!r}; choose it with `separator`")
        label, text = line.split(options.separator, 1)
        rows.append((label.strip(), text))
    names = tuple(names) if names is not None else tuple(sorted({label for label, _ in rows}))
    for label, _ in rows:
        if label not in names:
            raise InputError(f"{path}: the topic {label!r} is not one of {', '.join(names)}")
    return Topics([t for _, t in rows], [names.index(label) for label, _ in rows], names)


class KeywordTopics(Task):
    """A topic per text, with a hidden layer in the head."""

    name = NAME
    summary = "a topic per label|text line (a plug-in's task)"
    data_type = Topics
    Settings = TopicSettings
    DataOptions = TopicData
    predict_example = '--prefix "..." TEXT'
    settings: TopicSettings

    @classmethod
    def read(cls, path: str | Path, options: Options | None = None) -> Topics:
        return read_topics(path, options if isinstance(options, TopicData) else TopicData())

    @staticmethod
    def model_type() -> type[TopicModel]:
        return TopicModel

    def split(self, data: Any, cfg: Any) -> tuple[Any, Any, Any]:
        splits = check_splits(seeded_splits(data, cfg, Topics))
        self.names = splits[0].names
        return splits

    def examples(self, bert: Any, data: Topics, cfg: Any) -> TextExamples:
        return TextExamples(bert, data, cfg.seq_length)

    def build_model(self, bert: Any, cfg: Any) -> Any:
        import tensorflow as tf
        import tf_keras

        inputs = {
            k: tf_keras.layers.Input(shape=(None,), dtype=tf.int32, name=k)
            for k in ("input_word_ids", "input_mask", "input_type_ids")
        }
        sequence = bert.encoder_layer(inputs)["sequence_output"]
        mask = tf_keras.layers.Lambda(lambda m: tf.cast(m, tf.float32)[:, :, None])(inputs["input_mask"])
        mean = tf_keras.layers.Lambda(lambda a: tf.reduce_sum(a[0] * a[1], 1) / tf.reduce_sum(a[1], 1))(
            [sequence, mask]
        )
        hidden = tf_keras.layers.Dense(self.settings.hidden_units, activation="relu", name="hidden")(mean)
        return tf_keras.Model(inputs, tf_keras.layers.Dense(len(self.names), name="topics")(hidden))

    def loss_and_metrics(self) -> tuple[Any, list[Any]]:
        import tf_keras

        return (
            tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            [tf_keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        )

    def info(self) -> dict[str, Any]:
        return {"names": list(self.names)}

    def finish(
        self, model: Any, bert: Any, out: Path, splits: Any, cfg: Any, metadata: dict[str, Any], validation: Any
    ) -> dict[str, Any]:
        import tensorflow as tf

        def head(module: Any, inputs: Any) -> dict[str, Any]:
            probabilities = tf.nn.softmax(module.model(inputs, training=False), axis=-1)
            best = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
            return {"label": tf.gather(module.names, best), "probability": tf.reduce_max(probabilities, -1)}

        module = serving_module(model, bert, cfg.seq_length, head, names=list(self.names))
        save_export(
            module,
            out,
            {"serving_default": module.serve},
            {"task": NAME, "names": list(self.names), "hidden_units": self.settings.hidden_units, **metadata},
        )
        return export_metrics(TopicModel(out), out, splits)


class TopicModel(ServedTexts):
    """The exported topic model."""

    task = NAME
    PredictInputs: ClassVar[type[Options]] = TopicInputs
    beam_columns: ClassVar[dict[str, str]] = {"label": "string"}

    def read_data(self, path: str | Path, options: Options | None = None) -> Topics:
        return read_topics(path, options if isinstance(options, TopicData) else TopicData(), self.info["names"])

    def evaluate(self, data: Any, plot: Any = None, overwrite: bool = False) -> dict[str, Any]:
        labels = self._outputs(data.texts, None, 32)["label"]
        right = [label.decode() == data.names[i] for label, i in zip(labels, data.labels)]
        return {"accuracy": float(np.mean(right)), "examples": len(right)}

    @staticmethod
    def format_metrics(metrics: dict[str, Any], info: dict[str, Any]) -> str:
        return f"accuracy {metrics['accuracy']:.4f} on {metrics['examples']} texts"

    def predict_inputs(self, inputs: Options) -> dict[str, Any]:
        assert isinstance(inputs, TopicInputs)
        texts = [inputs.prefix + t for t in inputs.texts]
        out = self._outputs(texts, None, 32)
        return {
            "model": str(self.path),
            "predictions": [
                {"text": t, "label": label.decode(), "probability": float(p)}
                for t, label, p in zip(texts, out["label"], out["probability"])
            ],
        }

    def format_report(self, report: dict[str, Any]) -> str:
        return "\n".join(f"{r['label']}  {r['text']}" for r in report["predictions"])

    def beam_rows(self, lines: Sequence[str]) -> list[dict[str, Any]]:
        return [{"label": label.decode()} for label in self._outputs(list(lines), None, 32)["label"]]


def dist_info(folder: Path) -> Path:
    """Writes the ``.dist-info`` that ``pip install`` of a package declaring the entry point would write."""
    info = folder / "keyword_task-0.1.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: keyword-task\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[bert_hub.tasks]\n{NAME} = keyword_task:KeywordTopics\n")
    (info / "RECORD").write_text("")
    return folder
