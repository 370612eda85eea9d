"""Entities from per-word tags, and entity-level evaluation as the CoNLL script (``conlleval``) defines it.

Tags are ``O`` or ``PREFIX-TYPE`` with the prefix ``B`` (begins an entity),
``I`` (inside one), and also ``E`` / ``S`` (end, single: IOBES). An entity is
a maximal run of words of one type, started and ended by conlleval's rules:
so ``I-PER`` after ``O`` starts an entity (IOB1 data) and ``B-LOC I-PER`` is
two entities. Evaluation counts an entity as found only if its first word,
last word and type all match (exact span and type); precision, recall and F1
are micro-averaged over all entities, and given per type; token accuracy
counts every word, ``O`` included.

Examples:
    >>> entity_spans(["B-PER", "I-PER", "O", "B-LOC"])
    [('PER', 0, 2), ('LOC', 3, 4)]
    >>> m = entity_metrics([["B-PER", "I-PER", "O"]], [["B-PER", "O", "O"]])
    >>> m["f1"], m["token_accuracy"]
    (0.0, 0.6666666666666666)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

OUTSIDE = "O"
"""The tag of words outside every entity."""
PREFIXES = ("B", "I", "E", "S")
"""Tag prefixes: begin, inside, end, single."""


def split_tag(tag: str) -> tuple[str, str]:
    """``"B-PER"`` -> ``("B", "PER")``; ``"O"`` -> ``("O", "")``."""
    if tag == OUTSIDE:
        return OUTSIDE, ""
    prefix, _, kind = tag.partition("-")
    return prefix, kind


def tag_problem(tag: str) -> str | None:
    """Why ``tag`` is not a BIO / IOBES tag, or None."""
    prefix, kind = split_tag(tag)
    if prefix == OUTSIDE:
        return None
    if prefix not in PREFIXES or not kind:
        example = f"B-{tag} and I-{tag}" if re.fullmatch(r"[A-Za-z][\w.]{0,30}", tag) else "B-PER and I-PER"
        return (
            f"tag {tag!r} is not O or PREFIX-TYPE with the prefix B, I, E or S (BIO / IOB2 / IOBES); "
            f"write e.g. {example}"
        )
    return None


def _ends(prev: str, prev_kind: str, prefix: str, kind: str) -> bool:
    return (
        prev in ("E", "S")
        or (prev in ("B", "I") and prefix in ("B", "S", OUTSIDE))
        or (prev != OUTSIDE and prev_kind != kind)
    )


def _starts(prev: str, prev_kind: str, prefix: str, kind: str) -> bool:
    return (
        prefix in ("B", "S")
        or (prev in ("E", "S", OUTSIDE) and prefix in ("E", "I"))
        or (prefix != OUTSIDE and prev_kind != kind)
    )


def entity_spans(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """The entities of one sentence as ``(type, first word, last word + 1)``, in order."""
    spans: list[tuple[str, int, int]] = []
    prev, prev_kind, start = OUTSIDE, "", None
    for i, tag in enumerate([*tags, OUTSIDE]):
        prefix, kind = split_tag(tag)
        if start is not None and _ends(prev, prev_kind, prefix, kind):
            spans.append((prev_kind, start, i))
            start = None
        if _starts(prev, prev_kind, prefix, kind):
            start = i
        prev, prev_kind = prefix, kind
    return spans


def _prf(correct: int, predicted: int, gold: int) -> dict[str, Any]:
    precision = correct / predicted if predicted else 0.0
    recall = correct / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "predicted": predicted,
        "gold": gold,
        "correct": correct,
    }


def entity_metrics(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]) -> dict[str, Any]:
    """Entity-level precision / recall / F1 (overall and per type) and token accuracy.

    ``gold`` and ``predicted``: one tag list per sentence, the same lengths.
    """
    if len(gold) != len(predicted) or any(len(g) != len(p) for g, p in zip(gold, predicted)):
        raise ValueError("gold and predicted tags differ in shape")
    counts: dict[str, list[int]] = {}  # type -> [correct, predicted, gold]
    right = words = 0
    for g, p in zip(gold, predicted):
        gs, ps = set(entity_spans(g)), set(entity_spans(p))
        for spans, slot in ((gs & ps, 0), (ps, 1), (gs, 2)):
            for kind, _, _ in spans:
                counts.setdefault(kind, [0, 0, 0])[slot] += 1
        right += sum(a == b for a, b in zip(g, p))
        words += len(g)
    total = [sum(c[k] for c in counts.values()) for k in range(3)]
    return {
        **_prf(*total),
        "token_accuracy": right / words if words else 0.0,
        "sentences": len(gold),
        "words": words,
        "per_type": {kind: _prf(*c) for kind, c in sorted(counts.items())},
    }


def format_entity_metrics(m: dict[str, Any]) -> str:
    """The metrics as a conlleval-like table."""
    lines = [
        f"{m['sentences']} sentences, {m['words']} words: token accuracy {m['token_accuracy']:.4f}",
        f"entities: precision {m['precision']:.4f}  recall {m['recall']:.4f}  F1 {m['f1']:.4f}  "
        f"({m['correct']} of {m['gold']} found, {m['predicted']} predicted)",
    ]
    for kind, t in m["per_type"].items():
        lines.append(
            f"  {kind:<10} precision {t['precision']:.4f}  recall {t['recall']:.4f}  F1 {t['f1']:.4f}  "
            f"(gold {t['gold']}, predicted {t['predicted']})"
        )
    return "\n".join(lines)
