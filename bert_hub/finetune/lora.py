"""LoRA fine-tuning: the encoder frozen, low-rank adapters trained with the task's head.

With ``lora`` set (``bert-hub train --lora RANK``), each targeted matmul of
every Transformer block computes ``x @ W + (alpha / rank) * x @ A @ B``: ``W``
is the encoder's own kernel, frozen; ``A`` (``[in, rank]``, small random
values) and ``B`` (``[rank, out]``, zeros, so training starts from the
encoder as it is) are trained, with the task's head (and the pooler, when
the head reads ``pooled_output``: `POOLER`). Nothing else of the encoder
trains (embeddings, biases and layer norms stay as they are), so a step
computes no gradient and keeps no optimizer state for them: a step is
cheaper, and a checkpoint holds the adapters, the head and their Adam
moments only.

Training runs bert_hub's own forward pass (`EncoderModule`)
over the encoder's variables, read as the fast path reads them
([`bert_hub.hub.fast_path`][bert_hub.hub.fast_path]): the encoders bert_hub writes and the Kaggle / TF Hub
BERTs (tensorflow/models' layout). An encoder in another layout (ALBERT,
ELECTRA) is refused, saying so. Query, key and value are one matmul in that
forward pass; their adapters are one pair too, and an adapted matmul merges its
kernel and adapter once a call and writes out its own gradient, so the
kernel's (a full-size product) is never computed
(`bert_hub.builder.encoder.adapted_matmul`).

When the run ends, the adapters are merged into the kernels
(``W + (alpha / rank) * A @ B``) and the run is exported as any run is: the
serving model has the encoder's shape and speed, and no adapter op. The run
records the base it needs (its config and a fingerprint of its weights,
`base_fingerprint`) and refuses to resume on another.

Examples:
    >>> from bert_hub.finetune.lora import Lora
    >>> lora = Lora(rank=8, targets=("query", "value"))
    >>> lora.alpha, lora.scale
    (16.0, 2.0)
    >>> Lora.parse_targets("attention")
    ('query', 'key', 'value', 'attention_output')
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
from typing import TYPE_CHECKING, Any

import numpy as np

from bert_hub.core.errors import InputError

if TYPE_CHECKING:  # annotations only: the pipeline module loads TensorFlow
    from bert_hub.hub.pipeline import BertPipeline

TARGETS = {
    "query": "attention/query",
    "key": "attention/key",
    "value": "attention/value",
    "attention_output": "attention/output",
    "intermediate": "intermediate",
    "output": "output",
}
"""The matmuls of a Transformer block adapters may cover, and their weights' names in the block."""
GROUPS = {
    "attention": ("query", "key", "value", "attention_output"),
    "feed-forward": ("intermediate", "output"),
    "all": tuple(TARGETS),
}
"""Names of several targets at once."""
DEFAULT_TARGETS = "query,value"
"""What adapters cover unless ``lora_targets`` says otherwise: chosen by measurement (docs/benchmarks.md), as
fast as any and as accurate as ``all`` on spam and topics."""
DEFAULT_LEARNING_RATE = 1e-3
"""The peak learning rate of a LoRA run unless ``learning_rate`` says otherwise (full fine-tuning: 1e-4)."""
POOLER = ("pooler/kernel", "pooler/bias")
"""The pooler's weights: they train with a head that reads ``pooled_output`` (a dense layer on ``[CLS]`` that
such a head starts from), at `POOLER_RATE` times the learning rate: the forward pass reads ``pooler + POOLER_RATE *
change`` and ``change`` trains (Adam moves it by about the learning rate a step, whatever its scale; weight decay
pulls the pooler back to the encoder's own)."""
POOLER_RATE = 0.1
"""The pooler's learning rate, as a fraction of the adapters': full fine-tuning's rate (1e-4 against 1e-3).
On the six-topic benchmark (all targets): 0.857 accuracy at a tenth, 0.713 at the adapters' own rate, 0.842 with
the pooler frozen."""
RECORD = "lora_base"
"""The key of ``train_config.yaml`` that records the base model a LoRA run needs."""


@dataclasses.dataclass(frozen=True)
class Lora:
    """The adapters of a run: their rank, alpha (scale ``alpha / rank``) and targets (`TARGETS` keys).

    ``alpha`` None: twice the rank.
    """

    rank: int
    alpha: float | None = None
    targets: tuple[str, ...] = tuple(DEFAULT_TARGETS.split(","))

    def __post_init__(self) -> None:
        if self.alpha is None:
            object.__setattr__(self, "alpha", 2.0 * self.rank)
        object.__setattr__(self, "alpha", float(self.alpha))  # type: ignore[arg-type]

    @property
    def scale(self) -> float:
        """What the adapters' product is multiplied by: ``alpha / rank``."""
        return float(self.alpha) / self.rank  # type: ignore[arg-type]

    @staticmethod
    def parse_targets(text: str) -> tuple[str, ...]:
        """The targets named by ``text``: comma-separated `TARGETS` or `GROUPS` names, in block order.

        Examples:
            >>> Lora.parse_targets("value, query")
            ('query', 'value')
        """
        names: set[str] = set()
        for part in (p.strip() for p in str(text).split(",")):
            if part in GROUPS:
                names.update(GROUPS[part])
            elif part in TARGETS:
                names.add(part)
            else:
                raise InputError(
                    f"lora_targets: {part!r} is not a target; name some of {', '.join(TARGETS)} "
                    f"or a group ({', '.join(GROUPS)}), comma-separated"
                )
        return tuple(t for t in TARGETS if t in names)

    @classmethod
    def from_settings(cls, cfg: Any) -> Lora | None:
        """The adapters a [`TrainConfig`][bert_hub.finetune.train_config.TrainConfig] asks for (None: full
        fine-tuning)."""
        if cfg.lora is None:
            return None
        return cls(cfg.lora, cfg.lora_alpha, cls.parse_targets(cfg.lora_targets))

    def describe(self) -> str:
        """One line for the log: ``LoRA rank 8 (alpha 16) on query, key, ...``."""
        return f"LoRA rank {self.rank} (alpha {self.alpha:g}) on {', '.join(self.targets)}; the encoder frozen"


def _encoder_weights(bert: BertPipeline) -> tuple[Any, dict[str, Any]]:
    """The architecture bert_hub computes ``bert``'s encoder with and its weights (fast-path names), or a
    one-line refusal when bert_hub does not read the encoder's layout."""
    path = bert.fast_path()
    if path.layout is None:
        raise InputError(
            f"LoRA trains adapters in bert_hub's own forward pass, which does not read this encoder "
            f"({path.reason}); fine-tune it whole (leave out --lora), or choose a BERT whose layout bert_hub "
            "reads (`bert-hub models` lists the catalog)"
        )
    return dataclasses.replace(bert.config.architecture, gelu=path.gelu), dict(path.weights)


def base_fingerprint(bert: BertPipeline) -> str:
    """A SHA-256 of the encoder's weights (names, shapes and values): what a LoRA run's adapters were trained
    on. 0.3 s for BERT-Base."""
    digest = hashlib.sha256()
    for name, weight in sorted(_encoder_weights(bert)[1].items()):
        value = np.ascontiguousarray(getattr(weight, "variable", weight).numpy())
        digest.update(f"{name}{value.shape}{value.dtype}".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


def base_record(bert: BertPipeline) -> dict[str, str]:
    """What `RECORD` holds: the model config's source and `base_fingerprint`."""
    return {"model": bert.config.source, "fingerprint": base_fingerprint(bert)}


class _Held:
    """Holds an object on a Keras layer without the layer tracking it (not in its weights or checkpoints)."""

    def __init__(self, value: Any) -> None:
        self.value = value


def adapter_layer(bert: BertPipeline, lora: Lora, seed: int, pooler: bool = False) -> Any:
    """A ``tf_keras`` layer called as ``bert.encoder_layer`` is (the three inputs -> the four outputs),
    computing the encoder with ``lora``'s adapters: its weights are the adapters (seeded by ``seed``) and,
    with ``pooler``, a trainable copy of the pooler (`POOLER`); the encoder's own are read, frozen. Build it
    in the strategy's scope."""
    import tf_keras

    from bert_hub.builder.encoder import LORA_A, LORA_B, EncoderModule, Moved

    arch, weights = _encoder_weights(bert)
    module = EncoderModule(arch, weights)  # dropout 0.1, as BERT and the encoders bert_hub converts use
    module.lora_scale = lora.scale

    class AdaptedEncoder(tf_keras.layers.Layer):
        """The encoder with LoRA adapters (see [`bert_hub.finetune.lora`][bert_hub.finetune.lora])."""

        def __init__(self) -> None:
            super().__init__(name="lora_encoder")
            self.lora = lora
            self.held = _Held(module)
            self.base = _Held(weights)
            rng = np.random.default_rng(seed)
            for i in range(arch.layers):
                for target in lora.targets:
                    prefix = f"transformer/layer_{i}/{TARGETS[target]}"
                    fan_in, fan_out = _kernel_shape(weights[f"{prefix}/kernel"])
                    bound = 1.0 / np.sqrt(fan_in)  # the Kaiming-uniform bound LoRA's reference code uses
                    a = rng.uniform(-bound, bound, (fan_in, lora.rank)).astype(np.float32)
                    for part, value in ((LORA_A, a), (LORA_B, np.zeros((lora.rank, fan_out), np.float32))):
                        module.weights[f"{prefix}/{part}"] = self.add_weight(
                            name=f"layer_{i}/{target}/{part}",
                            shape=value.shape,
                            initializer=tf_keras.initializers.Constant(value),
                            trainable=True,
                        )

            self.pooler = _Held({})  # the trained pooler, by the encoder's names
            for name in POOLER if pooler else ():
                base = weights[name]
                change = self.add_weight(name=name, shape=tuple(base.shape), initializer="zeros", trainable=True)
                moved = Moved(getattr(base, "variable", base), tuple(change.shape), change, POOLER_RATE)
                self.pooler.value[name] = module.weights[name] = moved

        @property
        def module(self) -> EncoderModule:
            """The forward pass the layer computes (its ``dropout_seed`` seeds dropout)."""
            return self.held.value

        def call(self, inputs: dict[str, Any], training: Any = None) -> dict[str, Any]:
            return self.module.encode(inputs, training=bool(training))

    return AdaptedEncoder()


def _kernel_shape(weight: Any) -> tuple[int, int]:
    """A kernel's ``(in, out)`` as the forward pass reads it (a stored-per-head kernel as ``[H, H]``)."""
    shape = tuple(getattr(weight, "shape", ()))
    return int(shape[0]), int(np.prod(shape[1:]))


def with_adapters(bert: BertPipeline, layer: Any) -> BertPipeline:
    """``bert`` whose ``encoder_layer`` is ``layer`` (a task builds its model on that); all else shared."""
    adapted = copy.copy(bert)
    adapted.__dict__["encoder_layer"] = layer
    return adapted


def merge(layer: Any) -> None:
    """Adds each adapter's ``scale * A @ B`` to its kernel and puts a trained pooler in place of the encoder's
    (its own variables, in memory), so the plain encoder computes what the adapted one did; the adapters' ``B``
    and the pooler's change are then zeros, so the layer computes the same as before and merging again changes
    nothing."""
    import tensorflow as tf

    from bert_hub.builder.encoder import LORA_A, LORA_B

    weights = layer.module.weights
    for moved in layer.pooler.value.values():
        moved.variable.assign(tf.reshape(moved.read(), moved.variable.shape))
        moved.change.assign(tf.zeros_like(moved.change))
    for name in [n for n in weights if n.endswith(f"/{LORA_A}")]:
        prefix = name[: -len(LORA_A) - 1]
        up = weights[f"{prefix}/{LORA_B}"]
        delta = tf.matmul(weights[name], up) * layer.lora.scale
        kernel = weights[f"{prefix}/kernel"]
        variable = getattr(kernel, "variable", kernel)
        variable.assign_add(tf.reshape(delta, variable.shape))
        up.assign(tf.zeros_like(up))  # merged: the layer now adds nothing, and a second merge changes nothing


def merged_model(layer: Any, model: Any, plain: Any, encoder_layer: Any) -> Any:
    """``plain`` (the task's model on the plain encoder layer) with ``model``'s head weights, after
    `merge` of ``layer``'s adapters: the model the run exports."""
    merge(layer)
    own = {id(w) for w in layer.weights}
    encoder = {id(w) for w in encoder_layer.weights}
    head = [w for w in model.weights if id(w) not in own]
    target = [w for w in plain.weights if id(w) not in encoder]
    shapes = [tuple(w.shape) for w in head]
    if shapes != [tuple(w.shape) for w in target]:
        raise AssertionError(f"the task's model has other head weights than the one trained: {shapes}")
    for mine, theirs in zip(target, head):
        mine.assign(theirs)
    return plain
