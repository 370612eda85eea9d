"""An independent NumPy BERT forward pass, straight from Hugging Face tensor names.

It shares no code with bert_hub: it reads the safetensors checkpoint by its
own names, so a mistake in bert_hub's conversion (a missing transpose, a
swapped LayerNorm) shows up as a numeric difference.
"""

from __future__ import annotations

import math

import numpy as np

# NumPy has no erf; math.erf is exact to double precision.
erf = np.vectorize(math.erf, otypes=[np.float64])


def _ln(x, g, b, eps=1e-12):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * g + b


def _gelu(x):
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def _gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


def _linear(t, prefix, x):
    return x @ t[prefix + ".weight"].astype(np.float64).T + t[prefix + ".bias"]


def bert_forward(t: dict[str, np.ndarray], ids, mask, type_ids, heads: int, gelu: str = "exact"):
    """Returns (sequence_output, pooled_output, per-layer outputs) in float64; ``gelu``: exact or tanh."""
    act = _gelu if gelu == "exact" else _gelu_tanh
    t = {k.removeprefix("bert."): v.astype(np.float64) for k, v in t.items()}
    ids, mask, type_ids = (np.asarray(a) for a in (ids, mask, type_ids))
    b, s = ids.shape
    x = (
        t["embeddings.word_embeddings.weight"][ids]
        + t["embeddings.position_embeddings.weight"][:s][None]
        + t["embeddings.token_type_embeddings.weight"][type_ids]
    )
    x = _ln(x, t["embeddings.LayerNorm.weight"], t["embeddings.LayerNorm.bias"])
    hidden = x.shape[-1]
    d = hidden // heads
    neg = np.where(mask[:, None, None, :] > 0, 0.0, -1e9)
    layers = []
    i = 0
    while f"encoder.layer.{i}.attention.self.query.weight" in t:
        p = f"encoder.layer.{i}."

        def heads_of(y):
            return y.reshape(b, s, heads, d).transpose(0, 2, 1, 3)

        q = heads_of(_linear(t, p + "attention.self.query", x))
        k = heads_of(_linear(t, p + "attention.self.key", x))
        v = heads_of(_linear(t, p + "attention.self.value", x))
        scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(d) + neg
        scores = scores - scores.max(-1, keepdims=True)
        probs = np.exp(scores)
        probs /= probs.sum(-1, keepdims=True)
        ctx = (probs @ v).transpose(0, 2, 1, 3).reshape(b, s, hidden)
        x = _ln(
            x + _linear(t, p + "attention.output.dense", ctx),
            t[p + "attention.output.LayerNorm.weight"],
            t[p + "attention.output.LayerNorm.bias"],
        )
        h = _linear(t, p + "output.dense", act(_linear(t, p + "intermediate.dense", x)))
        x = _ln(x + h, t[p + "output.LayerNorm.weight"], t[p + "output.LayerNorm.bias"])
        layers.append(x)
        i += 1
    pooled = np.tanh(_linear(t, "pooler.dense", x[:, 0]))
    return x, pooled, layers


def mlm_logits(t: dict[str, np.ndarray], sequence_output, positions):
    """BERT's masked-LM head (tied decoder) on the given positions."""
    t64 = {k: v.astype(np.float64) for k, v in t.items()}
    word = t64.get("bert.embeddings.word_embeddings.weight", t64.get("embeddings.word_embeddings.weight"))
    h = np.take_along_axis(sequence_output, np.asarray(positions)[..., None], axis=1)
    h = _gelu(_linear(t64, "cls.predictions.transform.dense", h))
    h = _ln(h, t64["cls.predictions.transform.LayerNorm.weight"], t64["cls.predictions.transform.LayerNorm.bias"])
    return h @ word.T + t64["cls.predictions.bias"]
