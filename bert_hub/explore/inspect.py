"""Token inspection: what the preprocess model makes of each text.

For every text (or sentence pair) `inspect_texts` returns a table of
position, id, wordpiece (decoded through the model's own ``vocab.txt``
asset), mask and type id for the real tokens, the positions of ``[CLS]``,
each ``[SEP]`` and the first padding slot, the real-token count, and whether
the text was truncated to fit ``seq_length``.

Examples:
    >>> from bert_hub import load_pipeline
    >>> from bert_hub.explore.inspect import inspect_texts
    >>> report = inspect_texts(load_pipeline("default"), [("how old are you?", "six")], seq_length=16)
    >>> report[0]["sep_positions"], report[0]["type_ids"][:7]
    ([6, 8], [0, 0, 0, 0, 0, 0, 0])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from bert_hub.core.errors import InputError
from bert_hub.core.inputs import check_texts
from bert_hub.hub.pipeline import BertPipeline

Item = str | tuple[str, str]


def split_items(items: Sequence[Item]) -> tuple[list[str], list[str] | None]:
    """Separates single texts from pairs; a pair with an empty side is an error."""
    if not items:
        raise InputError("no texts given; pass at least one text")
    texts = [x for x in items if isinstance(x, str)]
    if len(texts) == len(items):
        return check_texts(texts), None
    pairs = [x for x in items if isinstance(x, (tuple, list)) and len(x) == 2]
    if len(pairs) != len(items):
        raise InputError("pass either texts or (first, second) pairs, not a mix")
    firsts = check_texts([a for a, _ in pairs], what="first segments")
    seconds = check_texts([b for _, b in pairs], what="second segments")
    for i, (a, b) in enumerate(zip(firsts, seconds)):
        for side, t in (("first", a), ("second", b)):
            if not t.strip():
                raise InputError(f"pair {i} has an empty {side} segment; both sides of a pair need text")
    return firsts, seconds


def _piece_counts(segment: Any) -> np.ndarray:
    """Wordpieces per example of a ragged ``[batch, (words), (pieces)]`` tensor."""
    flat = segment.merge_dims(1, -1) if segment.shape.rank > 2 else segment
    return flat.row_lengths().numpy()


def inspect_texts(bert: BertPipeline, items: Sequence[Item], seq_length: int | None = None) -> list[dict[str, Any]]:
    """One report per text or pair (see the module docstring)."""
    firsts, seconds = split_items(items)
    seq_length = bert.check_seq_length(seq_length)
    segments = [bert.tokenize(firsts)] + ([bert.tokenize(seconds)] if seconds is not None else [])
    packed = bert.pack(segments, seq_length=seq_length)
    lengths: np.ndarray = np.sum([_piece_counts(s) for s in segments], axis=0)
    specials = bert.special_tokens()
    vocab = bert.vocab()
    reports = []
    for i in range(len(firsts)):
        ids = packed["input_word_ids"][i]
        mask = packed["input_mask"][i]
        types = packed["input_type_ids"][i]
        real = int(mask.sum())
        pad_positions = np.flatnonzero(mask == 0)
        reports.append(
            {
                "text": firsts[i] if seconds is None else [firsts[i], seconds[i]],
                "seq_length": seq_length,
                "real_tokens": real,
                "wordpieces_before_truncation": int(lengths[i]),
                "wordpieces_kept": real - len(segments) - 1,
                "truncated": int(lengths[i]) + len(segments) + 1 > seq_length,
                "cls_positions": np.flatnonzero(ids == specials["start_of_sequence_id"]).tolist(),
                "sep_positions": [int(p) for p in np.flatnonzero(ids == specials["end_of_segment_id"]) if mask[p]],
                "first_padding_position": int(pad_positions[0]) if pad_positions.size else None,
                "ids": ids[:real].tolist(),
                "tokens": [vocab[t] if 0 <= t < len(vocab) else "<out of vocab>" for t in ids[:real]],
                "mask": mask[:real].tolist(),
                "type_ids": types[:real].tolist(),
            }
        )
    return reports


def _truncation(r: dict[str, Any]) -> str:
    """`` (truncated: 1 of 2 wordpieces kept)`` or nothing."""
    if not r["truncated"]:
        return ""
    return f" (truncated: {r['wordpieces_kept']} of {r['wordpieces_before_truncation']} wordpieces kept)"


def format_inspection(reports: list[dict[str, Any]]) -> str:
    """Tables for people."""
    blocks = []
    for r in reports:
        title = r["text"] if isinstance(r["text"], str) else " || ".join(r["text"])
        head = [
            f"{title!r}",
            f"  real tokens {r['real_tokens']} of {r['seq_length']}"
            f"{_truncation(r)};"
            f" [CLS] at {r['cls_positions']}, [SEP] at {r['sep_positions']}, first padding at "
            f"{r['first_padding_position'] if r['first_padding_position'] is not None else 'none'}",
            f"  {'pos':>4} {'id':>7}  {'wordpiece':<18} mask type",
        ]
        rows = [
            f"  {p:>4} {i:>7}  {t:<18} {m:>4} {ty:>4}"
            for p, (i, t, m, ty) in enumerate(zip(r["ids"], r["tokens"], r["mask"], r["type_ids"]))
        ]
        blocks.append("\n".join(head + rows))
    return "\n\n".join(blocks)
