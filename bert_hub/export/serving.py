"""What every export shares: the pipeline a LiteRT graph is traced with, and writing the artifact.

A serving module (a run's, or an embedder's) is traced against a
[`BertPipeline`][bert_hub.hub.pipeline.BertPipeline]: its ``preprocessor``
tokenizes and packs, its ``serving_encoder()`` (or the encoder layer's own
graph) runs the encoder. [`pipeline_for`][bert_hub.export.serving.pipeline_for]
gives, for LiteRT, that pipeline with both in ops LiteRT converts; the same
module code then becomes either artifact: [`write_artifact`][bert_hub.export.serving.write_artifact]
saves a SavedModel folder or converts to one ``.tflite`` file, built aside
and renamed into place.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bert_hub.core.errors import InputError
from bert_hub.core.locks import output_lock
from bert_hub.core.outputs import atomic_outputs, check_output_dir, check_output_file
from bert_hub.export import litert
from bert_hub.finetune.exported import EXPORT, ServingPipeline, save_export

FORMATS = ("litert", "savedmodel")
"""What ``--format`` takes: one ``.tflite`` file, or a serving SavedModel folder."""


def pipeline_for(bert: Any, fmt: str) -> Any:
    """The pipeline a module of format ``fmt`` is traced with: ``bert`` itself for a SavedModel; for LiteRT,
    tokenized and packed by an [`InGraphPreprocessor`][bert_hub.export.preprocess.InGraphPreprocessor] and
    encoded by the forward pass in LiteRT's ops (``inference_encoder(litert=True)``, which refuses an encoder
    off the fast path), its words split by [`LiteRTWords`][bert_hub.export.words.LiteRTWords]."""
    if fmt != "litert":
        return bert
    from bert_hub.export.preprocess import InGraphPreprocessor
    from bert_hub.export.words import LiteRTWords

    preprocessor = InGraphPreprocessor.for_pipeline(bert)
    return ServingPipeline(
        bert, preprocessor=preprocessor, encoder=bert.inference_encoder(litert=True), words=LiteRTWords
    )


def check_format(fmt: str, quantize: str) -> None:
    """``fmt`` and ``quantize`` checked (quantizing is LiteRT's)."""
    if fmt not in FORMATS:
        raise InputError(f"`fmt` {fmt!r}: choose one of {', '.join(FORMATS)}")
    litert.check_quantize(quantize)
    if fmt != "litert" and quantize != "none":
        raise InputError(f"`quantize` {quantize!r} is for `fmt` litert; a SavedModel keeps float32 weights")


def check_out(out: str | Path, fmt: str, overwrite: bool) -> Path:
    """The output checked before any work: a ``*.tflite`` file bert_hub may write (or replace, its own
    only), or a SavedModel folder."""
    if not str(out).strip():
        raise InputError("`out` is empty; give the file (litert) or folder (savedmodel) to write")
    if fmt == "litert":
        if Path(out).suffix != ".tflite":
            raise InputError(f"`out` {out}: a LiteRT export is one file; name it *.tflite")
        return check_output_file(out, kind="litert", overwrite=overwrite, what="`out`")
    if Path(out).suffix == ".tflite":
        raise InputError(f"`out` {out}: a SavedModel is a folder; drop the .tflite suffix, or use format litert")
    return check_output_dir(out, overwrite=overwrite, kind=EXPORT)


def starting(notify: Callable[[str], None] | None, what: str, fmt: str, quantize: str) -> None:
    """Tells ``notify`` (one line) that the export of ``what`` starts: its checks are done, the seconds of
    tracing and converting come."""
    if notify is not None:
        how = f"LiteRT ({quantize} quantization)" if fmt == "litert" else "a SavedModel"
        notify(f"exporting {what} as {how}: tracing and converting take a few seconds...")


def write_artifact(
    module: Any,
    signatures: dict[str, Any],
    info: dict[str, Any],
    out: Path,
    *,
    fmt: str,
    quantize: str = "none",
    overwrite: bool = False,
) -> dict[str, Any]:
    """Writes ``module``'s ``signatures`` to ``out`` as format ``fmt``; a report of what was written.

    A SavedModel gets ``info`` as its metadata (`bert_hub_export.json`); a
    ``.tflite`` file is written to a temporary file and renamed (nothing is
    half-written), and recorded as bert_hub's own so ``overwrite`` may
    replace it later.
    """
    start = time.perf_counter()
    if fmt == "savedmodel":
        save_export(module, out, signatures, info, overwrite=overwrite)
        size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
        custom: list[str] = []
    else:
        flatbuffer = litert.convert(module, signatures, quantize)
        with output_lock(out, what="`out`"):
            check_output_file(out, kind="litert", overwrite=overwrite, what="`out`")
            with atomic_outputs(out) as (tmp,):
                tmp.write_bytes(flatbuffer)
        size = len(flatbuffer)
        custom = sorted(set(litert.custom_ops(flatbuffer)))
    return {
        "output": str(out),
        "format": fmt,
        "quantize": quantize,
        "bytes": size,
        "signatures": sorted(signatures),
        "custom_ops": custom,
        "seconds": round(time.perf_counter() - start, 2),
    }
