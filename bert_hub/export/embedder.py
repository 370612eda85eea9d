"""Exporting an embedder: raw strings in, one key of a model out, as ``bert-hub embed`` computes it.

The module's ``serving_default`` takes ``text`` (``tf.string [batch]``),
packs each batch to its longest text (at most the key's length: the config's
``seq_length``, or for ``sentence`` the model's sentence length) and returns
the key's vectors under the key's name (``encoder_outputs[3]`` as
``encoder_outputs_3``); the per-token keys (``sequence_output``,
``encoder_outputs[i]``) also return ``input_mask``, which says which rows are
real tokens. The vectors are those of
[`Embedder`][bert_hub.runtime.embedder.Embedder] in float32 (tested).

Examples:
    ```python
    from bert_hub.export.embedder import export_embedder
    export_embedder("default", "minilm.tflite", key="sentence")  # doctest: +SKIP
    ```
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from bert_hub.export.serving import check_format, check_out, pipeline_for, starting, write_artifact
from bert_hub.finetune.exported import serving_function
from bert_hub.hub.pipeline import load_pipeline
from bert_hub.runtime import batching
from bert_hub.runtime.embedder import Embedder, EmbedOptions, key_vectors

TASK = "text-embedding"
"""The ``task`` an embedder SavedModel's metadata names."""


def output_name(key: str) -> str:
    """The signature output a key's vectors are under (``encoder_outputs[3]`` -> ``encoder_outputs_3``)."""
    return key.replace("[", "_").replace("]", "")


def embedder_serving(bert: Any, pipeline: Any, embedder: Any) -> tuple[Any, dict[str, Any]]:
    """The serving module of ``embedder`` (an [`Embedder`][bert_hub.runtime.embedder.Embedder] of ``bert``)
    traced with ``pipeline`` (``bert``, or its LiteRT form from
    [`pipeline_for`][bert_hub.export.serving.pipeline_for])."""
    import tensorflow as tf

    encoder = pipeline.serving_encoder() or bert.encoder
    name, pooling, normalize = output_name(embedder.key), embedder.pooling, embedder.normalize

    class Serving(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.preprocessor = pipeline.preprocessor
            self.encoder_weights = list(bert.encoder.variables)
            self.buckets = tf.constant(batching.default_buckets(embedder.seq_length), tf.int32)

        @serving_function(tf.TensorSpec([None], tf.string, name="text"))
        def serve(self, text: Any) -> Any:
            pieces = self.preprocessor.tokenize(text).merge_dims(1, -1)
            inputs = batching.pack_to_bucket(self.preprocessor, [pieces], self.buckets)
            out = encoder(inputs, training=False)
            result = {name: key_vectors(out, inputs["input_mask"], pooling, normalize)}
            if embedder.per_token:
                result["input_mask"] = inputs["input_mask"]
            return result

    module = Serving()
    return module, {"serving_default": module.serve}


def export_embedder(
    config: Any,
    out: str | Path,
    *,
    key: str = "pooled_output",
    seq_length: int | None = None,
    normalize: bool = False,
    fmt: str = "litert",
    quantize: str = "none",
    overwrite: bool = False,
    notify: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Exports the embedder of ``config`` for ``key`` to ``out``.

    Args:
        config: a config name, YAML file or [`ModelConfig`][bert_hub.core.config.ModelConfig].
        out: a ``*.tflite`` file (``fmt="litert"``) or a SavedModel folder (``fmt="savedmodel"``).
        key: any ``embed`` key (``sentence``, ``pooled_output``, ``cls``, ``mean``, ``max``,
            ``sequence_output``, ``encoder_outputs[i]``).
        seq_length: the longest packing (default as ``embed``'s).
        normalize: scale each vector to length 1 (``sentence`` does when its model does).
        fmt: ``litert`` or ``savedmodel``.
        quantize: ``none``, ``dynamic-int8`` or ``float16`` (LiteRT only).
        overwrite: replace an ``out`` bert_hub wrote.
        notify: told (one line) when the checks are done and the work starts.

    Returns:
        What was written (as [`export_run`][bert_hub.export.run.export_run]'s), with ``key``, ``pooling``,
        ``normalize`` and ``seq_length``.
    """
    check_format(fmt, quantize)
    out = check_out(out, fmt, overwrite)
    bert = load_pipeline(config)
    embedder = Embedder(bert, EmbedOptions(key=key, seq_length=seq_length, normalize=normalize))
    starting(notify, f"{bert.config.name}'s {embedder.key}", fmt, quantize)
    module, signatures = embedder_serving(bert, pipeline_for(bert, fmt), embedder)
    info = {
        "task": TASK,
        "model": bert.config.name,
        "key": embedder.key,
        "output_name": output_name(embedder.key),
        "pooling": embedder.pooling,
        "normalize": embedder.normalize,
        "seq_length": embedder.seq_length,
    }
    report = write_artifact(module, signatures, info, out, fmt=fmt, quantize=quantize, overwrite=overwrite)
    return {**report, **{k: v for k, v in info.items() if k != "task"}}
