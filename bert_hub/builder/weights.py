"""The names and shapes of a BERT encoder's weights, and their initialisation.

Weights travel as a flat ``{name: float32 array}`` dict. The names are the
SavedModel's variable names:

```python
embeddings/word_embeddings            [vocab_size, H]
embeddings/position_embeddings        [max_position_embeddings, H]
embeddings/type_embeddings            [type_vocab_size, H]
embeddings/layer_norm/{gamma,beta}    [H]
transformer/layer_<i>/attention/{query,key,value,output}/{kernel,bias}   [H, H], [H]
transformer/layer_<i>/attention_layer_norm/{gamma,beta}                  [H]
transformer/layer_<i>/intermediate/{kernel,bias}                         [H, I], [I]
transformer/layer_<i>/output/{kernel,bias}                               [I, H], [H]
transformer/layer_<i>/output_layer_norm/{gamma,beta}                     [H]
pooler/{kernel,bias}                  [H, H], [H]
mlm/transform/{kernel,bias}, mlm/layer_norm/{gamma,beta}, mlm/output_bias   (optional MLM head)
```

Kernels are ``[in, out]`` (``x @ kernel``). This module needs no TensorFlow.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from bert_hub.core.config import Architecture
from bert_hub.core.errors import CheckpointError, InputError

_MLM_NAMES = (
    "mlm/transform/kernel",
    "mlm/transform/bias",
    "mlm/layer_norm/gamma",
    "mlm/layer_norm/beta",
    "mlm/output_bias",
)


def weight_shapes(arch: Architecture, with_mlm: bool = False) -> dict[str, tuple[int, ...]]:
    """The name and shape of every encoder weight, in a stable order."""
    H, I = arch.hidden, arch.intermediate
    shapes: dict[str, tuple[int, ...]] = {
        "embeddings/word_embeddings": (arch.vocab_size, H),
        "embeddings/position_embeddings": (arch.max_position_embeddings, H),
        "embeddings/type_embeddings": (arch.type_vocab_size, H),
        "embeddings/layer_norm/gamma": (H,),
        "embeddings/layer_norm/beta": (H,),
    }
    for i in range(arch.layers):
        p = f"transformer/layer_{i}"
        for dense in ("query", "key", "value", "output"):
            shapes[f"{p}/attention/{dense}/kernel"] = (H, H)
            shapes[f"{p}/attention/{dense}/bias"] = (H,)
        shapes[f"{p}/attention_layer_norm/gamma"] = (H,)
        shapes[f"{p}/attention_layer_norm/beta"] = (H,)
        shapes[f"{p}/intermediate/kernel"] = (H, I)
        shapes[f"{p}/intermediate/bias"] = (I,)
        shapes[f"{p}/output/kernel"] = (I, H)
        shapes[f"{p}/output/bias"] = (H,)
        shapes[f"{p}/output_layer_norm/gamma"] = (H,)
        shapes[f"{p}/output_layer_norm/beta"] = (H,)
    shapes["pooler/kernel"] = (H, H)
    shapes["pooler/bias"] = (H,)
    if with_mlm:
        shapes.update(
            {
                "mlm/transform/kernel": (H, H),
                "mlm/transform/bias": (H,),
                "mlm/layer_norm/gamma": (H,),
                "mlm/layer_norm/beta": (H,),
                "mlm/output_bias": (arch.vocab_size,),
            }
        )
    return shapes


def has_mlm(weights: Mapping[str, np.ndarray]) -> bool:
    """Whether ``weights`` hold a masked-LM head."""
    return all(name in weights for name in _MLM_NAMES)


def check_weights(arch: Architecture, weights: Mapping[str, np.ndarray], source: str) -> None:
    """Raises CheckpointError naming the first missing or misshapen weight."""
    for name, shape in weight_shapes(arch, with_mlm=has_mlm(weights)).items():
        if name not in weights:
            raise CheckpointError(f"{source}: weight {name!r} is missing")
        if tuple(weights[name].shape) != shape:
            raise CheckpointError(
                f"{source}: weight {name!r} has shape {tuple(weights[name].shape)}, "
                f"expected {shape} for L={arch.layers} H={arch.hidden} A={arch.heads}"
            )


def random_weights(arch: Architecture, seed: int = 0, with_mlm: bool = True) -> dict[str, np.ndarray]:
    """BERT's initialisation: truncated normal (stddev 0.02), zero biases, unit gammas."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise InputError(f"`seed` must be a whole number from 0 to {2**32 - 1}, got {seed!r}")
    rng = np.random.default_rng(seed)
    out = {}
    for name, shape in weight_shapes(arch, with_mlm=with_mlm).items():
        if name.endswith("/gamma"):
            out[name] = np.ones(shape, np.float32)
        elif name.endswith(("/beta", "/bias", "output_bias")):
            out[name] = np.zeros(shape, np.float32)
        else:
            out[name] = np.clip(rng.normal(0.0, 0.02, shape), -0.04, 0.04).astype(np.float32)
    return out
