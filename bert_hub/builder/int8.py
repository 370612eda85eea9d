"""int8 matmuls for inference: kernels quantized per output channel, activations per call.

A kernel ``W [in, out]`` is stored as int8 values ``q`` with one float32
scale per output column (``W[:, j] ≈ q[:, j] * scale[j]``, symmetric,
``scale[j] = max |W[:, j]| / 127``), made once when the encoder is built
for inference. At each call the activations are quantized as a whole to
uint8 with a zero point (their own minimum and maximum, zero included), and
TensorFlow's oneDNN kernel ``QuantizedMatMulWithBiasAndDequantize`` computes
the int8 product (VNNI or AMX where the CPU has them) and returns float32.

Where an input's channels differ in size by design (a layer norm's output:
channel ``k`` is about ``|gamma_k| + |beta_k|``), the few large channels
would set the range of all: with ``input_sizes`` the kernel's row ``k`` is
multiplied by ``s_k = sqrt(input_sizes[k] / max_j |W[k, j]|)`` and the input's
channel ``k`` divided by it at each call, which evens them out and leaves
the product unchanged (SmoothQuant's migration, with the sizes read from the
weights instead of measured on data).

The kernel is called in its ``SCALED`` mode (unsigned rows from zero): the
uint8 rows ``q`` stand for ``step * q + low``, so the bias handed to it adds
the minimum's share back, ``low * sum_k values[k, j]``, and the layer's own
bias divided by the column's scale (one pass over the product, its
multiplication by the scales, is left after the kernel). Its
``MIN_FIRST`` mode would do that itself, but it sums the kernel's columns
again at every call (one thread, a strided pass over the whole kernel: 2-3
ms a call on BERT-Base's shapes, a third of a short batch's matmul time).
The result is exactly the product of the quantized operands (tested against
a NumPy computation of the same quantization). Everything else in the
encoder (attention's softmax, layer norm, GELU, the residual stream) stays
float.

The kernel is oneDNN's: TensorFlow runs it only with its oneDNN kernels on
(``TF_ENABLE_ONEDNN_OPTS``, which the ``bert-hub`` program sets on x86 CPUs
with AVX2; see [`bert_hub.runtime.precision.enable_onednn`][bert_hub.runtime.precision.enable_onednn]).

Examples:
    >>> import numpy as np, tensorflow as tf
    >>> from bert_hub.builder.int8 import Int8Kernel
    >>> w = np.random.default_rng(0).standard_normal((64, 32)).astype("float32")
    >>> kernel = Int8Kernel.quantize(tf.constant(w), name="demo")
    >>> x = np.random.default_rng(1).standard_normal((4, 64)).astype("float32")
    >>> out = kernel.matmul(tf.constant(x), tf.zeros([32])).numpy()
    >>> bool(np.abs(out - x @ w).max() < 0.05 * np.abs(x @ w).max())
    True
"""

from __future__ import annotations

import dataclasses

import tensorflow as tf

from bert_hub.core.errors import InputError


@dataclasses.dataclass(frozen=True)
class Int8Kernel:
    """A matmul kernel in int8, quantized per output column (see the module docstring).

    Attributes:
        values: the int8 values, ``[in, out]``.
        scales: float32 ``[out]``: column ``j`` of the kernel is ``values[:, j] * scales[j]``.
        column_sums: float32 ``[out]``: ``sum_k values[k, j]``, for the activations' minimum's share.
        input_scales: float32 ``[in]``, what each input channel is multiplied by before it is quantized
            (``1 / s``, see the module docstring), or ``None``.
    """

    values: tf.Variable
    scales: tf.Variable
    column_sums: tf.Variable
    input_scales: tf.Variable | None = None

    @classmethod
    def quantize(cls, kernel: tf.Tensor, name: str, input_sizes: tf.Tensor | None = None) -> Int8Kernel:
        """Quantizes a float ``[in, out]`` kernel (once; the variables are not trainable); ``input_sizes``:
        the expected size of each input channel, to smooth them (see the module docstring)."""
        kernel = tf.cast(kernel, tf.float32)
        input_scales = None
        if input_sizes is not None:
            rows = tf.maximum(tf.reduce_max(tf.abs(kernel), axis=1), 1e-6)
            smoothing = tf.sqrt(tf.maximum(tf.cast(input_sizes, tf.float32), 1e-6) / rows)
            kernel = kernel * smoothing[:, tf.newaxis]
            input_scales = tf.Variable(1.0 / smoothing, trainable=False, name=f"{name}_input_scale")
        scales = tf.maximum(tf.reduce_max(tf.abs(kernel), axis=0), 1e-12) / 127.0
        values = tf.cast(tf.clip_by_value(tf.round(kernel / scales), -127.0, 127.0), tf.int8)
        return cls(
            values=tf.Variable(values, trainable=False, name=f"{name}_int8"),
            scales=tf.Variable(scales, trainable=False, name=f"{name}_scale"),
            column_sums=tf.Variable(
                tf.reduce_sum(tf.cast(values, tf.float32), axis=0), trainable=False, name=f"{name}_column_sum"
            ),
            input_scales=input_scales,
        )

    def variables(self) -> dict[str, tf.Variable]:
        """The variables by part name (``int8``, ``scale``, ``column_sum``, and ``input_scale`` when smoothed):
        the arguments of `int8_matmul`."""
        out = {"int8": self.values, "scale": self.scales, "column_sum": self.column_sums}
        if self.input_scales is not None:
            out["input_scale"] = self.input_scales
        return out

    def matmul(self, rows: tf.Tensor, bias: tf.Tensor) -> tf.Tensor:
        """``rows [n, in] @ kernel + bias`` in float32, computed in int8."""
        return int8_matmul(rows, bias, **self.variables())


INT8_PARTS = ("int8", "scale", "column_sum", "input_scale")
"""The names of an int8 kernel's variables (`Int8Kernel.variables`), as `int8_matmul` takes them."""


def int8_matmul(
    rows: tf.Tensor,
    bias: tf.Tensor,
    *,
    int8: tf.Tensor,
    scale: tf.Tensor,
    column_sum: tf.Tensor,
    input_scale: tf.Tensor | None = None,
) -> tf.Tensor:
    """``rows [n, in] @ (int8 * scale) + bias``: uint8 activations (quantized now) times the int8 values
    (``input_scale``: each input channel multiplied by it first)."""
    return int8_product(rows, bias, int8=int8, scale=scale, column_sum=column_sum, input_scale=input_scale) * scale


def int8_product(
    rows: tf.Tensor,
    bias: tf.Tensor,
    *,
    int8: tf.Tensor,
    scale: tf.Tensor,
    column_sum: tf.Tensor,
    input_scale: tf.Tensor | None = None,
) -> tf.Tensor:
    """`int8_matmul` before its last step, the multiplication by the column scales: ``(rows @ (int8 *
    scale) + bias) / scale``, for a caller that folds the scales into what it computes next."""
    rows = tf.cast(rows, tf.float32)
    if input_scale is not None:
        rows = rows * input_scale
    low = tf.minimum(tf.reduce_min(rows), 0.0)
    high = tf.maximum(tf.reduce_max(rows), low + 1e-6)
    quantized, low, high = tf.quantization.quantize(rows, low, high, tf.quint8, mode="MIN_FIRST")
    # The kernel takes the uint8 rows as SCALED ones, of the range [0, high - low]: it returns
    # step * q_rows @ values + its bias, here low * column_sum + bias / scale, that is
    # ((step * q_rows + low) @ (values * scale) + bias) / scale (module docstring)
    return tf.raw_ops.QuantizedMatMulWithBiasAndDequantize(
        a=quantized,
        b=tf.bitcast(int8, tf.qint8),
        bias=low * column_sum + tf.cast(bias, tf.float32) / scale,
        min_a=tf.constant(0.0),
        max_a=high - low,
        min_b=tf.constant(-127.0),
        max_b=tf.constant(127.0),
        min_freezed_output=tf.constant(-1.0),
        max_freezed_output=tf.constant(1.0),
        Toutput=tf.float32,
        input_quant_mode="SCALED",
    )


def check_int8_kernels() -> None:
    """Raises `InputError` when this TensorFlow cannot run the int8 kernel (its oneDNN kernels are off)."""
    try:  # rows with a negative minimum and a bias: every term of the kernel's bias is checked
        out = int8_matmul(
            tf.constant([[-1.0, 2.0]]),
            tf.constant([0.5]),
            int8=tf.constant([[1], [3]], tf.int8),
            scale=tf.constant([0.5]),
            column_sum=tf.constant([4.0]),
        )
        ok = abs(float(out[0, 0]) - 3.0) < 0.05  # (-1 * 1 + 2 * 3) * 0.5 + 0.5
    except (tf.errors.OpError, ValueError):
        ok = False
    if not ok:
        raise InputError(
            "precision int8 needs TensorFlow's oneDNN kernels, which are off in this process "
            "(an x86 CPU with AVX2 and TF_ENABLE_ONEDNN_OPTS not 0); use precision float32 or bfloat16"
        )
