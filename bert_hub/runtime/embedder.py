"""Fast batch embedding: tokenize once, bucket by length, compiled encoder calls.

The notebook pads every text to 128 tokens and calls the encoder eagerly.
Here each chunk of texts goes through `bert_hub.runtime.batching`: tokenized
once, sorted by length, cut into batches, and each batch packed to its
longest text (bfloat16: to the next multiple of 8; or to the smallest of the
``buckets`` given that holds it). The chunk is packed by one
``bert_pack_inputs`` call, each batch being its rows cut to its own length, and
the encoder's first call (trace, graph optimisation, weight packing) runs in
a thread while the first chunk is tokenized: most of what a one-shot run
pays once.
One ``tf.function``, traced once for every length, runs the encoder and
reduces its output to the requested key inside the graph (with XLA, one
compiled function per bucket, multiples of 32 by default); results go back
to input order. On the real tokens the numbers
equal the fixed-128 path (padding is masked out of attention). How the
encoder runs (float32 or bfloat16, XLA or not) is measured for this CPU on
first use: see `bert_hub.runtime.calibration`.

Keys:

* ``sentence``: the model's own sentence vector
  ([`SentenceEmbedding`][bert_hub.core.config.SentenceEmbedding]): for a
  model converted from sentence-transformers, its pooling, its
  ``max_seq_length`` and its normalisation (the vectors sentence-transformers
  gives); for the Kaggle BERTs, ``pooled_output``;
* ``pooled_output``: the encoder's pooled vector;
* ``cls``: the ``[CLS]`` vector of ``sequence_output``;
* ``mean``: the mean of ``sequence_output`` over the real tokens;
* ``max``: the largest value of each dimension of ``sequence_output`` over the real tokens;
* ``sequence_output`` and ``encoder_outputs[i]``: one vector per real token
  (ragged: ``values [total_tokens, H]`` plus ``lengths [n]``).

``normalize`` scales every vector (every token's, for the per-token keys) to length 1.

Examples:
    >>> from bert_hub import load_pipeline
    >>> from bert_hub.runtime.embedder import Embedder
    >>> vectors = Embedder(load_pipeline("default"), key="mean").embed(["hello world", "spam"])
    >>> vectors.shape
    (2, 384)
"""

from __future__ import annotations

import dataclasses
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from bert_hub.core.errors import InputError
from bert_hub.core.inputs import check_texts, read_lines, readable_file, scan_text_file
from bert_hub.core.interface import INPUT_KEYS, check_output_key, layer_index, select
from bert_hub.core.locks import output_lock
from bert_hub.core.outputs import atomic_outputs, check_output_file
from bert_hub.core.pause import pause_point
from bert_hub.hub import preprocess_calls
from bert_hub.hub.pipeline import BertPipeline, load_pipeline
from bert_hub.runtime import batching
from bert_hub.runtime.calibration import LENGTH, Mode, allowed_modes, calibration_key, choose, model_shape, time_calls
from bert_hub.runtime.precision import kernels, precision_scope, weights_frozen

log = logging.getLogger(__name__)

VECTOR_KEYS = ("sentence", "pooled_output", "cls", "mean", "max")
"""One vector per text."""
KEYS = VECTOR_KEYS + ("sequence_output",)
"""Keys besides ``encoder_outputs[i]`` that ``embed`` takes (``sequence_output`` is per token)."""
BUCKET_STEP, BF16_BUCKET_STEP, XLA_BUCKET_STEP = 1, 8, 32
"""Default bucket step of each kind of mode, chosen by measurement (docs/benchmarks-log.md). float32 without XLA: 1,
each batch packed to its own longest text; one graph serves every length, and oneDNN's set-up for a new shape costs less
than the padding of a coarser grid. bfloat16: multiples of 8 (a first use of each shape may cost more in its
kernels). XLA, which compiles each length: 32, 4 compilations up to 128 tokens instead of 16 (a one-shot job pays
each)."""


def check_key(key: str, num_layers: int) -> str:
    """Checks an embedding key (see the module docstring) against an encoder of ``num_layers``."""
    return check_output_key(key, num_layers, KEYS, flag="key")


@dataclasses.dataclass
class Ragged:
    """Per-token embeddings of many texts: ``values[offsets[i]:offsets[i+1]]`` is text i."""

    values: np.ndarray
    lengths: np.ndarray

    def __getitem__(self, i: int) -> np.ndarray:
        start = int(self.lengths[:i].sum())
        return self.values[start : start + int(self.lengths[i])]

    def __len__(self) -> int:
        return len(self.lengths)


@dataclasses.dataclass
class EmbedStats:
    """What embedding counted: texts, tokens real and packed, batches, seconds."""

    texts: int = 0
    real_tokens: int = 0
    packed_tokens: int = 0  # what the encoder ran on: real tokens and padding
    seconds: float = 0.0
    batches: int = 0
    truncated: int = 0

    def as_dict(self) -> dict[str, Any]:
        """The counts, and the speeds they give, as ``--json`` reports them."""
        s = max(self.seconds, 1e-9)
        return {
            "texts": self.texts,
            "real_tokens": self.real_tokens,
            "packed_tokens": self.packed_tokens,
            "batches": self.batches,
            "truncated_texts": self.truncated,
            "seconds": round(self.seconds, 3),
            "texts_per_second": round(self.texts / s, 2),
            "real_tokens_per_second": round(self.real_tokens / s, 1),
        }


@dataclasses.dataclass(frozen=True)
class EmbedOptions:
    """How texts are embedded: one object that travels whole from ``bert-hub embed`` through Beam's
    handler to the [`Embedder`][bert_hub.runtime.embedder.Embedder].

    Attributes:
        key: what to return (see the module docstring).
        batch_size: texts per encoder call.
        bucketing: sort by length and pack to the smallest bucket; ``False``
            is the notebook's fixed-``seq_length`` path, in input order.
        buckets: the allowed packed lengths (default: every length, so each batch
            is packed to its longest text; bfloat16: multiples of 8; with XLA, of 32).
        seq_length: the longest packing (default: the config's; for the key ``sentence``, the model's
            sentence ``max_seq_length`` when it has one).
        normalize: scale each vector to length 1 (the key ``sentence`` does when its model does).
        precision: ``auto`` (default), ``float32``, ``bfloat16`` or ``int8`` (the Transformer's matmuls in
            int8; asked for only, ``auto`` never picks it).
        jit_compile: compile the encoder with XLA (one compilation per
            bucket; partial batches are padded to ``batch_size`` so each bucket
            compiles once); ``None`` (default) lets calibration decide.

    Examples:
        >>> EmbedOptions(key="mean").replace(buckets=[16, 32]).buckets
        (16, 32)
    """

    key: str = "pooled_output"
    batch_size: int = 32
    bucketing: bool = True
    buckets: tuple[int, ...] | None = None
    seq_length: int | None = None
    normalize: bool = False
    precision: str = "auto"
    jit_compile: bool | None = None

    def replace(self, **changes: Any) -> EmbedOptions:
        """These options with ``changes`` (field names; unknown names are a ``TypeError``)."""
        if changes.get("buckets") is not None:
            changes["buckets"] = tuple(changes["buckets"])
        return dataclasses.replace(self, **changes)


class Embedder:
    """Embeds texts with a [`BertPipeline`][bert_hub.hub.pipeline.BertPipeline].

    Args:
        bert: the loaded pipeline.
        options: how to embed ([`EmbedOptions`][bert_hub.runtime.embedder.EmbedOptions]); keyword arguments
            named as its fields change single ones
            (``Embedder(bert, key="mean")``).
            The mode (precision and XLA) that ``precision`` and ``jit_compile`` leave open is chosen by
            `bert_hub.runtime.calibration` on first use: measured once per CPU,
            TensorFlow version and model shape, then read from the cache.
            bfloat16 is TensorFlow's oneDNN auto-mixed-precision, switched on
            only around this embedder's own calls (the rest of the process
            stays in float32); for an encoder bert_hub built, it runs over
            bfloat16 copies of the matmul kernels made on first use
            ([`inference_encoder`][bert_hub.hub.pipeline.BertPipeline.inference_encoder]: no
            weight casts per call; a snapshot of the weights, for inference). In a
            process that only runs inference, call
            [`bert_hub.runtime.precision.assume_frozen_weights`][bert_hub.runtime.precision.assume_frozen_weights]
            before any
            TensorFlow work, as ``bert-hub embed`` does: oneDNN then packs
            each weight matrix once (bfloat16 about 1.5x faster again on an
            AMX CPU); never in a process that trains.
        chunk_size: texts tokenized and sorted together (bounds memory).
        notify: told (one line) when a calibration is about to run.
        **fields: [`EmbedOptions`][bert_hub.runtime.embedder.EmbedOptions] fields that replace those of ``options``.
    """

    def __init__(
        self,
        bert: BertPipeline,
        options: EmbedOptions | None = None,
        *,
        chunk_size: int = 4096,
        notify: Callable[[str], None] | None = None,
        **fields: Any,
    ):
        options = (options or EmbedOptions()).replace(**fields)
        if not isinstance(options.batch_size, int) or options.batch_size < 1:
            raise InputError(f"batch size must be a positive integer, got {options.batch_size!r}")
        chunk_size = max(chunk_size, options.batch_size)
        self.bert = bert
        self.key = check_key(options.key, bert.config.architecture.layers)
        sentence = bert.config.sentence_embedding
        own = self.key == "sentence"
        self.pooling = sentence.pooling if own else self.key
        """What the graph computes for the key: ``sentence`` is its model's pooling."""
        if not isinstance(options.normalize, bool):
            raise InputError(f"`normalize` must be True or False, not {options.normalize!r}")
        self.normalize = options.normalize or (own and sentence.normalize)
        self.batch_size = options.batch_size
        self.seq_length = bert.check_seq_length(
            options.seq_length if options.seq_length is not None or not own else sentence.max_seq_length
        )
        self.bucketing = options.bucketing
        self._buckets = (
            batching.check_buckets(options.buckets, self.seq_length) if options.buckets is not None else None
        )
        self.allowed = allowed_modes(options.precision, options.jit_compile)
        self.options = options
        self.chunk_size = chunk_size
        self.notify = notify
        self.traces = 0
        self.speeds: dict[str, float] = {}
        self.calibration_seconds = 0.0
        self._mode: Mode | None = None
        self._functions: dict[tuple[str, int | None], Any] = {}
        self._warm: set[str] = set()  # modes whose (non-XLA) function has made its first call, or tried to
        self._lock = threading.RLock()  # one calibration and one function per slot, whichever thread asks

    @classmethod
    def from_config(cls, config: Any = "default", options: EmbedOptions | None = None, **kwargs: Any) -> Embedder:
        """Loads ``config`` (a name, YAML file, bundle folder or loaded pipeline) and builds an Embedder.

        Keyword arguments are the constructor's; ``precision`` is checked before the model loads.
        """
        fields = {k: v for k, v in kwargs.items() if k in EmbedOptions.__dataclass_fields__}
        options = (options or EmbedOptions()).replace(**fields)
        kwargs = {k: v for k, v in kwargs.items() if k not in fields}
        allowed_modes(options.precision, options.jit_compile)
        bert = config if isinstance(config, BertPipeline) else load_pipeline(config)
        return cls(bert, options, **kwargs)

    @property
    def per_token(self) -> bool:
        """Whether the key gives a vector per token (``sequence_output``, a layer)."""
        return self.pooling == "sequence_output" or layer_index(self.pooling) is not None

    @property
    def width(self) -> int:
        """The length of each vector (the encoder's hidden size)."""
        return self.bert.config.architecture.hidden

    # -- the execution mode, calibrated on first use -----------------------
    def resolve_mode(self) -> Mode:
        """The mode this embedder runs in (measuring the candidates first, if no one has on this CPU).

        Threads sharing the embedder (Beam's RunInference) wait for one calibration and all use its mode.
        """
        with self._lock:
            return self._resolve_mode()

    def _resolve_mode(self) -> Mode:
        if self._mode is None:
            path = self.bert.fast_path(self.notify)
            if path.layout is None and self.notify is not None:
                self.notify(path.reason)
            shape = model_shape(self.bert.config.architecture)
            if path.layout is None:
                shape += " | saved graph"  # another graph: its own speeds
            started = time.perf_counter()
            self._mode, self.speeds = choose(
                calibration_key(shape, self.batch_size), self.allowed, self._measure, self.notify
            )
            self.calibration_seconds = time.perf_counter() - started
        return self._mode

    def _measure(self, mode: Mode) -> float:
        """Seconds per full batch of ``LENGTH``-token texts in ``mode``, packed as the mode packs them by
        default (its function is kept for real work)."""
        import tensorflow as tf

        # The mode's default buckets, whatever this embedder's own: the cached speeds hold for every embedder.
        length = next(b for b in self._default_buckets(mode) if b >= min(LENGTH, self.seq_length))
        vocab = self.bert.config.architecture.vocab_size
        ids = tf.constant(np.random.default_rng(0).integers(vocab // 4, vocab, (self.batch_size, length)), tf.int32)
        ones, zeros = tf.ones_like(ids), tf.zeros_like(ids)
        fn = self._function(mode, length)

        def call() -> None:
            with precision_scope(mode.bf16):
                fn(ids, ones, zeros).numpy()

        seconds = time_calls(call)
        self._warm.add(mode.name)  # its first call is made: nothing to warm
        return seconds

    @property
    def buckets(self) -> tuple[int, ...]:
        """The packed lengths: as given, else every length (float32: one graph serves them all, each
        batch packed to its longest text), every multiple of 8 (bfloat16) or, with XLA, which compiles
        each length on first use, every multiple of `XLA_BUCKET_STEP`."""
        if not self.bucketing:
            return (self.seq_length,)
        if self._buckets is not None:
            return self._buckets
        return self._default_buckets(self.resolve_mode())

    def _default_buckets(self, mode: Mode) -> tuple[int, ...]:
        step = XLA_BUCKET_STEP if mode.xla else BF16_BUCKET_STEP if mode.bf16 else BUCKET_STEP
        return batching.check_buckets(None, self.seq_length, step)

    @property
    def jit_compile(self) -> bool:
        """Whether the encoder runs under XLA (the mode calibration chose, or the one asked for)."""
        return self.resolve_mode().xla

    @property
    def precision(self) -> str:
        """The precision the encoder runs in (the mode calibration chose, or the one asked for)."""
        return self.resolve_mode().precision

    # -- the compiled encoder call -----------------------------------------
    def _function(self, mode: Mode, length: int | None) -> Any:
        """The encoder call reduced to the key, as a ``tf.function``.

        With XLA, one function per bucket length (XLA compiles static shapes);
        without, one function for every length (traced once).
        """
        slot = (mode.name, length if mode.xla else None)
        with self._lock:
            if slot not in self._functions:
                self._functions[slot] = self._make_function(mode, slot[1])
            return self._functions[slot]

    def _make_function(self, mode: Mode, length: int | None) -> Any:
        import tensorflow as tf

        spec = tf.TensorSpec([None, length], tf.int32)
        encoder, key, normalize = (
            self.bert.inference_encoder(bf16=mode.bf16, xla=mode.xla, int8=mode.int8),
            self.pooling,
            self.normalize,
        )

        def run(ids, mask, type_ids):
            self.traces += 1  # runs only while tracing
            out = encoder({"input_word_ids": ids, "input_mask": mask, "input_type_ids": type_ids}, training=False)
            return key_vectors(out, mask, key, normalize)

        fn = tf.function(
            run, input_signature=[spec, spec, spec], jit_compile=mode.xla, reduce_retracing=False, autograph=False
        )  # plain Python control flow: no conversion to pay for
        return fn

    # -- embedding ---------------------------------------------------------
    def iter_chunks(
        self, texts: Iterable[str], stats: EmbedStats | None = None, progress: Any = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yields ``(vectors, lengths)`` per chunk, in input order.

        For per-token keys ``vectors`` is the chunk's real-token rows stacked
        (``[sum(lengths), H]``); otherwise ``[n, H]``.
        """
        stats = stats if stats is not None else EmbedStats()
        self.resolve_mode()  # a calibration, when one runs, is not counted in the stats
        chunk: list[str] = []
        for text in texts:
            chunk.append(text)
            if len(chunk) == self.chunk_size:
                yield self._embed_chunk(chunk, stats, progress)
                chunk = []
        if chunk:
            yield self._embed_chunk(chunk, stats, progress)

    def _embed_chunk(self, texts: list[str], stats: EmbedStats, progress: Any) -> tuple[np.ndarray, np.ndarray]:
        import tensorflow as tf

        started = time.perf_counter()
        mode = self.resolve_mode()
        warming = self._start_warm_up(mode)  # the encoder's first call, while the texts are tokenized
        try:
            preprocessor = self.bert.preprocessor
            tok = batching.tokenize(preprocessor, texts, self.seq_length)
            lengths = tok.lengths
            stats.truncated += tok.truncated
            if self.bucketing:
                batches = batching.length_sorted_batches(lengths, self.batch_size)
            else:  # the notebook's path: input order, every batch packed to seq_length
                batches = [
                    np.arange(i, min(i + self.batch_size, len(texts))) for i in range(0, len(texts), self.batch_size)
                ]
            buckets = self.buckets  # once: a property that builds the tuple
            widths = [batching.bucket_of(lengths[idx], buckets) for idx in batches]
            # One bert_pack_inputs call for the chunk, in batch order, to its widest bucket: a batch is then its
            # rows cut to its own bucket (the same ids, mask and type ids as packing it alone: padding goes last).
            inputs = preprocess_calls.bert_pack_inputs(
                preprocessor, [tf.gather(tok.tokens, np.concatenate(batches))], max(widths)
            )
            packed = [inputs[k].numpy() for k in INPUT_KEYS]
        finally:
            if warming is not None:
                warming.join()  # also when tokenizing failed or was interrupted: no thread left inside TensorFlow
        results: list[np.ndarray | None] = [None] * len(texts)
        start = 0
        for idx, width in zip(batches, widths):
            rows = [a[start : start + len(idx), :width] for a in packed]
            start += len(idx)
            if mode.xla and len(idx) < self.batch_size:
                # One XLA compilation per bucket: keep the batch dimension constant.
                rows = [np.concatenate([a, np.repeat(a[-1:], self.batch_size - len(idx), axis=0)]) for a in rows]
            stats.packed_tokens += width * len(rows[0])
            with precision_scope(mode.bf16):
                out = self._function(mode, width)(*rows).numpy()
            for row, i in enumerate(idx):
                results[i] = out[row, : lengths[i]] if self.per_token else out[row]
            stats.batches += 1
            if progress is not None:
                progress.update(len(idx))
        stats.texts += len(texts)
        stats.real_tokens += int(lengths.sum())
        stats.seconds += time.perf_counter() - started
        done = [r for r in results if r is not None]  # every row has its result
        if self.per_token:
            return np.concatenate(done, axis=0).astype(np.float32, copy=False), lengths
        return np.stack(done).astype(np.float32, copy=False), lengths

    def _start_warm_up(self, mode: Mode) -> threading.Thread | None:
        """Makes the encoder function's first call (its trace, graph optimisation and, with frozen weights,
        the packing of every weight matrix: most of a one-shot run's fixed cost) in a thread, so that it runs
        while this thread tokenizes. None when there is nothing to warm: the function has run (or its warm-up
        was tried), or XLA compiles each length apart (a compilation for the warm-up would be wasted).

        float32 warms on one 3-token text (the first real batch then runs at warm speed). bfloat16 warms on a
        batch of ``batch_size`` 8-token texts, the smallest real batch: oneDNN keeps the weight layout its
        first call chose, so the first call has the shape of real work. A failed warm-up is logged at debug
        level; the real call then raises the error where it is reported."""
        with self._lock:
            if mode.xla or mode.name in self._warm:
                return None
            self._warm.add(mode.name)  # tried once, whatever comes of it
        fn = self._function(mode, None)
        ids = np.zeros([self.batch_size, min(8, self.seq_length)] if mode.bf16 else [1, 3], np.int32)

        def first_call() -> None:
            try:
                with precision_scope(mode.bf16):  # the same graph options as the real calls, so theirs is reused
                    fn(ids, np.ones_like(ids), ids).numpy()
            except Exception:
                log.debug("the encoder's warm-up call failed", exc_info=True)

        thread = threading.Thread(target=first_call, name="bert_hub-encoder-warm-up", daemon=True)
        thread.start()
        return thread

    def embed(self, texts: Iterable[str | bytes] | str, stats: EmbedStats | None = None) -> np.ndarray | Ragged:
        """Embeds texts in memory: ``[n, H]`` or a `Ragged` for per-token keys."""
        texts = check_texts(texts)
        parts = list(self.iter_chunks(texts, stats))
        vectors = np.concatenate([p[0] for p in parts])
        if self.per_token:
            return Ragged(vectors, np.concatenate([p[1] for p in parts]))
        return vectors

    def embed_file(
        self, input_path: str | Path, output_path: str | Path, progress: bool = False, overwrite: bool = False
    ) -> dict[str, Any]:
        """Streams a text file (one text per line) into an ``.npy`` file.

        Memory stays bounded by ``chunk_size``: lines are read lazily and
        vectors are written as they come. Vector keys give ``[n, H]``;
        per-token keys give ``values [total_tokens, H]`` in ``output_path``
        and ``lengths [n]`` in ``<output>.lengths.npy``. Outputs are written
        to temporary files and renamed at the end: an interrupted run leaves
        nothing behind. Existing outputs are replaced only with ``overwrite``
        (see `check_embed_paths`); a ``.lengths.npy`` left by an
        earlier per-token run is removed, so no stale file stays beside.
        """
        input_path, output_path = check_embed_paths(input_path, output_path, overwrite=overwrite)
        with output_lock(output_path, what="`output_path`"):
            input_path, output_path = check_embed_paths(input_path, output_path, overwrite=overwrite)
            stats = self._embed_file(input_path, output_path, progress)
        lengths_path = lengths_path_for(output_path)
        report = {
            "input": str(input_path),
            "output": str(output_path),
            "key": self.key,
            "pooling": self.pooling,
            "normalize": self.normalize,
            "seq_length": self.seq_length,
            "width": self.width,
            "bucketing": self.bucketing,
            "batch_size": self.batch_size,
            "mode": self.resolve_mode().name,
            "precision": self.precision,
            "xla": self.jit_compile,
            "calibration_seconds": round(self.calibration_seconds, 2),
            "kernels": kernels(),
            "frozen_weights": weights_frozen(),
            **self.bert.fast_path().as_dict(),
            **stats.as_dict(),
        }
        if self.per_token:
            report["lengths"] = str(lengths_path)
        return report

    def _embed_file(self, input_path: Path, output_path: Path, progress: bool) -> EmbedStats:
        """[`embed_file`][bert_hub.runtime.embedder.Embedder.embed_file] once its paths are checked and locked."""
        n = scan_text_file(input_path)
        self.resolve_mode()  # before the progress bar: a first-use calibration says so on stderr
        stats = EmbedStats()
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=n, unit="text", file=sys.stderr, dynamic_ncols=True, desc="embedding")
        lengths_path = lengths_path_for(output_path)
        outputs = (output_path, lengths_path) if self.per_token else (output_path,)
        # a .lengths.npy of an earlier per-token run (checked: bert_hub's, and overwrite is on) goes too
        stale = [lengths_path] if not self.per_token and lengths_path.exists() else []
        try:
            with atomic_outputs(*outputs, remove=stale) as tmps:  # renamed into place together, only on success
                if self.per_token:
                    lengths_mm = np.lib.format.open_memmap(tmps[1], mode="w+", dtype=np.int32, shape=(n,))
                    with _GrowingNpy(tmps[0], self.width) as writer:
                        done = 0
                        for vectors, lengths in self.iter_chunks(read_lines(input_path), stats, bar):
                            writer.append(vectors)
                            lengths_mm[done : done + len(lengths)] = lengths
                            done += len(lengths)
                            pause_point("embedding")
                    lengths_mm.flush()
                    del lengths_mm
                else:
                    mm = np.lib.format.open_memmap(tmps[0], mode="w+", dtype=np.float32, shape=(n, self.width))
                    done = 0
                    for vectors, _ in self.iter_chunks(read_lines(input_path), stats, bar):
                        mm[done : done + len(vectors)] = vectors
                        done += len(vectors)
                        pause_point("embedding")
                    mm.flush()
                    del mm
                if done != n:
                    raise InputError(f"{input_path} changed while it was read ({n} lines, then {done})")
        finally:
            if bar is not None:
                bar.close()
        return stats


def key_vectors(out: dict[str, Any], mask: Any, pooling: str, normalize: bool = False) -> Any:
    """The vectors of a key from the encoder's outputs ``out`` and ``input_mask`` (TensorFlow ops):
    ``pooling`` is ``cls``, ``mean`` or ``max`` over the real tokens, or an output
    (``pooled_output``, ``sequence_output``, ``encoder_outputs[i]``); ``normalize`` scales each to length 1."""
    import tensorflow as tf

    tokens = out["sequence_output"]
    if pooling == "cls":
        vectors = tokens[:, 0]
    elif pooling == "mean":
        m = tf.expand_dims(tf.cast(mask, tokens.dtype), -1)
        vectors = tf.reduce_sum(tokens * m, axis=1) / tf.reduce_sum(m, axis=1)
    elif pooling == "max":  # padding out of the running, as sentence-transformers does
        real = tf.expand_dims(mask, -1) > 0
        vectors = tf.reduce_max(tf.where(real, tokens, tf.constant(-1e9, tokens.dtype)), 1)
    else:
        vectors = select(out, pooling)  # pooled_output, sequence_output, encoder_outputs[i]
    if normalize:  # in float32 whatever the mode: the length is a sum of squares
        vectors = tf.math.l2_normalize(tf.cast(vectors, tf.float32), axis=-1, epsilon=1e-24)
    return vectors


def lengths_path_for(output_path: Path) -> Path:
    """Where the per-token lengths go beside ``output_path``: ``X.npy`` -> ``X.lengths.npy``."""
    return output_path.with_name(output_path.name.removesuffix(".npy") + ".lengths.npy")


def check_embed_paths(input_path: str | Path, output_path: str | Path, *, overwrite: bool = False) -> tuple[Path, Path]:
    """Checks the input file and the ``.npy`` output (and its ``.lengths.npy``) before any work.

    Raises:
        InputError: the input is missing or a folder; the output is not
            ``*.npy``, is a folder, exists without ``overwrite``, or exists but
            is not a NumPy file (bert_hub replaces only its own outputs).
    """
    input_path = readable_file(input_path, "`input_path`", "a text file, one text per line")
    if Path(output_path).suffix != ".npy":
        raise InputError(f"`output_path` {output_path}: the output is a NumPy file; name it *.npy")
    output_path = check_output_file(output_path, kind="npy", overwrite=overwrite, what="`output_path`")
    if output_path == input_path.absolute():
        raise InputError(f"`output_path` {output_path} is the input file itself; write the vectors elsewhere")
    lengths = lengths_path_for(output_path)
    if lengths.exists() or lengths.is_dir():
        check_output_file(lengths, kind="npy", overwrite=overwrite, what="the lengths file of `output_path`")
    return input_path, output_path


class _GrowingNpy:
    """Appends float32 rows to an ``.npy`` file whose row count is not known up front."""

    _HEADER = 128  # bytes reserved for the header; the shape is written at the end

    def __init__(self, path: Path, width: int):
        self.path, self.width, self.rows = path, width, 0

    def __enter__(self) -> _GrowingNpy:
        self.file = open(self.path, "wb")
        self.file.write(b"\0" * self._HEADER)
        return self

    def append(self, rows: np.ndarray) -> None:
        self.file.write(np.ascontiguousarray(rows, dtype="<f4").tobytes())
        self.rows += len(rows)

    def __exit__(self, *exc: Any) -> None:
        self.file.seek(0)
        header = {"descr": "<f4", "fortran_order": False, "shape": (self.rows, self.width)}
        text = repr(header).encode("latin1")
        magic = b"\x93NUMPY\x01\x00"
        pad = self._HEADER - len(magic) - 2 - len(text) - 1
        self.file.write(magic + (len(text) + pad + 1).to_bytes(2, "little") + text + b" " * pad + b"\n")
        self.file.close()
