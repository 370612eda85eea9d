"""The ``bert-hub`` commands: each one reads its arguments, calls the Python API and prints.

:mod:`bert_hub.cli` parses the command line, silences TensorFlow's logging,
then imports this module (which loads TensorFlow) and runs ``cmd_<name>``.
Output is text for people, or one JSON object with ``--json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import tensorflow as tf

from bert_hub.builder.bundle import build_random_bundle, convert_checkpoint_bundle
from bert_hub.builder.checkpoint import read_checkpoint
from bert_hub.builder.vocab import read_vocab, special_token_ids
from bert_hub.catalog import catalog, format_catalog
from bert_hub.config import load_config
from bert_hub.errors import InputError, plural
from bert_hub.loading import root_attributes
from bert_hub.outputs import check_image_path, check_output_dir
from bert_hub.pipeline import load_pipeline
from bert_hub.resolution import resolve
from bert_hub.tasks.classifier import Classifier
from bert_hub.tasks.exported import model_task
from bert_hub.tasks.data import read_labelled
from bert_hub.tasks.entities import format_entity_metrics
from bert_hub.tasks.question_answering import QuestionAnswerer, format_answers, read_squad
from bert_hub.tasks.squad_eval import format_squad_metrics
from bert_hub.tasks.token_classification import TokenClassifier, format_predictions, read_conll
from bert_hub.tasks.demo import format_demo, run_demo
from bert_hub.tasks.embed import Embedder, check_embed_paths
from bert_hub.tasks.fill_mask import fill_mask, format_fill_mask
from bert_hub.tasks.inspect import format_inspection, inspect_texts
from bert_hub.tasks.layers import compare_layers, find_pooler, format_layers, plot_layer_similarity
from bert_hub.tasks.metrics import (
    format_metrics,
    format_multiclass_metrics,
    format_multilabel_metrics,
    format_regression_metrics,
)
from bert_hub.tasks.regression import Regressor, read_scored
from bert_hub.tasks.train import train
from bert_hub.tasks.train_config import TrainConfig, load_train_config, recorded_train_config

log = logging.getLogger("bert_hub")


def emit(args: argparse.Namespace, data: dict[str, Any], text: str) -> None:
    if args.json:
        print(json.dumps(data, indent=2, sort_keys=False))
    else:
        print(text)


# -- commands -----------------------------------------------------------------

def cmd_demo(args: argparse.Namespace) -> None:
    report = run_demo(args.config)
    emit(args, report, format_demo(report))


def cmd_inspect(args: argparse.Namespace) -> None:
    items: list = list(args.texts)
    if args.pair:
        if len(items) % 2:
            raise InputError(f"--pair takes texts two by two (first, second, ...); got {plural(len(items), 'text')}")
        items = [(items[i], items[i + 1]) for i in range(0, len(items), 2)]
    reports = inspect_texts(load_pipeline(args.config), items, seq_length=args.seq_length)
    emit(args, {"texts": reports}, format_inspection(reports))


def cmd_compare_layers(args: argparse.Namespace) -> None:
    if args.plot:
        check_image_path(args.plot, overwrite=args.overwrite)
    bert = load_pipeline(args.config)
    inputs = bert.preprocess(args.texts, seq_length=args.seq_length)
    report = compare_layers(bert.encode_inputs(inputs), inputs["input_mask"], reference=args.reference,
                            pooler=find_pooler(bert.encoder))
    if args.plot:
        report["plot"] = str(plot_layer_similarity(report["layer_similarity"], args.plot,
                                                   title=f"{bert.config.name}: layer similarity",
                                                   overwrite=args.overwrite))
    emit(args, report, format_layers(report))


def cmd_fill_mask(args: argparse.Namespace) -> None:
    results = fill_mask(load_pipeline(args.config), args.texts, top_k=args.top_k, seq_length=args.seq_length)
    emit(args, {"results": results}, format_fill_mask(results))


def parse_buckets(text: str | None) -> list[int] | None:
    if not text:
        return None
    try:
        return [int(b) for b in text.split(",")]
    except ValueError:
        raise InputError(f"--buckets {text!r}: expected comma-separated lengths like 16,32,64,128") from None


def _beam_summary(args: argparse.Namespace, summary: dict[str, Any], what: str) -> None:
    text = (f"{what} {plural(summary['rows'], 'line')} of {summary['input']} on {summary['runner']} in "
            f"{summary['seconds']} s: Parquet shards in {summary['output']}/data"
            + (f"\n  {plural(summary['errors'], 'line')} failed: see {summary['output']}/errors"
               if summary["errors"] else ""))
    emit(args, summary, text)


def _exit_now(message: str, signum: int) -> None:
    """A program interrupted during a Beam job (its output already cleaned up): says so and ends at once."""
    print(message, file=sys.stderr, flush=True)
    sys.stdout.flush()
    os._exit(128 + signum)


def cmd_embed(args: argparse.Namespace) -> None:
    buckets = parse_buckets(args.buckets)
    if args.runner:
        from bert_hub.beam import check_pipeline_args, run_embed  # Apache Beam: an optional extra

        check_pipeline_args(args.pipeline_args, "embed", args.own_options)
        summary = run_embed(args.input, args.output, config=args.config, key=args.key, precision=args.precision,
                            jit_compile=args.xla, batch_size=args.batch_size, seq_length=args.seq_length,
                            bucketing=not args.no_bucketing, buckets=buckets,
                            pipeline_args=["--runner", args.runner, *args.pipeline_args], overwrite=args.overwrite,
                            exit_on_interrupt=_exit_now if args.standalone else None)
        return _beam_summary(args, summary, "Embedded")
    check_embed_paths(args.input, args.output, overwrite=args.overwrite)
    embedder = Embedder.from_config(args.config, key=args.key, batch_size=args.batch_size,
                                    bucketing=not args.no_bucketing, buckets=buckets, seq_length=args.seq_length,
                                    precision=args.precision, jit_compile=args.xla,
                                    notify=lambda line: print(line, file=sys.stderr, flush=True))
    bert = embedder.bert
    report = embedder.embed_file(args.input, args.output, progress=not args.no_progress,
                                 overwrite=args.overwrite)
    report.update(config=bert.config.name)
    rows = report["texts"] if not embedder.per_token else report["real_tokens"]
    truncated = (f"\n  truncated to {embedder.seq_length} tokens: {plural(report['truncated_texts'], 'text')}"
                 if report["truncated_texts"] else "")
    text = (f"Embedded {plural(report['texts'], 'text')} ({report['real_tokens']} real tokens) with "
            f"{bert.config.name}, key {args.key}, {report['precision']}"
            f"{', XLA' if embedder.jit_compile else ''}{', bucketing' if not args.no_bucketing else ', fixed length'}\n"
            f"  {report['seconds']} s: {report['texts_per_second']} texts/s, "
            f"{report['real_tokens_per_second']} real tokens/s\n  wrote {report['output']} "
            f"[{rows}, {report['width']}]" + (f" and {report['lengths']}" if "lengths" in report else "")
            + truncated)
    emit(args, report, text)


def read_data(args: argparse.Namespace, path: str, task: str = "text-classification",
              label_names: Any = None) -> Any:
    """The data file of ``task``: labelled texts (or pairs), scores, CoNLL sentences or SQuAD JSON;
    ``label_names``: the labels a binary model knows (another one is an error naming its line)."""
    if task == "token-classification":
        return read_conll(path)
    if task == "question-answering":
        return read_squad(path)
    if task == "text-regression":
        return read_scored(path, fmt=args.format, text_col=args.text_col, label_col=args.label_col,
                           pair_col=args.pair_col)
    return read_labelled(path, fmt=args.format, text_col=args.text_col, label_col=args.label_col,
                         positive=args.positive, pair_col=args.pair_col, multi_class=args.multi_class,
                         multi_label=args.multi_label, label_sep=args.label_sep, label_names=label_names)


def cmd_train(args: argparse.Namespace) -> None:
    # A resumed run starts from its own settings; the YAML and flags given must not change them.
    base = recorded_train_config(Path(args.out).expanduser()) if args.resume else None
    cfg = load_train_config(args.train_config, base).replace(
        **{f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)})
    if args.cpu_replicas:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * args.cpu_replicas)
    data = read_data(args, args.data, args.task)
    if args.validation_data or args.test_data:
        if not (args.validation_data and args.test_data):
            raise InputError("give both --validation-data and --test-data, or neither (then --data is split)")
        data = (data, read_data(args, args.validation_data, args.task), read_data(args, args.test_data, args.task))
    summary = train(args.config, data, args.out, cfg, task=args.task, resume=args.resume, overwrite=args.overwrite,
                    strategy=args.strategy, worker_timeout=args.worker_timeout,
                    progress=not args.no_progress and not args.json and sys.stdout.isatty())
    if not summary["chief"]:
        return emit(args, summary, f"Worker done: {plural(summary['steps'], 'step')} of a multi-worker run; "
                                   f"the chief writes the run in {summary['run']}")
    lines = [f"Trained {summary['model']} ({summary['task']}) for {plural(summary['epochs_done'], 'epoch')} "
             f"({plural(summary['steps'], 'step')}, {summary['replicas']} replica(s)); run in {summary['run']}"]
    if summary["history"]:
        eps = [h["examples_per_second"] for h in summary["history"]]
        lines.append(f"  training speed: {sum(eps) / len(eps):.1f} examples/s")
    for split in ("validation", "test"):
        if f"{split}_metrics" in summary:
            lines += ["", f"{split.capitalize()} split:",
                      format_task_metrics(summary["task"], summary[f"{split}_metrics"], summary)]
    if "export" in summary:
        example = {"question-answering": '--question "..." --context "..."'}.get(summary["task"], "TEXT")
        lines += ["", f"Exported for serving: {summary['export']}  (bert-hub predict --model {args.out} {example})"]
    emit(args, summary, "\n".join(lines))


def format_task_metrics(task: str, metrics: dict[str, Any], info: dict[str, Any]) -> str:
    if task == "token-classification":
        return format_entity_metrics(metrics)
    if task == "question-answering":
        return format_squad_metrics(metrics)
    if task == "text-regression":
        return format_regression_metrics(metrics)
    if info.get("multi_class"):
        return format_multiclass_metrics(metrics)
    if info.get("multi_label"):
        return format_multilabel_metrics(metrics)
    return format_metrics(metrics, info["label_names"])


def cmd_evaluate(args: argparse.Namespace) -> None:
    task = model_task(args.model)
    if task == "text-classification":
        clf = Classifier(args.model)
        if clf.multi_class:
            args.multi_class = True
        elif clf.multi_label:
            args.multi_label = True
        else:
            args.positive = args.positive or clf.info["positive_label"]
        if clf.pairs and not args.pair_col:
            raise InputError(f"{clf.path} classifies sentence pairs: name the second text's column with --pair-col")
        known = None if clf.multi_class or clf.multi_label else clf.label_names
        metrics = clf.evaluate(read_data(args, args.data, label_names=known), plot=args.plot,
                               overwrite=args.overwrite)
        return emit(args, {"model": str(clf.path), "data": args.data, **metrics},
                    format_task_metrics(task, metrics, clf.info))
    if task == "text-regression":
        reg = Regressor(args.model)
        if reg.pairs and not args.pair_col:
            raise InputError(f"{reg.path} scores sentence pairs: name the second text's column with --pair-col")
        metrics = reg.evaluate(read_data(args, args.data, task), plot=args.plot, overwrite=args.overwrite)
        return emit(args, {"model": str(reg.path), "data": args.data, "task": task, **metrics},
                    format_regression_metrics(metrics))
    if args.plot:
        raise InputError("--plot draws a classifier's or regressor's figures; this model is a " + task)
    model = TokenClassifier(args.model) if task == "token-classification" else QuestionAnswerer(args.model)
    metrics = model.evaluate(read_data(args, args.data, task))
    emit(args, {"model": str(model.path), "data": args.data, "task": task, **metrics},
         format_task_metrics(task, metrics, model.info))


def cmd_predict(args: argparse.Namespace) -> None:
    if args.runner:
        if not (args.input and args.output) or args.texts:
            raise InputError("predict --runner reads --input FILES and writes --output FOLDER; give both, "
                             "and no TEXT arguments")
        from bert_hub.beam import check_pipeline_args, run_predict  # Apache Beam: an optional extra

        check_pipeline_args(args.pipeline_args, "predict", args.own_options)
        summary = run_predict(args.input, args.output, model=args.model,
                              pipeline_args=["--runner", args.runner, *args.pipeline_args], overwrite=args.overwrite,
                              exit_on_interrupt=_exit_now if args.standalone else None)
        return _beam_summary(args, summary, "Scored")
    if args.input or args.output:
        raise InputError("--input and --output go with --runner; without it, give TEXT arguments")
    task = model_task(args.model)
    if (task == "question-answering") != bool(args.question or args.context):
        raise InputError("--question and --context go with a question-answering model; "
                         + ("give both" if task == "question-answering" else f"{args.model} is a {task} model"))
    if task == "question-answering":
        if not (args.question and args.context) or args.texts:
            raise InputError("a question answerer takes --question Q (repeatable) and --context C, no TEXT")
        qa = QuestionAnswerer(args.model)
        rows = qa.predict(args.question, [args.context] * len(args.question))
        return emit(args, {"model": str(qa.path), "context": args.context, "answers": rows}, format_answers(rows))
    if not args.texts:
        raise InputError("predict takes TEXT arguments (or --runner with --input FILES and --output FOLDER)")
    texts, pairs = args.texts, None
    if args.pair:
        if len(texts) % 2:
            raise InputError(f"--pair takes texts two by two (first, second, ...); got {plural(len(texts), 'text')}")
        texts, pairs = texts[0::2], texts[1::2]
    if task == "text-regression":
        reg = Regressor(args.model)
        rows = reg.predict(texts, pairs=pairs)
        text = "\n".join(f"{r['score']:>9.4f}  {r['text']}" + (f"  ||  {r['text_pair']}" if "text_pair" in r else "")
                         for r in rows)
        return emit(args, {"model": str(reg.path), "predictions": rows}, text)
    if task == "token-classification":
        ner = TokenClassifier(args.model)
        rows = ner.predict(args.texts)
        return emit(args, {"model": str(ner.path), "predictions": rows}, format_predictions(rows))
    clf = Classifier(args.model)
    rows = clf.predict(texts, pairs=pairs, top_k=args.top_k)
    if clf.multi_label:
        width = max([len(r["label"] or "(none)") for r in rows])
        text = "\n".join(f"{r['label'] or '(none)':<{width}}  {r['text']}"
                         + (f"  ||  {r['text_pair']}" if "text_pair" in r else "") for r in rows)
        return emit(args, {"model": str(clf.path), "label_names": list(clf.label_names), "multi_label": True,
                           "thresholds": clf.info["thresholds"], "predictions": rows}, text)
    width = max(len(r["label"]) for r in rows)

    def others(r: dict[str, Any]) -> str:
        rest = r.get("top", [])[1:]
        return "  (" + ", ".join(f"{t['label']} {t['probability']:.4f}" for t in rest) + ")" if rest else ""

    text = "\n".join(f"{r['label']:<{width}}  {r['probability']:.4f}  {r['text']}"
                     + (f"  ||  {r['text_pair']}" if "text_pair" in r else "") + others(r) for r in rows)
    emit(args, {"model": str(clf.path), "positive_label": clf.info["positive_label"],
                "label_names": list(clf.label_names), "multi_class": clf.multi_class, "predictions": rows}, text)


def cmd_models(args: argparse.Namespace) -> None:
    rows = [entry.as_dict() for entry in catalog()]
    emit(args, {"models": rows}, format_catalog(rows))


def bundle_report(config: Any, out: str, started: float) -> dict[str, Any]:
    encoder_dir = resolve(config.encoder)
    has_mlm = "mlm" in root_attributes(encoder_dir)
    return {"out": out, "config": config.source, "name": config.name,
            "preprocess": str(resolve(config.preprocess)), "encoder": str(encoder_dir),
            "architecture": config.architecture.to_dict(), "has_mlm": has_mlm,
            "seq_length": config.seq_length, "seconds": round(time.perf_counter() - started, 2)}


def bundle_text(report: dict[str, Any]) -> str:
    a = report["architecture"]
    return (f"Wrote {report['name']} (L={a['layers']} H={a['hidden']} A={a['heads']} "
            f"I={a['intermediate']}, vocab {a['vocab_size']}, {'cased' if a['cased'] else 'uncased'}"
            f", MLM head: {'yes' if report['has_mlm'] else 'no'}) in {report['seconds']} s\n"
            f"  preprocess: {report['preprocess']}\n  encoder:    {report['encoder']}\n"
            f"  config:     {report['config']}  (use it with --config)")


def cmd_build(args: argparse.Namespace) -> None:
    check_output_dir(args.out, kind="bundle", overwrite=args.overwrite)
    vocab = args.vocab or vocab_of(args.vocab_from)
    special_token_ids(read_vocab(vocab), source=str(vocab))
    started = time.perf_counter()
    log.info("bert-hub: building a random-weight encoder L=%d H=%d A=%d into %s ...",
                                       args.layers, args.hidden, args.heads, args.out)
    config = build_random_bundle(args.out, layers=args.layers, hidden=args.hidden, heads=args.heads,
                                 intermediate=args.intermediate, vocab_file=vocab,
                                 lower_case=not args.cased,
                                 max_position_embeddings=args.max_position_embeddings,
                                 seq_length=args.seq_length, seed=args.seed,
                                 with_mlm=not args.no_mlm, name=args.name,
                                 overwrite=args.overwrite)
    report = bundle_report(config, args.out, started)
    emit(args, report, bundle_text(report))


def vocab_of(config_name: str) -> Path:
    """The ``vocab.txt`` of a config's preprocess model."""
    return resolve(load_config(config_name).preprocess) / "assets" / "vocab.txt"


def cmd_convert(args: argparse.Namespace) -> None:
    check_output_dir(args.out, kind="bundle", overwrite=args.overwrite)
    started = time.perf_counter()
    checkpoint = read_checkpoint(args.source, lower_case=args.lower_case)
    log.info("bert-hub: converting %s into %s ...", args.source, args.out)
    config = convert_checkpoint_bundle(checkpoint, args.out, seq_length=args.seq_length, name=args.name,
                                       overwrite=args.overwrite)
    report = bundle_report(config, args.out, started)
    emit(args, report, bundle_text(report))
