"""The interface of the TF Hub / Kaggle BERT SavedModels, as data: one definition of each name.

Every module that feeds an encoder, reads its outputs, checks a preprocess
model or looks up special tokens takes the names from here.

Examples:
    >>> from bert_hub.core.interface import INPUT_KEYS, layer_index
    >>> INPUT_KEYS
    ('input_word_ids', 'input_mask', 'input_type_ids')
    >>> layer_index("encoder_outputs[-1]"), layer_index("pooled_output")
    (-1, None)
"""

from __future__ import annotations

import re
from typing import Any

from bert_hub.core.errors import InputError

INPUT_KEYS = ("input_word_ids", "input_mask", "input_type_ids")
"""The encoder's three ``int32 [batch, seq_len]`` inputs, as the preprocess model returns them."""

OUTPUT_KEYS = ("encoder_outputs", "sequence_output", "pooled_output", "default")
"""The encoder's outputs: one tensor per layer, the last layer, the pooled [CLS] and its alias."""

MLM_POSITIONS_KEY = "masked_lm_positions"
"""The MLM subobject's extra input."""

PREPROCESS_ATTRS = ("tokenize", "bert_pack_inputs")
"""What a preprocess model has besides ``__call__``."""

SPECIAL_TOKENS = {
    "padding_id": "[PAD]",
    "start_of_sequence_id": "[CLS]",
    "end_of_segment_id": "[SEP]",
    "mask_id": "[MASK]",
}
"""``tokenize.get_special_tokens_dict()`` key -> the vocab token it is looked up as."""
REQUIRED_SPECIAL_TOKENS = ("padding_id", "start_of_sequence_id", "end_of_segment_id")
"""The special tokens a vocab must have to pack inputs (``[MASK]`` is optional)."""

SERVING_OUTPUT_LAYER = "bert_encoder"
"""The layer name Keras gives the encoder's outputs in the ``serving_default`` signature (upstream builds the
encoder as ``networks.BertEncoder`` inside a functional model)."""

SPECIALS_PER_SEGMENT = 2
"""Tokens ``bert_pack_inputs`` adds to one segment: ``[CLS]`` and ``[SEP]``."""

_LAYER_KEY = re.compile(r"^encoder_outputs\[(-?\d+)\]$")


def layer_index(key: str) -> int | None:
    """``i`` for ``"encoder_outputs[i]"``, else None."""
    m = _LAYER_KEY.match(key)
    return int(m.group(1)) if m else None


def serving_output_names(num_layers: int) -> dict[str, str]:
    """The encoder's ``serving_default`` output names -> the output each one is.

    A functional Keras model saved with the encoder's output dict flattens it
    in sorted-key order (``default``, ``encoder_outputs[0..L-1]``,
    ``pooled_output``, ``sequence_output``) and names each tensor after the
    layer that made it: ``bert_encoder``, ``bert_encoder_1``, ...

    Examples:
        >>> for name, key in serving_output_names(2).items():
        ...     print(name, key)
        bert_encoder default
        bert_encoder_1 encoder_outputs[0]
        bert_encoder_2 encoder_outputs[1]
        bert_encoder_3 pooled_output
        bert_encoder_4 sequence_output
    """
    keys = ["default", *(f"encoder_outputs[{i}]" for i in range(num_layers)), "pooled_output", "sequence_output"]
    return {SERVING_OUTPUT_LAYER + (f"_{n}" if n else ""): key for n, key in enumerate(keys)}


def select(outputs: dict, key: str) -> Any:
    """``outputs[key]``, where ``key`` may be ``encoder_outputs[i]``."""
    i = layer_index(key)
    return outputs[key] if i is None else outputs["encoder_outputs"][i]


def check_output_key(key: str, num_layers: int, allowed: tuple[str, ...], flag: str = "key") -> str:
    """Checks ``key`` is one of ``allowed`` or ``encoder_outputs[i]`` with ``i`` inside the encoder."""
    i = layer_index(key)
    if i is not None:
        if not -num_layers <= i < num_layers:
            raise InputError(
                f"{flag} {key}: the encoder has {num_layers} layers "
                f"(encoder_outputs[0] .. encoder_outputs[{num_layers - 1}])"
            )
        return key
    if key not in allowed:
        raise InputError(f"unknown {flag} {key!r}; use one of {', '.join(allowed + ('encoder_outputs[i]',))}")
    return key
