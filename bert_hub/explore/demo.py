"""The notebook workflow, step by step, as data.

`run_demo` preprocesses two sentences, runs the encoder and reports
what the well-known notebook shows: the three preprocess outputs and their
shapes, the real-token count of each sentence, where ``[CLS]`` and ``[SEP]``
are, the four encoder outputs and their shapes, that there is one
``encoder_outputs`` entry per layer, that the last one equals
``sequence_output``, and a preview of ``pooled_output``.

Examples:
    >>> from bert_hub.explore.demo import run_demo
    >>> report = run_demo("default")
    >>> report["preprocess"]["real_tokens"]
    [8, 8]
    >>> report["encoder"]["last_encoder_output_equals_sequence_output"]
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from bert_hub.core.interface import INPUT_KEYS
from bert_hub.hub.pipeline import BertPipeline, load_pipeline

SEED_SENTENCES = ("This is a spam mail", "Computers are not unique to computers")
PREVIEW = 12


def run_demo(config: Any = "default", sentences: Sequence[str] = SEED_SENTENCES) -> dict[str, Any]:
    """Runs the notebook workflow and returns a JSON-ready report."""
    bert = config if isinstance(config, BertPipeline) else load_pipeline(config)
    arch = bert.config.architecture
    specials = bert.special_tokens()
    inputs = bert.preprocess(list(sentences))
    mask = inputs["input_mask"]
    ids = inputs["input_word_ids"]
    real = mask.sum(axis=1).astype(int).tolist()
    vocab = bert.vocab()

    outputs = bert.encode_inputs(inputs)
    last = outputs["encoder_outputs"][-1]
    diff = float(np.max(np.abs(last - outputs["sequence_output"])))
    pooled = outputs["pooled_output"]
    return {
        "config": bert.config.name,
        "config_file": bert.config.source,
        "model": {
            "layers": arch.layers,
            "hidden": arch.hidden,
            "heads": arch.heads,
            "vocab_size": specials["vocab_size"],
            "preprocess_dir": str(bert.preprocess_dir),
            "encoder_dir": str(bert.encoder_dir),
        },
        "sentences": list(sentences),
        "special_tokens": specials,
        "preprocess": {
            "keys": sorted(inputs),
            "shapes": {k: list(inputs[k].shape) for k in INPUT_KEYS},
            "real_tokens": real,
            "tokens": [[vocab[i] for i in row[:n]] for row, n in zip(ids.tolist(), real)],
            "cls_positions": [np.flatnonzero(row == specials["start_of_sequence_id"]).tolist() for row in ids],
            "sep_positions": [np.flatnonzero(row == specials["end_of_segment_id"]).tolist() for row in ids],
            "first_ids": [row[0] for row in ids.tolist()],
            "last_real_ids": [row[n - 1] for row, n in zip(ids.tolist(), real)],
            "preview": {k: inputs[k][:, :PREVIEW].tolist() for k in INPUT_KEYS},
        },
        "encoder": {
            "keys": sorted(outputs),
            "shapes": {
                "sequence_output": list(outputs["sequence_output"].shape),
                "pooled_output": list(pooled.shape),
                "default": list(outputs["default"].shape),
                "encoder_outputs": [list(t.shape) for t in outputs["encoder_outputs"]],
            },
            "num_encoder_outputs": len(outputs["encoder_outputs"]),
            "num_layers": arch.layers,
            "encoder_outputs_match_layers": len(outputs["encoder_outputs"]) == arch.layers,
            "last_encoder_output_equals_sequence_output": bool(np.array_equal(last, outputs["sequence_output"])),
            "last_encoder_output_max_abs_diff": diff,
            "default_equals_pooled_output": bool(np.array_equal(outputs["default"], pooled)),
            "pooled_output_preview": np.round(pooled[:, :PREVIEW], 6).tolist(),
        },
    }


def format_demo(report: dict[str, Any]) -> str:
    """The report as text for people."""
    pre, enc, sp = report["preprocess"], report["encoder"], report["special_tokens"]
    m = report["model"]
    lines = [
        f"Model: {report['config']}  (L={m['layers']} H={m['hidden']} A={m['heads']}, vocab {m['vocab_size']})",
        f"  preprocess: {m['preprocess_dir']}",
        f"  encoder:    {m['encoder_dir']}",
        "",
        "1. Preprocess",
    ]
    for key in ("input_word_ids", "input_mask", "input_type_ids"):
        lines.append(f"   {key:<15} shape {tuple(pre['shapes'][key])}")
    lines.append(
        f"   special tokens: [CLS]={sp['start_of_sequence_id']} [SEP]={sp['end_of_segment_id']} "
        f"[PAD]={sp['padding_id']}" + (f" [MASK]={sp['mask_id']}" if "mask_id" in sp else "")
    )
    for i, text in enumerate(report["sentences"]):
        lines += [
            f"   {text!r}",
            f"     real tokens: {pre['real_tokens'][i]}  [CLS] at {pre['cls_positions'][i]}, "
            f"[SEP] at {pre['sep_positions'][i]}",
            f"     wordpieces:  {' '.join(pre['tokens'][i])}",
            f"     word ids:    {pre['preview']['input_word_ids'][i]} ...",
            f"     mask:        {pre['preview']['input_mask'][i]} ...",
            f"     type ids:    {pre['preview']['input_type_ids'][i]} ...",
        ]
    lines += ["", "2. Encoder outputs"]
    for key in ("sequence_output", "pooled_output", "default"):
        lines.append(f"   {key:<16} shape {tuple(enc['shapes'][key])}")
    lines.append(
        f"   encoder_outputs  {enc['num_encoder_outputs']} tensors of shape "
        f"{tuple(enc['shapes']['encoder_outputs'][0])} (one per layer, L={enc['num_layers']})"
    )
    lines.append(
        f"   encoder_outputs[-1] == sequence_output: "
        f"{enc['last_encoder_output_equals_sequence_output']} "
        f"(max abs diff {enc['last_encoder_output_max_abs_diff']:.3g})"
    )
    lines.append(f"   default == pooled_output: {enc['default_equals_pooled_output']}")
    lines.append("   pooled_output preview:")
    for i, row in enumerate(enc["pooled_output_preview"]):
        lines.append(f"     [{i}] " + " ".join(f"{v:+.4f}" for v in row[:8]) + " ...")
    return "\n".join(lines)
