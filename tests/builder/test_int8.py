"""int8 matmuls: exactly the product of the quantized operands (a NumPy computation of the same quantization),
with the GELU or the residual added in the kernel,
and an int8 encoder close to float32 on the embedded default."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import tensorflow as tf
from conftest import python_json

from bert_hub.builder.int8 import GELU_MINIMUM, Int8Kernel, check_int8_kernels, weight_levels
from bert_hub.core.cpu import cpu_supports_bf16


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)


def _quantized_product(x: np.ndarray, kernel: Int8Kernel, minimum: float | None = None) -> np.ndarray:
    """The product of the quantized operands, in NumPy (float64): the kernel's int8 values times their column
    ranges / 127, and the (smoothed) rows quantized as TensorFlow quantizes them (uint8 with a zero point, the
    minimum, zero included, or ``minimum``, to the maximum)."""
    if kernel.input_scales is not None:
        x = (x * kernel.input_scales.numpy()).astype(np.float32)
    low, high = min(x.min() if minimum is None else minimum, 0.0), max(x.max(), 0.0)
    xq, lo, hi = tf.quantization.quantize(x, low, high, tf.quint8, mode="MIN_FIRST")
    a = tf.bitcast(xq, tf.uint8).numpy().astype(np.float64)
    step = (float(hi) - float(lo)) / 255.0
    w = kernel.values.numpy().astype(np.float64) * (kernel.ranges.numpy().astype(np.float64) / 127.0)
    return ((a + float(lo) / step) * step) @ w


@pytest.mark.parametrize(
    "scale, shift, smooth, levels",
    [
        (1.0, 0.0, False, None),
        (6.0, 0.0, False, None),
        (0.2, 0.0, False, None),
        (1.0, 2.5, False, None),
        (1.0, -3.0, False, None),
        (1.0, 0.5, True, None),
        (1.0, -3.0, False, 63),  # 7-bit weights (a CPU without an int8 dot product), here on any CPU
        (1.0, 0.5, True, 63),
    ],
)
def test_the_int8_product_is_the_product_of_the_quantized_operands(scale, shift, smooth, levels):
    check_int8_kernels()
    rng = np.random.default_rng(0)
    w = (rng.standard_normal((96, 40)) * rng.uniform(0.01, 0.5, 40)).astype(np.float32)
    sizes = rng.uniform(0.1, 8.0, 96).astype(np.float32)  # channels of very different sizes, as after a layer norm
    x = ((rng.standard_normal((7, 96)) * scale + shift) * (sizes if smooth else 1.0)).astype(np.float32)
    w[:, 3] = 0.0  # a column of zeros and one of tiny weights, each with a bias
    w[:, 4] *= 1e-6
    b = rng.standard_normal(40).astype(np.float32)
    sizes_or_none = tf.constant(sizes) if smooth else None
    kernel = Int8Kernel.quantize(tf.constant(w), name="t", input_sizes=sizes_or_none, levels=levels)
    got = kernel.matmul(tf.constant(x), tf.constant(b)).numpy()
    # the weights quantized per column, symmetric (rows smoothed first)
    smoothing = np.sqrt(np.maximum(sizes, 1e-6) / np.abs(w).max(1)) if smooth else np.ones(96, np.float32)
    ws = w * smoothing[:, None]
    levels = levels or weight_levels()  # 127, or 63 on a CPU without an int8 dot product
    steps = np.maximum(np.abs(ws).max(0), 1e-10) / levels
    q = np.clip(np.round(ws / steps), -levels, levels)
    assert (np.abs(q - kernel.values.numpy()) <= 1).all() and (q == kernel.values.numpy()).mean() > 0.99
    np.testing.assert_allclose(kernel.ranges.numpy(), steps * 127, rtol=1e-6)
    want = _quantized_product(x, kernel) + b
    assert np.abs(got - want).max() <= 1e-4 * np.abs(want).max()
    assert np.abs(got - (x @ w + b)).max() <= 0.03 * np.abs(x @ w).max()  # and near the float product


@pytest.mark.parametrize("form", ["exact", "tanh"])
def test_the_kernel_applies_the_gelu_or_adds_the_residual(form):
    from bert_hub.builder.encoder import GELU

    rng = np.random.default_rng(1)
    w = (rng.standard_normal((64, 48)) * 0.2).astype(np.float32)
    x = (rng.standard_normal((9, 64)) + 0.3).astype(np.float32)
    b = rng.standard_normal(48).astype(np.float32)
    residual = rng.standard_normal((9, 48)).astype(np.float32)
    kernel = Int8Kernel.quantize(tf.constant(w), name="g")
    product = _quantized_product(x, kernel) + b
    gelu = kernel.matmul(tf.constant(x), tf.constant(b), activation=form).numpy()
    np.testing.assert_allclose(gelu, GELU[form](tf.constant(product, tf.float32)).numpy(), atol=2e-4, rtol=1e-4)
    added = kernel.matmul(tf.constant(x), tf.constant(b), residual=tf.constant(residual)).numpy()
    np.testing.assert_allclose(added, product + residual, atol=2e-4, rtol=1e-4)
    # rows of a GELU: their zero point is the GELU's minimum, not theirs
    rows = GELU[form](tf.constant(np.abs(x) + 0.1)).numpy()  # all above zero: their own zero point is 0
    got = kernel.matmul(tf.constant(rows), tf.constant(b), minimum=GELU_MINIMUM).numpy()
    np.testing.assert_allclose(got, _quantized_product(rows, kernel, GELU_MINIMUM) + b, atol=2e-4, rtol=1e-4)
    assert not np.allclose(got, _quantized_product(rows, kernel) + b, atol=2e-4, rtol=1e-4)
    # the result in bfloat16 (the query/key/value kernel's, for attention in bfloat16)
    rounded = kernel.matmul(tf.constant(x), tf.constant(b), dtype=tf.bfloat16)
    assert rounded.dtype == tf.bfloat16
    np.testing.assert_allclose(tf.cast(rounded, tf.float32).numpy(), product, rtol=2**-8, atol=1e-3)
    with pytest.raises(ValueError, match="an activation or adds a residual, not both"):
        kernel.matmul(tf.constant(x), tf.constant(b), activation=form, residual=tf.constant(residual))


def test_kernels_of_one_shape_keep_their_own_weights_in_a_graph_and_eagerly():
    """The kernel keeps its weights in oneDNN's layout per graph node: two kernels of one shape in one graph, or
    one after the other eagerly, each compute with their own."""
    rng = np.random.default_rng(2)
    kernels = [
        Int8Kernel.quantize(tf.constant(rng.standard_normal((32, 16)).astype(np.float32)), f"k{i}") for i in range(2)
    ]
    x = tf.constant(rng.standard_normal((5, 32)).astype(np.float32))
    zero = tf.zeros([16])
    want = [_quantized_product(x.numpy(), k) for k in kernels]

    @tf.function(autograph=False)
    def both(x):
        return kernels[0].matmul(x, zero), kernels[1].matmul(x, zero)

    for _ in range(2):  # the second call reads the weights the first laid out
        for got, expected in zip(both(x), want, strict=True):
            np.testing.assert_allclose(got.numpy(), expected, atol=1e-4)
        for kernel, expected in zip(kernels, want, strict=True):
            np.testing.assert_allclose(kernel.matmul(x, zero).numpy(), expected, atol=1e-4)


def test_the_int8_encoder_in_a_graph_computes_each_layer_with_its_own_weights(minilm):
    """In a graph every layer calls one traced block function, and the int8 kernels keep their weights per
    graph node: each layer's output must stay near float32's same layer (cosine 0.977 or more here; a layer
    computed with another layer's weights is at 0.85 or less)."""
    from bert_hub.builder.encoder import EncoderModule

    path = minilm.fast_path()
    arch = dataclasses.replace(minilm.config.architecture, gelu=path.gelu)
    int8, float32 = (EncoderModule.for_inference(arch, path.weights, int8=q) for q in (True, False))
    graph = tf.function(int8.encode, autograph=False)
    for texts in (["This is a spam mail", "see you at lunch tomorrow?"], ["WINNER!! claim your prize now"]):
        inputs = minilm.preprocess(texts, 24)
        real = np.asarray(inputs["input_mask"]).astype(bool)
        got, want = graph(inputs)["encoder_outputs"], float32.encode(inputs)["encoder_outputs"]
        for layer, (a, b) in enumerate(zip(got, want, strict=True)):
            cos = _cosines(a.numpy()[real], b.numpy()[real])
            assert cos.min() >= 0.96, (layer, cos.min())


def test_an_int8_encoder_stays_close_to_float32(minilm):
    from bert_hub.builder.encoder import EncoderModule

    path = minilm.fast_path()
    arch = dataclasses.replace(minilm.config.architecture, gelu=path.gelu)
    texts = ["This is a spam mail", "see you at lunch tomorrow?", "WINNER!! claim your prize now"]
    inputs = minilm.preprocess(texts, 32)
    modules = [EncoderModule.for_inference(arch, path.weights, int8=q) for q in (False, True)]
    # attention in bfloat16 where the CPU computes it natively, float32 elsewhere
    assert modules[1].attention_dtype == (tf.bfloat16 if cpu_supports_bf16() else tf.float32)
    a, b = (m.encode(inputs)["pooled_output"].numpy() for m in modules)
    cos = _cosines(a, b)
    assert cos.min() >= 0.97


def test_int8_is_refused_where_tensorflows_onednn_kernels_are_off():
    script = """
import json, os
os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
from bert_hub.builder.int8 import check_int8_kernels
from bert_hub.core.errors import InputError
try:
    check_int8_kernels()
    print(json.dumps("ran"))
except InputError as error:
    print(json.dumps(str(error)))
"""
    assert "precision int8 needs TensorFlow's oneDNN kernels, which are off" in python_json(script)


@pytest.mark.parametrize(
    "cap, flags, expected",
    [
        (None, {"avx2", "avx512_vnni"}, True),
        (None, {"avx2", "avx_vnni"}, True),
        (None, {"avx2", "amx_int8"}, True),
        (None, {"avx2", "avx512f"}, False),
        ("AVX2", {"avx2", "avx512_vnni", "amx_int8"}, False),
        ("AVX512_CORE", {"avx512f", "avx512_vnni"}, False),
        ("AVX512_CORE_VNNI", {"avx512f", "avx512_vnni"}, True),
        ("AVX2_VNNI", {"avx512f", "avx512_vnni"}, False),  # AVX2's VNNI is another instruction
        ("AVX2_VNNI", {"avx2", "avx_vnni"}, True),
        ("AVX512_CORE_AMX", {"avx512f", "amx_int8"}, True),
    ],
)
def test_an_int8_dot_product_is_what_the_cpu_and_onednn_s_cap_both_allow(monkeypatch, cap, flags, expected):
    from bert_hub.core import cpu

    monkeypatch.setattr(cpu, "cpu_flags", lambda: flags)
    if cap is None:
        monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    else:
        monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", cap)
    assert cpu.cpu_has_int8_dot() is expected
    assert weight_levels() == (127 if expected else 63)
