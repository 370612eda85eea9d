"""int8 matmuls: exactly the product of the quantized operands (a NumPy computation of the same quantization),
and an int8 encoder close to float32 on the embedded default."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from bert_hub.builder.int8 import Int8Kernel, check_int8_kernels


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
    w[:, 3] = 0.0  # a column of zeros and one of tiny weights, each with a bias: the bias / scale in the kernel
    w[:, 4] *= 1e-6
    b = rng.standard_normal(40).astype(np.float32)
    kernel = Int8Kernel.quantize(tf.constant(w), name="t", input_sizes=tf.constant(sizes) if smooth else None)
    got = kernel.matmul(tf.constant(x), tf.constant(b)).numpy()
    # the same quantization in NumPy: (smoothed rows of) weights per column, symmetric; activations per call,
    # uint8 with a zero point
    smoothing = np.sqrt(np.maximum(sizes, 1e-6) / np.abs(w).max(1)) if smooth else np.ones(96, np.float32)
    ws, x = w * smoothing[:, None], (x / smoothing).astype(np.float32)
    s = np.maximum(np.abs(ws).max(0), 1e-12) / 127.0
    q = np.clip(np.round(ws / s), -127, 127)
    assert (np.abs(q - kernel.values.numpy()) <= 1).all() and (q == kernel.values.numpy()).mean() > 0.99
    q = kernel.values.numpy().astype(np.float64)
    low, high = min(x.min(), 0.0), max(x.max(), 0.0)
    xq, lo, hi = tf.quantization.quantize(x, low, high, tf.quint8, mode="MIN_FIRST")
    a = tf.bitcast(xq, tf.uint8).numpy().astype(np.float64)
    step = (float(hi) - float(lo)) / 255.0
    want = ((a + float(lo) / step) * step) @ (q * s) + b
    assert np.abs(got - want).max() <= 1e-4 * np.abs(want).max()
    assert np.abs(got - (x @ ws + b)).max() <= 0.03 * np.abs(x @ ws).max()  # and near the float product


def test_an_int8_encoder_stays_close_to_float32(minilm):
    from bert_hub.builder.encoder import EncoderModule

    path = minilm.fast_path()
    arch = dataclasses.replace(minilm.config.architecture, gelu=path.gelu)
    texts = ["This is a spam mail", "see you at lunch tomorrow?", "WINNER!! claim your prize now"]
    inputs = minilm.preprocess(texts, 32)
    outs = [EncoderModule.for_inference(arch, path.weights, int8=q).encode(inputs) for q in (False, True)]
    a, b = (o["pooled_output"].numpy() for o in outs)
    cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert cos.min() >= 0.97


def test_the_gelu_with_folded_scales_is_the_gelu_of_the_scaled_product(minilm, monkeypatch):
    from bert_hub.builder import encoder
    from bert_hub.builder.encoder import GELU, EncoderModule, _scaled_gelu

    rng = np.random.default_rng(3)
    x = tf.constant(rng.standard_normal((16, 64)).astype(np.float32) * 4)
    scale = tf.constant(rng.uniform(1e-3, 2.0, 64).astype(np.float32))
    want = GELU["exact"](x * scale).numpy()
    np.testing.assert_allclose(_scaled_gelu(x, scale).numpy(), want, rtol=1e-5, atol=1e-6)
    # the int8 block of an exact-GELU model (the embedded default) computes its GELU so
    calls = []
    monkeypatch.setattr(encoder, "_scaled_gelu", lambda *a: calls.append(1) or _scaled_gelu(*a))
    path = minilm.fast_path()
    arch = dataclasses.replace(minilm.config.architecture, gelu=path.gelu)
    EncoderModule.for_inference(arch, path.weights, int8=True).encode(minilm.preprocess(["a spam mail"], 16))
    assert arch.gelu == "exact" and calls  # (traced once, called in every layer)
