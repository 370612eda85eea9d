"""The preprocess model's two calls, ``tokenize`` and ``bert_pack_inputs``, traced once for every batch size.

A function restored from a SavedModel is traced again, when called eagerly,
for every new input shape: each new batch size costs a trace (a tenth of a
second or more: ``tokenize`` on a tensorflow/models preprocess export,
``bert_pack_inputs`` on every one). Beam's RunInference hands over batches of every
size, and a file longer than one chunk ends with a smaller one. Called
eagerly, these wrappers run the restored function inside one ``tf.function``
per preprocess model whose signature leaves the batch size open, so it is
traced once and each later size costs nothing. Inside a graph (``tf.data``,
a serving function) they call the restored function as it is: the outer
trace already fixes what runs. The numbers are the restored function's own.

Examples:
    >>> from bert_hub import load_pipeline
    >>> from bert_hub.hub import preprocess_calls
    >>> import tensorflow as tf
    >>> bert = load_pipeline("default")
    >>> pieces = preprocess_calls.tokenize(bert.preprocessor, tf.constant(["hello world", "hi"]))
    >>> packed = preprocess_calls.bert_pack_inputs(bert.preprocessor, [pieces.merge_dims(1, -1)], 8)
    >>> packed["input_word_ids"].shape.as_list()
    [2, 8]
    >>> for n in (1, 3, 5):
    ...     _ = preprocess_calls.tokenize(bert.preprocessor, tf.constant(["a text"] * n))
    >>> preprocess_calls.traces(bert.preprocessor)["tokenize"]
    1
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Any

_WRAPPERS: weakref.WeakKeyDictionary[Any, dict[tuple, Any]] = weakref.WeakKeyDictionary()
"""Per preprocess model: its wrappers, by call and input structure."""
_LOCK = threading.Lock()  # Beam's threads share one model: one wrapper each, whichever asks first


def _wrapper(preprocessor: Any, key: tuple, call: Callable[..., Any], signature: list[Any]) -> Any:
    """``call(preprocessor, *args)`` as a ``tf.function`` with ``signature``, made once per model and ``key``.

    It holds its model weakly: the model is the cache's weak key, and a wrapper that held it would keep it
    alive."""
    import tensorflow as tf

    with _LOCK:
        wrappers = _WRAPPERS.setdefault(preprocessor, {})
        if key not in wrappers:
            model = weakref.ref(preprocessor)
            wrappers[key] = tf.function(lambda *args: call(model(), *args), autograph=False, input_signature=signature)
        return wrappers[key]


def tokenize(preprocessor: Any, texts: Any) -> Any:
    """``preprocessor.tokenize(texts)``: ``texts`` strings ``[batch]`` (a tensor, list or array); a RaggedTensor
    ``[batch, (words), (pieces)]``."""
    import tensorflow as tf

    if not tf.executing_eagerly():
        return preprocessor.tokenize(texts)
    texts = tf.convert_to_tensor(texts)
    if texts.dtype != tf.string or texts.shape.rank != 1:
        return preprocessor.tokenize(texts)  # what the restored function says of it
    return _wrapper(
        preprocessor, ("tokenize",), lambda model, t: model.tokenize(t), [tf.TensorSpec([None], tf.string)]
    )(texts)


def bert_pack_inputs(preprocessor: Any, segments: list[Any], seq_length: Any) -> dict[str, Any]:
    """``preprocessor.bert_pack_inputs(segments, seq_length=seq_length)``: ``segments`` one or two
    RaggedTensors ``[batch, (pieces)]`` or, as `tokenize` gives them, ``[batch, (words), (pieces)]``;
    ``seq_length`` an integer (Python, NumPy or a scalar tensor); the three input tensors
    ``[batch, seq_length]``."""
    import tensorflow as tf

    segments = list(segments)
    if not tf.executing_eagerly():
        return preprocessor.bert_pack_inputs(segments, seq_length=seq_length)
    length = tf.convert_to_tensor(seq_length)
    # [batch, (words), (pieces)] as tokenize gives it: words merged, as bert_pack_inputs itself does
    merged = [s.merge_dims(1, -1) if isinstance(s, tf.RaggedTensor) and s.shape.rank == 3 else s for s in segments]
    plain = all(isinstance(s, tf.RaggedTensor) and s.shape.rank == 2 and s.ragged_rank == 1 for s in merged)
    if not (plain and length.dtype.is_integer and length.shape.rank == 0):
        return preprocessor.bert_pack_inputs(segments, seq_length=seq_length)  # as given: its own errors
    key = (f"bert_pack_inputs/{len(merged)}", tuple((s.dtype.name, s.row_splits.dtype.name) for s in merged))
    specs = [tf.RaggedTensorSpec([None, None], s.dtype, 1, s.row_splits.dtype) for s in merged]
    pack = _wrapper(
        preprocessor,
        key,
        lambda model, s, n: model.bert_pack_inputs(s, seq_length=n),
        [specs, tf.TensorSpec([], tf.int32)],
    )
    return pack(merged, tf.cast(length, tf.int32))


def traces(preprocessor: Any) -> dict[str, int]:
    """How many times each wrapper of ``preprocessor`` was traced, by call: ``tokenize``,
    ``bert_pack_inputs/1`` (single texts) and ``bert_pack_inputs/2`` (pairs); 1 each, whatever the batch
    sizes. (Segments of other dtypes would get wrappers of their own: the most traced one counts.)"""
    with _LOCK:
        wrappers = dict(_WRAPPERS.get(preprocessor, {}))
    counts: dict[str, int] = {}
    for key, fn in wrappers.items():
        counts[key[0]] = max(counts.get(key[0], 0), fn.experimental_get_tracing_count())
    return counts
