"""The figures of fine-tuning, each a ``matplotlib.figure.Figure`` drawn without pyplot (a notebook's
backend is never switched) and saved atomically."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from bert_hub.core.figures import save_figure, save_plot
from bert_hub.finetune.metrics import precision_recall_curve


def plot_curves(history: list[dict[str, Any]], path: Path) -> Path:
    """Training and validation loss and the task's metric (accuracy; MAE for scores) per epoch, as a PNG."""
    from matplotlib.figure import Figure

    epochs = [h["epoch"] for h in history]
    skip = {"epoch", "steps", "seconds", "examples_per_second", "precision", "loss"}
    second = next(
        (k for k in (history[0] if history else {}) if k not in skip and not k.startswith("val_")), "accuracy"
    )  # accuracy, or a regressor's mae
    fig = Figure(figsize=(9, 3.5), dpi=100)
    axes = fig.subplots(1, 2)
    for ax, metric in zip(axes, ("loss", second)):
        ax.plot(epochs, [h.get(metric, math.nan) for h in history], "o-", label="training")
        ax.plot(epochs, [h.get(f"val_{metric}", math.nan) for h in history], "s--", label="validation")
        ax.set_xlabel("epoch")
        ax.set_title(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return save_figure(fig, path)


def plot_per_label(per_label: dict[str, dict[str, Any]], path: Path, overwrite: bool = False) -> Path:
    """Precision, recall and F1 of each label of a multi-label classifier, as grouped bars."""
    from matplotlib.figure import Figure

    names = list(per_label)
    x = np.arange(len(names))
    fig = Figure(figsize=(2.5 + 0.9 * len(names), 4), dpi=100)
    ax = fig.subplots()
    for offset, key in zip((-0.27, 0, 0.27), ("precision", "recall", "f1")):
        ax.bar(x + offset, [per_label[n][key] for n in names], width=0.27, label=key)
    ax.set_xticks(x, [f"{n}\n({per_label[n]['support']})" for n in names])
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("score")
    ax.set_title("per label (support in brackets)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    return save_plot(fig, path, overwrite=overwrite)


def plot_confusion(
    confusion: Sequence[Sequence[int]], label_names: Sequence[str], path: Path, overwrite: bool = False
) -> Path:
    """The N x N confusion matrix of a multi-class classifier: normalised by true class, and in counts."""
    from matplotlib.figure import Figure

    matrix = np.asarray(confusion, np.float64)
    rows = matrix.sum(axis=1, keepdims=True)
    normalised = np.divide(matrix, rows, out=np.zeros_like(matrix), where=rows > 0)
    n = len(label_names)
    size = 2.5 + 0.55 * n
    fig = Figure(figsize=(2 * size + 1, size), dpi=100)
    for ax, values, title, fmt in zip(
        fig.subplots(1, 2),
        (normalised, matrix),
        ("normalised by true class (recall on the diagonal)", "counts"),
        ("{:.2f}", "{:.0f}"),
    ):
        ax.imshow(values, cmap="Blues", vmin=0)
        top = values.max() or 1
        for (i, j), v in np.ndenumerate(values):
            ax.text(
                j, i, fmt.format(v), ha="center", va="center", fontsize=8, color="white" if v > top / 2 else "black"
            )
        ax.set_xticks(range(n), label_names, rotation=45, ha="right")
        ax.set_yticks(range(n), label_names)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(title)
    fig.tight_layout()
    return save_plot(fig, path, overwrite=overwrite)


def plot_evaluation(
    labels: ArrayLike,
    probabilities: ArrayLike,
    metrics: dict[str, Any],
    label_names: Sequence[str],
    path: Path,
    overwrite: bool = False,
) -> Path:
    """The confusion matrix and the precision-recall curve, the operating point marked (atomically)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4.2), dpi=100)
    left, right = fig.subplots(1, 2)
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
    right.plot(
        [metrics["recall"]],
        [metrics["precision"]],
        "o",
        color="red",
        label=f"operating point: P {metrics['precision']:.3f}, R {metrics['recall']:.3f}",
    )
    right.set_xlabel(f"recall ({label_names[1]})")
    right.set_ylabel(f"precision ({label_names[1]})")
    right.set_xlim(0, 1.02)
    right.set_ylim(0, 1.02)
    right.grid(alpha=0.3)
    right.legend(loc="lower left")
    right.set_title(f"F1 {metrics['f1']:.3f}, accuracy {metrics['accuracy']:.3f}")
    fig.tight_layout()
    return save_plot(fig, path, overwrite=overwrite)


def plot_scores(
    true: ArrayLike, predicted: ArrayLike, metrics: dict[str, Any], path: Path, overwrite: bool = False
) -> Path:
    """Predicted against true scores, with the diagonal."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5, 5), dpi=100)
    ax = fig.subplots()
    both = np.concatenate([np.asarray(true, np.float64).ravel(), np.asarray(predicted, np.float64).ravel()])
    ax.scatter(true, predicted, s=12, alpha=0.6)
    low, high = float(both.min()), float(both.max())
    ax.plot([low, high], [low, high], "--", color="gray", label="predicted = true")
    pearson = "n/a" if metrics["pearson"] is None else f"{metrics['pearson']:.3f}"
    ax.set_title(f"Pearson {pearson}, MAE {metrics['mae']:.3f}")
    ax.set_xlabel("true score")
    ax.set_ylabel("predicted score")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    fig.tight_layout()
    return save_plot(fig, path, overwrite=overwrite)
