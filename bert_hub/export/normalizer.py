"""Hugging Face's text normalisation as a model of tensorflow-text's ``FastBertNormalize`` op (LiteRT-ready).

``FastBertNormalize`` (the first of the in-graph tokenizer's custom ops)
maps each character through a table held in the graph: a trie from the
character's UTF-8 bytes to its normalised string, in darts-clone's
double-array format, inside a small flatbuffer. tensorflow-text builds that
table for its own normalisation (NFKC case folding, which turns ``…`` into
``...``); a checkpoint converted from Hugging Face normalises otherwise
(``text_normalization: huggingface``, see ``huggingface_normalize`` in
``bert_hub.builder.preprocess``).
[`huggingface_normalizer_model`][bert_hub.export.normalizer.huggingface_normalizer_model]
builds the table for Hugging Face's rules, character by character, so the
same op gives the ids of the checkpoint's own tokenizer:

* whitespace (`HUGGINGFACE_WHITESPACE`) becomes a space;
* NUL, U+FFFD, control, format and private-use characters are removed;
* an uncased model's characters are decomposed (NFD), their combining marks
  dropped, and lower-cased.

On every character of Unicode's Basic Multilingual Plane (one per text,
between two letters) the ids equal the preprocess SavedModel's but for 4
characters newer than Python's Unicode tables; private-use characters of
planes 15 and 16 are left in the text (the table would hold 131,068 more
keys), where the SavedModel removes them.

Examples:
    >>> from bert_hub.export.normalizer import huggingface_normalizer_model
    >>> len(huggingface_normalizer_model(lower_case=True)) > 100_000
    True
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Mapping
from typing import Any

import numpy as np

from bert_hub.builder.preprocess import HUGGINGFACE_WHITESPACE

DIFFERENT = 1 << 30
"""The flag of a character whose normalised string differs from it (tensorflow-text's encoding)."""
LENGTH_BITS = 6
"""The low bits of a character's entry holding its normalised string's UTF-8 length; the offset of that string
in the model's string pool is above them (tensorflow-text's encoding)."""
_LEAF = 1 << 31
_HAS_LEAF = 1 << 8
_OFFSET_LIMIT = 1 << 21  # darts-clone's offsets below this are stored as they are
_REMOVED = frozenset({"\0", "\ufffd"})
_REMOVED_CATEGORIES = frozenset({"Cc", "Cf", "Co"})


def huggingface_character(c: str, *, lower_case: bool) -> str:
    """What Hugging Face's ``BertNormalizer`` makes of the character ``c``.

    Examples:
        >>> [huggingface_character(c, lower_case=True) for c in ["É", "…", "\\t", "\\u200b"]]
        ['e', '…', ' ', '']
    """
    if c in HUGGINGFACE_WHITESPACE:
        return " "
    if c in _REMOVED or unicodedata.category(c) in _REMOVED_CATEGORIES:
        return ""
    if not lower_case:
        return c
    decomposed = unicodedata.normalize("NFD", c)
    return "".join(x for x in decomposed if unicodedata.category(x) != "Mn").lower()


def _characters() -> Any:
    """Every Unicode scalar value but NUL, noncharacters, and planes 15 and 16 (private use only)."""
    for cp in range(1, 0xF0000):
        if 0xD800 <= cp <= 0xDFFF or 0xFDD0 <= cp <= 0xFDEF or (cp & 0xFFFE) == 0xFFFE:
            continue
        yield chr(cp)


def double_array(entries: Mapping[bytes, int]) -> np.ndarray:
    """A trie of ``entries`` (key bytes -> value below 2**31) in darts-clone's double-array units (``uint32``).

    A node's unit holds its label (low byte), whether a key ends there (bit 8)
    and the offset (bits 10 up) that, XORed with the node's position and a
    child's label, gives the child's position; a key's value sits in a unit
    of its own (bit 31 set) at the node's position XOR its offset (label 0).
    Each node gets a position block of its own (its "base", in increasing
    order: one pass over the array), so a unit's position and label name one
    parent only and a lookup cannot stray into another node's children.
    """
    root: dict[Any, Any] = {}
    for key, value in entries.items():
        node = root
        for byte in key:
            node = node.setdefault(byte, {})
        node[None] = value
    units = np.zeros(1 << 16, np.uint32)
    used = np.zeros(1 << 16, bool)
    used[0] = True
    next_base = 1
    pending = [(root, 0)]
    while pending:
        node, position = pending.pop()
        labels = sorted(0 if k is None else k for k in node)
        base = next_base
        while True:
            if (base | 255) >= len(units):
                units = np.concatenate([units, np.zeros(len(units), np.uint32)])
                used = np.concatenate([used, np.zeros(len(used), bool)])
            if (position ^ base) < _OFFSET_LIMIT and not any(used[base ^ label] for label in labels):
                break
            base += 1
        next_base = base + 1
        units[position] = (int(units[position]) & 0xFF) | ((position ^ base) << 10) | (_HAS_LEAF if None in node else 0)
        for key, child in node.items():
            if key is None:
                units[base], used[base] = _LEAF | child, True
            else:
                units[base ^ key], used[base ^ key] = key, True
                pending.append((child, base ^ key))
    return units[: int(np.flatnonzero(used)[-1]) + 1]


@functools.cache
def huggingface_normalizer_model(*, lower_case: bool) -> bytes:
    """The ``FastBertNormalize`` model (a flatbuffer) of Hugging Face's normalisation, for
    ``FastBertTokenizer(fast_bert_normalizer_model_buffer=...)``; built once per process (about 2 s)."""
    import flatbuffers

    pool = bytearray()
    offsets: dict[bytes, int] = {}
    entries = {}
    for c in _characters():
        target = huggingface_character(c, lower_case=lower_case)
        if target == c:
            continue  # not in the table: left as it is
        data = target.encode()
        if data and data not in offsets:
            offsets[data] = len(pool)
            pool += data
        entries[c.encode()] = DIFFERENT | len(data) | (offsets.get(data, 0) << LENGTH_BITS)
    trie = double_array(entries)
    builder = flatbuffers.Builder(4 * len(trie) + len(pool) + 1024)
    trie_vector = builder.CreateNumpyVector(trie.astype("<u4"))
    pool_vector = builder.CreateNumpyVector(np.frombuffer(bytes(pool), np.uint8))
    builder.StartObject(4)  # tensorflow-text's FastBertNormalizerModel, its fields in order
    builder.PrependBoolSlot(0, lower_case, False)
    builder.PrependUOffsetTRelativeSlot(1, trie_vector, 0)
    builder.PrependInt32Slot(2, DIFFERENT, 0)  # NUL: removed
    builder.PrependUOffsetTRelativeSlot(3, pool_vector, 0)
    builder.Finish(builder.EndObject())
    return bytes(builder.Output())
