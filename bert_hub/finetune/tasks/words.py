"""Words with character offsets, and the wordpieces of each word: what token-level tasks stand on.

Token classification tags *words* and question answering returns a span of
*the context's text*, while the encoder sees wordpieces. This module keeps
the link between the three, in TensorFlow code that runs eagerly (training
data) and inside exported SavedModels (serving):

* `split_words` splits raw text into words the way BERT's basic
  tokenizer does (at whitespace; every punctuation mark and CJK character is
  a word of its own) with ``tensorflow_text.regex_split_with_offsets`` and keeps each
  word's ``[start, end)`` **character** offsets into the original text (the
  text is not lower-cased or normalised for this; the preprocess model does
  that per word);
* `word_pieces` runs the preprocess model's ``tokenize`` on each word,
  so ``"Merkel"`` becomes its pieces (``mer ##kel``) and each piece knows its
  word;
* `first_pieces` gives each word's first piece (where token
  classification reads a word's tag; the word's other pieces carry no label).

A serving module splits and cuts through `text_words`: a
[`TextWords`][bert_hub.finetune.tasks.words.TextWords] (the regex and
``tf.strings.substr``) for a SavedModel, the same results in LiteRT's ops
for a LiteRT file ([`bert_hub.export.words`][bert_hub.export.words]); its
per-word outputs are padded with `padded`, which a LiteRT file runs as
the SavedModel does.

Examples:
    >>> import tensorflow as tf
    >>> from bert_hub.finetune.tasks.words import split_words
    >>> words, starts, ends = split_words(tf.constant(["Angela visited Zürich."]))
    >>> [w.decode() for w in words[0].numpy()], starts[0].numpy().tolist(), ends[0].numpy().tolist()
    (['Angela', 'visited', 'Zürich', '.'], [0, 7, 15, 21], [6, 14, 21, 22])
"""

from __future__ import annotations

from typing import Any, NamedTuple

_FAR = 2**62
"""Byte offsets past any text: the padding of a searched sequence."""

_PUNCTUATION = r"[!-/]|[:-@]|[\[-`]|[{-~]|[\p{P}]"
"""BERT's basic-tokenizer rule: ASCII and Unicode punctuation, and CJK ideographs, are words of their own."""
_CJK = "|".join(
    rf"[\x{{{a}}}-\x{{{b}}}]"
    for a, b in (
        ("4E00", "9FFF"),
        ("3400", "4DBF"),
        ("20000", "2A6DF"),
        ("2A700", "2B73F"),
        ("2B740", "2B81F"),
        ("2B820", "2CEAF"),
        ("F900", "FAFF"),
        ("2F800", "2FA1F"),
    )
)
KEPT_DELIMITERS = rf"{_PUNCTUATION}|{_CJK}"
"""Characters that are words of their own."""
WORD_DELIMITERS = rf"\s+|{KEPT_DELIMITERS}"
"""Where words end (whitespace is dropped; the rest are kept as words)."""


def split_words(texts: Any) -> tuple[Any, Any, Any]:
    """Words of ``texts`` (``tf.string [batch]``) and their character offsets.

    Returns:
        ``(words, starts, ends)``: RaggedTensors ``[batch, (words)]`` of
        ``tf.string``, and ``int64`` character offsets (``end`` exclusive).
    """
    split = TextWords().split(texts)
    return split.words, split.starts, split.ends


class WordSplit(NamedTuple):
    """Words of a batch of texts: ``tf.string`` RaggedTensor ``[batch, (words)]`` and each word's
    ``[start, end)`` offsets, in characters and in UTF-8 bytes (``int64`` RaggedTensors of the same shape)."""

    words: Any
    starts: Any
    ends: Any
    byte_starts: Any
    byte_ends: Any


class TextWords:
    """How a serving graph splits words and cuts substrings: a regular expression and ``tf.strings.substr``.

    A LiteRT export traces the same serving code with
    [`LiteRTWords`][bert_hub.export.words.LiteRTWords] instead, which gives
    the same results in ops LiteRT has.
    """

    def split(self, texts: Any) -> WordSplit:
        """The words of ``texts`` (``tf.string [batch]``) and their offsets."""
        import tensorflow_text as text

        words, byte_starts, byte_ends = text.regex_split_with_offsets(texts, WORD_DELIMITERS, KEPT_DELIMITERS)
        return WordSplit(
            words, to_characters(texts, byte_starts), to_characters(texts, byte_ends), byte_starts, byte_ends
        )

    def cut(self, texts: Any, starts: Any, ends: Any) -> Any:
        """``texts[i][starts[i, j]:ends[i, j]]`` in bytes (``[batch, n]`` offsets; equal ones give ``""``)."""
        import tensorflow as tf

        whole = tf.broadcast_to(texts[:, tf.newaxis], tf.shape(starts))
        return tf.strings.substr(whole, starts, ends - starts, unit="BYTE")


def padded(ragged: Any, default: Any = 0) -> Any:
    """A numeric RaggedTensor ``[batch, (n)]`` as a dense ``[batch, longest row]`` one, padded with ``default``.

    ``RaggedTensor.to_tensor`` in plain gathers and comparisons: in a LiteRT file, ``to_tensor`` becomes
    ``RaggedTensorToTensor``, which makes rows of at least one item (``[1, 1]`` where every row is empty).
    """
    import tensorflow as tf

    lengths = ragged.row_lengths()
    width = tf.reduce_max(tf.concat([lengths, tf.zeros([1], lengths.dtype)], 0))
    column = tf.range(width, dtype=lengths.dtype)[tf.newaxis, :]
    inside = column < lengths[:, tf.newaxis]
    values = tf.concat([ragged.flat_values, tf.fill([1], tf.cast(default, ragged.dtype))], 0)  # (never empty)
    at = tf.where(inside, ragged.row_starts()[:, tf.newaxis] + column, tf.size(values, out_type=lengths.dtype) - 1)
    return tf.gather(values, at)


def text_words(bert: Any) -> Any:
    """What ``bert``'s serving graph splits words with: its pipeline's own (a LiteRT export's
    [`LiteRTWords`][bert_hub.export.words.LiteRTWords]) or [`TextWords`][bert_hub.finetune.tasks.words.TextWords]."""
    return getattr(bert, "words", None) or TextWords()


def to_characters(texts: Any, byte_offsets: Any) -> Any:
    """UTF-8 byte offsets into ``texts`` (ragged ``[batch, (n)]``) as character offsets."""
    import tensorflow as tf

    _, char_starts = tf.strings.unicode_decode_with_offsets(texts, "UTF-8", errors="replace")
    sorted_starts = char_starts.to_tensor(default_value=_FAR)
    offsets = tf.cast(byte_offsets, tf.int64).to_tensor()
    index = tf.searchsorted(sorted_starts, offsets, side="left")
    return tf.RaggedTensor.from_tensor(tf.cast(index, tf.int64), lengths=byte_offsets.row_lengths())


def word_pieces(preprocessor: Any, words: Any) -> Any:
    """The wordpiece ids of each word: ``int32`` RaggedTensor ``[batch, (words), (pieces)]``.

    ``words`` is a ``tf.string`` RaggedTensor ``[batch, (words)]``. A word the
    preprocess model splits further (it should not, after
    `split_words`) keeps all its pieces; a word with no piece (a
    control character) has none.
    """
    import tensorflow as tf

    pieces = preprocessor.tokenize(words.flat_values).merge_dims(1, -1)
    return tf.RaggedTensor.from_row_splits(pieces, words.row_splits, validate=False)


def first_pieces(pieces: Any) -> tuple[Any, Any]:
    """Each word's first piece, as an index into its sentence's pieces, and its piece count.

    ``pieces``: ``[batch, (words), (pieces)]`` from `word_pieces`.
    Returns two ``int64`` RaggedTensors ``[batch, (words)]``: the index of
    the word's first piece among the sentence's pieces (``[CLS]`` not
    counted) and how many pieces the word has (0: no piece to read).
    """
    import tensorflow as tf

    counts = pieces.row_lengths(axis=2)  # [batch, (words)]
    ends = tf.math.cumsum(counts.flat_values)
    before_row = tf.gather(tf.concat([[0], ends], 0), counts.row_starts())  # pieces before each sentence
    starts = ends - counts.flat_values - tf.repeat(before_row, counts.row_lengths())
    return counts.with_flat_values(starts), counts
