"""The notebook pipeline as a ``tf_keras`` model: text -> preprocess -> encoder.

``hub.KerasLayer(preprocess)`` and ``hub.KerasLayer(encoder, trainable=...)``
are chained into a ``tf_keras`` functional model whose input is a batch of
strings and whose output is the encoder's dict (``encoder_outputs``,
``sequence_output``, ``pooled_output``, ``default``). The preprocess outputs
are a model of their own (``preprocess_model``). The same code serves the
real Kaggle / TF Hub models and the ones bert_hub builds.

Examples:
    >>> from bert_hub import load_pipeline
    >>> bert = load_pipeline("default")
    >>> inputs = bert.preprocess(["This is a spam mail"])
    >>> int(inputs["input_mask"].sum())
    8
    >>> outputs = bert.encode(["This is a spam mail"])
    >>> outputs["pooled_output"].shape
    (1, 384)
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from bert_hub.builder.vocab import read_vocab
from bert_hub.core.config import ModelConfig, load_config
from bert_hub.core.errors import InputError
from bert_hub.core.inputs import check_texts
from bert_hub.core.interface import INPUT_KEYS
from bert_hub.hub import preprocess_calls
from bert_hub.hub.fast_path import FastPath, find_fast_path
from bert_hub.hub.loading import load_encoder, load_preprocess
from bert_hub.hub.resolution import resolve


class BertPipeline:
    """A preprocess model and an encoder model, loaded from a config.

    The two SavedModels load at once; their Keras wrappers are built on first
    use (a ``bert-hub embed`` or ``fill-mask`` never needs them: it calls the
    SavedModels; building [`model`][bert_hub.hub.pipeline.BertPipeline.model] took 0.57 s for all-MiniLM-L6-v2).

    Attributes:
        config: the [`ModelConfig`][bert_hub.core.config.ModelConfig].
        preprocess_dir, encoder_dir: the resolved SavedModel directories.
        preprocessor, encoder: the loaded SavedModels (``tf.saved_model.load``).
        preprocess_layer, encoder_layer: their ``hub.KerasLayer`` wrappers (built on first use).
        preprocess_model: ``tf_keras.Model``: strings -> the three input tensors (built on first use).
        model: ``tf_keras.Model``: strings -> the four encoder outputs (built on first use).
        trainable: whether [`encoder_layer`][bert_hub.hub.pipeline.BertPipeline.encoder_layer] fine-tunes the encoder.
    """

    def __init__(self, config: ModelConfig, trainable: bool | None = None):
        self.config = config
        self.seq_length = config.seq_length
        self.preprocess_dir = resolve(config.preprocess)
        self.encoder_dir = resolve(config.encoder)
        self.preprocessor = load_preprocess(self.preprocess_dir)
        self.encoder = load_encoder(self.encoder_dir)
        self.trainable = config.trainable if trainable is None else trainable
        self._vocab: list[str] | None = None
        self._inference_encoders: dict[tuple[bool, bool, bool, bool], Any] = {}
        self._fast_path: FastPath | None = None

    # -- the notebook's Keras model, built on first use ---------------------
    @functools.cached_property
    def preprocess_layer(self) -> Any:
        """``hub.KerasLayer`` of the preprocess model's root (packs to 128) or, for another
        ``seq_length``, of its ``tokenize`` (upstream's recipe: ``bert_pack_inputs`` follows)."""
        import tensorflow_hub as hub

        if self.seq_length == 128:
            return hub.KerasLayer(self.preprocessor, name="preprocessing")
        return hub.KerasLayer(self.preprocessor.tokenize, name="tokenize")

    @functools.cached_property
    def encoder_layer(self) -> Any:
        """``hub.KerasLayer`` of the encoder, trainable as `trainable` says."""
        import tensorflow_hub as hub

        return hub.KerasLayer(self.encoder, trainable=self.trainable, name="BERT_encoder")

    @functools.cached_property
    def preprocess_model(self) -> Any:
        """``tf_keras.Model``: a batch of strings -> the three encoder inputs."""
        import tensorflow as tf
        import tensorflow_hub as hub
        import tf_keras

        text = tf_keras.layers.Input(shape=(), dtype=tf.string, name="text")
        encoder_inputs = self.preprocess_layer(text)
        if self.seq_length != 128:
            pack = hub.KerasLayer(
                self.preprocessor.bert_pack_inputs, arguments={"seq_length": self.seq_length}, name="bert_pack_inputs"
            )
            encoder_inputs = pack([encoder_inputs])
        return tf_keras.Model(text, encoder_inputs, name="bert_preprocess")

    @functools.cached_property
    def model(self) -> Any:
        """``tf_keras.Model``: a batch of strings -> the four encoder outputs (the notebook's pipeline)."""
        import tf_keras

        preprocess = self.preprocess_model
        return tf_keras.Model(preprocess.input, self.encoder_layer(preprocess.output), name="bert_pipeline")

    # -- preprocessing -----------------------------------------------------
    def tokenize(self, texts: Iterable[str | bytes] | str) -> Any:
        """Wordpiece ids as a ``tf.RaggedTensor [batch, (words), (pieces)]``."""
        import tensorflow as tf

        return preprocess_calls.tokenize(self.preprocessor, tf.constant(check_texts(texts)))

    def pack(self, segments: list[Any], seq_length: int | None = None) -> dict[str, np.ndarray]:
        """``bert_pack_inputs`` over 1 or 2 segments (sentence pairs: type ids 0, then 1).

        Each segment is either the output of [`tokenize`][bert_hub.hub.pipeline.BertPipeline.tokenize] or the texts
        themselves (a string or a list of strings), tokenized here; both
        segments must have the same number of rows.

        Examples:
            >>> bert = load_pipeline("default")
            >>> type_ids = bert.pack(["how old are you?", "I am six"], seq_length=16)["input_type_ids"]
            >>> type_ids[0, :10].tolist()
            [0, 0, 0, 0, 0, 0, 0, 1, 1, 1]
        """
        import tensorflow as tf

        seq_length = self.check_seq_length(seq_length)
        if not isinstance(segments, (list, tuple)) or len(segments) not in (1, 2):
            count = len(segments) if isinstance(segments, (list, tuple)) else type(segments).__name__
            raise InputError(f"pack takes a list of 1 or 2 segments, got {count}")
        segments = [
            s if isinstance(s, (tf.RaggedTensor, tf.Tensor)) else self.tokenize(check_texts(s, what=f"segment {i + 1}"))
            for i, s in enumerate(segments)
        ]
        rows = [int(s.nrows()) if isinstance(s, tf.RaggedTensor) else int(s.shape[0]) for s in segments]
        if len(set(rows)) > 1:
            raise InputError(f"the two segments have {rows[0]} and {rows[1]} rows; pair them one to one")
        out = preprocess_calls.bert_pack_inputs(self.preprocessor, list(segments), seq_length)
        return {k: out[k].numpy() for k in INPUT_KEYS}

    def preprocess(self, texts: Iterable[str | bytes] | str, seq_length: int | None = None) -> dict[str, np.ndarray]:
        """The three encoder inputs for single sentences (``int32 [batch, seq_length]``)."""
        import tensorflow as tf

        texts = check_texts(texts)
        seq_length = self.check_seq_length(seq_length)
        if seq_length == self.seq_length:
            out = self.preprocess_model(tf.constant(texts))
            return {k: out[k].numpy() for k in INPUT_KEYS}
        return self.pack([self.tokenize(texts)], seq_length)

    def special_tokens(self) -> dict[str, int]:
        """``tokenize.get_special_tokens_dict()`` as Python ints."""
        return {k: int(v) for k, v in self.preprocessor.tokenize.get_special_tokens_dict().items()}

    def vocab(self) -> list[str]:
        """The wordpieces, read from the preprocess model's ``assets/vocab.txt``."""
        if self._vocab is None:
            self._vocab = read_vocab(Path(self.preprocess_dir) / "assets" / "vocab.txt")
        return self._vocab

    # -- encoding ----------------------------------------------------------
    def encode_inputs(self, inputs: dict[str, Any], training: bool = False) -> dict[str, Any]:
        """Runs the encoder on the three input tensors; returns NumPy arrays.

        ``encoder_outputs`` is a list with one array per Transformer block.
        """
        import tensorflow as tf

        feed = {k: tf.constant(np.asarray(inputs[k], np.int32)) for k in INPUT_KEYS}
        out = self.encoder(feed, training=training)
        return {
            "encoder_outputs": [t.numpy() for t in out["encoder_outputs"]],
            **{k: out[k].numpy() for k in ("sequence_output", "pooled_output", "default")},
        }

    def fast_path(self, notify: Callable[[str], None] | None = None) -> FastPath:
        """Whether and how inference runs this encoder on bert_hub's fast path (found once; see
        [`bert_hub.hub.fast_path`][bert_hub.hub.fast_path]). ``notify`` is told when a first-use probe runs."""
        if self._fast_path is None:
            self._fast_path = find_fast_path(self, notify)
        return self._fast_path

    def inference_encoder(
        self, *, bf16: bool = False, xla: bool = False, int8: bool = False, litert: bool = False
    ) -> Any:
        """The encoder to run in an execution mode: ``encoder(inputs, training=False)`` like `encoder`.

        When the encoder's layout is one bert_hub reads ([`fast_path`][bert_hub.hub.pipeline.BertPipeline.fast_path]),
        the same forward pass over the SavedModel's own variables in the op
        forms fastest in that mode
        (`for_inference`:
        bfloat16 copies of the matmul kernels, made once, so no weight casts at
        every call; layer norm as XLA compiles it best; ``int8``: the
        Transformer's matmuls in int8, see [`bert_hub.builder.int8`][bert_hub.builder.int8]; ``litert``: only ops
        LiteRT converts, see [`bert_hub.export.litert`][bert_hub.export.litert]); built on first use, for
        inference only. An encoder bert_hub wrote runs its own graph in
        float32 without XLA (it is that forward pass); one in another layout
        always does.

        Examples:
            >>> from bert_hub import load_pipeline
            >>> bert = load_pipeline("default")
            >>> bert.inference_encoder() is bert.encoder
            True
            >>> bert.inference_encoder(bf16=True) is bert.inference_encoder(bf16=True)
            True
        """
        path = self.fast_path()
        if path.layout is None and int8:
            raise InputError(
                f"precision int8 runs on bert_hub's fast path, which does not read this encoder "
                f"({path.reason}); use precision float32 or bfloat16"
            )
        if path.layout is None and litert:
            raise InputError(
                f"a LiteRT export runs bert_hub's own forward pass, which does not read this encoder "
                f"({path.reason}); export a BERT whose layout bert_hub reads (`bert-hub models` lists the catalog)"
            )
        if path.layout is None or (path.layout == "bert_hub" and not (bf16 or xla or int8 or litert)):
            return self.encoder
        mode = (bf16, xla, int8, litert)
        if mode not in self._inference_encoders:
            from bert_hub.builder.encoder import EncoderModule
            from bert_hub.builder.int8 import check_int8_kernels

            if int8:
                check_int8_kernels()

            arch = dataclasses.replace(self.config.architecture, gelu=path.gelu)
            module = EncoderModule.for_inference(arch, path.weights, bf16=bf16, xla=xla, int8=int8, litert=litert)

            def encoder(inputs: dict[str, Any], training: bool = False) -> dict[str, Any]:
                return module.encode(inputs, training)

            self._inference_encoders[mode] = encoder
        return self._inference_encoders[mode]

    def serving_encoder(self) -> Any:
        """What an exported model's serving functions call in place of the encoder layer's own graph: the
        fast forward pass for an upstream (tensorflow/models) encoder, whose saved graph is slower; None
        (the layer's graph) otherwise."""
        return self.inference_encoder() if self.fast_path().layout == "tensorflow/models" else None

    def encode(self, texts: Iterable[str | bytes] | str, seq_length: int | None = None) -> dict[str, Any]:
        """Preprocesses and encodes texts: the four encoder outputs as NumPy."""
        return self.encode_inputs(self.preprocess(texts, seq_length))

    def __call__(self, texts: Iterable[str | bytes] | str) -> dict[str, Any]:
        """The four encoder outputs of ``texts`` (as `encode`)."""
        return self.encode(texts)

    def check_seq_length(self, seq_length: int | None) -> int:
        """``seq_length`` checked against the model (3 .. max_position_embeddings); None -> the config's."""
        if seq_length is None:
            return self.seq_length
        limit = self.config.architecture.max_position_embeddings
        if not isinstance(seq_length, int) or not 3 <= seq_length <= limit:
            raise InputError(
                f"seq_length must be an integer from 3 to the model's "
                f"max_position_embeddings ({limit}), got {seq_length!r}"
            )
        return seq_length


def load_pipeline(
    config: ModelConfig | str | os.PathLike[str] = "default", trainable: bool | None = None
) -> BertPipeline:
    """Loads the preprocess and encoder models a config names (see
    [`BertPipeline`][bert_hub.hub.pipeline.BertPipeline])."""
    if not isinstance(config, ModelConfig):
        config = load_config(config)
    return BertPipeline(config, trainable=trainable)
