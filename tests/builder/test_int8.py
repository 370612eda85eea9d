"""int8 matmuls: exactly the product of the quantized operands (a NumPy computation of the same quantization),
with the GELU or the residual added in the kernel,
and an int8 encoder close to float32 on the embedded default."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from bert_hub.builder.int8 import GELU_MINIMUM, Int8Kernel, check_int8_kernels, weight_levels
from bert_hub.core.cpu import cpu_supports_bf16


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
    "scale, shift, smooth",
    [(1.0, 0.0, False), (6.0, 0.0, False), (0.2, 0.0, False), (1.0, 2.5, False), (1.0, -3.0, False), (1.0, 0.5, True)],
)
def test_the_int8_product_is_the_product_of_the_quantized_operands(scale, shift, smooth):
    check_int8_kernels()
    rng = np.random.default_rng(0)
    w = (rng.standard_normal((96, 40)) * rng.uniform(0.01, 0.5, 40)).astype(np.float32)
    sizes = rng.uniform(0.1, 8.0, 96).astype(np.float32)  # channels of very different sizes, as after a layer norm
    x = ((rng.standard_normal((7, 96)) * scale + shift) * (sizes if smooth else 1.0)).astype(np.float32)
    w[:, 3] = 0.0  # a column of zeros and one of tiny weights, each with a bias
    w[:, 4] *= 1e-6
    b = rng.standard_normal(40).astype(np.float32)
    kernel = Int8Kernel.quantize(tf.constant(w), name="t", input_sizes=tf.constant(sizes) if smooth else None)
    got = kernel.matmul(tf.constant(x), tf.constant(b)).numpy()
    # the weights quantized per column, symmetric (rows smoothed first)
    smoothing = np.sqrt(np.maximum(sizes, 1e-6) / np.abs(w).max(1)) if smooth else np.ones(96, np.float32)
    ws = w * smoothing[:, None]
    levels = weight_levels()  # 127, or 63 on a CPU without an int8 dot product
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
    cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert cos.min() >= 0.97
