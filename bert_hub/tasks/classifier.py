"""The exported classifier: a SavedModel that takes raw strings.

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

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from bert_hub import batching
from bert_hub.errors import InputError, ModelFormatError
from bert_hub.inputs import check_texts
from bert_hub.outputs import atomic_directory, check_image_path, save_figure
from bert_hub.tasks.metrics import binary_metrics, precision_recall_curve

METADATA = "bert_hub_classifier.json"


def export_classifier(model: Any, bert: Any, out: str | Path, *, label_names: Sequence[str],
                      threshold: float = 0.5, seq_length: int = 128, metadata: dict | None = None,
                      overwrite: bool = True) -> Path:
    """Saves ``model`` + ``bert``'s preprocess model as a serving SavedModel (atomically)."""
    import tensorflow as tf

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
            tokens = self.preprocessor.tokenize(text).merge_dims(1, -1)
            inputs = batching.pack_to_bucket(self.preprocessor, tokens, self.buckets)
            logits = self.classifier(inputs, training=False)[:, 0]
            probability = tf.sigmoid(logits)
            positive = tf.cast(probability >= self.threshold, tf.int32)
            return {"probability": probability, "label": tf.gather(self.labels, positive)}

    module = Serving()
    out = Path(out)
    with atomic_directory(out, kind="classifier", overwrite=overwrite, what="export") as tmp:
        tf.saved_model.save(module, str(tmp), signatures={"serving_default": module.serve})
        info = {"label_names": list(label_names), "positive_label": label_names[1],
                "threshold": threshold, "seq_length": seq_length, **(metadata or {})}
        (tmp / METADATA).write_text(json.dumps(info, indent=1))
    return out


def find_model_dir(path: str | Path) -> Path:
    """A run directory (``runs/spam``) or the exported model directory itself."""
    path = Path(path).expanduser()
    for candidate in (path / "model", path):
        if (candidate / "saved_model.pb").is_file() and (candidate / METADATA).is_file():
            return candidate
    if (path / "checkpoints").is_dir():
        raise ModelFormatError(f"{path} has checkpoints but no exported model/: the run did not finish; "
                               "continue it with `bert-hub train ... --resume`")
    raise ModelFormatError(f"{path} is not a trained classifier (no saved_model.pb and {METADATA}); "
                           "give the --out directory of `bert-hub train`")


class Classifier:
    """A loaded exported classifier (plain TensorFlow; bert_hub adds batching and checks)."""

    def __init__(self, path: str | Path):
        import tensorflow as tf
        import tensorflow_text  # noqa: F401 - the tokenizer's ops

        self.path = find_model_dir(path)
        self.info = json.loads((self.path / METADATA).read_text())
        try:
            self._serve = tf.saved_model.load(str(self.path)).signatures["serving_default"]
        except Exception as e:  # noqa: BLE001 - TensorFlow raises many types
            raise ModelFormatError(f"cannot load {self.path}: {str(e).splitlines()[0][:200]}") from None

    @property
    def label_names(self) -> tuple[str, str]:
        return tuple(self.info["label_names"])  # type: ignore[return-value]

    def predict(self, texts: Sequence[str], batch_size: int = 64) -> list[dict[str, Any]]:
        """``[{"text", "label", "probability"}]`` in input order."""
        import tensorflow as tf

        texts = check_texts(texts)
        out = []
        for i in range(0, len(texts), batch_size):
            res = self._serve(text=tf.constant(texts[i:i + batch_size]))
            for t, p, lab in zip(texts[i:i + batch_size], res["probability"].numpy(), res["label"].numpy()):
                out.append({"text": t, "label": lab.decode(), "probability": float(p)})
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
        probs = np.array([r["probability"] for r in self.predict(data.texts, batch_size)])
        metrics = binary_metrics(y, probs, self.info.get("threshold", 0.5))
        if plot is not None:
            metrics["plot"] = str(plot_evaluation(y, probs, metrics, self.label_names, plot))
        return metrics


def plot_evaluation(labels: Sequence[int], probabilities: Sequence[float], metrics: dict[str, Any],
                    label_names: Sequence[str], path: Path) -> Path:
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
    return save_figure(fig, path)
