"""Text classification (spam first): the task, and the exported classifier that takes raw strings.

`TextClassification` is the task ``bert-hub train`` runs by default:
the TensorFlow "classify text with BERT" model (preprocess -> encoder,
trainable -> ``pooled_output`` or the mean of ``sequence_output`` -> dropout
-> dense). Two labels train one logit with binary cross-entropy (a positive
class, a threshold); more labels (or ``multi_class`` data) train one logit
per label with a softmax and sparse categorical cross-entropy. Texts may be
sentence pairs (two text columns): they are packed as
``[CLS] first [SEP] second [SEP]`` with ``input_type_ids`` 0 then 1, which is
how BERT was pre-trained for next-sentence prediction.

`export_classifier` saves the fine-tuned model with its preprocess
model as one SavedModel whose ``serving_default`` signature takes
``text: tf.string [batch]`` and returns ``probability`` (``float32
[batch]``: of the positive class; multi-class: of the predicted label) and
``label`` (``tf.string [batch]``); a multi-class export also returns
``probabilities`` (``float32 [batch, labels]``, in the order of the
metadata's ``label_names``). It loads
with plain ``tf.saved_model.load`` after ``import tensorflow_text``, with no
bert_hub import, and ``saved_model_cli show`` describes it. Each batch is
packed to the smallest length bucket that holds its longest text (the rule of
`bert_hub.runtime.batching`, at most ``seq_length``).

Examples:
    After ``bert-hub train ... --out runs/spam``:

    ```python
    import tensorflow as tf, tensorflow_text  # registers the tokenizer ops
    serve = tf.saved_model.load("runs/spam/model").signatures["serving_default"]
    serve(text=tf.constant(["WINNER!! Claim your prize now"]))["probability"]
    ```
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from typing_extensions import override

from bert_hub.core.errors import InputError, plural
from bert_hub.core.figures import check_image_path
from bert_hub.finetune.exported import save_export, with_pairs
from bert_hub.finetune.metrics import (
    best_f1_threshold,
    binary_metrics,
    format_metrics,
    format_multiclass_metrics,
    format_multilabel_metrics,
    multiclass_metrics,
    multilabel_metrics,
)
from bert_hub.finetune.options import Options, option
from bert_hub.finetune.plots import plot_confusion, plot_evaluation, plot_per_label
from bert_hub.finetune.task import Examples, Task, buckets_for, check_splits
from bert_hub.finetune.tasks.labelled_texts import LabelledData, LabelledTexts, read_labelled, stratified_split
from bert_hub.finetune.tasks.sentences import (
    SentenceSettings,
    ServedTexts,
    TextExamples,
    TextInputs,
    build_sentence_model,
    check_pairs_match,
    head_labels,
    overlapping_texts,
    scores_like,
    serving_module,
)
from bert_hub.runtime import batching

if TYPE_CHECKING:  # annotations only: the pipeline module loads TensorFlow
    from bert_hub.finetune.train_config import TrainConfig
    from bert_hub.hub.pipeline import BertPipeline

TASK_NAME = "text-classification"


@dataclasses.dataclass(frozen=True)
class ClassificationSettings(SentenceSettings):
    """Text classification's own settings (besides the pooling every sentence-level task has)."""

    class_weight: bool = option(False, "weight classes by inverse frequency")
    threshold: float = option(0.5, "probability from which a text is positive (see tune_threshold)", fraction=True)
    tune_threshold: bool = option(
        False, "choose the threshold on the validation split (best F1) and store it with the model"
    )


@dataclasses.dataclass(frozen=True)
class ClassifierInputs(TextInputs):
    """What a classifier predicts from: texts (or pairs), and how many labels to show."""

    top_k: int = option(
        1, "multi-class classifier: show the K most probable labels of each text", at_least=1, metavar="K"
    )


def predict_probabilities(model: Any, examples: TextExamples, buckets: Sequence[int], batch_size: int) -> np.ndarray:
    """Probabilities in input order (length-bucketed batches): of the positive class ``[n]`` for a
    binary model, of every label ``[n, labels]`` (softmax) for a multi-class one."""
    batches = batching.length_sorted_batches(examples.lengths, batch_size)
    width = int(model.outputs[0].shape[-1])
    sigmoid = width == 1 or len(examples.labels.shape) == 2  # binary, or multi-label: a sigmoid per label
    out = np.zeros((len(examples.lengths), width), np.float32)
    for (x, _), idx in zip(examples.dataset(batches, buckets), batches):
        logits = model(x, training=False).numpy()
        if sigmoid:
            out[idx] = 1.0 / (1.0 + np.exp(-logits))
        else:
            e = np.exp(logits - logits.max(axis=1, keepdims=True))
            out[idx] = e / e.sum(axis=1, keepdims=True)
    return out[:, 0] if width == 1 and not len(examples.labels.shape) == 2 else out


def on_common_labels(
    splits: tuple[LabelledTexts, LabelledTexts, LabelledTexts], *, multi_class: bool = False, multi_label: bool = False
) -> tuple[LabelledTexts, LabelledTexts, LabelledTexts]:
    """The splits (perhaps from separate files) with their labels as indices into the union of their label
    names, sorted, and of the kind given."""
    names = sorted(set().union(*(part.label_names for part in splits)))
    train, validation, test = (
        dataclasses.replace(part.relabelled(names), multi_class=multi_class, multi_label=multi_label) for part in splits
    )
    return train, validation, test


class TextClassification(Task):
    """Binary or multi-class text (or text-pair) classification; see the module docstring."""

    name = TASK_NAME
    data_type = LabelledTexts
    summary = "labelled texts or pairs: two labels, more (softmax) or a set per text (--multi-label)"
    Settings = ClassificationSettings
    DataOptions = LabelledData
    settings: ClassificationSettings

    @override
    @classmethod
    def read(cls, path: str | Path, options: Options | None = None) -> LabelledTexts:
        return read_labelled(path, **(options or LabelledData()).as_dict())

    @override
    @classmethod
    def looks_like(cls, head: str) -> bool:
        labels = head_labels(head)
        return labels is not None and not scores_like(labels)

    @override
    @staticmethod
    def model_type() -> type[Classifier]:
        return Classifier

    @override
    def split(self, data: Any, cfg: TrainConfig) -> tuple[LabelledTexts, LabelledTexts, LabelledTexts]:
        if isinstance(data, LabelledTexts):
            splits = stratified_split(data, validation=cfg.validation_fraction, test=cfg.test_fraction, seed=cfg.seed)
        else:
            splits = tuple(data)
        check_splits(splits)
        self.multi_class = any(part.multi_class for part in splits)
        self.multi_label = any(part.multi_label for part in splits)
        if self.multi_label:
            if self.settings.class_weight:
                raise InputError(
                    "`class_weight` weights the classes of single-label data; multi-label data "
                    "has label sets: leave it out"
                )
            splits = on_common_labels(splits, multi_label=True)
            if not any(splits[0].labels):
                raise InputError(
                    f"no text of the train split ({len(splits[0])} examples) has a label: give "
                    "more data or change the fractions"
                )
        elif self.multi_class:
            if self.settings.tune_threshold:
                raise InputError(
                    "`tune_threshold` chooses the threshold of a binary classifier; a multi-class "
                    "one predicts its most probable label: leave it out"
                )
            splits = on_common_labels(splits, multi_class=True)
            names = splits[0].label_names
            missing = [names[i] for i in range(len(names)) if i not in set(splits[0].labels)]
            if missing:
                raise InputError(
                    f"the label {missing[0]!r} has no example in the train split "
                    f"({plural(len(splits[0]), 'example')}): a class the model never sees cannot be "
                    "learnt; "
                    "give more data of it or change the fractions"
                )
        if not self.multi_label and len(set(splits[0].labels)) < 2:
            raise InputError(
                f"the train split has {plural(len(splits[0]), 'example')} ({splits[0].describe()}); "
                "it needs examples of at least two classes: give more data or change the fractions"
            )
        check_pairs_match(splits)
        self.label_names = splits[0].label_names
        self.pairs = splits[0].pairs is not None
        return splits

    @override
    def counts(self, split: LabelledTexts) -> dict[str, int]:
        return split.counts()

    @override
    def describe(self, splits: tuple[Any, Any, Any]) -> str:
        kind = (
            f"{len(self.label_names)} labels, multi-class"
            if self.multi_class
            else f"{len(self.label_names)} labels, multi-label"
            if self.multi_label
            else f"positive label {splits[0].label_names[1]!r}"
        )
        return (
            f"data: {len(splits[0])} train ({splits[0].describe()}), {len(splits[1])} validation, "
            f"{len(splits[2])} test; {kind}" + ("; sentence pairs" if self.pairs else "")
        )

    @override
    def overlap(self, splits: tuple[Any, Any, Any]) -> int:
        return overlapping_texts(*splits)

    @override
    def examples(self, bert: BertPipeline, data: LabelledTexts, cfg: TrainConfig) -> TextExamples:
        return TextExamples(bert, data, cfg.seq_length)

    @override
    def reads_pooled_output(self) -> bool:
        return self.settings.pooling == "pooled_output"

    @override
    def build_model(self, bert: BertPipeline, cfg: TrainConfig) -> Any:
        many = self.multi_class or self.multi_label
        return build_sentence_model(
            bert, cfg.dropout, self.settings.pooling, len(self.label_names) if many else 1, cfg.seed
        )

    @override
    def loss_and_metrics(self) -> tuple[Any, list[Any]]:
        import tf_keras

        if self.multi_class:
            return (
                tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                [tf_keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
            )
        return (
            tf_keras.losses.BinaryCrossentropy(from_logits=True),
            [tf_keras.metrics.BinaryAccuracy(name="accuracy", threshold=0.0)],
        )

    @override
    def class_weight(self, examples: Examples, cfg: TrainConfig) -> dict[int, float] | None:
        if not self.settings.class_weight:
            return None
        labels = examples.labels  # type: ignore[attr-defined]
        if self.multi_class:  # inverse frequency, as for two classes: n / (classes x count)
            counts = np.bincount(labels.astype(np.int64), minlength=len(self.label_names))
            return {c: len(labels) / (len(counts) * n) for c, n in enumerate(counts) if n}
        pos = float(labels.mean())
        return {0: 0.5 / (1 - pos), 1: 0.5 / pos}

    @staticmethod
    def _text_examples(examples: Examples) -> TextExamples:
        """The validation split as `examples` made it (text examples: this task's own)."""
        assert isinstance(examples, TextExamples)
        return examples

    @override
    def info(self) -> dict[str, Any]:
        return {
            "label_names": list(self.label_names),
            "pairs": self.pairs,
            "multi_class": self.multi_class,
            "multi_label": self.multi_label,
        }

    @override
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
        summary: dict[str, Any] = {}
        decision: dict[str, Any]  # how the export decides: its thresholds, or softmax's argmax
        if self.multi_label:
            thresholds = [self.settings.threshold] * len(self.label_names)
            if self.settings.tune_threshold:  # each label's best F1 on the validation split
                probs = predict_probabilities(model, self._text_examples(validation), buckets_for(cfg), cfg.batch_size)
                truth = splits[1].label_matrix()
                thresholds = [best_f1_threshold(truth[:, j], probs[:, j]) for j in range(len(self.label_names))]
            summary["thresholds"] = dict(zip(self.label_names, thresholds))
            decision = {"thresholds": thresholds}
        elif self.multi_class:
            decision = {"multi_class": True}
        else:
            threshold = self.settings.threshold
            if self.settings.tune_threshold:
                threshold = best_f1_threshold(
                    splits[1].labels,
                    predict_probabilities(model, self._text_examples(validation), buckets_for(cfg), cfg.batch_size),
                )
            summary["threshold"] = threshold
            decision = {"threshold": threshold}
        if len(splits[2]):
            test = TextExamples(bert, splits[2], cfg.seq_length)
            probs = predict_probabilities(model, test, buckets_for(cfg), cfg.batch_size)
            if self.multi_label:
                metrics = multilabel_metrics(splits[2].label_matrix(), probs, decision["thresholds"], self.label_names)
            elif self.multi_class:
                metrics = multiclass_metrics(splits[2].labels, probs, self.label_names)
            else:
                metrics = binary_metrics(splits[2].labels, probs, decision["threshold"])
            summary["test_metrics"] = metrics
        summary["export"] = str(
            export_classifier(
                model,
                bert,
                out,
                label_names=self.label_names,
                seq_length=cfg.seq_length,
                pairs=self.pairs,
                metadata={**metadata, "test_metrics": summary.get("test_metrics")},
                **decision,
            )
        )
        return summary


def export_classifier(
    model: Any,
    bert: BertPipeline,
    out: str | Path,
    *,
    label_names: Sequence[str],
    threshold: float = 0.5,
    seq_length: int = 128,
    metadata: dict | None = None,
    overwrite: bool = True,
    pairs: bool = False,
    multi_class: bool = False,
    thresholds: Sequence[float] | None = None,
) -> Path:
    """Saves ``model`` + ``bert``'s preprocess model as a serving SavedModel (atomically); its module and
    metadata are `classifier_serving`'s."""
    module, signatures, info = classifier_serving(
        model,
        bert,
        label_names=label_names,
        threshold=threshold,
        seq_length=seq_length,
        pairs=pairs,
        multi_class=multi_class,
        thresholds=thresholds,
    )
    return save_export(module, out, signatures, {**info, **(metadata or {})}, overwrite=overwrite)


LABEL_SET_TABLE_MAX = 12
"""A multi-label classifier with at most this many labels joins its predicted labels by table lookup (every set's
string, 4,096 at most): ops LiteRT has. With more, the names are joined with ragged string ops, which it has not."""


def classifier_serving(
    model: Any,
    bert: BertPipeline,
    *,
    label_names: Sequence[str],
    threshold: float = 0.5,
    seq_length: int = 128,
    pairs: bool = False,
    multi_class: bool = False,
    thresholds: Sequence[float] | None = None,
) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """A classifier's serving module, its signatures and its metadata.

    ``pairs``: the signature takes ``text`` and ``text_pair`` (sentence pairs).
    ``multi_class``: ``model`` has one logit per label (softmax); the
    signature also returns ``probabilities`` ``[batch, labels]``.
    ``thresholds`` (one per label) makes a multi-label export: a sigmoid per
    label; ``probabilities`` ``[batch, labels]``, ``predicted`` (``bool
    [batch, labels]``, probability >= the label's threshold) and ``label``
    (the predicted labels joined by ``,``; empty for none).
    """
    import tensorflow as tf

    multi_label = thresholds is not None
    per_label = [float(t) for t in thresholds] if thresholds is not None else [0.5]
    names = [str(n) for n in label_names]
    tabled = multi_label and len(names) <= LABEL_SET_TABLE_MAX
    sets = [",".join(n for i, n in enumerate(names) if m >> i & 1) for m in range(1 << len(names))] if tabled else [""]

    def classify(module: Any, inputs: Any) -> dict[str, Any]:
        logits = module.model(inputs, training=False)
        if multi_label:
            probabilities = tf.sigmoid(logits)
            predicted = probabilities >= module.thresholds
            if tabled:  # each set's string looked up by its bits: plain ops (LiteRT converts them)
                bits = tf.constant([1 << i for i in range(len(names))], tf.int32)
                label = tf.gather(module.label_sets, tf.reduce_sum(tf.cast(predicted, tf.int32) * bits, axis=1))
            else:
                every = tf.broadcast_to(module.labels, tf.shape(predicted))
                label = tf.strings.reduce_join(tf.ragged.boolean_mask(every, predicted), axis=1, separator=",")
            return {"probabilities": probabilities, "predicted": predicted, "label": label}
        if multi_class:
            probabilities = tf.nn.softmax(logits, axis=-1)
            best = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
            return {
                "probabilities": probabilities,
                "probability": tf.reduce_max(probabilities, axis=-1),
                "label": tf.gather(module.labels, best),
            }
        probability = tf.sigmoid(logits[:, 0])
        positive = tf.cast(probability >= module.threshold, tf.int32)
        return {"probability": probability, "label": tf.gather(module.labels, positive)}

    module = serving_module(
        model,
        bert,
        seq_length,
        classify,
        labels=names,
        threshold=float(threshold),
        thresholds=per_label,
        label_sets=sets,
    )
    single = not (multi_class or multi_label)
    return (
        module,
        {"serving_default": module.serve_pairs if pairs else module.serve},
        {
            "task": TASK_NAME,
            "label_names": list(label_names),
            "multi_class": multi_class,
            "multi_label": multi_label,
            "positive_label": label_names[1] if single else None,
            "threshold": threshold if single else None,
            "thresholds": per_label if multi_label else None,
            "seq_length": seq_length,
            "pairs": pairs,
        },
    )


class Classifier(ServedTexts):
    """A loaded exported classifier (plain TensorFlow; bert_hub adds batching and checks)."""

    task = TASK_NAME
    verb = "classifies"
    PredictInputs = ClassifierInputs

    beam_columns = {"label": "string", "probability": "float32"}

    @classmethod
    @override
    def rebuild_model(cls, bert: BertPipeline, settings: dict[str, Any], info: dict[str, Any]) -> Any:
        many = info.get("multi_class") or info.get("multi_label")
        outputs = len(info["label_names"]) if many else 1
        return build_sentence_model(bert, 0.0, settings.get("pooling", "pooled_output"), outputs)

    @classmethod
    @override
    def litert_refusal(cls, info: dict[str, Any]) -> str | None:
        labels = len(info["label_names"])
        if info.get("multi_label") and labels > LABEL_SET_TABLE_MAX:
            return (
                f"a multi-label classifier of {labels} labels joins its predicted labels with ragged string ops; "
                f"LiteRT's form looks them up in a table, for up to {LABEL_SET_TABLE_MAX} labels"
            )
        return None

    @classmethod
    @override
    def serving_module(cls, model: Any, bert: BertPipeline, info: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        module, signatures, _ = classifier_serving(
            model,
            bert,
            label_names=info["label_names"],
            threshold=info.get("threshold") or 0.5,
            seq_length=info["seq_length"],
            pairs=bool(info.get("pairs")),
            multi_class=bool(info.get("multi_class")),
            thresholds=info.get("thresholds") if info.get("multi_label") else None,
        )
        return module, signatures

    def beam_rows(self, lines: Sequence[str]) -> list[dict[str, Any]]:
        """``label`` and ``probability`` (a label set joined with ``,`` and no probability for multi-label)."""
        return [{"label": r["label"], "probability": r["probability"]} for r in self.predict(list(lines))]

    @property
    def label_names(self) -> tuple[str, ...]:
        """The labels, in the order of the model's outputs."""
        return tuple(self.info["label_names"])

    @property
    def multi_class(self) -> bool:
        """Whether the model predicts one of several labels (softmax), not a positive class."""
        return bool(self.info.get("multi_class", False))

    @property
    def multi_label(self) -> bool:
        """Whether the model predicts a set of labels per text (a sigmoid and a threshold per label)."""
        return bool(self.info.get("multi_label", False))

    def predict(
        self, texts: Sequence[str], batch_size: int = 64, pairs: Sequence[str] | None = None, top_k: int = 1
    ) -> list[dict[str, Any]]:
        """``[{"text", "label", "probability"}]`` in input order (``"text_pair"`` too for pairs).

        A multi-class model's rows also hold ``top``: the ``top_k`` most
        probable labels, ``[{"label", "probability"}]``, most probable first.
        A multi-label model's rows hold ``labels`` (the predicted set, in the
        model's label order), ``label`` (them joined by ``,``),
        ``probability`` None and ``probabilities`` (every label's).
        """
        texts, pairs = self._checked(texts, pairs)
        if top_k < 1:
            raise InputError(f"top_k {top_k}: give at least 1")
        res = self._outputs(texts, pairs, batch_size)
        out = []
        for i, text in enumerate(texts):
            row: dict[str, Any] = {"text": text, **({"text_pair": pairs[i]} if pairs is not None else {})}
            if self.multi_label:
                labels = [n for n, c in zip(self.label_names, res["predicted"][i]) if c]
                row.update(
                    labels=labels,
                    label=",".join(labels),
                    probability=None,
                    probabilities={n: float(p) for n, p in zip(self.label_names, res["probabilities"][i])},
                )
            else:
                row.update(label=res["label"][i].decode(), probability=float(res["probability"][i]))
                if self.multi_class:
                    probs = res["probabilities"][i]
                    order = np.argsort(-probs, kind="stable")[:top_k]
                    row["top"] = [{"label": self.label_names[j], "probability": float(probs[j])} for j in order]
            out.append(row)
        return out

    def read_data(self, path: str | Path, options: Options | None = None) -> LabelledTexts:
        """Labelled data read as this classifier's kind (binary with its positive label, multi-class or
        multi-label); a binary model refuses labels it does not know, naming the line."""
        given = options if isinstance(options, LabelledData) else LabelledData()
        binary = not (self.multi_class or self.multi_label)
        if given.positive is not None and not binary:
            raise InputError(
                f"`positive` names the positive label of a binary classifier; {self.path} is "
                f"{'multi-label' if self.multi_label else 'multi-class'}: leave it out"
            )
        if given.label_sep != LabelledData.label_sep and not self.multi_label:
            raise InputError(
                f"`label_sep` separates the labels of a multi-label classifier's data; {self.path} "
                "predicts one label per text: leave it out"
            )
        return self._checked_pairs(
            read_labelled(
                path,
                fmt=given.fmt,
                text_col=given.text_col,
                label_col=given.label_col,
                pair_col=given.pair_col,
                positive=(given.positive or self.info["positive_label"]) if binary else given.positive,
                label_sep=given.label_sep,
                label_names=self.label_names if binary else None,
                multi_class=self.multi_class,
                multi_label=self.multi_label,
            )
        )

    @override
    @staticmethod
    def format_metrics(metrics: dict[str, Any], info: dict[str, Any]) -> str:
        if info.get("multi_class"):
            return format_multiclass_metrics(metrics)
        if info.get("multi_label"):
            return format_multilabel_metrics(metrics)
        return format_metrics(metrics, info["label_names"])

    @override
    def predict_inputs(self, inputs: Options) -> dict[str, Any]:
        assert isinstance(inputs, ClassifierInputs)
        if inputs.top_k > 1 and not self.multi_class:
            raise InputError(
                f"`top_k` shows the most probable labels of a multi-class classifier; {self.path} is "
                f"{'multi-label' if self.multi_label else 'binary'}: leave it out"
            )
        texts, pairs = inputs.texts_and_pairs()
        rows = self.predict(texts, pairs=pairs, top_k=inputs.top_k)
        if self.multi_label:
            return {
                "model": str(self.path),
                "label_names": list(self.label_names),
                "multi_label": True,
                "thresholds": self.info["thresholds"],
                "predictions": rows,
            }
        return {
            "model": str(self.path),
            "positive_label": self.info["positive_label"],
            "label_names": list(self.label_names),
            "multi_class": self.multi_class,
            "predictions": rows,
        }

    def format_report(self, report: dict[str, Any]) -> str:
        """A header naming each column, then one line per text: the label, the probability the header names
        (binary: of the positive label, whatever the predicted one; multi-class: of the predicted label,
        the next ``top_k - 1`` after the text), the text."""
        rows = report["predictions"]
        if report.get("multi_label"):
            width = max(len(r["label"] or "(none)") for r in rows + [{"label": "labels"}])
            return f"{'labels':<{width}}  text\n" + with_pairs(
                rows, lambda r: f"{r['label'] or '(none)':<{width}}  {r['text']}"
            )
        width = max(len(r["label"]) for r in rows + [{"label": "label"}])
        number = "P(label)" if report.get("multi_class") else f"P({report['positive_label']})"
        column = max(len(number), 6)

        def others(r: dict[str, Any]) -> str:
            rest = r.get("top", [])[1:]
            return "  (" + ", ".join(f"{t['label']} {t['probability']:.4f}" for t in rest) + ")" if rest else ""

        return f"{'label':<{width}}  {number:<{column}}  text\n" + with_pairs(
            rows, lambda r: f"{r['label']:<{width}}  {r['probability']:<{column}.4f}  {r['text']}", after=others
        )

    def probabilities(
        self, texts: Sequence[str], pairs: Sequence[str] | None = None, batch_size: int = 64
    ) -> np.ndarray:
        """``[n]`` positive-class probabilities (binary) or ``[n, labels]`` (multi-class), in input order."""
        key = "probabilities" if self.multi_class or self.multi_label else "probability"
        texts, pairs = self._checked(texts, pairs)
        return self._outputs(texts, pairs, batch_size)[key]

    def evaluate(
        self, data: Any, plot: str | Path | None = None, overwrite: bool = False, batch_size: int = 64
    ) -> dict[str, Any]:
        """Metrics on labelled data with this classifier's labels.

        Binary: accuracy, precision / recall / F1, ROC-AUC at its stored
        threshold; ``plot`` draws the confusion matrix and the
        precision-recall curve, with the operating point marked. Multi-class:
        accuracy, macro / micro / weighted F1, MCC and per-class figures
        (`multiclass_metrics`); ``plot`` draws
        the confusion matrix, normalised by true class and in counts. Plots
        are png, pdf, svg or jpg by the suffix.
        """
        data = self._data(data)
        if plot is not None:
            plot = check_image_path(plot, overwrite=overwrite)
        if self.multi_label:
            data = data.relabelled(self.label_names)
            probs = self.probabilities(data.texts, data.pairs, batch_size)
            metrics = multilabel_metrics(data.label_matrix(), probs, self.info["thresholds"], self.label_names)
            if plot is not None:
                metrics["plot"] = str(plot_per_label(metrics["per_label"], plot, overwrite=overwrite))
            return metrics
        if self.multi_class:
            data = data.relabelled(self.label_names)
            probs = self.probabilities(data.texts, data.pairs, batch_size)
            metrics = multiclass_metrics(data.labels, probs, self.label_names)
            if plot is not None:
                metrics["plot"] = str(
                    plot_confusion(metrics["confusion_matrix"], self.label_names, plot, overwrite=overwrite)
                )
            return metrics
        if set(data.label_names) != set(self.label_names):
            raise InputError(
                f"{data.source}: labels {sorted(data.label_names)} differ from the model's {sorted(self.label_names)}"
            )
        positive = self.label_names[1]
        y = [int(data.label_names[lab] == positive) for lab in data.labels]
        probs = self.probabilities(data.texts, data.pairs, batch_size)
        metrics = binary_metrics(y, probs, self.info.get("threshold", 0.5))
        if plot is not None:
            metrics["plot"] = str(plot_evaluation(y, probs, metrics, self.label_names, plot, overwrite=overwrite))
        return metrics
