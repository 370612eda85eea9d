"""Length bucketing: tokenize once, group texts of similar length, pack each batch to its bucket.

The notebook pads every text to ``seq_length`` (128). Most texts are much
shorter, and padding is work the encoder does for nothing, so embedding,
training and the exported serving model all batch the same way:

1. `tokenize` runs the preprocess model's ``tokenize`` once over all
   texts (in chunks) and keeps each text's *packed length* (wordpieces +
   ``[CLS]`` + ``[SEP]``, at most ``seq_length``) and how many were cut;
2. batches are index arrays: `length_sorted_batches` (inference: least
   padding, order restored by the caller) or `shuffled_batches`
   (training: shuffled, sorted within windows, the same count every epoch);
3. `pack_to_bucket` packs a batch with ``bert_pack_inputs`` to the
   smallest *bucket* that holds its longest text (by default every length,
   so each batch is packed to its longest text: one graph serves every
   length, and padding costs more than oneDNN's set-up for a new shape; see
   [`bert_hub.runtime.embedder`][bert_hub.runtime.embedder] for the embedding modes that keep a grid). It is TensorFlow
   code, so the same rule runs
   inside ``tf.data`` (`dataset`, training) and inside the exported
   SavedModel (serving); embedding packs a whole chunk at once and cuts each
   batch to `bucket_of`, the same rule in NumPy.

On the real tokens the numbers are those of the fixed-length path: padding is
masked out of attention.

Examples:
    >>> from bert_hub import load_pipeline
    >>> from bert_hub.runtime import batching
    >>> bert = load_pipeline("default")
    >>> tok = batching.tokenize(bert.preprocessor, ["hi", "a somewhat longer text here"], seq_length=128)
    >>> tok.lengths.tolist()
    [3, 7]
    >>> packed = batching.pack_to_bucket(bert.preprocessor, tok.tokens, batching.default_buckets(128))
    >>> packed["input_word_ids"].shape.as_list()
    [2, 7]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from bert_hub.core.errors import InputError
from bert_hub.core.interface import SPECIALS_PER_SEGMENT
from bert_hub.hub import preprocess_calls

TOKENIZE_CHUNK = 2048
"""Texts handed to ``tokenize`` at once (bounds its memory)."""


def default_buckets(seq_length: int, step: int = 1) -> tuple[int, ...]:
    """Every multiple of ``step`` below ``seq_length``, and ``seq_length`` itself (by default every length:
    each batch is packed to its longest text)."""
    return tuple(sorted({*range(step, seq_length, step), seq_length}))


def check_buckets(buckets: Sequence[int] | None, seq_length: int, step: int = 1) -> tuple[int, ...]:
    """Sorted buckets ending at ``seq_length`` (default: `default_buckets`), each checked."""
    if buckets is None:
        return default_buckets(seq_length, step)
    bad = [b for b in buckets if not isinstance(b, (int, np.integer)) or not 3 <= int(b) <= seq_length]
    if bad:
        raise InputError(
            f"buckets {', '.join(map(str, bad))}: each bucket is a packed length from 3 to seq_length ({seq_length})"
        )
    return tuple(sorted({int(b) for b in buckets} | {seq_length}))


@dataclasses.dataclass
class Tokenized:
    """Wordpiece ids of many texts (or text pairs), with what batching needs to know of them.

    Attributes:
        segments: every segment's ``int32`` RaggedTensor ``[n, (pieces)]``
            (words merged): one for single texts, two for pairs.
        lengths: ``int64 [n]``: the packed length of each example
            (pieces + ``[CLS]`` + one ``[SEP]`` per segment, at most ``seq_length``).
        truncated: how many examples were longer than ``seq_length``.
    """

    segments: tuple[Any, ...]
    lengths: np.ndarray
    truncated: int

    @property
    def tokens(self) -> Any:
        """The (first) texts' pieces: ``segments[0]``."""
        return self.segments[0]

    def __len__(self) -> int:
        return len(self.lengths)


def specials(segments: int) -> int:
    """Special tokens ``bert_pack_inputs`` adds to ``segments`` segments: ``[CLS]`` and one ``[SEP]`` each."""
    return SPECIALS_PER_SEGMENT + segments - 1


def word_pieces(preprocessor: Any, texts: Sequence[str]) -> Any:
    """The wordpiece ids of ``texts`` (``int32`` RaggedTensor ``[n, (pieces)]``), tokenized in chunks."""
    import tensorflow as tf

    if not len(texts):
        return tf.RaggedTensor.from_row_lengths(tf.zeros([0], tf.int32), tf.zeros([0], tf.int64))
    parts = [
        preprocess_calls.tokenize(preprocessor, tf.constant(list(texts[i : i + TOKENIZE_CHUNK]))).merge_dims(1, -1)
        for i in range(0, len(texts), TOKENIZE_CHUNK)
    ]
    return tf.concat(parts, axis=0) if len(parts) > 1 else parts[0]


def tokenize(preprocessor: Any, texts: Sequence[str], seq_length: int, pairs: Sequence[str] | None = None) -> Tokenized:
    """Tokenizes ``texts`` (and the second texts ``pairs``) once with the preprocess model."""
    segments = tuple(word_pieces(preprocessor, part) for part in ([texts] if pairs is None else [texts, pairs]))
    full = sum(s.row_lengths().numpy() for s in segments) + specials(len(segments))
    return Tokenized(segments, np.minimum(full, seq_length).astype(np.int64), int((full > seq_length).sum()))


def bucket_of(lengths: np.ndarray, buckets: Sequence[int]) -> int:
    """The smallest of ``buckets`` (sorted, ending at ``seq_length``) that holds the longest of ``lengths``
    (packed lengths, at most ``seq_length``): `pack_to_bucket`'s rule, in NumPy.

    Examples:
        >>> bucket_of(np.array([5, 9, 7]), (8, 16, 32))
        16
    """
    slot = int(np.searchsorted(np.asarray(buckets), int(np.max(lengths))))
    return int(buckets[min(slot, len(buckets) - 1)])


def pack_to_bucket(preprocessor: Any, segments: Any, buckets: Any) -> dict[str, Any]:
    """Packs one batch to the smallest bucket that holds it (`bucket_of`, in TensorFlow).

    ``segments``: one RaggedTensor ``[batch, (pieces)]`` or a list of them
    (sentence pairs: ``input_type_ids`` 0 then 1). ``buckets`` is sorted and
    ends at ``seq_length``; longer examples are cut to it (round-robin between
    the segments, as ``bert_pack_inputs`` does). Runs eagerly or in a graph.
    """
    import tensorflow as tf

    segments = list(segments) if isinstance(segments, (list, tuple)) else [segments]
    buckets = tf.constant(buckets, tf.int32) if not isinstance(buckets, tf.Tensor) else buckets
    total = tf.add_n([tf.cast(s.row_lengths(), tf.int32) for s in segments])
    longest = tf.reduce_max(tf.concat([total, [0]], 0)) + specials(len(segments))
    # The first bucket that holds it: how many are shorter (a count, not searchsorted: LiteRT has no kernel for it).
    slot = tf.minimum(tf.reduce_sum(tf.cast(buckets < longest, tf.int32)), tf.size(buckets) - 1)
    return preprocess_calls.bert_pack_inputs(preprocessor, segments, tf.gather(buckets, slot))


def length_sorted_batches(lengths: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Index batches in order of length (inference: no shuffling, least padding)."""
    order = np.argsort(lengths, kind="stable")
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def shuffled_batches(
    lengths: np.ndarray, batch_size: int, seed: int, epoch: int, bucketing: bool = True
) -> list[np.ndarray]:
    """The batches of one training epoch: shuffled; length-sorted within windows when bucketing.

    Seeded by ``(seed, epoch)``; the number of batches is the same for every
    epoch and seed.
    """
    n = len(lengths)
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(n)
    if not bucketing:
        return [order[i : i + batch_size] for i in range(0, n, batch_size)]
    window = batch_size * 50
    batches = []
    for start in range(0, n, window):
        chunk = order[start : start + window]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def at_least(batches: Sequence[np.ndarray], size: int) -> list[np.ndarray]:
    """The batches, each smaller than ``size`` merged into the batch before it (after it, if first).

    A global batch split between ``size`` workers needs an example for each.
    """
    out: list[np.ndarray] = []
    for b in batches:
        if len(b) < size and out:
            out[-1] = np.concatenate([out[-1], b])
        elif out and len(out[-1]) < size:
            out[-1] = np.concatenate([out[-1], b])
        else:
            out.append(np.asarray(b))
    return out


def dataset(batches: Sequence[np.ndarray], to_batch: Any) -> Any:
    """A ``tf.data.Dataset`` of ``to_batch(index)`` for each index batch, prefetched.

    ``to_batch`` is TensorFlow code (traced once) mapping an ``int64 [batch]``
    index to the packed inputs (and targets). Auto-sharding is off: under a
    distribution strategy each replica's share is split from the batch, not
    from the file.
    """
    import tensorflow as tf

    index = [np.asarray(b, np.int64) for b in batches]
    ds = tf.data.Dataset.from_generator(lambda: iter(index), output_signature=tf.TensorSpec([None], tf.int64))
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    return ds.with_options(options).map(to_batch).prefetch(tf.data.AUTOTUNE)
