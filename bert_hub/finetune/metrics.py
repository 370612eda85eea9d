"""Classification and regression metrics, in NumPy: binary (a positive class, a threshold), multi-class,
multi-label, and scores (Pearson, Spearman, MSE, MAE).

Examples:
    >>> m = binary_metrics([0, 1, 1, 0], [0.1, 0.8, 0.4, 0.3])
    >>> m["accuracy"], m["confusion_matrix"]
    (0.75, [[2, 0], [1, 1]])
    >>> m = multiclass_metrics([0, 1, 2, 2], [[.8, .1, .1], [.2, .7, .1], [.1, .1, .8], [.5, .2, .3]], ["a", "b", "c"])
    >>> m["accuracy"], m["per_class"]["c"]["recall"], m["confusion_matrix"]
    (0.75, 0.5, [[1, 0, 0], [0, 1, 0], [1, 0, 1]])
    >>> m = regression_metrics([1.0, 2.0, 3.0, 4.0], [1.5, 2.0, 2.5, 4.0])
    >>> round(m["mse"], 4), round(m["mae"], 4), m["spearman"]
    (0.125, 0.25, 1.0)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    """Area under the ROC curve (Mann-Whitney U with tied ranks averaged)."""
    labels, scores = np.asarray(labels).astype(bool), np.asarray(scores, np.float64)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if not n_pos or not n_neg:
        return None
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    i = 0
    while i < len(scores):
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def binary_metrics(labels: ArrayLike, probabilities: ArrayLike, threshold: float = 0.5) -> dict[str, Any]:
    """Accuracy, precision / recall / F1 of the positive class, ROC-AUC, confusion matrix.

    The confusion matrix is ``[[tn, fp], [fn, tp]]`` (rows: true class).
    """
    y = np.asarray(labels).astype(int)
    p = np.asarray(probabilities, np.float64)
    pred = (p >= threshold).astype(int)
    tp = int(((pred == 1) & (y == 1)).sum())
    tn = int(((pred == 0) & (y == 0)).sum())
    fp = int(((pred == 1) & (y == 0)).sum())
    fn = int(((pred == 0) & (y == 1)).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "examples": int(len(y)),
        "accuracy": (tp + tn) / max(len(y), 1),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "roc_auc": roc_auc(y, p),
        "threshold": threshold,
        "confusion_matrix": [[tn, fp], [fn, tp]],
    }


def precision_recall_curve(labels: ArrayLike, probabilities: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Precision and recall of the positive class at every distinct threshold, highest first.

    Examples:
        >>> p, r = precision_recall_curve([0, 1, 1], [0.2, 0.9, 0.6])
        >>> p.tolist(), r.tolist()
        ([1.0, 1.0, 0.6666666666666666], [0.5, 1.0, 1.0])
    """
    y = np.asarray(labels).astype(bool)
    p = np.asarray(probabilities, np.float64)
    order = np.argsort(-p, kind="mergesort")
    tp = np.cumsum(y[order])
    fp = np.cumsum(~y[order])
    last = np.r_[np.flatnonzero(np.diff(p[order])), len(p) - 1]  # the last index of each distinct score
    return tp[last] / (tp[last] + fp[last]), tp[last] / max(int(y.sum()), 1)


def best_f1_threshold(labels: ArrayLike, probabilities: ArrayLike) -> float:
    """The threshold with the best F1 of the positive class (ties: the one nearest 0.5).

    Candidates are the midpoints between consecutive distinct probabilities,
    so the choice does not sit on a training example's exact score.

    Examples:
        >>> best_f1_threshold([0, 0, 1, 1], [0.1, 0.3, 0.35, 0.9])
        0.325
    """
    p = np.unique(np.asarray(probabilities, np.float64))
    candidates = np.concatenate([[0.5], (p[:-1] + p[1:]) / 2]) if len(p) > 1 else np.array([0.5])
    scored = [
        (binary_metrics(labels, probabilities, float(t))["f1"], -abs(float(t) - 0.5), float(t)) for t in candidates
    ]
    return round(max(scored)[2], 6)


def format_metrics(m: dict[str, Any], label_names: Sequence[str] = ("negative", "positive")) -> str:
    """Binary metrics, for people (the positive class is ``label_names[1]``)."""
    (tn, fp), (fn, tp) = m["confusion_matrix"]
    neg, pos = label_names
    auc = "n/a" if m["roc_auc"] is None else f"{m['roc_auc']:.4f}"
    w = max(len(neg), len(pos), 8)
    return "\n".join(
        [
            f"examples   {m['examples']}",
            f"accuracy   {m['accuracy']:.4f}",
            f"precision  {m['precision']:.4f}   ({pos})",
            f"recall     {m['recall']:.4f}   ({pos})",
            f"F1         {m['f1']:.4f}   ({pos})",
            f"ROC-AUC    {auc}",
            f"threshold  {m['threshold']:.4f}",
            "",
            f"{'true / predicted':>{w + 6}} {neg:>{w}} {pos:>{w}}",
            f"{neg:>{w + 6}} {tn:>{w}} {fp:>{w}}",
            f"{pos:>{w + 6}} {fn:>{w}} {tp:>{w}}",
        ]
    )


def multiclass_metrics(labels: ArrayLike, probabilities: Any, label_names: Sequence[str]) -> dict[str, Any]:
    """Accuracy, macro / micro / weighted F1, Matthews correlation, per-class P/R/F1 and support.

    ``probabilities`` is ``[n, classes]``; the prediction is each row's
    most probable class. A class never predicted has precision 0 (and F1 0),
    as scikit-learn's ``zero_division=0``. The confusion matrix's rows are the
    true classes. Micro F1 equals accuracy (one label per text).
    """
    y = np.asarray(labels, np.int64)
    p = np.asarray(probabilities, np.float64)
    k = len(label_names)
    pred = p.argmax(axis=1) if len(y) else np.zeros(0, np.int64)
    confusion = np.zeros((k, k), np.int64)
    np.add.at(confusion, (y, pred), 1)
    tp = np.diag(confusion).astype(np.float64)
    support, predicted = confusion.sum(axis=1), confusion.sum(axis=0)
    precision = np.divide(tp, predicted, out=np.zeros(k), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros(k), where=support > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros(k), where=precision + recall > 0)
    n = int(len(y))
    present = support > 0  # macro and weighted F1 over the classes the data has (scikit-learn's labels=None)
    present |= predicted > 0
    total, correct = float(n), float(tp.sum())
    cov_pred = total**2 - float((predicted**2).sum())
    cov_true = total**2 - float((support**2).sum())
    mcc_den = np.sqrt(cov_pred * cov_true)
    mcc = (correct * total - float((predicted * support).sum())) / mcc_den if mcc_den > 0 else 0.0
    return {
        "examples": n,
        "accuracy": correct / max(n, 1),
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "micro_f1": correct / max(n, 1),
        "weighted_f1": float((f1 * support).sum() / max(support.sum(), 1)),
        "mcc": float(mcc),
        "per_class": {
            name: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, name in enumerate(label_names)
        },
        "confusion_matrix": confusion.tolist(),
    }


def format_multiclass_metrics(m: dict[str, Any]) -> str:
    """The summary figures, then one line per class, then the confusion matrix (rows: true class)."""
    names = list(m["per_class"])
    w = max([len(n) for n in names] + [8])
    lines = _figures_and_table(
        m,
        {
            "accuracy": "accuracy",
            "macro F1": "macro_f1",
            "micro F1": "micro_f1",
            "weighted F1": "weighted_f1",
            "MCC": "mcc",
        },
        "per_class",
        "class",
    )
    lines += ["", f"{'true / predicted':<{w + 6}} " + " ".join(f"{n:>{w}}" for n in names)]
    for name, row in zip(names, m["confusion_matrix"]):
        lines.append(f"{name:<{w + 6}} " + " ".join(f"{v:>{w}}" for v in row))
    return "\n".join(lines)


def _ranks(values: np.ndarray) -> np.ndarray:
    """Ranks from 1, ties sharing their average rank."""
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    return ((ends - counts + 1 + ends) / 2)[inverse]


def _pearson(a: np.ndarray, b: np.ndarray) -> float | None:
    """Pearson's correlation; None when either side is constant."""
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return None
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))


def regression_metrics(scores: ArrayLike, predictions: ArrayLike) -> dict[str, Any]:
    """Pearson and Spearman correlation (None when either side is constant), MSE and MAE."""
    y = np.asarray(scores, np.float64)
    p = np.asarray(predictions, np.float64)
    return {
        "examples": int(len(y)),
        "pearson": _pearson(y, p) if len(y) > 1 else None,
        "spearman": _pearson(_ranks(y), _ranks(p)) if len(y) > 1 else None,
        "mse": float(((y - p) ** 2).mean()) if len(y) else 0.0,
        "mae": float(np.abs(y - p).mean()) if len(y) else 0.0,
    }


def format_regression_metrics(m: dict[str, Any]) -> str:
    """Regression metrics, for people."""

    def show(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.4f}"

    return "\n".join(
        [
            f"examples  {m['examples']}",
            f"Pearson   {show(m['pearson'])}",
            f"Spearman  {show(m['spearman'])}",
            f"MSE       {m['mse']:.4f}",
            f"MAE       {m['mae']:.4f}",
        ]
    )


def multilabel_metrics(labels: Any, probabilities: Any, thresholds: Any, label_names: Sequence[str]) -> dict[str, Any]:
    """Micro / macro / samples F1, subset accuracy, Hamming loss and per-label figures of a multi-label
    classifier.

    ``labels`` is ``[n, labels]`` (0/1), ``probabilities`` the same shape; a
    label is predicted where its probability reaches its threshold
    (``thresholds``: one per label, or one for all). Zero divisions count 0,
    as scikit-learn's ``zero_division=0``.
    """
    y = np.asarray(labels, bool).reshape(len(labels), len(label_names))
    pred = np.asarray(probabilities, np.float64).reshape(y.shape) >= np.asarray(thresholds, np.float64)
    tp, fp, fn = (y & pred).sum(0), (~y & pred).sum(0), (y & ~pred).sum(0)

    def f1(tp: Any, fp: Any, fn: Any) -> Any:
        tp, den = np.asarray(tp, np.float64), np.asarray(2 * tp + fp + fn, np.float64)
        return np.divide(2 * tp, den, out=np.zeros_like(den), where=den > 0)

    precision = np.divide(tp, tp + fp, out=np.zeros(len(tp)), where=(tp + fp) > 0)
    recall = np.divide(tp, tp + fn, out=np.zeros(len(tp)), where=(tp + fn) > 0)
    per_label = f1(tp, fp, fn)
    rows = f1((y & pred).sum(1), (~y & pred).sum(1), (y & ~pred).sum(1))
    n = len(y)
    return {
        "examples": int(n),
        "micro_f1": float(f1(tp.sum(), fp.sum(), fn.sum())),
        "macro_f1": float(per_label.mean()) if len(per_label) else 0.0,
        "samples_f1": float(rows.mean()) if n else 0.0,
        "subset_accuracy": float((y == pred).all(1).mean()) if n else 0.0,
        "hamming_loss": float((y != pred).mean()) if n else 0.0,
        "per_label": {
            name: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(per_label[i]),
                "support": int(y[:, i].sum()),
                "threshold": float(np.broadcast_to(thresholds, (len(label_names),))[i]),
            }
            for i, name in enumerate(label_names)
        },
    }


def format_multilabel_metrics(m: dict[str, Any]) -> str:
    """The summary figures, then one line per label."""
    return "\n".join(
        _figures_and_table(
            m,
            {
                "micro F1": "micro_f1",
                "macro F1": "macro_f1",
                "samples F1": "samples_f1",
                "subset accuracy": "subset_accuracy",
                "Hamming loss": "hamming_loss",
            },
            "per_label",
            "label",
            extra="threshold",
        )
    )


def _figures_and_table(
    m: dict[str, Any], figures: dict[str, str], table: str, what: str, extra: str | None = None
) -> list[str]:
    """Lines: the examples and each named figure, then precision / recall / F1 / support (and ``extra``)
    of every row of ``m[table]``."""
    wide = max(len(name) for name in figures) + 2
    lines = [f"{'examples':<{wide}} {m['examples']}"] + [
        f"{name:<{wide}} {m[key]:.4f}" for name, key in figures.items()
    ]
    w = max([len(n) for n in m[table]] + [8])
    lines += ["", f"{what:<{w}}  precision  recall      F1  support" + (f"  {extra:>9}" if extra else "")]
    for name, c in m[table].items():
        lines.append(
            f"{name:<{w}}  {c['precision']:>9.4f}  {c['recall']:>6.4f}  {c['f1']:>6.4f}  {c['support']:>7}"
            + (f"  {c[extra]:>9.4f}" if extra else "")
        )
    return lines
