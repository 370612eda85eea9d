"""The preprocess model's two calls in ops a LiteRT model can hold: tokenize and pack, in the graph.

A served model tokenizes with the preprocess SavedModel (tensorflow-text's
``BertTokenizer`` over a lookup table, ``bert_pack_inputs`` with ragged
trimming): ops LiteRT has no kernel for. [`InGraphPreprocessor`][bert_hub.export.preprocess.InGraphPreprocessor]
has the same two calls, built from what converts:

* ``tokenize``: tensorflow-text's ``FastBertTokenizer`` over the vocab,
  compiled into the graph (two custom ops, ``FastBertNormalize`` and
  ``FastWordpieceTokenize``, which tensorflow-text registers with a LiteRT
  interpreter, see [`bert_hub.export.litert`][bert_hub.export.litert]);
* ``bert_pack_inputs``: round-robin trimming, ``[CLS] A [SEP] (B [SEP])``
  and padding written as plain tensor arithmetic (gathers at computed
  positions), so any batch size and any length up to ``seq_length`` run.

The ids equal the preprocess model's: for the Kaggle / TF Hub vocabularies
(tensorflow-text normalisation) on every text tested (every SMS of the
shared data, generated text); for a checkpoint converted from Hugging Face
(``text_normalization: huggingface``), the normaliser's table is built for
Hugging Face's rules ([`bert_hub.export.normalizer`][bert_hub.export.normalizer]),
so ``…`` stays ``…`` as the SavedModel keeps it.

Examples:
    >>> import tensorflow as tf
    >>> from bert_hub import load_pipeline
    >>> from bert_hub.export.preprocess import InGraphPreprocessor
    >>> pre = InGraphPreprocessor.for_pipeline(load_pipeline("default"))
    >>> pieces = pre.tokenize(tf.constant(["hello world", "hi"]))
    >>> pre.bert_pack_inputs([pieces], seq_length=tf.constant(6))["input_word_ids"].numpy().tolist()
    [[101, 7592, 2088, 102, 0, 0], [101, 7632, 102, 0, 0, 0]]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import tensorflow as tf
import tensorflow_text as tf_text

from bert_hub.builder.vocab import special_token_ids
from bert_hub.core.errors import InputError
from bert_hub.export.normalizer import huggingface_normalizer_model

UNKNOWN_TOKEN = "[UNK]"
"""The wordpiece a word outside the vocab becomes (as the preprocess models' ``BertTokenizer``)."""


class InGraphPreprocessor(tf.Module):
    """``tokenize`` and ``bert_pack_inputs`` as the preprocess SavedModel has them, in LiteRT-convertible ops.

    Args:
        vocab: the wordpieces, in id order.
        lower_case: lower-case and strip accents first (an uncased model).
        text_normalization: ``tensorflow_text`` or ``huggingface``, as the model's architecture says.
        source: where the vocab comes from, for error messages.
    """

    def __init__(
        self,
        vocab: Sequence[str],
        *,
        lower_case: bool,
        text_normalization: str = "tensorflow_text",
        source: str = "vocab",
    ):
        super().__init__(name="in_graph_preprocessor")
        specials = special_token_ids(list(vocab), source=source)
        if UNKNOWN_TOKEN not in vocab:
            raise InputError(
                f"{source}: the vocab has no {UNKNOWN_TOKEN} token, which the in-graph tokenizer gives words "
                f"outside it; add a line '{UNKNOWN_TOKEN}' to the vocab file"
            )
        self.start_id = specials["start_of_sequence_id"]
        self.end_id = specials["end_of_segment_id"]
        self.padding_id = specials["padding_id"]
        self.lower_case = lower_case
        normalizer = (
            huggingface_normalizer_model(lower_case=lower_case) if text_normalization == "huggingface" else None
        )
        self._tokenizer = tf_text.FastBertTokenizer(
            list(vocab),
            token_out_type=tf.int32,
            unknown_token=UNKNOWN_TOKEN,
            lower_case_nfd_strip_accents=lower_case,
            fast_bert_normalizer_model_buffer=normalizer,
        )

    @classmethod
    def for_pipeline(cls, bert: Any) -> InGraphPreprocessor:
        """The in-graph preprocessing of a [`BertPipeline`][bert_hub.hub.pipeline.BertPipeline]'s model."""
        arch = bert.config.architecture
        return cls(
            bert.vocab(),
            lower_case=not arch.cased,
            text_normalization=arch.text_normalization,
            source=f"{bert.preprocess_dir} vocab",
        )

    def tokenize(self, text: tf.Tensor) -> tf.RaggedTensor:
        """Wordpiece ids of ``text`` (``tf.string [batch]``): ``int32`` RaggedTensor ``[batch, (pieces)]``."""
        return self._tokenizer.tokenize(text)

    def bert_pack_inputs(self, segments: Sequence[tf.RaggedTensor], seq_length: Any) -> dict[str, tf.Tensor]:
        """One or two ragged segments packed as ``[CLS] A [SEP] (B [SEP])``, padded to ``seq_length``.

        Longer examples are cut round-robin (one piece at a time from each
        segment), as the preprocess model's ``RoundRobinTrimmer`` cuts them.
        Rank-3 segments (``[batch, words, pieces]``) are flattened first.
        """
        segments = [s.merge_dims(1, -1) if s.shape.rank > 2 else s for s in segments]
        if len(segments) not in (1, 2):
            raise InputError(f"bert_pack_inputs packs one or two segments, got {len(segments)}")
        length = tf.cast(seq_length, tf.int32)
        budget = length - (len(segments) + 1)
        sizes = [tf.cast(s.row_lengths(), tf.int32) for s in segments]
        if len(segments) == 1:
            kept = [tf.minimum(sizes[0], budget)]
        else:  # round robin from the first segment: each gets half the budget, or all it has
            first = tf.minimum(sizes[0], tf.maximum((budget + 1) // 2, budget - sizes[1]))
            kept = [first, tf.minimum(sizes[1], budget - first)]
        batch = tf.shape(sizes[0])[0]
        position = tf.range(length)[tf.newaxis, :]  # [1, length]
        word_ids = tf.fill(tf.stack([batch, length]), tf.constant(self.padding_id, tf.int32))
        type_ids = tf.zeros_like(word_ids)
        word_ids = tf.where(position == 0, self.start_id, word_ids)
        start = tf.ones_like(kept[0])  # where the segment's first piece goes
        for index, (segment, count) in enumerate(zip(segments, kept)):
            dense = segment.to_tensor(default_value=self.padding_id, shape=tf.stack([batch, length]))
            offset = position - start[:, tf.newaxis]
            inside = (offset >= 0) & (offset < count[:, tf.newaxis])
            pieces = tf.gather(dense, tf.clip_by_value(offset, 0, length - 1), batch_dims=1)
            word_ids = tf.where(inside, pieces, word_ids)
            end = position == (start + count)[:, tf.newaxis]
            word_ids = tf.where(end, self.end_id, word_ids)
            if index:
                type_ids = tf.where(inside | end, 1, type_ids)
            start = start + count + 1
        mask = tf.cast(position < start[:, tf.newaxis], tf.int32)
        return {"input_word_ids": word_ids, "input_mask": mask, "input_type_ids": type_ids}
