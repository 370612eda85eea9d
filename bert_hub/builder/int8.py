"""int8 matmuls for inference: kernels quantized per output channel, activations per call.

A kernel ``W [in, out]`` is stored as int8 values ``q`` with one float32
range per output column (``W[:, j] ≈ q[:, j] * range[j] / 127``, symmetric:
``range[j] = max |W[:, j]|``, or ``127 / 63`` of it where the weights keep 7
bits, see `weight_levels`), made once when the encoder is built for
inference. At each call the activations are quantized as a whole to uint8
with a zero point (their own minimum, or a known lower bound such as a
GELU's, and their maximum, zero included), and oneDNN computes the int8
product (AMX, VNNI or AVX2, what the CPU has) and returns float32.

Where an input's channels differ in size by design (a layer norm's output:
channel ``k`` is about ``|gamma_k| + |beta_k|``), the few large channels
would set the range of all: with ``input_sizes`` the kernel's row ``k`` is
multiplied by ``s_k = sqrt(input_sizes[k] / max_j |W[k, j]|)`` and the input's
channel ``k`` divided by it at each call, which evens them out and leaves
the product unchanged (SmoothQuant's migration, with the sizes read from the
weights instead of measured on data).

Each matmul is one call of TensorFlow's fused oneDNN kernel
``_QuantizedMatMul``: the uint8 rows go in as ``SCALED`` ones (``step * q``
from zero), with the minimum's share (``low * sum_k W[k, j]``) added to the
layer's bias, and the kernel multiplies the int32 product by the row step
and the column scales, adds that bias and, when asked, applies the GELU or
adds the residual stream, all in the product's one pass (``activation``,
``residual``). Its weights are put in the CPU's blocked layout once (the
kernel keeps them while the graph lives), not at every call. The result is
exactly the product of the quantized operands (tested against a NumPy
computation of the same quantization). Everything else in the encoder
(attention's softmax, layer norm, the residual stream) stays float.

Tried before this and not kept (AMD Zen 4 and an Intel Xeon with AMX, 2
cores): ``QuantizedMatMulWithBiasAndDequantize``, the public op. It puts
the weights in the blocked layout again at every call, and its
``MIN_FIRST`` mode sums the kernel's columns again at every call too; the
scaling, the GELU and the residual add were separate passes over the
product. On BERT-Base's feed-forward matmul at 384 rows it took 3.4 ms with
its GELU, the fused kernel 2.0 ms (Xeon with AMX).

int8 needs TensorFlow's oneDNN kernels on (``TF_ENABLE_ONEDNN_OPTS``, which
the ``bert-hub`` program sets on x86 CPUs with AVX2; see
[`bert_hub.runtime.precision.enable_onednn`][bert_hub.runtime.precision.enable_onednn]):
with them off the fused kernel still runs, but Eigen's ``QuantizeV2`` rounds
the rows' zero point to a whole step, which the kernel's bias does not
expect (`check_int8_kernels` refuses).

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
import functools
from typing import Any

import tensorflow as tf
from tensorflow.python.framework import op_def_library

from bert_hub.core.cpu import cpu_has_int8_dot
from bert_hub.core.errors import InputError


@dataclasses.dataclass(frozen=True)
class Int8Kernel:
    """A matmul kernel in int8, quantized per output column (see the module docstring).

    Attributes:
        values: the int8 values, ``[in, out]``.
        ranges: float32 ``[out]``: column ``j`` of the kernel is ``values[:, j] * ranges[j] / 127``.
        column_sums: float32 ``[out]``: the sums of the quantized kernel's columns (``sum_k values[k, j] *
            ranges[j] / 127``), for the activations' minimum's share.
        input_scales: float32 ``[in]``, what each input channel is multiplied by before it is quantized
            (``1 / s``, see the module docstring), or ``None``.
    """

    values: tf.Variable
    ranges: tf.Variable
    column_sums: tf.Variable
    input_scales: tf.Variable | None = None

    @classmethod
    def quantize(
        cls, kernel: tf.Tensor, name: str, input_sizes: tf.Tensor | None = None, levels: int | None = None
    ) -> Int8Kernel:
        """Quantizes a float ``[in, out]`` kernel (once; the variables are not trainable); ``input_sizes``:
        the expected size of each input channel, to smooth them (see the module docstring); ``levels``: the
        largest value, 127, or 63 where the CPU has no int8 dot product (default: `weight_levels`)."""
        smooth = input_sizes is not None
        values, ranges, column_sums, input_scales = _quantize_function(smooth)(
            tf.cast(kernel, tf.float32),
            tf.cast(input_sizes if smooth else [], tf.float32),
            tf.constant(float(levels or weight_levels())),
        )
        return cls(
            values=tf.Variable(values, trainable=False, name=f"{name}_int8"),
            ranges=tf.Variable(ranges, trainable=False, name=f"{name}_range"),
            column_sums=tf.Variable(column_sums, trainable=False, name=f"{name}_column_sum"),
            input_scales=tf.Variable(input_scales, trainable=False, name=f"{name}_input_scale") if smooth else None,
        )

    def variables(self) -> dict[str, tf.Variable]:
        """The variables by part name (``int8``, ``range``, ``column_sum``, and ``input_scale`` when smoothed):
        the arguments of `int8_matmul`."""
        out = {"int8": self.values, "range": self.ranges, "column_sum": self.column_sums}
        if self.input_scales is not None:
            out["input_scale"] = self.input_scales
        return out

    def matmul(self, rows: tf.Tensor, bias: tf.Tensor, **options: Any) -> tf.Tensor:
        """``rows [n, in] @ kernel + bias``, computed in int8: `int8_matmul` (``options`` are its
        ``activation``, ``residual``, ``minimum`` and ``dtype``)."""
        return int8_matmul(rows, bias, **self.variables(), **options)


@functools.cache
def _quantize_function(smooth: bool) -> Any:
    """`Int8Kernel.quantize`'s arithmetic as one graph (half the time of running it op by op: BERT-Base's 48
    kernels in 0.25 s instead of 0.44 s on a 2-core Xeon with AMX)."""

    def quantize(kernel: tf.Tensor, input_sizes: tf.Tensor, levels: tf.Tensor) -> tuple[tf.Tensor, ...]:
        input_scales = tf.zeros([0])
        if smooth:
            rows = tf.maximum(tf.reduce_max(tf.abs(kernel), axis=1), 1e-6)
            smoothing = tf.sqrt(tf.maximum(input_sizes, 1e-6) / rows)
            kernel = kernel * smoothing[:, tf.newaxis]
            input_scales = 1.0 / smoothing
        steps = tf.maximum(tf.reduce_max(tf.abs(kernel), axis=0), 1e-10) / levels
        values = tf.cast(tf.clip_by_value(tf.round(kernel / steps), -levels, levels), tf.int8)
        column_sums = tf.reduce_sum(tf.cast(values, tf.float32), axis=0) * steps
        ranges = steps * 127.0
        return values, ranges, column_sums, input_scales

    return tf.function(quantize, autograph=False, reduce_retracing=True)


def weight_levels() -> int:
    """The largest int8 weight value on this CPU: 127 where it has an int8 dot product (VNNI, AMX), else 63.

    Without one (an AVX2-only CPU), oneDNN multiplies uint8 by int8 with ``vpmaddubsw``, which adds each two
    products into 16 bits and saturates: ``2 * 255 * 127`` does not fit, ``2 * 255 * 63`` does. So the
    weights there keep 7 bits and the product stays exact.
    """
    return 127 if cpu_has_int8_dot() else 63


INT8_PARTS = ("int8", "range", "column_sum", "input_scale")
"""The names of an int8 kernel's variables (`Int8Kernel.variables`), as `int8_matmul` takes them."""

ACTIVATIONS = {"exact": "GeluExact", "tanh": "GeluApproximate"}
"""The activations `int8_matmul` applies in its kernel, by GELU form (an Architecture's ``gelu``)."""

GELU_MINIMUM = -0.17
"""The ``minimum`` of rows a GELU made: the exact GELU's minimum is -0.169971 (at -0.75), the tanh form's
-0.170041, which the quantization clamps by 4e-5 at most."""


def int8_matmul(
    rows: tf.Tensor,
    bias: tf.Tensor,
    *,
    int8: tf.Tensor,
    range: tf.Tensor,
    column_sum: tf.Tensor,
    input_scale: tf.Tensor | None = None,
    activation: str | None = None,
    residual: tf.Tensor | None = None,
    minimum: float | None = None,
    dtype: tf.DType = tf.float32,
) -> tf.Tensor:
    """``rows [n, in] @ kernel + bias``, the kernel ``int8 * range / 127`` (per column): uint8 activations
    (quantized now) times the int8 values, in oneDNN's fused kernel.

    ``input_scale``: each input channel multiplied by it first. ``activation``: a GELU (``exact`` or
    ``tanh``, `ACTIVATIONS`) applied to the result in the kernel. ``residual``: ``[n, out]`` float32 added to the
    result in the kernel (not with ``activation``). ``minimum``: a value no row is below (`GELU_MINIMUM` for a
    GELU's output), the zero point of the rows' quantization instead of their minimum (one pass over them
    fewer). ``dtype``: the result's type, float32 or bfloat16 (the kernel rounds its float32 result).

    In a graph (a ``tf.function``) the kernel keeps its weights in oneDNN's layout after the first call, so
    its ``int8`` must not change while the graph lives (an `Int8Kernel`'s never does); called eagerly, it
    runs a graph of its own that lays them out at every call.
    """
    if activation is not None and residual is not None:
        raise ValueError("int8_matmul applies an activation or adds a residual, not both")
    if not tf.inside_function():
        return _eager_graph()(rows, bias, int8, range, column_sum, input_scale, activation, residual, minimum, dtype)
    return _fused_int8_matmul(
        True, rows, bias, int8, range, column_sum, input_scale, activation, residual, minimum, dtype
    )


def _fused_int8_matmul(
    frozen: bool,
    rows: tf.Tensor,
    bias: tf.Tensor,
    int8: tf.Tensor,
    ranges: tf.Tensor,
    column_sum: tf.Tensor,
    input_scale: tf.Tensor | None,
    activation: str | None,
    residual: tf.Tensor | None,
    minimum: float | None,
    dtype: tf.DType,
) -> tf.Tensor:
    """`int8_matmul` in a graph (``frozen``: the kernel keeps its weights' layout after the first call)."""
    rows = tf.cast(rows, tf.float32)
    if input_scale is not None:
        rows = rows * input_scale
    low = tf.minimum(tf.reduce_min(rows) if minimum is None else tf.constant(minimum, tf.float32), 0.0)
    high = tf.maximum(tf.reduce_max(rows), low + 1e-6)
    quantized, low, high = tf.raw_ops.QuantizeV2(
        input=rows, min_range=low, max_range=high, T=tf.quint8, mode="MIN_FIRST"
    )
    # The kernel takes the uint8 rows as SCALED ones, step * q over [0, high - low]; the rows are
    # step * q + low, so the bias gets low * (the kernel's column sums) added (module docstring).
    # Both weight ranges are `ranges`: the kernel reads max(|min|, |max|) per column.
    fused = ["BiasAdd"]
    device_inputs = [quantized, tf.bitcast(int8, tf.qint8), tf.cast(bias, tf.float32) + low * column_sum]
    if activation is not None:
        fused.append(ACTIVATIONS[activation])
    if residual is not None:
        fused.append("Add")
        device_inputs.append(tf.cast(residual, tf.float32))
    host_inputs = [tf.constant(0.0), high - low, ranges, ranges]
    op = op_def_library._apply_op_helper(
        "_QuantizedMatMul",
        device_inputs=device_inputs,
        host_inputs=host_inputs,
        Tdevice_outputs=[dtype],
        Thost_outputs=[],
        T1=tf.quint8,
        T2=tf.qint8,
        Tbias=tf.float32,
        Tout=dtype,
        U=tf.float32,
        fused_ops=[*fused, "Dequantize"],
        input_quant_mode="SCALED",
        output_quant_mode="SCALED",
        is_weight_const=frozen,
        is_bias_const=False,
        transpose_a=False,
        transpose_b=False,
        leakyrelu_alpha=0.2,
        name="QuantizedMatMul",  # an op's name may not start with "_"
    )[2]
    return op.outputs[0]


@functools.cache
def _eager_graph() -> Any:
    def run(*args: Any) -> tf.Tensor:
        return _fused_int8_matmul(False, *args)

    return tf.function(run, autograph=False)


def check_int8_kernels() -> None:
    """Raises `InputError` when this TensorFlow cannot run the int8 kernel (its oneDNN kernels are off).

    The fused kernel itself runs either way, but with the oneDNN kernels off the rows are quantized by
    Eigen's ``QuantizeV2``, which rounds the zero point to a whole step: the kernel's bias (``low *
    column_sum``) would be off by up to half a step of every row (cosine 0.96 instead of 0.99 on real SMS).
    """
    try:
        from tensorflow.python.util import _pywrap_util_port  # where TensorFlow says whether its oneDNN kernels run

        ok = bool(_pywrap_util_port.IsMklEnabled())
    except (ImportError, AttributeError):
        ok = False
    try:  # rows with a negative minimum and a bias: every term of the kernel's bias is checked
        out = int8_matmul(
            tf.constant([[-1.0, 2.0]]),
            tf.constant([0.5]),
            int8=tf.constant([[1], [3]], tf.int8),
            range=tf.constant([63.5]),
            column_sum=tf.constant([2.0]),
        )
        ok = ok and abs(float(out[0, 0]) - 3.0) < 0.05  # (-1 * 1 + 2 * 3) * 0.5 + 0.5
    except (tf.errors.OpError, ValueError):
        ok = False
    if not ok:
        raise InputError(
            "precision int8 needs TensorFlow's oneDNN kernels, which are off in this process "
            "(an x86 CPU with AVX2 and TF_ENABLE_ONEDNN_OPTS not 0); use precision float32 or bfloat16"
        )
