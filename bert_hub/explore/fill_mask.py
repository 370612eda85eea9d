"""Masked-LM predictions through the encoder's ``mlm`` subobject.

``"[MASK]"`` in the text marks the slots to fill. The text around each mask
is tokenized by the preprocess model and the mask id (looked up in the vocab)
is put between the pieces, because the upstream tokenizer would split the
literal text ``[MASK]`` into ``[``, ``mask``, ``]``. The packed inputs and
the masks' positions go to ``encoder.mlm``; its logits are turned into the
``top_k`` most probable wordpieces per mask.

Example (needs an encoder with an MLM head, e.g. one converted from a
``BertForMaskedLM`` checkpoint; the embedded MiniLM has none):

Examples:
    >>> from bert_hub import load_pipeline  # doctest: +SKIP
    >>> fill_mask(load_pipeline("models/bert/bert_hub.yaml"), ["the capital of france is [MASK]."])  # doctest: +SKIP
    [{'text': ..., 'masks': [{'position': 6, 'candidates': [{'token': 'paris', ...}]}]}]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from bert_hub.core.errors import InputError, ModelFormatError
from bert_hub.core.inputs import check_texts
from bert_hub.core.interface import INPUT_KEYS, MLM_POSITIONS_KEY
from bert_hub.hub.pipeline import BertPipeline

MASK_TEXT = "[MASK]"


def fill_mask(
    bert: BertPipeline, texts: Sequence[str] | str, top_k: int = 5, seq_length: int | None = None
) -> list[dict[str, Any]]:
    """Top-``top_k`` wordpieces for every ``[MASK]`` of every text."""
    import tensorflow as tf

    texts = check_texts(texts)
    if not isinstance(top_k, int) or top_k < 1:
        raise InputError(f"top_k must be a positive integer, got {top_k!r}")
    if not hasattr(bert.encoder, "mlm"):
        raise ModelFormatError(
            f"the encoder {bert.encoder_dir} has no masked-LM head (mlm); {bert.config.name} ships "
            "none. Use a model converted from a checkpoint with cls.predictions.* weights"
        )
    specials = bert.special_tokens()
    if "mask_id" not in specials:
        raise InputError(f"the vocab of {bert.config.name} has no [MASK] token, so it cannot fill masks")
    mask_id = specials["mask_id"]
    for i, t in enumerate(texts):
        if MASK_TEXT not in t:
            raise InputError(f"text {i} ({t[:40]!r}) has no {MASK_TEXT}; mark the words to predict with {MASK_TEXT}")
    seq_length = bert.check_seq_length(seq_length)

    pieces_of = _tokenize_around_masks(bert, texts)
    rows = []
    for parts in pieces_of:
        row: list[int] = []
        for k, part in enumerate(parts):
            if k:
                row.append(mask_id)
            row.extend(part)
        rows.append(row)
    ragged = tf.ragged.constant(rows, dtype=tf.int32, ragged_rank=1, row_splits_dtype=tf.int64)
    inputs = bert.pack([ragged], seq_length=seq_length)
    positions = [np.flatnonzero(ids == mask_id) for ids in inputs["input_word_ids"]]
    for i, (pos, parts) in enumerate(zip(positions, pieces_of)):
        if len(pos) < len(parts) - 1:
            raise InputError(
                f"text {i}: a {MASK_TEXT} falls beyond seq_length={seq_length} and was "
                "truncated; shorten the text or raise `seq_length`"
            )
    width = max(len(p) for p in positions)
    padded = np.zeros((len(texts), width), np.int32)
    for i, pos in enumerate(positions):
        padded[i, : len(pos)] = pos
    feed = {k: tf.constant(inputs[k]) for k in INPUT_KEYS}
    feed[MLM_POSITIONS_KEY] = tf.constant(padded)
    logits = bert.encoder.mlm(feed)["mlm_logits"].numpy().astype(np.float64)
    vocab = bert.vocab()
    k = min(top_k, logits.shape[-1])
    results = []
    for i, text in enumerate(texts):
        masks: list[dict[str, Any]] = []
        for j, position in enumerate(positions[i]):
            z = logits[i, j] - logits[i, j].max()
            probs = np.exp(z) / np.exp(z).sum()
            best = np.argsort(-probs, kind="stable")[:k]
            masks.append(
                {
                    "position": int(position),
                    "candidates": [{"token": vocab[t], "id": int(t), "probability": float(probs[t])} for t in best],
                }
            )
        filled = text
        for m in masks:
            filled = filled.replace(MASK_TEXT, m["candidates"][0]["token"], 1)
        results.append({"text": text, "filled": filled, "masks": masks})
    return results


def _tokenize_around_masks(bert: BertPipeline, texts: list[str]) -> list[list[list[int]]]:
    """For each text, the flat wordpiece ids of the pieces between its masks."""
    splits = [t.split(MASK_TEXT) for t in texts]
    flat = [p for parts in splits for p in parts]
    tokens = bert.tokenize(flat).merge_dims(1, -1).to_list()
    out, k = [], 0
    for parts in splits:
        out.append(tokens[k : k + len(parts)])
        k += len(parts)
    return out


def format_fill_mask(results: list[dict[str, Any]]) -> str:
    """The predictions of ``fill_mask``, for people."""
    lines = []
    for r in results:
        lines.append(f"{r['text']!r}")
        lines.append(f"  -> {r['filled']!r}")
        for n, m in enumerate(r["masks"]):
            cands = ", ".join(f"{c['token']} ({c['probability']:.3f})" for c in m["candidates"])
            lines.append(f"  [MASK] #{n + 1} at position {m['position']}: {cands}")
    return "\n".join(lines)
