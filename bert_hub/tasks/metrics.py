"""Binary classification metrics, in NumPy.

Example:

>>> m = binary_metrics([0, 1, 1, 0], [0.1, 0.8, 0.4, 0.3])
>>> m["accuracy"], m["confusion_matrix"]
(0.75, [[2, 0], [1, 1]])
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np


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
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def binary_metrics(labels: Sequence[int], probabilities: Sequence[float], threshold: float = 0.5
                   ) -> dict[str, Any]:
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
    return {"examples": int(len(y)), "accuracy": (tp + tn) / max(len(y), 1), "precision": precision,
            "recall": recall, "f1": f1, "roc_auc": roc_auc(y, p), "threshold": threshold,
            "confusion_matrix": [[tn, fp], [fn, tp]]}


def precision_recall_curve(labels: Sequence[int], probabilities: Sequence[float]
                           ) -> tuple[np.ndarray, np.ndarray]:
    """Precision and recall of the positive class at every distinct threshold, highest first.

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


def best_f1_threshold(labels: Sequence[int], probabilities: Sequence[float]) -> float:
    """The threshold with the best F1 of the positive class (ties: the one nearest 0.5).

    Candidates are the midpoints between consecutive distinct probabilities,
    so the choice does not sit on a training example's exact score.

    >>> best_f1_threshold([0, 0, 1, 1], [0.1, 0.3, 0.35, 0.9])
    0.325
    """
    p = np.unique(np.asarray(probabilities, np.float64))
    candidates = np.concatenate([[0.5], (p[:-1] + p[1:]) / 2]) if len(p) > 1 else np.array([0.5])
    scored = [(binary_metrics(labels, probabilities, float(t))["f1"], -abs(float(t) - 0.5), float(t))
              for t in candidates]
    return round(max(scored)[2], 6)


def format_metrics(m: dict[str, Any], label_names: Sequence[str] = ("negative", "positive")) -> str:
    (tn, fp), (fn, tp) = m["confusion_matrix"]
    neg, pos = label_names
    auc = "n/a" if m["roc_auc"] is None else f"{m['roc_auc']:.4f}"
    w = max(len(neg), len(pos), 8)
    return "\n".join([
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
    ])
