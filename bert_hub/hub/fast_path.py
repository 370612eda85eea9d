"""The fast path: bert_hub's own forward pass over the weights of any encoder whose layout it knows.

Inference (``embed``, Beam) does not have to run an encoder's saved graph:
`EncoderModule` computes the same BERT in op
forms TensorFlow runs fastest (MatMul + BiasAdd + GELU that fuse, layer norm as
one kernel, bfloat16 kernel copies made once). It reads the encoder's own
variables, found by name in one of two layouts:

``bert_hub``
    SavedModels written by ``bert-hub build`` / ``convert``: the variables of
    the saved ``EncoderModule`` itself.
``tensorflow/models``
    SavedModels written by tensorflow/models' ``export_tfhub_lib`` (every
    Kaggle / TF Hub BERT: BERT-Base and -Large, Small BERTs, the experts):
    ``word_embeddings/embeddings``, ``transformer/layer_<i>/self_attention/query/kernel``
    (stored per head, ``[H, heads, head_size]``, read as ``[H, H]`` without a
    copy), ``pooler_transform/kernel`` and so on. Their GELU is the tanh
    approximation (``gelu: tanh`` in their configs).

Anything else (ALBERT, ELECTRA, Talking Heads, a layout bert_hub does not
recognise) keeps running its own graph. Before a ``tensorflow/models``
encoder is run through the fast path for the first time, a probe (padded
texts and a pair) compares the two on this machine: the fast path is used
only when every output agrees within `TOLERANCE`, with the config's GELU
form or, if only that matches, the other one. The verdict is kept in
bert_hub's cache (``fast_path.json``), keyed by the SavedModel's files, so
later runs pay nothing.

Examples:
    >>> from bert_hub import load_pipeline
    >>> from bert_hub.hub.fast_path import find_fast_path
    >>> find_fast_path(load_pipeline("default")).layout
    'bert_hub'
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from bert_hub.core.caches import cache_root, read_cache_file, write_cache_entry
from bert_hub.core.config import GELU_FORMS, Architecture

CACHE_NAME = "fast_path.json"
"""The cache file, in `bert_hub.core.caches.cache_root`."""
TOLERANCE = 1e-4
"""The largest difference from the encoder's own graph the probe accepts (float32, any output)."""
LAYOUTS = ("bert_hub", "tensorflow/models")
"""The layouts bert_hub reads (see the module docstring)."""


@dataclasses.dataclass(frozen=True)
class FastPath:
    """Whether and how an encoder runs on the fast path.

    Attributes:
        layout: the recognised layout (`LAYOUTS`), or ``None``: the encoder's own graph runs.
        gelu: the GELU form the fast path computes (``exact`` or ``tanh``).
        reason: one line for people: why the fast path runs or does not.
        weights: the encoder's variables under bert_hub's names (empty without a layout).
        max_difference: the probe's largest difference from the encoder's own graph, when probed.
    """

    layout: str | None
    gelu: str
    reason: str
    weights: Mapping[str, Any] = dataclasses.field(default_factory=dict, repr=False)
    max_difference: float | None = None

    @property
    def name(self) -> str:
        """``fast`` or ``saved graph``: what ``--json`` reports as the encoder path."""
        return "fast" if self.layout else "saved graph"

    def as_dict(self) -> dict[str, Any]:
        """What ``--json`` reports of the encoder's path."""
        return {
            "encoder_path": self.name,
            "encoder_layout": self.layout,
            "gelu": self.gelu,
            "encoder_path_reason": self.reason,
        }


# -- the layouts ----------------------------------------------------------------
def _variables(encoder: Any) -> dict[str, Any]:
    """The SavedModel's variables by name (without ``:0``)."""
    return {v.name.split(":")[0]: v for v in getattr(encoder, "variables", ())}


def bert_hub_weights(encoder: Any, arch: Architecture) -> dict[str, Any] | None:
    """The weights of an encoder bert_hub wrote, or None."""
    from bert_hub.builder.weights import weight_shapes

    weights = getattr(getattr(encoder, "encoder", None), "weights", None)  # restored: a dict wrapper
    if weights is None or not hasattr(weights, "__getitem__"):
        return None
    shapes = weight_shapes(arch)
    if any(n not in weights or tuple(weights[n].shape) != s for n, s in shapes.items()):
        return None
    return {n: weights[n] for n in shapes}


def upstream_names(arch: Architecture) -> dict[str, tuple[str, tuple[int, ...]]]:
    """bert_hub's weight name -> (tensorflow/models' variable name, its stored shape)."""
    H, I, A, d = arch.hidden, arch.intermediate, arch.heads, arch.head_size
    names = {
        "embeddings/word_embeddings": ("word_embeddings/embeddings", (arch.vocab_size, H)),
        "embeddings/position_embeddings": ("position_embedding/embeddings", (arch.max_position_embeddings, H)),
        "embeddings/type_embeddings": ("type_embeddings/embeddings", (arch.type_vocab_size, H)),
        "embeddings/layer_norm/gamma": ("embeddings/layer_norm/gamma", (H,)),
        "embeddings/layer_norm/beta": ("embeddings/layer_norm/beta", (H,)),
        "pooler/kernel": ("pooler_transform/kernel", (H, H)),
        "pooler/bias": ("pooler_transform/bias", (H,)),
    }
    for i in range(arch.layers):
        ours, theirs = f"transformer/layer_{i}", f"transformer/layer_{i}"
        for dense in ("query", "key", "value"):
            names[f"{ours}/attention/{dense}/kernel"] = (f"{theirs}/self_attention/{dense}/kernel", (H, A, d))
            names[f"{ours}/attention/{dense}/bias"] = (f"{theirs}/self_attention/{dense}/bias", (A, d))
        names[f"{ours}/attention/output/kernel"] = (f"{theirs}/self_attention/attention_output/kernel", (A, d, H))
        names[f"{ours}/attention/output/bias"] = (f"{theirs}/self_attention/attention_output/bias", (H,))
        for norm, their_norm in (
            ("attention_layer_norm", "self_attention_layer_norm"),
            ("output_layer_norm", "output_layer_norm"),
        ):
            for p in ("gamma", "beta"):
                names[f"{ours}/{norm}/{p}"] = (f"{theirs}/{their_norm}/{p}", (H,))
        names[f"{ours}/intermediate/kernel"] = (f"{theirs}/intermediate/kernel", (H, I))
        names[f"{ours}/intermediate/bias"] = (f"{theirs}/intermediate/bias", (I,))
        names[f"{ours}/output/kernel"] = (f"{theirs}/output/kernel", (I, H))
        names[f"{ours}/output/bias"] = (f"{theirs}/output/bias", (H,))
    return names


def upstream_weights(encoder: Any, arch: Architecture) -> dict[str, Any] | None:
    """The weights of a tensorflow/models export under bert_hub's names, or None.

    Every variable must be there with upstream's shape; per-head kernels and
    biases come as `Reshaped` views.
    """
    from bert_hub.builder.encoder import Reshaped
    from bert_hub.builder.weights import weight_shapes

    variables = _variables(encoder)
    shapes = weight_shapes(arch)
    out = {}
    for ours, (theirs, stored) in upstream_names(arch).items():
        v = variables.get(theirs)
        if v is None or tuple(v.shape) != stored:
            return None
        out[ours] = v if stored == shapes[ours] else Reshaped(v, shapes[ours])
    return out


# -- the probe and its cache ------------------------------------------------------
def model_key(encoder_dir: str | Path) -> str:
    """Identifies a SavedModel by its files: a hash of ``saved_model.pb`` and the variables' index
    (which holds a checksum of every tensor)."""
    digest = hashlib.sha256()
    for name in ("saved_model.pb", "variables/variables.index"):
        path = Path(encoder_dir) / name
        digest.update(path.read_bytes() if path.is_file() else b"-")
    return digest.hexdigest()[:32]


def _cache_path() -> Path:
    return cache_root() / CACHE_NAME


def probe_inputs(vocab_size: int, seq_length: int = 24) -> dict[str, Any]:
    """Three rows: a padded text, a full one and a pair (type ids 1); real ids from the vocab's upper part."""
    import tensorflow as tf

    length = min(seq_length, 24)
    rng = np.random.default_rng(0)
    ids = rng.integers(vocab_size // 4, vocab_size, (3, length)).astype(np.int32)
    mask = np.ones_like(ids)
    mask[0, length // 2 :] = 0
    ids[0, length // 2 :] = 0
    type_ids = np.zeros_like(ids)
    type_ids[2, length // 2 :] = 1
    return {
        "input_word_ids": tf.constant(ids),
        "input_mask": tf.constant(mask),
        "input_type_ids": tf.constant(type_ids),
    }


def difference(fast: Mapping[str, Any], saved: Mapping[str, Any], mask: np.ndarray) -> float:
    """The largest absolute difference over every output (per-token outputs on real tokens only)."""
    real = np.asarray(mask).astype(bool)
    worst = float(np.abs(np.asarray(fast["pooled_output"]) - np.asarray(saved["pooled_output"])).max())
    pairs = [(fast["sequence_output"], saved["sequence_output"])] + list(
        zip(fast["encoder_outputs"], saved["encoder_outputs"])
    )
    for a, b in pairs:
        worst = max(worst, float(np.abs(np.asarray(a)[real] - np.asarray(b)[real]).max()))
    return worst


def _probe(encoder: Any, arch: Architecture, weights: Mapping[str, Any]) -> tuple[str | None, float]:
    """The GELU form whose fast path matches ``encoder`` (the config's first), and its difference."""
    from bert_hub.builder.encoder import EncoderModule

    inputs = probe_inputs(arch.vocab_size)
    saved = encoder(inputs, training=False)
    best = float("inf")
    for gelu in (arch.gelu, *[g for g in GELU_FORMS if g != arch.gelu]):
        module = EncoderModule.for_inference(dataclasses.replace(arch, gelu=gelu), weights)
        diff = difference(module.encode(inputs), saved, inputs["input_mask"].numpy())
        if diff <= TOLERANCE:
            return gelu, diff
        best = min(best, diff)
    return None, best


def find_fast_path(bert: Any, notify: Callable[[str], None] | None = None) -> FastPath:
    """How ``bert`` (a [`BertPipeline`][bert_hub.hub.pipeline.BertPipeline]) runs inference: see the module docstring.

    ``notify`` is told (one line) when a probe is about to run.
    """
    arch = bert.config.architecture
    if not arch.is_plain_bert:
        return FastPath(None, arch.gelu, f"{bert.config.name}: not the original BERT layout; its own graph runs")
    weights = bert_hub_weights(bert.encoder, arch)
    if weights is not None:
        return FastPath("bert_hub", arch.gelu, "an encoder bert_hub wrote", weights)
    weights = upstream_weights(bert.encoder, arch)
    if weights is None:
        return FastPath(
            None,
            arch.gelu,
            f"{bert.encoder_dir}: variables in a layout bert_hub does not read; its own graph runs (slower)",
        )
    key = model_key(bert.encoder_dir)
    entry = read_cache_file(_cache_path()).get(key)
    if not (isinstance(entry, dict) and "gelu" in entry and entry["gelu"] in (*GELU_FORMS, None)):
        if notify is not None:
            notify(
                f"checking the fast path against {bert.encoder_dir}'s own graph "
                f"(once per model; kept in {_cache_path()})"
            )
        gelu, diff = _probe(bert.encoder, arch, weights)
        entry = {"gelu": gelu, "max_difference": diff, "encoder": str(bert.encoder_dir)}
        write_cache_entry(_cache_path(), key, {**entry, "probed": time.strftime("%Y-%m-%d %H:%M:%S")})
    gelu, diff = entry["gelu"], float(entry.get("max_difference", float("nan")))
    if gelu is None:
        return FastPath(
            None,
            arch.gelu,
            f"{bert.encoder_dir}: the fast path differs from its own graph by {diff:.2g}; its own graph runs (slower)",
            max_difference=diff,
        )
    reason = "a tensorflow/models export (Kaggle / TF Hub layout)"
    if gelu != arch.gelu:
        reason += (
            f"; it computes the {gelu} GELU although {bert.config.source} says "
            f"architecture.gelu: {arch.gelu} (set gelu: {gelu} there)"
        )
    return FastPath("tensorflow/models", gelu, reason, weights, max_difference=diff)
