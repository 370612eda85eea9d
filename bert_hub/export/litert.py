"""LiteRT (TensorFlow Lite) files: converting a serving module, quantizing it, loading it back.

[`convert`][bert_hub.export.litert.convert] turns a ``tf.Module`` and its
serving signatures (raw strings in, as the run's SavedModel) into one
``.tflite`` flatbuffer with LiteRT's builtin ops only, no Flex (select
TensorFlow) op. What remains custom is tensorflow-text's tokenizer and the
padding of its ragged output (`CUSTOM_OPS`); an app registers them with its
interpreter:

* Python: ``ai_edge_litert.interpreter.InterpreterWithCustomOps(...,
  custom_op_registerers=tensorflow_text.tflite_registrar.SELECT_TFTEXT_OPS)``
  ([`LiteRTModel`][bert_hub.export.litert.LiteRTModel] does this);
* C++ / Android: link tensorflow-text's LiteRT kernels and call
  ``tensorflow::text::AddFastBertNormalize``, ``AddFastWordpieceTokenize`` and
  ``AddRaggedTensorToTensor`` on the op resolver (see the serving guide).

``quantize`` (`QUANTIZATIONS`): ``none`` keeps float32 weights;
``dynamic-int8`` stores the weights of the matmuls in int8 (per output
channel) and LiteRT quantizes their inputs per call (XNNPACK's dynamically
quantized fully connected kernels); ``float16`` stores weights in float16,
computed in float32.

Examples:
    >>> from bert_hub.export.litert import QUANTIZATIONS
    >>> QUANTIZATIONS
    ('none', 'dynamic-int8', 'float16')
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bert_hub.core.errors import InputError, ModelFormatError

QUANTIZATIONS = ("none", "dynamic-int8", "float16")
"""What ``--quantize`` takes (see the module docstring)."""
CUSTOM_OPS = ("FastBertNormalize", "FastWordpieceTokenizeWithOffsets", "RaggedTensorToTensor")
"""The custom ops every exported file holds: tensorflow-text's tokenizer and the padding of its ragged output,
registered by tensorflow-text's ``tflite_registrar``."""
WORD_OPS = ("TFText>ByteSplitWithOffsets", "TFText>ByteSplitByOffsets")
"""The custom ops a tagger's or an answerer's file holds besides: tensorflow-text's ``ByteSplitter``, which
splits words and cuts substrings ([`bert_hub.export.words`][bert_hub.export.words]); the same registrar."""
FLATBUFFER_ID = b"TFL3"
"""The file identifier of every LiteRT flatbuffer (bytes 4 to 8)."""


def check_quantize(quantize: str) -> str:
    """``quantize`` checked against `QUANTIZATIONS`."""
    if quantize not in QUANTIZATIONS:
        raise InputError(f"`quantize` {quantize!r}: choose one of {', '.join(QUANTIZATIONS)}")
    return quantize


def convert(module: Any, signatures: Mapping[str, Any], quantize: str = "none") -> bytes:
    """``module``'s ``signatures`` (name -> ``tf.function`` with an input signature) as a LiteRT flatbuffer.

    The module is saved as a SavedModel in a temporary folder first, so the
    file's signatures carry the SavedModel's names, inputs and outputs.

    Raises:
        ModelFormatError: an op has no LiteRT builtin (its name, one line), or
            a custom op other than `CUSTOM_OPS` and `WORD_OPS` remains.
    """
    import tensorflow as tf

    check_quantize(quantize)
    with tempfile.TemporaryDirectory(prefix="bert_hub_litert_") as tmp:
        # Saved one level down: a SavedModel whose root has a `serve` function looks to the converter like a
        # Keras `model.export`, and it keeps that one signature only (a tagger's `tag_words` was lost).
        holder = tf.Module()
        holder.module = module
        tf.saved_model.save(holder, tmp, signatures=dict(signatures))
        converter = tf.lite.TFLiteConverter.from_saved_model(tmp, signature_keys=list(signatures))
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        converter.allow_custom_ops = True  # tensorflow-text's tokenizer; anything else is refused below
        if quantize != "none":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if quantize == "float16":
            converter.target_spec.supported_types = [tf.float16]
        try:
            flatbuffer = bytes(converter.convert())
        except Exception as e:  # the converter's error is pages of MLIR: keep the op it names
            raise ModelFormatError(f"LiteRT cannot convert this model: {_converter_reason(e)}") from None
    unexpected = sorted(set(custom_ops(flatbuffer)) - {*CUSTOM_OPS, *WORD_OPS})
    if unexpected:
        raise ModelFormatError(
            f"LiteRT has no builtin op for {', '.join(unexpected)} in this model; it cannot be exported to LiteRT"
        )
    return flatbuffer


def _converter_reason(error: Exception) -> str:
    """The line of a converter error that names the op (``'tf.Erf' op is neither a custom op nor a flex op``)."""
    lines = str(error).splitlines()
    for line in lines:
        if "op is neither" in line or "is not supported" in line:
            return line.split("error: ")[-1].strip()[:200]
    return (lines[0] if lines else type(error).__name__)[:200]


def custom_ops(flatbuffer: bytes) -> list[str]:
    """The custom ops a LiteRT flatbuffer uses, by name."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(flatbuffer, 0)
    codes = model.operatorCodes or []
    return [code.customCode.decode() for code in codes if code.customCode]


def is_litert_file(path: str | Path) -> bool:
    """Whether ``path`` starts as a LiteRT flatbuffer does (its file identifier)."""
    try:
        with open(path, "rb") as f:
            return f.read(8)[4:8] == FLATBUFFER_ID
    except OSError:
        return False


class LiteRTModel:
    """An exported ``.tflite`` file in the LiteRT interpreter, with tensorflow-text's ops registered.

    Each signature is called with NumPy arrays by input name; strings come
    back as ``bytes``. Any batch size runs (inputs are resized per call).

    Args:
        path: the ``.tflite`` file.
        threads: interpreter threads (default: LiteRT's).

    Examples:
        >>> model = LiteRTModel("spam.tflite")  # doctest: +SKIP
        >>> model(text=np.array(["WIN a prize now"]))["label"]  # doctest: +SKIP
        array([b'spam'], dtype=object)
    """

    def __init__(self, path: str | Path, threads: int | None = None):
        try:
            from ai_edge_litert.interpreter import InterpreterWithCustomOps
        except ImportError:
            raise InputError(
                "loading a LiteRT file needs the LiteRT runtime: pip install 'bert_hub[litert]' (ai-edge-litert)"
            ) from None
        import tensorflow_text as tf_text

        self.path = Path(path)
        if not self.path.is_file():
            raise InputError(f"{self.path} does not exist (or is not a file); give the .tflite `bert-hub export` wrote")
        if not is_litert_file(self.path):
            raise ModelFormatError(f"{self.path} is not a LiteRT (.tflite) file; give the file `bert-hub export` wrote")
        self.interpreter = InterpreterWithCustomOps(
            model_path=str(self.path),
            custom_op_registerers=list(tf_text.tflite_registrar.SELECT_TFTEXT_OPS),
            num_threads=threads,
        )
        self.signatures: dict[str, Any] = self.interpreter.get_signature_list()

    def runner(self, signature: str = "serving_default") -> Any:
        """The interpreter's runner of ``signature``."""
        if signature not in self.signatures:
            raise InputError(f"{self.path} has no signature {signature!r}; it has {', '.join(self.signatures)}")
        return self.interpreter.get_signature_runner(signature)

    def __call__(self, signature: str = "serving_default", **inputs: Any) -> dict[str, np.ndarray]:
        """The outputs of ``signature`` for ``inputs`` (by name)."""
        return dict(self.runner(signature)(**{k: np.asarray(v) for k, v in inputs.items()}))

    def batched(
        self, batch_size: int = 32, signature: str = "serving_default", **columns: Sequence[str]
    ) -> dict[str, np.ndarray]:
        """``signature``'s outputs for every row of ``columns`` (equal-length string columns by name), in input
        order: run ``batch_size`` rows of similar length at a time (each batch is packed to its longest text,
        as the SavedModel's serving does), so little padding is computed. Outputs of one row per input
        (``[batch, ...]`` of a fixed size) only; per-token outputs differ in length from batch to batch."""
        from bert_hub.finetune.exported import batches_by_length

        if not columns:
            return {}
        runner = self.runner(signature)
        if not len(next(iter(columns.values()))):  # no rows: the file's own empty outputs
            return dict(runner(**{k: np.asarray(v, dtype=object) for k, v in columns.items()}))
        order: list[np.ndarray] = []
        parts: dict[str, list[np.ndarray]] = {}
        for idx in batches_by_length(list(columns.values()), batch_size):
            out = runner(**{k: np.asarray([v[i] for i in idx]) for k, v in columns.items()})
            order.append(idx)
            for key, value in out.items():
                parts.setdefault(key, []).append(value)
        where = np.argsort(np.concatenate(order), kind="stable")
        return {key: np.concatenate(values)[where] for key, values in parts.items()}
