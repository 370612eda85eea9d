"""``bert-hub demo | inspect | compare-layers | fill-mask | samples``: the notebook's looks at a model, and
sample files to try the commands on."""

from __future__ import annotations

import argparse
from typing import Any

from bert_hub.cli.args import DEFAULT_CONFIG_HELP, add_model_args, add_overwrite, command, emit, positive_int
from bert_hub.core.errors import InputError, plural


def register(sub: Any, common: Any) -> None:
    """Declares ``demo``, ``inspect``, ``compare-layers``, ``fill-mask`` and ``samples``."""
    p = command(
        sub,
        "demo",
        run_demo,
        common=common,
        frozen_weights=True,
        help="walk the notebook workflow on two sentences",
        description="Preprocess two sentences and run the encoder, as the notebook does.",
    )
    p.add_argument("--config", default="default", help=DEFAULT_CONFIG_HELP)

    p = command(
        sub,
        "inspect",
        run_inspect,
        common=common,
        frozen_weights=True,
        help="show the tokens, ids, mask and type ids of texts",
        description="A table per text: position, id, wordpiece, mask, type id; the [CLS], [SEP] and "
        "first padding positions; whether the text was truncated.",
    )
    add_model_args(p)
    p.add_argument("--pair", action="store_true", help="read TEXTs two by two as sentence pairs")

    p = command(
        sub,
        "compare-layers",
        run_compare_layers,
        common=common,
        frozen_weights=True,
        help="compare the encoder's layer outputs",
        description="Check encoder_outputs[-1] == sequence_output, the L x L layer similarity of real "
        "tokens, each layer against the final representation, and pooled_output against "
        "[CLS].",
    )
    add_model_args(p)
    p.add_argument("--plot", help="write the layer-similarity heatmap to this file (.png, .pdf, .svg, .jpg)")
    add_overwrite(p, "--plot file")
    p.add_argument(
        "--reference",
        default="sequence_output",
        help="per-token output to compare each layer with (sequence_output or encoder_outputs[i])",
    )

    p = command(
        sub,
        "fill-mask",
        run_fill_mask,
        common=common,
        frozen_weights=True,
        help="predict the [MASK]ed wordpieces",
        description="Top-k predictions for every [MASK] in each TEXT, through the encoder's masked-LM head (mlm).",
    )
    add_model_args(p)
    p.add_argument("--top-k", type=positive_int, default=5)
    register_samples(sub, common)


def pairs_of(texts: list[str]) -> tuple[list[str], list[str]]:
    """``--pair``: TEXT arguments read two by two, as (first texts, second texts)."""
    if len(texts) % 2:
        raise InputError(f"--pair takes texts two by two (first, second, ...); got {plural(len(texts), 'text')}")
    return texts[0::2], texts[1::2]


def run_demo(args: argparse.Namespace) -> None:
    """``bert-hub demo``: the notebook workflow on two sentences."""
    from bert_hub.explore.demo import format_demo, run_demo

    report = run_demo(args.config)
    emit(args, report, format_demo(report))


def run_inspect(args: argparse.Namespace) -> None:
    """``bert-hub inspect``: the tokens, ids, mask and type ids of texts."""
    from bert_hub.explore.inspect import format_inspection, inspect_texts
    from bert_hub.hub.pipeline import load_pipeline

    items: list = list(args.texts)
    if args.pair:
        items = list(zip(*pairs_of(items)))
    reports = inspect_texts(load_pipeline(args.config), items, seq_length=args.seq_length)
    emit(args, {"texts": reports}, format_inspection(reports))


def run_compare_layers(args: argparse.Namespace) -> None:
    """``bert-hub compare-layers``: how the encoder's layers relate."""
    from bert_hub.core.figures import check_image_path
    from bert_hub.explore.layers import compare_layers, find_pooler, format_layers, plot_layer_similarity
    from bert_hub.hub.pipeline import load_pipeline

    if args.plot:
        check_image_path(args.plot, overwrite=args.overwrite)
    bert = load_pipeline(args.config)
    inputs = bert.preprocess(args.texts, seq_length=args.seq_length)
    report = compare_layers(
        bert.encode_inputs(inputs), inputs["input_mask"], reference=args.reference, pooler=find_pooler(bert.encoder)
    )
    if args.plot:
        report["plot"] = str(
            plot_layer_similarity(
                report["layer_similarity"],
                args.plot,
                title=f"{bert.config.name}: layer similarity",
                overwrite=args.overwrite,
            )
        )
    emit(args, report, format_layers(report))


def run_fill_mask(args: argparse.Namespace) -> None:
    """``bert-hub fill-mask``: the most probable wordpieces for each ``[MASK]``."""
    from bert_hub.explore.fill_mask import fill_mask, format_fill_mask
    from bert_hub.hub.pipeline import load_pipeline

    results = fill_mask(load_pipeline(args.config), args.texts, top_k=args.top_k, seq_length=args.seq_length)
    emit(args, {"results": results}, format_fill_mask(results))


def register_samples(sub: Any, common: Any) -> None:
    """Declares ``samples``."""
    p = command(
        sub,
        "samples",
        run_samples,
        common=common,
        help="write small generated sample files to try every command on",
        description="Write texts.txt, sms.tsv, test.tsv (spam or ham), topics.tsv and topics.jsonl "
        "(four topics), tags.tsv (a set of topics per text), ratings.tsv (0-5 scores), "
        "ner.conll and squad.json into --out: generated in the real formats, not real data.",
    )
    p.add_argument("--out", default="samples", help="the folder to write (default samples)")
    add_overwrite(p, "--out folder")


def run_samples(args: argparse.Namespace) -> None:
    """``bert-hub samples``: the sample files, generated."""
    from bert_hub.explore.samples import write_samples

    report = write_samples(args.out, overwrite=args.overwrite)
    width = max(len(name) for name in report["files"])
    emit(
        args,
        report,
        f"Wrote {len(report['files'])} sample files into {report['out']}:\n"
        + "\n".join(f"  {name:<{width}}  {plural(rows, 'row')}" for name, rows in report["files"].items()),
    )
