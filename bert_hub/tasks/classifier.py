"""Text classification (spam first): the task, and the exported classifier that takes raw strings.

:class:`TextClassification` is the task ``bert-hub train`` runs by default:
the TensorFlow "classify text with BERT" model (preprocess -> encoder,
trainable -> ``pooled_output`` or the mean of ``sequence_output`` -> dropout
-> dense, one logit), trained with binary cross-entropy on two labels. Texts
may be sentence pairs (two text columns): they are packed as
``[CLS] first [SEP] second [SEP]`` with ``input_type_ids`` 0 then 1, which is
how BERT was pre-trained for next-sentence prediction.

:func:`export_classifier` saves the fine-tuned model with its preprocess
model as one SavedModel whose ``serving_default`` signature takes
``text: tf.string [batch]`` and returns ``probability`` (of the positive
class, ``float32 [batch]``) and ``label`` (``tf.string [batch]``). It loads
with plain ``tf.saved_model.load`` after ``import tensorflow_text``, with no
bert_hub import, and ``saved_model_cli show`` describes it. Each batch is
packed to the smallest length bucket that holds its longest text (the rule of
:mod:`bert_hub.batching`, at most ``seq_length``).

Example (after ``bert-hub train ... --out runs/spam``)::

    import tensorflow as tf, tensorflow_text  # registers the tokenizer ops
    serve = tf.saved_model.load("runs/spam/model").signatures["serving_default"]
    serve(text=tf.constant(["WINNER!! Claim your prize now"]))["probability"]
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from bert_hub import batching
from bert_hub.errors import InputError
from bert_hub.inputs import check_texts
from bert_hub.interface import INPUT_KEYS
from bert_hub.outputs import check_image_path, save_plot
from bert_hub.tasks.data import LabelledTexts, overlapping_texts, stratified_split
from bert_hub.tasks.exported import DEFAULT_TASK, load_export, save_export
from bert_hub.tasks.metrics import best_f1_threshold, binary_metrics, precision_recall_curve
from bert_hub.tasks.task import Examples, Task, buckets_for, check_splits

TASK_NAME = DEFAULT_TASK


class TextExamples(Examples):
    """Labelled texts (or pairs) tokenized once, ready to be batched."""

    def __init__(self, bert: Any, data: LabelledTexts, seq_length: int):
        self.preprocessor = bert.preprocessor
        self.tokenized = batching.tokenize(bert.preprocessor, data.texts, seq_length, pairs=data.pairs)
        self.lengths = self.tokenized.lengths
        self.labels = np.asarray(data.labels, np.float32)

    def to_batch(self, buckets: Any) -> Any:
        import tensorflow as tf

        labels = tf.constant(self.labels)

        def batch(idx):
            x = batching.pack_to_bucket(self.preprocessor, [tf.gather(s, idx) for s in self.tokenized.segments],
                                        buckets)
            return x, tf.reshape(tf.gather(labels, idx), [-1, 1])

        return batch


def build_classifier(bert: Any, dropout: float, pooling: str = "pooled_output"):
    """text vector -> dropout -> dense(1), on the encoder's three inputs (any length).

    The text vector is ``pooled_output`` (the tutorial's) or the mean of
    ``sequence_output`` over the real tokens (what sentence encoders such as
    all-MiniLM-L6-v2 are trained for).
    """
    import tensorflow as tf
    import tf_keras

    inputs = {k: tf_keras.layers.Input(shape=(None,), dtype=tf.int32, name=k) for k in INPUT_KEYS}
    outputs = bert.encoder_layer(inputs)
    if pooling == "pooled_output":
        vector = outputs["pooled_output"]
    else:
        mask = tf_keras.layers.Lambda(lambda m: tf.cast(m, tf.float32)[:, :, tf.newaxis], name="real_tokens")(
            inputs["input_mask"])
        summed = tf_keras.layers.Dot(axes=1, name="sum_over_tokens")([mask, outputs["sequence_output"]])
        count = tf_keras.layers.Lambda(lambda m: tf.reduce_sum(m, axis=1), name="token_count")(mask)
        vector = tf_keras.layers.Lambda(lambda a: a[0][:, 0] / a[1], name="mean_pooling")([summed, count])
    logits = tf_keras.layers.Dense(1, name="classifier")(tf_keras.layers.Dropout(dropout)(vector))
    return tf_keras.Model(inputs, logits, name="bert_classifier")


def predict_probabilities(model: Any, examples: TextExamples, buckets: Sequence[int], batch_size: int
                          ) -> np.ndarray:
    """Positive-class probabilities in input order (length-bucketed batches)."""
    batches = batching.length_sorted_batches(examples.lengths, batch_size)
    out = np.zeros(len(examples.lengths), np.float32)
    for (x, _), idx in zip(examples.dataset(batches, buckets), batches):
        out[idx] = 1.0 / (1.0 + np.exp(-model(x, training=False).numpy()[:, 0]))
    return out


class TextClassification(Task):
    """Two-class text (or text-pair) classification; see the module docstring."""

    name = TASK_NAME
    data_type = LabelledTexts

    def split(self, data: Any, cfg: Any) -> tuple[LabelledTexts, LabelledTexts, LabelledTexts]:
        if isinstance(data, LabelledTexts):
            splits = stratified_split(data, validation=cfg.validation_fraction, test=cfg.test_fraction,
                                      seed=cfg.seed)
        else:
            splits = tuple(data)  # type: ignore[assignment]
        check_splits(splits)
        if len(set(splits[0].labels)) < 2:
            raise InputError(f"the train split has {len(splits[0])} examples ({splits[0].describe()}); "
                             "it needs examples of both classes: give more data or change the fractions")
        if len({s.pairs is None for s in splits if len(s)}) > 1:
            raise InputError("some data files are sentence pairs and some are not: give every file the same "
                             "columns (--pair-col)")
        self.label_names = splits[0].label_names
        self.pairs = splits[0].pairs is not None
        return splits  # type: ignore[return-value]

    def counts(self, split: LabelledTexts) -> dict[str, int]:
        return split.counts()

    def describe(self, splits: tuple[Any, Any, Any]) -> str:
        return (f"data: {len(splits[0])} train ({splits[0].describe()}), {len(splits[1])} validation, "
                f"{len(splits[2])} test; positive label {splits[0].label_names[1]!r}"
                + ("; sentence pairs" if self.pairs else ""))

    def overlap(self, splits: tuple[Any, Any, Any]) -> int:
        return overlapping_texts(*splits)

    def examples(self, bert: Any, data: LabelledTexts, cfg: Any) -> TextExamples:
        return TextExamples(bert, data, cfg.seq_length)

    def build_model(self, bert: Any, cfg: Any) -> Any:
        return build_classifier(bert, cfg.dropout, cfg.pooling)

    def loss_and_metrics(self) -> tuple[Any, list[Any]]:
        import tf_keras

        return (tf_keras.losses.BinaryCrossentropy(from_logits=True),
                [tf_keras.metrics.BinaryAccuracy(name="accuracy", threshold=0.0)])

    def class_weight(self, examples: Examples, cfg: Any) -> dict[int, float] | None:
        if not cfg.class_weight:
            return None
        pos = float(examples.labels.mean())  # type: ignore[attr-defined]
        return {0: 0.5 / (1 - pos), 1: 0.5 / pos}

    def info(self) -> dict[str, Any]:
        return {"label_names": list(self.label_names), "pairs": self.pairs}

    def finish(self, model: Any, bert: Any, out: Path, splits: tuple[Any, Any, Any], cfg: Any,
               metadata: dict[str, Any], validation: Examples) -> dict[str, Any]:
        summary: dict[str, Any] = {}
        threshold = cfg.threshold
        if cfg.tune_threshold:
            threshold = best_f1_threshold(splits[1].labels, predict_probabilities(
                model, validation, buckets_for(cfg), cfg.batch_size))  # type: ignore[arg-type]
        summary["threshold"] = threshold
        if len(splits[2]):
            test = TextExamples(bert, splits[2], cfg.seq_length)
            probs = predict_probabilities(model, test, buckets_for(cfg), cfg.batch_size)
            summary["test_metrics"] = binary_metrics(splits[2].labels, probs, threshold)
        summary["export"] = str(export_classifier(
            model, bert, out, label_names=self.label_names, threshold=threshold, seq_length=cfg.seq_length,
            pairs=self.pairs, metadata={**metadata, "test_metrics": summary.get("test_metrics")}))
        return summary


def export_classifier(model: Any, bert: Any, out: str | Path, *, label_names: Sequence[str],
                      threshold: float = 0.5, seq_length: int = 128, metadata: dict | None = None,
                      overwrite: bool = True, pairs: bool = False) -> Path:
    """Saves ``model`` + ``bert``'s preprocess model as a serving SavedModel (atomically).

    ``pairs``: the signature takes ``text`` and ``text_pair`` (sentence pairs).
    """
    import tensorflow as tf

    def classify(module, segments):
        inputs = batching.pack_to_bucket(module.preprocessor, segments, module.buckets)
        probability = tf.sigmoid(module.classifier(inputs, training=False)[:, 0])
        positive = tf.cast(probability >= module.threshold, tf.int32)
        return {"probability": probability, "label": tf.gather(module.labels, positive)}

    def pieces(module, text):
        return module.preprocessor.tokenize(text).merge_dims(1, -1)

    class Serving(tf.Module):
        def __init__(self):
            super().__init__()
            self.classifier = model
            self.preprocessor = bert.preprocessor
            self.labels = tf.constant([str(n) for n in label_names])
            self.threshold = tf.constant(threshold, tf.float32)
            self.buckets = tf.constant(batching.default_buckets(seq_length), tf.int32)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
        def serve(self, text):
            return classify(self, [pieces(self, text)])

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text"),
                                      tf.TensorSpec([None], tf.string, name="text_pair")])
        def serve_pairs(self, text, text_pair):
            return classify(self, [pieces(self, text), pieces(self, text_pair)])

    module = Serving()
    return save_export(module, out, {"serving_default": module.serve_pairs if pairs else module.serve},
                       {"task": TASK_NAME, "label_names": list(label_names), "positive_label": label_names[1],
                        "threshold": threshold, "seq_length": seq_length, "pairs": pairs, **(metadata or {})},
                       overwrite=overwrite)


class Classifier:
    """A loaded exported classifier (plain TensorFlow; bert_hub adds batching and checks)."""

    def __init__(self, path: str | Path):
        self.path, self.info, loaded = load_export(path, TASK_NAME)
        self._serve = loaded.signatures["serving_default"]

    @property
    def label_names(self) -> tuple[str, str]:
        return tuple(self.info["label_names"])  # type: ignore[return-value]

    @property
    def pairs(self) -> bool:
        """Whether the model classifies sentence pairs (``predict(texts, pairs=...)``)."""
        return bool(self.info.get("pairs", False))

    def predict(self, texts: Sequence[str], batch_size: int = 64, pairs: Sequence[str] | None = None
                ) -> list[dict[str, Any]]:
        """``[{"text", "label", "probability"}]`` in input order (``"text_pair"`` too for pairs)."""
        import tensorflow as tf

        texts = check_texts(texts)
        if self.pairs and pairs is None:
            raise InputError(f"{self.path} classifies sentence pairs: give each text's second text")
        if pairs is not None and not self.pairs:
            raise InputError(f"{self.path} classifies single texts, not pairs")
        if pairs is not None:
            pairs = check_texts(pairs, "pairs")
        if pairs is not None and len(pairs) != len(texts):
            raise InputError(f"{len(texts)} texts but {len(pairs)} second texts: give one pair per text")
        out = []
        for i in range(0, len(texts), batch_size):
            feed = {"text": tf.constant(texts[i:i + batch_size])}
            if pairs is not None:
                feed["text_pair"] = tf.constant(list(pairs[i:i + batch_size]))
            res = self._serve(**feed)
            for k, (p, lab) in enumerate(zip(res["probability"].numpy(), res["label"].numpy())):
                row = {"text": texts[i + k], **({"text_pair": pairs[i + k]} if pairs is not None else {})}
                out.append({**row, "label": lab.decode(), "probability": float(p)})
        return out

    def evaluate(self, data: Any, batch_size: int = 64, plot: str | Path | None = None,
                 overwrite: bool = False) -> dict[str, Any]:
        """Metrics on labelled data whose labels are this classifier's two labels, at its stored threshold.

        ``plot``: also write the confusion matrix and the precision-recall
        curve, with the operating point marked (png, pdf, svg or jpg).
        """
        if plot is not None:
            plot = check_image_path(plot, overwrite=overwrite)
        if set(data.label_names) != set(self.label_names):
            raise InputError(f"{data.source}: labels {sorted(data.label_names)} differ from the model's "
                             f"{sorted(self.label_names)}")
        positive = self.label_names[1]
        y = [int(data.label_names[lab] == positive) for lab in data.labels]
        probs = np.array([r["probability"] for r in self.predict(data.texts, batch_size, pairs=data.pairs)])
        metrics = binary_metrics(y, probs, self.info.get("threshold", 0.5))
        if plot is not None:
            metrics["plot"] = str(plot_evaluation(y, probs, metrics, self.label_names, plot,
                                                      overwrite=overwrite))
        return metrics


def plot_evaluation(labels: Sequence[int], probabilities: Sequence[float], metrics: dict[str, Any],
                    label_names: Sequence[str], path: Path, overwrite: bool = False) -> Path:
    """The confusion matrix and the precision-recall curve, the operating point marked (atomically)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2), dpi=100)
    matrix = np.asarray(metrics["confusion_matrix"])
    left.imshow(matrix, cmap="Blues")
    for (i, j), n in np.ndenumerate(matrix):
        left.text(j, i, str(n), ha="center", va="center", color="white" if n > matrix.max() / 2 else "black")
    left.set_xticks([0, 1], label_names)
    left.set_yticks([0, 1], label_names)
    left.set_xlabel("predicted")
    left.set_ylabel("true")
    left.set_title(f"confusion matrix (threshold {metrics['threshold']:.3f})")
    precision, recall = precision_recall_curve(labels, probabilities)
    right.plot(recall, precision, "-", label="precision-recall")
    right.plot([metrics["recall"]], [metrics["precision"]], "o", color="red",
               label=f"operating point: P {metrics['precision']:.3f}, R {metrics['recall']:.3f}")
    right.set_xlabel(f"recall ({label_names[1]})")
    right.set_ylabel(f"precision ({label_names[1]})")
    right.set_xlim(0, 1.02)
    right.set_ylim(0, 1.02)
    right.grid(alpha=0.3)
    right.legend(loc="lower left")
    right.set_title(f"F1 {metrics['f1']:.3f}, accuracy {metrics['accuracy']:.3f}")
    fig.tight_layout()
    return save_plot(fig, path, overwrite=overwrite)
