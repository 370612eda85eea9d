"""Exact match and F1 of extractive answers, as the official SQuAD v1.1 / v2.0 scripts define them.

Answers are compared after normalisation (lower case, punctuation and the
articles a / an / the removed, whitespace collapsed); F1 is over the words of
the normalised answers; each prediction takes its best score over the gold
answers. A question without an answer (SQuAD v2.0) has the gold answer
``""``: predicting no answer scores 1, anything else 0. Scores are
percentages, as the official scripts print them.

Examples:
    >>> exact_match("The Eiffel Tower", "eiffel tower"), round(f1_score("in Paris, France", "Paris"), 3)
    (1, 0.5)
"""

from __future__ import annotations

import collections
import re
import string
from collections.abc import Sequence
from typing import Any

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = set(string.punctuation)


def normalize_answer(text: str) -> str:
    """Lower case, no punctuation, no articles, single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, gold: str) -> int:
    """1 when ``prediction`` equals ``gold`` once both are normalized (SQuAD's rule), else 0."""
    return int(normalize_answer(prediction) == normalize_answer(gold))


def f1_score(prediction: str, gold: str) -> float:
    """The token F1 of ``prediction`` against ``gold``, normalized (SQuAD's rule)."""
    pred, ref = normalize_answer(prediction).split(), normalize_answer(gold).split()
    if not pred or not ref:
        return float(pred == ref)
    common = sum((collections.Counter(pred) & collections.Counter(ref)).values())
    if not common:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def squad_metrics(golds: Sequence[Sequence[str]], predictions: Sequence[str]) -> dict[str, Any]:
    """``exact_match`` and ``f1`` (percent) over questions; split into has-answer / no-answer when both occur.

    ``golds``: the gold answers of each question (empty: no answer);
    ``predictions``: the predicted answer text ("" for no answer).
    """

    def scores(index: Sequence[int]) -> dict[str, Any]:
        em = [max(exact_match(predictions[i], g) for g in (golds[i] or [""])) for i in index]
        f1 = [max(f1_score(predictions[i], g) for g in (golds[i] or [""])) for i in index]
        n = max(len(index), 1)
        return {"exact_match": 100.0 * sum(em) / n, "f1": 100.0 * sum(f1) / n, "questions": len(index)}

    out = scores(range(len(golds)))
    has = [i for i, g in enumerate(golds) if g]
    if 0 < len(has) < len(golds):
        out["has_answer"] = scores(has)
        out["no_answer"] = scores([i for i, g in enumerate(golds) if not g])
    return out


def format_squad_metrics(m: dict[str, Any]) -> str:
    """SQuAD metrics, for people."""
    lines = [f"{m['questions']} questions: exact match {m['exact_match']:.2f}  F1 {m['f1']:.2f}"]
    for part in ("has_answer", "no_answer"):
        if part in m:
            lines.append(
                f"  {part.replace('_', ' ')}: {m[part]['questions']} questions, exact match "
                f"{m[part]['exact_match']:.2f}  F1 {m[part]['f1']:.2f}"
            )
    return "\n".join(lines)
