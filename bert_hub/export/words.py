"""Words and substrings of raw text in ops a LiteRT model can hold: what a tagger or an answerer exports with.

A served tagger splits its text into words, and an answerer cuts its answer
out of the context ([`bert_hub.finetune.tasks.words`][bert_hub.finetune.tasks.words]
does both with a regular expression and ``tf.strings.substr``). LiteRT has no
op for either. [`LiteRTWords`][bert_hub.export.words.LiteRTWords] gives the
same words, offsets and substrings from ops it has:

* tensorflow-text's ``ByteSplitter`` (two custom ops its LiteRT registrar
  holds, ``ByteSplitWithOffsets`` and ``ByteSplitByOffsets``) gives each
  text's bytes and cuts substrings at byte offsets;
* the bytes are decoded to code points with plain arithmetic, and each code
  point's class (in a word, whitespace, or a word of its own: punctuation
  and CJK ideographs) is looked up in a table built from the regular
  expression itself, one code point at a time, so the split is the
  SavedModel's by construction;
* word boundaries, byte and character offsets are then comparisons, sums
  and gathers.

Texts are UTF-8, as every LiteRT string is: a text that is not valid UTF-8
may split otherwise than in the SavedModel. As the regex split does, a
text is read up to its first NUL byte.

Examples:
    >>> import tensorflow as tf
    >>> from bert_hub.export.words import LiteRTWords
    >>> split = LiteRTWords().split(tf.constant(["Angela visited Zürich."]))
    >>> [w.decode() for w in split.words[0].numpy()], split.starts[0].numpy().tolist()
    (['Angela', 'visited', 'Zürich', '.'], [0, 7, 15, 21])
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import tensorflow as tf
import tensorflow_text as tf_text

from bert_hub.finetune.tasks.words import KEPT_DELIMITERS, WORD_DELIMITERS, WordSplit

_BLOCK = 256
"""Code points per block of the two-level class table."""
_WORD, _SPACE, _KEPT = 0, 1, 2
"""A code point's class: inside a word, whitespace (dropped), a word of its own."""


@functools.lru_cache(maxsize=1)
def char_classes() -> tuple[np.ndarray, np.ndarray]:
    """The class of every code point (`_WORD`, `_SPACE`, `_KEPT`) as the word regex decides it, as a
    two-level table: ``(block_of [0x110000 / 256], blocks [distinct blocks * 256])``.

    Built by splitting each code point followed by ``a`` with the very split the SavedModels run
    (``tensorflow_text.regex_split_with_offsets``, whose Unicode tables decide): two words, it is a word
    of its own; one starting after it, whitespace; else a word character. About a second, once a process;
    surrogates, which UTF-8 cannot hold, and NUL, where the split stops reading, are word characters.
    """
    points = np.arange(0x110000, dtype=np.int32)
    points = np.where(((points >= 0xD800) & (points <= 0xDFFF)) | (points == 0), ord("b"), points)
    chars = tf.strings.unicode_encode(tf.RaggedTensor.from_tensor(points[:, np.newaxis]), "UTF-8")
    words, starts, _ = tf_text.regex_split_with_offsets(chars + "a", WORD_DELIMITERS, KEPT_DELIMITERS)
    count = words.row_lengths().numpy()
    first = starts.to_tensor(0)[:, 0].numpy()  # (every row has a word: the "a")
    classes = np.where(count == 2, _KEPT, np.where((count == 1) & (first > 0), _SPACE, _WORD))
    blocks, block_of = np.unique(classes.astype(np.int32).reshape(-1, _BLOCK), axis=0, return_inverse=True)
    return block_of.reshape(-1).astype(np.int32), blocks.reshape(-1).astype(np.int32)


def _shifted(values: tf.Tensor, by: int) -> tf.Tensor:
    """``values[:, i + by]`` at each ``i`` (0 past the end)."""
    return tf.pad(values, [[0, 0], [0, by]])[:, by:]


def _after(values: tf.Tensor, by: int, fill: Any) -> tf.Tensor:
    """``values[:, i - by]`` at each ``i`` (``fill`` before the start)."""
    return tf.pad(values, [[0, 0], [by, 0]], constant_values=fill)[:, : tf.shape(values)[1]]


class LiteRTWords(tf.Module):
    """`split` and `cut` as [`TextWords`][bert_hub.finetune.tasks.words.TextWords] has them, in ops
    LiteRT converts (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__(name="litert_words")
        block_of, blocks = char_classes()
        self._block_of = tf.constant(block_of)
        self._blocks = tf.constant(blocks)
        self._bytes = tf_text.ByteSplitter()

    def _classes(self, points: tf.Tensor) -> tf.Tensor:
        block = tf.gather(self._block_of, points // _BLOCK)
        return tf.gather(self._blocks, block * _BLOCK + points % _BLOCK)

    def split(self, texts: tf.Tensor) -> WordSplit:
        """The words of ``texts`` (``tf.string [batch]``) and their offsets, as the regex splits them."""
        pieces = self._bytes.split(texts)
        length = tf.cast(pieces.row_lengths(), tf.int32)
        byte = pieces.with_flat_values(tf.cast(pieces.flat_values, tf.int32)).to_tensor(0)  # [batch, bytes]
        position = tf.range(tf.shape(byte)[1])[tf.newaxis, :]
        inside = position < length[:, tf.newaxis]
        # the regex split reads a text up to its first NUL byte only: so does this one
        length = tf.reduce_min(tf.where(inside & (byte == 0), position, length[:, tf.newaxis]), axis=1)
        inside = position < length[:, tf.newaxis]
        lead = inside & ((byte < 0x80) | (byte >= 0xC0))  # the first byte of a character
        tail = [_shifted(byte, k) % 64 for k in (1, 2, 3)]
        point = tf.where(
            byte < 0x80,
            byte,
            tf.where(
                byte < 0xE0,
                (byte % 32) * 64 + tail[0],
                tf.where(
                    byte < 0xF0,
                    (byte % 16) * 4096 + tail[0] * 64 + tail[1],
                    (byte % 8) * 262144 + tail[0] * 4096 + tail[1] * 64 + tail[2],
                ),
            ),
        )
        kind = self._classes(tf.clip_by_value(point, 0, 0x10FFFF))
        # a continuation byte takes its character's class (up to three bytes back); padding is space
        whole = tf.where(lead, kind, _SPACE)
        follows = inside & ~lead  # a continuation byte: its character began 1, 2 or 3 bytes back
        for back in (1, 2, 3):
            here = follows & _after(lead, back, False)
            whole = tf.where(here, _after(kind, back, _SPACE), whole)
            follows = follows & ~here
        in_word = whole != _SPACE
        before = _after(whole, 1, _SPACE)
        start = lead & ((kind == _KEPT) | ((kind == _WORD) & (before != _WORD)))
        # a word ends before byte j when byte j-1 is in one and j starts another word, leaves words or is the end
        start_next = tf.pad(start, [[0, 0], [0, 1]])
        in_word_next = tf.pad(in_word, [[0, 0], [0, 1]])
        in_word_before = tf.pad(in_word, [[0, 0], [1, 0]])
        end = in_word_before & (start_next | ~in_word_next)
        chars_before = tf.cumsum(tf.cast(tf.pad(lead, [[0, 0], [0, 1]]), tf.int64), axis=1, exclusive=True)
        count = tf.reduce_sum(tf.cast(start, tf.int64), axis=1)
        at_start, at_end = tf.where(start), tf.where(end)
        byte_starts = tf.RaggedTensor.from_row_lengths(at_start[:, 1], count, validate=False)
        byte_ends = tf.RaggedTensor.from_row_lengths(at_end[:, 1], count, validate=False)
        words = self._bytes.split_by_offsets(texts, tf.cast(byte_starts, tf.int32), tf.cast(byte_ends, tf.int32))
        return WordSplit(
            words=tf.RaggedTensor.from_row_lengths(words.flat_values, count, validate=False),
            starts=byte_starts.with_flat_values(tf.gather_nd(chars_before, at_start)),
            ends=byte_ends.with_flat_values(tf.gather_nd(chars_before, at_end)),
            byte_starts=byte_starts,
            byte_ends=byte_ends,
        )

    def cut(self, texts: tf.Tensor, starts: tf.Tensor, ends: tf.Tensor) -> tf.Tensor:
        """``texts[i][starts[i, j]:ends[i, j]]`` in bytes (``[batch, n]`` offsets; equal ones give ``""``)."""
        n = tf.shape(starts)[1]
        pieces = self._bytes.split_by_offsets(
            texts,
            tf.RaggedTensor.from_tensor(tf.cast(starts, tf.int32)),
            tf.RaggedTensor.from_tensor(tf.cast(ends, tf.int32)),
        )
        return tf.reshape(pieces.flat_values, tf.stack([tf.shape(texts)[0], n]))
