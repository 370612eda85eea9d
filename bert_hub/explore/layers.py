"""Layer comparison: how the encoder's per-layer outputs relate.

Given encoder outputs and the input mask, `compare_layers` reports

(a) whether ``encoder_outputs[-1]`` equals ``sequence_output`` exactly (as
    the notebook shows) and within a tolerance;
(b) an L x L matrix of layer similarity: the mean cosine similarity between
    two layers' vectors of the same real token (padding excluded);
(c) for each layer, how similar each token is to its final representation
    (``reference``, default ``sequence_output``);
(d) how ``pooled_output`` relates to the ``[CLS]`` vector: their cosine, and
    whether ``pooled_output == tanh(dense([CLS]))`` with the encoder's pooler
    weights when they can be found among its variables.

`plot_layer_similarity` draws (b) as a heatmap PNG.

Examples:
    >>> from bert_hub import load_pipeline
    >>> from bert_hub.explore.layers import compare_layers
    >>> bert = load_pipeline("default")
    >>> inputs = bert.preprocess(["This is a spam mail"])
    >>> report = compare_layers(bert.encode_inputs(inputs), inputs["input_mask"])
    >>> report["last_equals_sequence_output"]["exact"], len(report["layer_similarity"])
    (True, 6)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bert_hub.core.errors import InputError
from bert_hub.core.figures import check_image_path, save_plot
from bert_hub.core.interface import check_output_key, select

SELECTABLE = ("sequence_output", "pooled_output", "default")
"""The outputs a layer comparison can take as its reference."""


def select_output(outputs: dict[str, Any], key: str) -> np.ndarray:
    """``sequence_output``, ``pooled_output``, ``default`` or ``encoder_outputs[i]``."""
    check_output_key(key, len(outputs["encoder_outputs"]), SELECTABLE, flag="output key")
    return np.asarray(select(outputs, key))


def _unit(x: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(norm, 1e-12)


def compare_layers(
    outputs: dict[str, Any],
    input_mask: np.ndarray,
    *,
    reference: str = "sequence_output",
    atol: float = 1e-6,
    pooler: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict[str, Any]:
    """Compares the layers of one batch of encoder outputs (see the module docstring).

    Args:
        outputs: the encoder's output dict (arrays; ``encoder_outputs`` a list).
        input_mask: ``[batch, seq_len]``, 1 on real tokens.
        reference: the output each layer's tokens are compared with in (c).
        atol: tolerance for the "equal within tolerance" check in (a).
        pooler: optional ``(kernel, bias)`` of the pooler dense layer for (d).
    """
    layers = [np.asarray(t, np.float64) for t in outputs["encoder_outputs"]]
    sequence = np.asarray(outputs["sequence_output"], np.float64)
    mask = np.asarray(input_mask).astype(bool)
    if mask.shape != sequence.shape[:2]:
        raise InputError(f"input_mask has shape {mask.shape} but sequence_output has {sequence.shape[:2]}")
    ref = select_output(outputs, reference).astype(np.float64)
    if ref.ndim != 3:
        raise InputError(f"reference {reference!r} is not per-token; use sequence_output or encoder_outputs[i]")
    real = [_unit(layer[mask]) for layer in layers]  # each [n_real_tokens, H]
    n = len(layers)
    matrix = np.ones((n, n))
    for i in range(n):
        for j in range(i + 1, n):
            matrix[i, j] = matrix[j, i] = float(np.mean(np.sum(real[i] * real[j], axis=-1)))
    ref_unit = _unit(ref)
    per_token = []
    for b in range(sequence.shape[0]):
        idx = np.flatnonzero(mask[b])
        per_token.append(
            [np.sum(_unit(layer[b, idx]) * ref_unit[b, idx], axis=-1).round(6).tolist() for layer in layers]
        )
    per_layer_mean = [float(np.mean(np.sum(r * ref_unit[mask], axis=-1))) for r in real]

    last = np.asarray(outputs["encoder_outputs"][-1])
    seq32 = np.asarray(outputs["sequence_output"])
    pooled = np.asarray(outputs["pooled_output"], np.float64)
    cls = sequence[:, 0]
    report: dict[str, Any] = {
        "num_layers": n,
        "last_equals_sequence_output": {
            "exact": bool(np.array_equal(last, seq32)),
            "within_tolerance": bool(np.allclose(last, seq32, atol=atol, rtol=0)),
            "tolerance": atol,
            "max_abs_diff": float(np.max(np.abs(last - seq32))),
        },
        "layer_similarity": matrix.round(6).tolist(),
        "reference": reference,
        "similarity_to_reference_per_layer": [round(v, 6) for v in per_layer_mean],
        "similarity_to_reference_per_token": per_token,
        "pooled_vs_cls": {
            "cosine": np.sum(_unit(pooled) * _unit(cls), axis=-1).round(6).tolist(),
            "pooled_max_abs": float(np.max(np.abs(pooled))),
            "pooled_within_tanh_range": bool(np.all(np.abs(pooled) <= 1.0)),
        },
    }
    if pooler is not None:
        kernel, bias = (np.asarray(a, np.float64) for a in pooler)
        expected = np.tanh(cls @ kernel + bias)
        diff = float(np.max(np.abs(expected - pooled)))
        report["pooled_vs_cls"].update(pooler_max_abs_diff=diff, pooled_is_tanh_dense_cls=diff <= 1e-4)
    return report


def find_pooler(encoder: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """The pooler's (kernel, bias) among an encoder SavedModel's variables, if named so.

    bert_hub names them ``pooler/kernel`` and ``pooler/bias``; the TF Model
    Garden exports ``pooler_transform/kernel`` and ``pooler_transform/bias``.
    """
    found = {}
    for v in getattr(encoder, "variables", []):
        name = v.name.split(":")[0]
        for prefix in ("pooler/", "pooler_transform/"):
            if name.endswith((prefix + "kernel", prefix + "bias")):
                found[name.rsplit("/", 1)[1]] = v.numpy()
    if "kernel" in found and "bias" in found and found["kernel"].ndim == 2:
        return found["kernel"], found["bias"]
    return None


def plot_layer_similarity(
    matrix: Sequence[Sequence[float]], path: str | Path, title: str = "", overwrite: bool = False
) -> Path:
    """Writes the L x L similarity heatmap (atomically; png, pdf, svg or jpg by the suffix).

    An existing file is replaced only with ``overwrite`` and only if bert_hub
    wrote it (see `bert_hub.core.outputs`).
    """
    from matplotlib.figure import Figure

    path = check_image_path(path, overwrite=overwrite)
    m = np.asarray(matrix)
    fig = Figure(figsize=(1.0 + 0.6 * len(m), 0.6 + 0.6 * len(m)), dpi=100)
    ax = fig.subplots()
    im = ax.imshow(m, vmin=min(0.0, float(m.min())), vmax=1.0, cmap="viridis")
    ax.set_xticks(range(len(m)), [str(i + 1) for i in range(len(m))])
    ax.set_yticks(range(len(m)), [str(i + 1) for i in range(len(m))])
    ax.set_xlabel("layer")
    ax.set_ylabel("layer")
    ax.set_title(title or "mean cosine similarity of real tokens")
    for i in range(len(m)):
        for j in range(len(m)):
            ax.text(
                j,
                i,
                f"{m[i, j]:.2f}",
                ha="center",
                va="center",
                fontsize=7,
                color="black" if m[i, j] > 0.6 else "white",
            )
    fig.colorbar(im, ax=ax)
    fig.tight_layout()
    return save_plot(fig, path, overwrite=overwrite)


def format_layers(report: dict[str, Any]) -> str:
    """A layer comparison, for people."""
    a = report["last_equals_sequence_output"]
    lines = [
        f"encoder_outputs[-1] == sequence_output: exact {a['exact']}, within {a['tolerance']:g}: "
        f"{a['within_tolerance']} (max abs diff {a['max_abs_diff']:.3g})",
        "",
        "Layer similarity (mean cosine of real tokens):",
        "       " + " ".join(f"{j + 1:>6}" for j in range(report["num_layers"])),
    ]
    for i, row in enumerate(report["layer_similarity"]):
        lines.append(f"  {i + 1:>4} " + " ".join(f"{v:6.3f}" for v in row))
    lines += [
        "",
        f"Similarity of each layer's tokens to {report['reference']} (mean):",
        "  " + "  ".join(f"L{i + 1}={v:.3f}" for i, v in enumerate(report["similarity_to_reference_per_layer"])),
    ]
    p = report["pooled_vs_cls"]
    lines += [
        "",
        "pooled_output vs [CLS] vector:",
        f"  cosine per text: {', '.join(f'{c:.3f}' for c in p['cosine'])}",
        f"  pooled values within tanh range: {p['pooled_within_tanh_range']} (max |v| {p['pooled_max_abs']:.3f})",
    ]
    if "pooler_max_abs_diff" in p:
        lines.append(
            f"  pooled_output == tanh(dense([CLS])): {p['pooled_is_tanh_dense_cls']} "
            f"(max abs diff {p['pooler_max_abs_diff']:.3g})"
        )
    if "plot" in report:
        lines += ["", f"Heatmap written to {report['plot']}"]
    return "\n".join(lines)
