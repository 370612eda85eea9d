"""Writes a TF-Hub-format BERT preprocess SavedModel from a ``vocab.txt``.

The SavedModel has the interface of ``bert_en_uncased_preprocess/3``:

* ``__call__(sentences)``: ``tf.string [batch]`` -> ``input_word_ids``,
  ``input_mask``, ``input_type_ids`` (``int32 [batch, seq_length]``);
* ``tokenize(sentences)``: ``int32`` RaggedTensor ``[batch, (words), (pieces)]``
  from tensorflow-text's ``BertTokenizer`` over a ``StaticHashTable`` whose
  ``TextFileInitializer`` reads the ``assets/vocab.txt`` asset; with
  ``text_normalization="huggingface"`` the text is first normalised as Hugging
  Face's ``BertTokenizer`` does (see [`huggingface_normalize`][bert_hub.builder.preprocess.huggingface_normalize]);
* ``tokenize.get_special_tokens_dict()``: scalar ids looked up in the vocab;
* ``bert_pack_inputs(segments, seq_length=...)``: 1 or 2 ragged segments of
  rank 2 or 3 -> the three-key dict, with round-robin trimming.

Its functions are traced without AutoGraph (the same graph: tensorflow-text
is graph code), which spares converting the tokenizer's whole source each
time a preprocess SavedModel is written.

Examples:
    >>> import tensorflow as tf, tensorflow_text  # doctest: +SKIP
    >>> write_preprocess_savedmodel("vocab.txt", "out/preprocess", lower_case=True)  # doctest: +SKIP
    >>> tf.saved_model.load("out/preprocess")(tf.constant(["hello"]))["input_mask"].shape  # doctest: +SKIP
    TensorShape([1, 128])
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import tensorflow as tf
import tensorflow_text as text

from bert_hub.builder.vocab import read_vocab, special_token_ids

HUGGINGFACE_WHITESPACE = (
    "\t\n\r\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"
)
"""Tab, newline, return and Unicode's other White_Space characters that are no control character (those are
removed): what Hugging Face's normaliser turns into spaces."""
_WHITESPACE = "".join(f"\\x{{{ord(c):x}}}" for c in HUGGINGFACE_WHITESPACE)
"""`HUGGINGFACE_WHITESPACE` in RE2 class syntax."""


def huggingface_normalize(sentences: tf.Tensor, *, lower_case: bool) -> tf.Tensor:
    """Normalises text as Hugging Face's ``BertNormalizer`` does, in TensorFlow ops.

    Whitespace becomes a space; NUL, U+FFFD, control, format and private-use
    characters are removed; for an uncased model the text is decomposed
    (NFD), its combining marks are dropped and it is lower-cased. Unlike
    tensorflow-text's own lower-casing (NFKC case folding) nothing is mapped
    to a compatibility form: ``…`` stays ``…``, ``ﬁ`` stays ``ﬁ``. Feed the
    result to a ``BertTokenizer(lower_case=False)``.

    On real text this gives Hugging Face's ids exactly (tested on the SMS
    collection). Characters newer than the Unicode tables of TensorFlow's
    regex engine, and unassigned code points, may be split differently.
    """
    sentences = tf.strings.regex_replace(sentences, f"[{_WHITESPACE}]", " ")
    sentences = tf.strings.regex_replace(sentences, r"[\x{0}\x{fffd}\p{Cc}\p{Cf}\p{Co}]", "")
    if lower_case:
        sentences = text.normalize_utf8(sentences, "NFD")
        sentences = tf.strings.regex_replace(sentences, r"\p{Mn}", "")
        sentences = tf.strings.lower(sentences, encoding="utf-8")
    return sentences


def pack_segments(
    segments: list[tf.RaggedTensor],
    seq_length: tf.Tensor | int,
    *,
    start_of_sequence_id: int,
    end_of_segment_id: int,
    padding_id: int,
) -> dict[str, tf.Tensor]:
    """Packs 1 or 2 ragged segments into BERT's three input tensors.

    Rank-3 segments (``[batch, words, pieces]``) are flattened to rank 2. Each
    example is trimmed round-robin to ``seq_length - (num_segments + 1)``
    tokens, laid out as ``[CLS] A [SEP] (B [SEP])`` and padded.
    """
    # int32 splits: a check of int64 values is a cond (two functions to load), of int32 a plain assert.
    segments = [s.with_row_splits_dtype(tf.int32) for s in segments]
    segments = [s.merge_dims(1, -1) if s.shape.rank > 2 else s for s in segments]
    budget = tf.cast(seq_length, tf.int32) - (len(segments) + 1)
    trimmed = text.RoundRobinTrimmer(budget).trim(segments)
    ids, type_ids = text.combine_segments(
        trimmed, start_of_sequence_id=start_of_sequence_id, end_of_segment_id=end_of_segment_id
    )
    word_ids, mask = text.pad_model_inputs(ids, seq_length, pad_value=padding_id)
    type_ids, _ = text.pad_model_inputs(type_ids, seq_length, pad_value=0)
    shape = tf.stack([segments[0].nrows(out_type=tf.int32), tf.cast(seq_length, tf.int32)])
    return {
        "input_word_ids": tf.reshape(tf.cast(word_ids, tf.int32), shape),
        "input_mask": tf.reshape(tf.cast(mask, tf.int32), shape),
        "input_type_ids": tf.reshape(tf.cast(type_ids, tf.int32), shape),
    }


class _Tokenize(tf.Module):
    """The ``tokenize`` subobject: text -> wordpiece ids, plus special tokens."""

    def __init__(self, vocab_path: str, lower_case: bool, specials: dict[str, int], text_normalization: str):
        super().__init__()
        initializer = tf.lookup.TextFileInitializer(
            vocab_path,
            key_dtype=tf.string,
            key_index=tf.lookup.TextFileIndex.WHOLE_LINE,
            value_dtype=tf.int64,
            value_index=tf.lookup.TextFileIndex.LINE_NUMBER,
        )
        self.vocab_table = tf.lookup.StaticHashTable(initializer, default_value=-1)
        self._lower_case = lower_case
        self._huggingface = text_normalization == "huggingface"
        self._tokenizer = text.BertTokenizer(
            self.vocab_table, token_out_type=tf.int64, lower_case=lower_case and not self._huggingface
        )
        self.get_special_tokens_dict = tf.Module()
        self.get_special_tokens_dict.__call__ = tf.function(
            lambda: {k: tf.constant(v, tf.int32) for k, v in specials.items()}, input_signature=[], autograph=False
        )
        self.__call__ = tf.function(self._tokenize, input_signature=[tf.TensorSpec([None], tf.string)], autograph=False)

    def _tokenize(self, sentences: tf.Tensor) -> tf.RaggedTensor:
        if self._huggingface:
            sentences = huggingface_normalize(sentences, lower_case=self._lower_case)
        tokens = tf.cast(self._tokenizer.tokenize(sentences), tf.int32)
        batch = tf.shape(sentences, out_type=tf.int64)[0]
        # Restore the static batch dimension the tokenizer loses (its splits need no second check).
        return tf.RaggedTensor.from_row_splits(
            tokens.values, tf.reshape(tokens.row_splits, [batch + 1]), validate=False
        )


class PreprocessModule(tf.Module):
    """The root object of a preprocess SavedModel (see the module docstring)."""

    def __init__(
        self, vocab_path: str, lower_case: bool, seq_length: int = 128, text_normalization: str = "tensorflow_text"
    ):
        super().__init__()
        tokens = read_vocab(vocab_path)
        specials = special_token_ids(tokens, source=str(vocab_path))
        self.tokenize = _Tokenize(vocab_path, lower_case, specials, text_normalization)
        pack_ids = {k: specials[k] for k in ("start_of_sequence_id", "end_of_segment_id", "padding_id")}

        def pack(inputs, seq_length=seq_length):
            return pack_segments(list(inputs), seq_length, **pack_ids)

        self.bert_pack_inputs = tf.Module()
        self.bert_pack_inputs.__call__ = tf.function(pack, autograph=False)
        for words_axis in (False, True):
            for num_segments in (1, 2):
                rank = 3 if words_axis else 2
                self.bert_pack_inputs.__call__.get_concrete_function(
                    [
                        tf.RaggedTensorSpec([None] * rank, tf.int32, row_splits_dtype=tf.int64)
                        for _ in range(num_segments)
                    ],
                    seq_length=tf.TensorSpec([], tf.int32),
                )

        def preprocess(sentences):
            return pack_segments([self.tokenize._tokenize(sentences)], seq_length, **pack_ids)

        self.__call__ = tf.function(preprocess, input_signature=[tf.TensorSpec([None], tf.string)], autograph=False)


def write_preprocess_savedmodel(
    vocab_file: str | Path,
    out_dir: str | Path,
    *,
    lower_case: bool,
    seq_length: int = 128,
    text_normalization: str = "tensorflow_text",
) -> None:
    """Saves a preprocess SavedModel for ``vocab_file`` into ``out_dir`` (a new directory).

    The vocab is copied so that the SavedModel's asset is named ``vocab.txt``.
    ``text_normalization`` is ``tensorflow_text`` (as the Kaggle preprocess
    models) or ``huggingface`` (as the checkpoint's own tokenizer, see
    [`huggingface_normalize`][bert_hub.builder.preprocess.huggingface_normalize]).
    """
    with tempfile.TemporaryDirectory(prefix="bert_hub_vocab_") as tmp:
        vocab = Path(tmp) / "vocab.txt"
        shutil.copyfile(vocab_file, vocab)
        module = PreprocessModule(
            str(vocab), lower_case=lower_case, seq_length=seq_length, text_normalization=text_normalization
        )
        tf.saved_model.save(module, str(out_dir))
