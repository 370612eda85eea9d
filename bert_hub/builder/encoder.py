"""Writes a TF-Hub-format BERT encoder SavedModel from an architecture and weights.

The SavedModel has the interface of ``bert_en_uncased_L-12_H-768_A-12/4``:

* ``__call__(inputs, training=False)`` on the three-key ``int32`` dict of any
  ``[batch, seq_len]`` (``seq_len <= max_position_embeddings``) returns
  ``sequence_output``, ``pooled_output``, ``default`` (= ``pooled_output``)
  and ``encoder_outputs`` (one tensor per Transformer block);
* ``training=True`` turns dropout on;
* ``mlm(inputs)`` adds ``masked_lm_positions`` and returns ``mlm_logits``
  (only when the weights have an MLM head; its weights are not among the
  root's variables);
* ``vocab_file`` (Asset), ``do_lower_case`` (bool Variable), ``variables``,
  ``trainable_variables`` and ``regularization_losses`` (Reusable SavedModel);
* a ``serving_default`` signature, as Keras writes for upstream's functional
  model: inputs ``input_word_ids``, ``input_mask``, ``input_type_ids``
  (``int32 [batch, seq_length]``, both free), one output tensor per output,
  named ``bert_encoder``, ``bert_encoder_1``, ... (see
  `bert_hub.core.interface.serving_output_names`), for TF Serving,
  ``saved_model_cli run`` and Keras 3's ``TFSMLayer``;
* ``dropout_seed`` (``int64 [2]`` Variable, not among ``variables``): a
  bert_hub addition. Dropout is stateless, drawn from ``dropout_seed``, which
  every ``training=True`` call advances by one step, so fine-tuning repeats
  exactly when it is set (``bert_hub.finetune.train`` sets it from ``--seed``).

The computation follows the original BERT: embeddings (word + position +
type) -> LayerNorm(1e-12) -> dropout -> L x [self-attention -> dropout ->
residual + LayerNorm -> dense 4H with exact GELU -> dense H -> dropout ->
residual + LayerNorm]; padding gets a -10000 attention bias.

Weights are a flat ``{name: array}`` dict named as in
`bert_hub.builder.weights` (``transformer/layer_3/attention/query/kernel``
and so on); those names are also the SavedModel's variable names.

Every function is traced without AutoGraph: its ``if`` and ``for`` run over
Python values only, so the graph is the same without the conversion's cost.
"""

from __future__ import annotations

import dataclasses
import math
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from bert_hub.builder.int8 import GELU_MINIMUM, INT8_PARTS, Int8Kernel, int8_matmul
from bert_hub.builder.weights import check_weights, has_mlm, weight_shapes
from bert_hub.core.config import Architecture
from bert_hub.core.cpu import cpu_supports_bf16
from bert_hub.core.interface import INPUT_KEYS, MLM_POSITIONS_KEY, select, serving_output_names

LAYER_NORM_EPSILON = 1e-12
MASK_BIAS = -10000.0
QKV = ("attention/query", "attention/key", "attention/value")
"""The three matmuls computed as one (`_joined_qkv`), in that order."""
LORA_A, LORA_B = "lora_a", "lora_b"
"""A LoRA adapter's weights beside its kernel (``attention/query/lora_a`` ``[in, rank]``, ``.../lora_b``
``[rank, out]``): the matmul computes with ``kernel + scale * lora_a @ lora_b`` (`adapted_matmul`)."""


def _gelu(x: tf.Tensor) -> tf.Tensor:
    # The exact (erf) GELU, written in the op order TensorFlow's oneDNN remapper
    # fuses into the matmul before it (MatMul + BiasAdd + GeluExact: one pass).
    return ((tf.math.erf(x * (1.0 / math.sqrt(2.0))) + 1.0) * 0.5) * x


_GELU_TANH_CUBIC = 0.044715
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


def _gelu_tanh(x: tf.Tensor) -> tf.Tensor:
    # The tanh approximation tensorflow/models computes (tf.nn.gelu with approximate=True),
    # 0.5x(1 + tanh(sqrt(2/pi)(x + 0.044715x^3))), written in the op order the oneDNN
    # remapper fuses into the matmul before it (MatMul + BiasAdd + GeluApproximate) in
    # float32 and in bfloat16; tf.nn.gelu's own order fuses only in float32 (unfused, the
    # feed-forward matmul of BERT-Base runs more than twice as slow in bfloat16 on AMX).
    return (0.5 * x) * (tf.tanh((x + x * (_GELU_TANH_CUBIC * tf.square(x))) * _SQRT_2_OVER_PI) + 1.0)


GELU = {"exact": _gelu, "tanh": _gelu_tanh}
"""The GELU of each form an Architecture may name."""


def dropout_mask(shape: tf.Tensor, rate: float, seed: tf.Tensor, dtype: tf.DType = tf.float32) -> tf.Tensor:
    """Dropout's multiplier of ``shape``: 0 where an element is dropped, ``1 / P(kept)`` elsewhere.

    Each element is decided by 16 random bits (dropped below ``round(rate * 2**16)``): one stateless
    Philox draw of 32 bits decides two elements, half the random numbers of
    ``tf.nn.experimental.stateless_dropout``, and the backward pass is one multiplication (no select).
    The rate is met to 2**-17 (0.1 drops 6,554 of 65,536) and the scale keeps the expectation.
    """
    size = tf.reduce_prod(shape)
    bits = tf.random.stateless_uniform(
        tf.reshape((size + 1) // 2, [1]), seed, minval=None, maxval=None, dtype=tf.uint32
    )
    halves = tf.reshape(tf.bitcast(bits, tf.uint16), [-1])[:size]
    dropped = min(round(rate * 65536), 65535)
    kept = tf.where(halves >= dropped, tf.constant(65536 / (65536 - dropped), dtype), tf.constant(0, dtype))
    return tf.reshape(kept, shape)


@dataclasses.dataclass(frozen=True)
class Reshaped:
    """A weight stored in another shape: ``tf.reshape(variable, shape)`` at each read (no copy).

    tensorflow/models stores attention kernels per head (``[H, heads, head_size]``);
    the forward pass reads them as ``[H, H]`` matrices through this.
    """

    variable: tf.Variable
    shape: tuple[int, ...]

    def read(self) -> tf.Tensor:
        """The weight in the shape the encoder computes with (a reshape of the stored variable, no copy)."""
        return tf.reshape(self.variable, self.shape)


@dataclasses.dataclass(frozen=True)
class Moved(Reshaped):
    """A weight read as ``variable + factor * change``: ``variable`` frozen, ``change`` trained (a LoRA run's
    pooler)."""

    change: tf.Variable
    factor: float = 1.0

    def read(self) -> tf.Tensor:
        """The weight the forward pass computes with."""
        return super().read() + self.factor * self.change


def _read(weight: tf.Variable | Reshaped) -> tf.Tensor:
    return weight.read() if isinstance(weight, Reshaped) else weight


def _float32(weight: tf.Variable | Reshaped) -> tf.Tensor:
    """A weight as float32 (bfloat16 copies are cast back: the cast is undone by the bf16 rewrite)."""
    v = _read(weight)
    return v if v.dtype == tf.float32 else tf.cast(v, tf.float32)


def _joined_qkv(w: Mapping[str, tf.Variable | Reshaped], name: str, prefix: str = "") -> tf.Tensor:
    """Query's, key's and value's ``name`` (``kernel`` or ``bias``) side by side, as one float32 tensor (one
    ``[H, 3H]`` product runs faster than three ``[H, H]`` ones); ``prefix``: the layer's, when ``w`` holds all."""
    return tf.concat([_float32(w[f"{prefix}attention/{part}/{name}"]) for part in ("query", "key", "value")], axis=-1)


def adapted_matmul(rows: tf.Tensor, kernel: tf.Tensor, a: tf.Tensor, b: tf.Tensor, scale: float) -> tf.Tensor:
    """``rows @ (kernel + scale * a @ b)``: a matmul with a LoRA adapter, whose gradient reaches ``rows``,
    ``a`` and ``b`` but not ``kernel`` (frozen).

    The kernel and the adapter's product are merged once a call (``[in, out]``, a rank-``r`` product:
    little), so the forward pass is one matmul, as without an adapter. Its gradient is written out: the
    input's is ``dy @ merged^T`` (the adapter's path included), the adapter's are thin products
    (``scale * rows^T @ (dy @ b^T)`` and ``scale * (rows @ a)^T @ dy``), and the kernel's, a full-size
    product, is never computed. Summing ``rows @ a @ b`` into the product instead cost the forward pass
    a quarter more (all-MiniLM-L6-v2, every target: an activation-sized term written and added per
    matmul).
    """

    @tf.custom_gradient
    def product(x: tf.Tensor, w: tf.Tensor, down: tf.Tensor, up: tf.Tensor) -> Any:
        scaled = down * scale  # [in, rank]: the scale on the smallest factor, not on the [in, out] product
        merged = w + tf.matmul(scaled, up)

        def gradient(dy: tf.Tensor) -> tuple[Any, ...]:
            dx = tf.matmul(dy, merged, transpose_b=True)
            d_down = tf.matmul(x, tf.matmul(dy, up, transpose_b=True), transpose_a=True) * scale
            d_up = tf.matmul(tf.matmul(x, scaled), dy, transpose_a=True)
            return dx, None, d_down, d_up

        return tf.matmul(x, merged), gradient

    return product(rows, tf.stop_gradient(kernel), a, b)


def _layer_norm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor) -> tf.Tensor:
    # (x - mean) / sqrt(var + 1e-12) * gamma + beta over the last axis, written as
    # Keras writes its fused LayerNormalization: each row a "channel" of a
    # training-mode FusedBatchNormV3 (biased variance, as BERT's), then scale and
    # offset. TensorFlow's oneDNN remapper turns this subgraph into one
    # _MklLayerNorm kernel (one pass instead of seven element-wise kernels);
    # elsewhere it runs as the batch-norm kernel. The raw op keeps BERT's
    # epsilon, which tf.nn.fused_batch_norm would raise to 1.001e-5.
    shape = tf.shape(x)
    rows = tf.reduce_prod(shape[:-1])
    normed, *_ = tf.raw_ops.FusedBatchNormV3(
        x=tf.reshape(x, [1, rows, x.shape[-1], 1]),
        scale=tf.fill([rows], tf.constant(1.0, x.dtype)),
        offset=tf.fill([rows], tf.constant(0.0, x.dtype)),
        mean=tf.constant([], x.dtype),
        variance=tf.constant([], x.dtype),
        epsilon=LAYER_NORM_EPSILON,
        data_format="NCHW",
        is_training=True,
    )
    return tf.reshape(normed, shape) * gamma + beta


def _layer_norm_for_xla(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor) -> tf.Tensor:
    # The same, in the plain form XLA fuses best (its batch-norm expansion is ~13% slower here).
    mean, var = tf.nn.moments(x, axes=[-1], keepdims=True)
    return (x - mean) * tf.math.rsqrt(var + LAYER_NORM_EPSILON) * gamma + beta


@dataclasses.dataclass(frozen=True)
class _Unsaved:
    """A function a ``tf.Module`` holds without tracking it (not saved with the module)."""

    value: tf.types.experimental.PolymorphicFunction


class EncoderModule(tf.Module):
    """BERT's forward pass over named ``tf.Variable`` weights."""

    def __init__(
        self,
        arch: Architecture,
        weights: Mapping[str, np.ndarray | tf.Variable],
        dropout_rate: float = 0.1,
        attention_dropout_rate: float = 0.1,
    ):
        super().__init__(name="bert_encoder")
        self.arch = arch
        self.dropout_rate = dropout_rate
        self.attention_dropout_rate = attention_dropout_rate
        with_mlm = has_mlm(weights)
        self.weights = {
            name: weights[name]
            if isinstance(weights[name], (tf.Variable, Reshaped))
            else tf.Variable(np.asarray(weights[name], np.float32), name=name, trainable=True)
            for name in weight_shapes(arch, with_mlm=with_mlm)
        }
        self.with_mlm = with_mlm
        self.layer_norm = _layer_norm
        self.gelu = GELU[arch.gelu]
        self.slice_qkv = False  # see for_inference (litert)
        self.lora_scale = 1.0  # LoRA adapters' alpha / rank (see _adapter), when weights hold adapters
        self.dropout_seed = tf.Variable(
            [0, 0],
            dtype=tf.int64,
            trainable=False,
            name="dropout_seed",
            aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA,
        )
        self._traced_block: tf.types.experimental.PolymorphicFunction | None = None  # see for_inference
        self.attention_dtype = tf.float32  # see for_inference (int8)
        # See _trace_block_once. Held out of the SavedModel's objects: a tf.function attribute would be saved
        # as a function of the module (its graph is in the training function's already).
        self._training = _Unsaved(self._trace_block_once())

    @classmethod
    def for_inference(
        cls,
        arch: Architecture,
        weights: Mapping[str, tf.Variable | Reshaped],
        *,
        bf16: bool = False,
        xla: bool = False,
        int8: bool = False,
        litert: bool = False,
    ) -> EncoderModule:
        """The forward pass over existing ``weights`` (e.g. a loaded SavedModel's), in the op forms
        fastest for a mode; the same numbers as the SavedModel's graph in that mode. ``weights``
        may be `Reshaped` views of variables stored in another layout (tensorflow/models').

        ``bf16``: the matmul kernels are copied once to bfloat16. Under oneDNN's
        bfloat16 rewrite (`bert_hub.runtime.precision.precision_scope`) the
        SavedModel's own graph casts every float32 kernel to bfloat16 at every
        call; this reads the copies (their cast back to float32 and the
        rewrite's cast to bfloat16 cancel out), so a call costs no casts: the
        same rounding of the same weights. The copies are a snapshot: changes
        to ``weights`` later are not seen. Embeddings, biases and layer-norm
        parameters are shared, not copied.

        ``xla``: layer norm in the plain form XLA compiles best.

        ``int8``: the Transformer blocks' matmuls (query, key and value as one,
        the attention output, the feed-forward pair) run in int8, their kernels
        quantized once per output column ([`Int8Kernel`][bert_hub.builder.int8.Int8Kernel]);
        the attention between them (scores, softmax, context) in bfloat16 where the
        CPU computes it natively (AMX, AVX512-BF16; `bert_hub.core.cpu.cpu_supports_bf16`),
        else float32; layer norm and the residual stream stay float32.

        ``litert``: only ops LiteRT has as builtins (for
        [`bert_hub.export.litert`][bert_hub.export.litert]): layer norm in the plain form, GELU as
        ``tf.nn.gelu`` (the converter makes it LiteRT's GELU), and every layer traced op by op: the
        converter freezes the variables a called block function takes as arguments once, so six
        calls of one traced block would all read the first layer's weights.
        """
        kernels = {}
        if bf16:
            kernels = {
                name: tf.Variable(tf.cast(_read(v), tf.bfloat16), trainable=False, name=f"{name}_bf16")
                for name, v in weights.items()
                if name.endswith("/kernel") and not name.startswith("mlm/")
            }
        module = cls(arch, {**weights, **kernels}, dropout_rate=0.0, attention_dropout_rate=0.0)
        if int8:
            module.weights.update(_int8_kernels(arch, weights))
            module.attention_dtype = tf.bfloat16 if cpu_supports_bf16() else tf.float32
        module.layer_norm = _layer_norm_for_xla if xla or litert else _layer_norm
        if litert:
            approximate = arch.gelu == "tanh"
            module.gelu = lambda x: tf.nn.gelu(x, approximate=approximate)
        module._traced_block = None if litert else module._trace_block_once()
        module.slice_qkv = litert  # LiteRT's UNPACK refuses an empty tensor (a batch of no texts); slices take one
        return module

    def _trace_block_once(self) -> tf.types.experimental.PolymorphicFunction:
        """One Transformer block as a ``tf.function`` over its variables (and, when training, its dropout
        seed), traced once and called for every layer inside a graph.

        Inference: tracing the forward pass op by op cost 0.6-1.1 s for BERT-Base in a fresh process,
        0.16-0.27 s this way (2-core Xeon with AMX). Training: TensorFlow builds the gradient of a
        called function once, in Python, op by op; with one block function called L times, a
        fine-tuning step builds one block's gradient instead of L. TensorFlow inlines the calls before
        optimising the graph, so the graph that runs, and its numbers, are the same. Eager calls stay
        op by op: a function called eagerly runs its own kernels, one matmul kernel for every layer,
        and with frozen weights ([`assume_frozen_weights`][bert_hub.runtime.precision.assume_frozen_weights]) oneDNN
        would keep the first layer's."""
        shapes = {name: w.shape for name, w in self._layer_weights(0).items() if isinstance(w, Reshaped)}

        def block(
            x: tf.Tensor, bias: tf.Tensor, variables: dict[str, tf.Variable], seed: tf.Tensor | None = None
        ) -> tf.Tensor:
            w = {name: Reshaped(v, shapes[name]) if name in shapes else v for name, v in variables.items()}
            return self._block(x, bias, w, seed)

        return tf.function(block, autograph=False)

    def _layer_weights(self, i: int) -> dict[str, tf.Variable | Reshaped]:
        """Layer ``i``'s weights, named within the layer (``attention/query/kernel``, ...)."""
        prefix = f"transformer/layer_{i}/"
        return {name[len(prefix) :]: w for name, w in self.weights.items() if name.startswith(prefix)}

    def core_variables(self) -> list[tf.Variable]:
        """The encoder's weights without the masked-LM head."""
        return [v for k, v in self.weights.items() if not k.startswith("mlm/")]

    def mlm_variables(self) -> list[tf.Variable]:
        """The masked-LM head's weights (empty when the encoder has none)."""
        return [v for k, v in self.weights.items() if k.startswith("mlm/")]

    @staticmethod
    def _linear(
        rows: tf.Tensor,
        kernel: tf.Tensor,
        bias: tf.Tensor,
        shape: tf.Tensor | list | None,
        training: bool,
        bias_shape: list[int] | None = None,
        adapter: tuple[tf.Tensor, tf.Tensor, float] | None = None,
    ) -> tf.Tensor:
        """``rows [n, in] @ kernel + bias``, reshaped to ``shape`` (``None``: kept 2-D, inference only).

        Inference: MatMul + BiasAdd, the form oneDNN fuses with what follows; its frozen weights get
        oneDNN's blocked layout, and AMX in bfloat16. Training reads its kernels as variables, in plain
        layout, where oneDNN's inner product (what a MatMul fused with its bias runs as) has no AMX
        kernel for bfloat16 (x64:gemm:jit, 200 GFLOP/s on the project's Xeon) and a plain MatMul has
        (brg_matmul, 265-307 GFLOP/s): the reshape between the product and the bias add keeps
        TensorFlow's remapper from fusing them (``bias_shape``: the bias reshaped to match).

        ``adapter``: a LoRA adapter ``(A, B, scale)`` of the kernel (`_adapter`): the product is
        `adapted_matmul`'s.
        """
        product = tf.matmul(rows, kernel) if adapter is None else adapted_matmul(rows, kernel, *adapter)
        if not training:
            out = tf.nn.bias_add(product, bias)
            return out if shape is None else tf.reshape(out, shape)
        return tf.reshape(product, shape) + (bias if bias_shape is None else tf.reshape(bias, bias_shape))

    def _project(
        self,
        rows: tf.Tensor,
        w: Mapping[str, tf.Variable | Reshaped],
        prefix: str,
        bias: tf.Tensor,
        shape: tf.Tensor | list | None,
        training: bool,
        bias_shape: list[int] | None = None,
        gelu: bool = False,
        residual: tf.Tensor | None = None,
        dtype: tf.DType = tf.float32,
        minimum: float | None = None,
    ) -> tf.Tensor:
        """`_linear` with the kernel ``prefix/kernel`` of ``w``, or its int8 form when ``w`` holds one;
        ``gelu``: the GELU of that (as ``self.gelu``); ``residual`` (inference): added to the result
        (in ``shape``), inside the int8 kernel. ``dtype`` and ``minimum`` (a value no row is below) are for
        the int8 kernel (`int8_matmul`): the float path's type is its inputs'."""
        if f"{prefix}/kernel_int8" in w:
            parts = {part: _read(w[f"{prefix}/kernel_{part}"]) for part in INT8_PARTS if f"{prefix}/kernel_{part}" in w}
            activation = next((form for form, f in GELU.items() if gelu and f is self.gelu), None)
            out = int8_matmul(
                rows,
                bias,
                **parts,
                activation=activation,
                residual=None if residual is None else tf.reshape(residual, [-1, parts["int8"].shape[1]]),
                minimum=minimum,
                dtype=dtype,
            )
            if gelu and activation is None:
                out = self.gelu(out)
            return out if shape is None else tf.reshape(out, shape)
        if gelu:
            return self.gelu(self._project(rows, w, prefix, bias, shape, training, bias_shape))
        kernel = _joined_qkv(w, "kernel") if prefix == "attention/qkv" else _float32(w[f"{prefix}/kernel"])
        adapter = self._adapter(w, QKV if prefix == "attention/qkv" else (prefix,))
        if adapter is not None:
            adapter = (*adapter, self.lora_scale)
        out = self._linear(rows, kernel, bias, shape, training, bias_shape, adapter)
        return out if residual is None else out + residual

    def _adapter(self, w: Mapping[str, tf.Variable | Reshaped], parts: tuple[str, ...]) -> Any:
        """The LoRA adapter ``(A, B)`` of the matmul whose kernels are ``parts`` side by side (query, key and
        value: one matmul), or None when ``w`` holds no adapter for any of them.

        The adapters of the parts present are one pair: their ``A`` matrices side by side, and a block
        matrix of their ``B`` matrices (zeros where a part has none), so that ``A @ B`` is the joined
        kernel's change.
        """
        present = [p for p in parts if f"{p}/{LORA_A}" in w]
        if not present:
            return None
        if len(parts) == 1:
            return _read(w[f"{parts[0]}/{LORA_A}"]), _read(w[f"{parts[0]}/{LORA_B}"])
        downs, rows = [], []
        for p in present:
            downs.append(_read(w[f"{p}/{LORA_A}"]))
            up = _read(w[f"{p}/{LORA_B}"])
            zeros = tf.zeros([up.shape[0], self.arch.hidden], up.dtype)
            rows.append(tf.concat([up if q == p else zeros for q in parts], axis=1))
        return tf.concat(downs, axis=1), tf.concat(rows, axis=0)

    def _dense(self, x: tf.Tensor, w: Mapping[str, tf.Variable | Reshaped], prefix: str) -> tf.Tensor:
        # A 2-D matmul (not an einsum with "..."): its gradient is a matmul too,
        # where einsum's would materialise a [batch, length, in, out] tensor.
        # In the fused form in training too (the pooler, the MLM head: one small matmul each).
        kernel = w[f"{prefix}/kernel"]
        return self._linear(
            tf.reshape(x, [-1, kernel.shape[0]]),
            _float32(kernel),
            _float32(w[f"{prefix}/bias"]),
            tf.concat([tf.shape(x)[:-1], [kernel.shape[1]]], axis=0),
            training=False,
        )

    @staticmethod
    def _dropout(x: tf.Tensor, rate: float, seed: tf.Tensor | None, site: int) -> tf.Tensor:
        """Dropout when training (``seed`` given); each ``site`` of a seed draws its own stream."""
        if seed is None or rate <= 0:
            return x
        return x * dropout_mask(tf.shape(x), rate, tf.random.experimental.stateless_fold_in(seed, site), x.dtype)

    def _attention(
        self,
        x: tf.Tensor,
        bias: tf.Tensor,
        w: Mapping[str, tf.Variable | Reshaped],
        seed: tf.Tensor | None,
        residual: tf.Tensor | None = None,
    ) -> tf.Tensor:
        """Self-attention over ``x`` (``residual``, inference: added to its output projection)."""
        batch, length = tf.shape(x)[0], tf.shape(x)[1]
        heads, size = self.arch.heads, self.arch.head_size

        # Query, key and value as one matmul on the three kernels side by side (one [H, 3H] product
        # runs faster than three [H, H] ones), then one transpose to [3, batch, heads, length, size].
        qkv = self._project(
            tf.reshape(x, [-1, self.arch.hidden]),
            w,
            "attention/qkv",
            _joined_qkv(w, "bias"),
            [batch, length, 3, heads, size],
            seed is not None,
            bias_shape=[3, heads, size],
            dtype=self.attention_dtype,
        )
        stacked = tf.transpose(qkv, [2, 0, 3, 1, 4])
        q, k, v = (stacked[0], stacked[1], stacked[2]) if self.slice_qkv else tf.unstack(stacked)
        scores = tf.matmul(q, k, transpose_b=True) * (1.0 / math.sqrt(size)) + bias
        probs = self._dropout(tf.nn.softmax(scores, axis=-1), self.attention_dropout_rate, seed, 1)
        context = tf.reshape(tf.transpose(tf.matmul(probs, v), [0, 2, 1, 3]), [-1, self.arch.hidden])
        return self._project(
            context,
            w,
            "attention/output",
            _float32(w["attention/output/bias"]),
            [batch, length, self.arch.hidden],
            seed is not None,
            residual=residual,
        )

    def _block(
        self, x: tf.Tensor, bias: tf.Tensor, w: Mapping[str, tf.Variable | Reshaped], seed: tf.Tensor | None
    ) -> tf.Tensor:
        """One Transformer block over its weights ``w`` (named within the layer: `_layer_weights`);
        dropout drawn from ``seed`` when training, none without it.

        For inference the residual stream goes into the output projections, which add it (inside the
        kernel, in int8)."""
        training = seed is not None
        if training:
            x = x + self._dropout(self._attention(x, bias, w, seed), self.dropout_rate, seed, 2)
        else:
            x = self._attention(x, bias, w, seed, residual=x)
        x = self.layer_norm(x, w["attention_layer_norm/gamma"], w["attention_layer_norm/beta"])
        # The feed-forward part stays 2-D for inference, so GELU fuses into its matmul (training: see _linear).
        inner = w["intermediate/kernel"].shape[1]
        g = self._project(
            tf.reshape(x, [-1, self.arch.hidden]),
            w,
            "intermediate",
            _float32(w["intermediate/bias"]),
            tf.concat([tf.shape(x)[:-1], [inner]], axis=0) if training else None,
            training,
            gelu=True,
        )
        output = _float32(w["output/bias"])
        if training:
            h = self._project(tf.reshape(g, [-1, inner]), w, "output", output, tf.shape(x), training)
            h = x + self._dropout(h, self.dropout_rate, seed, 3)
        else:
            rows = tf.reshape(g, [-1, inner])  # a GELU's: its minimum is their int8 zero point
            h = self._project(rows, w, "output", output, tf.shape(x), training, residual=x, minimum=GELU_MINIMUM)
        return self.layer_norm(h, w["output_layer_norm/gamma"], w["output_layer_norm/beta"])

    def encode(self, inputs: Mapping[str, tf.Tensor], training: bool = False) -> dict:
        """The four outputs (``encoder_outputs``, ``sequence_output``, ``pooled_output``, ``default``) of the three
        inputs; ``training`` draws dropout from ``dropout_seed``."""
        w = self.weights
        ids = tf.cast(inputs["input_word_ids"], tf.int32)
        mask = tf.cast(inputs["input_mask"], tf.float32)
        type_ids = tf.cast(inputs["input_type_ids"], tf.int32)
        length = tf.shape(ids)[1]
        # This step's seed (then one for each layer): dropout_seed, which the step advances.
        step_seed = self.dropout_seed.assign_add(tf.constant([0, 1], tf.int64)) - [0, 1] if training else None
        x = (
            tf.gather(w["embeddings/word_embeddings"], ids)
            + w["embeddings/position_embeddings"][tf.newaxis, :length]
            + tf.gather(w["embeddings/type_embeddings"], type_ids)
        )
        x = self.layer_norm(x, w["embeddings/layer_norm/gamma"], w["embeddings/layer_norm/beta"])
        x = self._dropout(x, self.dropout_rate, step_seed, 0)
        bias = tf.expand_dims(tf.expand_dims((1.0 - mask) * MASK_BIAS, 1), 1)  # [batch, 1, 1, length]
        bias = tf.cast(bias, self.attention_dtype)
        layers = []
        for i in range(self.arch.layers):
            w_i = self._layer_weights(i)
            seed = None if step_seed is None else tf.random.experimental.stateless_fold_in(step_seed, i + 1)
            traced = self._training.value if training else self._traced_block
            if traced is None or not tf.inside_function():
                x = self._block(x, bias, w_i, seed)
            else:
                variables = {k: v.variable if isinstance(v, Reshaped) else v for k, v in w_i.items()}
                x = traced(x, bias, variables, seed) if training else traced(x, bias, variables)
            layers.append(x)
        pooled = tf.tanh(self._dense(x[:, 0], w, "pooler"))
        return {"sequence_output": x, "pooled_output": pooled, "default": pooled, "encoder_outputs": layers}

    def masked_lm(self, inputs: Mapping[str, tf.Tensor], training: bool = False) -> dict:
        """The encoder's outputs and ``mlm_logits`` at ``masked_lm_positions`` (the TF Hub ``mlm`` interface)."""
        w = self.weights
        out = self.encode(inputs, training)
        del out["default"]
        positions = tf.cast(inputs[MLM_POSITIONS_KEY], tf.int32)
        h = tf.gather(out["sequence_output"], positions, batch_dims=1)
        h = self.layer_norm(
            self.gelu(self._dense(h, w, "mlm/transform")), w["mlm/layer_norm/gamma"], w["mlm/layer_norm/beta"]
        )
        logits = (
            tf.matmul(tf.reshape(h, [-1, self.arch.hidden]), w["embeddings/word_embeddings"], transpose_b=True)
            + w["mlm/output_bias"]
        )
        out["mlm_logits"] = tf.reshape(logits, [tf.shape(h)[0], tf.shape(h)[1], self.arch.vocab_size])
        return out


def _int8_kernels(arch: Architecture, weights: Mapping[str, tf.Variable | Reshaped]) -> dict[str, tf.Variable]:
    """Each Transformer block's matmul kernels quantized to int8 (query, key and value side by side as one), the
    two whose input is a layer norm's output smoothed by that norm's parameters (`Int8Kernel`)."""
    out = {}
    for i in range(arch.layers):
        layer = f"transformer/layer_{i}/"
        before = {
            "attention/qkv": f"transformer/layer_{i - 1}/output_layer_norm" if i else "embeddings/layer_norm",
            "intermediate": f"{layer}attention_layer_norm",
        }
        kernels = {
            "attention/qkv": _joined_qkv(weights, "kernel", layer),
            **{
                prefix: _float32(weights[f"{layer}{prefix}/kernel"])
                for prefix in ("attention/output", "intermediate", "output")
            },
        }
        for prefix, kernel in kernels.items():
            norm = before.get(prefix)
            sizes = None
            if norm is not None:
                sizes = tf.abs(_float32(weights[f"{norm}/gamma"])) + tf.abs(_float32(weights[f"{norm}/beta"]))
            quantized = Int8Kernel.quantize(kernel, name=f"{layer}{prefix}/kernel", input_sizes=sizes)
            for part, variable in quantized.variables().items():
                out[f"{layer}{prefix}/kernel_{part}"] = variable
    return out


def _input_spec(extra: tuple[str, ...] = ()) -> dict[str, tf.TensorSpec]:
    return {k: tf.TensorSpec([None, None], tf.int32, name=k) for k in INPUT_KEYS + extra}


def serving_function(module: EncoderModule) -> tf.types.experimental.PolymorphicFunction:
    """``serving_default``: the dict of three int32 ``[batch, seq_length]`` inputs -> one tensor per
    output, named as Keras names them (see `bert_hub.core.interface.serving_output_names`).

    Saved twice, as Keras 3's own export does: as the ``serving_default``
    signature (keyword arguments: TF Serving, ``saved_model_cli run``) and as
    a root attribute of that name taking the input dict, which is how
    ``keras.layers.TFSMLayer(path, call_endpoint="serving_default")`` calls it.
    """
    names = serving_output_names(module.arch.layers)

    @tf.function(input_signature=[_input_spec()], autograph=False)
    def serving_default(inputs):
        out = module.encode(inputs, training=False)
        return {name: select(out, key) for name, key in names.items()}

    return serving_default


def build_export_root(module: EncoderModule, vocab_path: str, lower_case: bool) -> tf.Module:
    """The object saved as the SavedModel root (see the module docstring)."""
    root = tf.train.Checkpoint()
    root.encoder = module
    root.__call__ = tf.function(lambda inputs, training=False: module.encode(inputs, training), autograph=False)
    for training in (False, True):
        root.__call__.get_concrete_function(_input_spec(), training=training)
    core = module.core_variables()
    root.variables = list(core)
    root.trainable_variables = list(core)
    root.regularization_losses = []
    root.vocab_file = tf.saved_model.Asset(vocab_path)
    root.do_lower_case = tf.Variable(lower_case, trainable=False, name="do_lower_case")
    root.dropout_seed = module.dropout_seed
    root.serving_default = serving_function(module)
    if module.with_mlm:
        mlm = tf.train.Checkpoint()
        mlm.__call__ = tf.function(lambda inputs, training=False: module.masked_lm(inputs, training), autograph=False)
        for training in (False, True):
            mlm.__call__.get_concrete_function(_input_spec((MLM_POSITIONS_KEY,)), training=training)
        mlm.variables = module.mlm_variables()
        root.mlm = mlm
    return root


def write_encoder_savedmodel(
    arch: Architecture,
    weights: Mapping[str, np.ndarray],
    out_dir: str | Path,
    *,
    vocab_file: str | Path,
    lower_case: bool,
    dropout_rate: float = 0.1,
    attention_dropout_rate: float = 0.1,
) -> None:
    """Saves an encoder SavedModel with ``weights`` into ``out_dir`` (a new directory)."""
    check_weights(arch, weights, source="weights")
    module = EncoderModule(arch, weights, dropout_rate, attention_dropout_rate)
    with tempfile.TemporaryDirectory(prefix="bert_hub_vocab_") as tmp:
        vocab = Path(tmp) / "vocab.txt"
        shutil.copyfile(vocab_file, vocab)
        root = build_export_root(module, str(vocab), lower_case)
        tf.saved_model.save(root, str(out_dir), signatures={"serving_default": root.serving_default})
