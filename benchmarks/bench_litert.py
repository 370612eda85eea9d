"""LiteRT exports: size, speed in the LiteRT interpreter and quality against TensorFlow, per ``--quantize``.

    .venv/bin/python benchmarks/bench_litert.py --data ../shared/data/sms_spam_train.tsv
        [--config default] [--key sentence] [--limit N] [--threads N]
        [--train | --run RUN --heldout FILE] [--tagger RUN] [--answerer RUN] [--json-out results.json]

Embedder: ``bert-hub export --config CONFIG --key KEY`` with each
quantization (none, dynamic-int8, float16); every text of ``--data`` (the
``label<TAB>text`` rows' texts) embedded by the LiteRT interpreter (batches of
32, the first call included) and by bert_hub's ``Embedder`` in float32 (the
reference): texts/s of both, cosine of each vector to the reference (mean,
smallest; also over the texts without compatibility characters, which
tensorflow-text's own normaliser would fold: see ``bert_hub.export.normalizer``).

Run (``--train``: one stratified fold of four of ``--data`` (seed 0, as
``finetune_spam.py --folds 4`` draws them) is held out and ``bert-hub train``
runs with its defaults on the rest; or ``--run`` with ``--heldout``, a
``label<TAB>text`` file the run did not train on): ``bert-hub export --model RUN`` with each quantization; accuracy
and F1 of the positive label on the held-out rows, in the LiteRT interpreter
and from the run's SavedModel (its serving signature, as ``bert-hub evaluate``
calls it); both run length-sorted batches of 32, the first call included.

Tagger and answerer (``--tagger RUN``, ``--answerer RUN``: a token-classification
or a question-answering run): ``bert-hub export --model RUN`` with each
quantization; the texts of ``--data`` tagged (the answerer: each text is
the context of four questions, in turn), in length-sorted batches of 32 (16
for the answerer), by the LiteRT interpreter and by the run's SavedModel:
texts/s of both and how many rows have the SavedModel's words, offsets and
tags (answers and offsets) exactly.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import unicodedata
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

QUANTIZATIONS = ("none", "dynamic-int8", "float16")


def read_rows(path: str, limit: int | None = None) -> tuple[list[str], list[str]]:
    """``label<TAB>text`` rows: their labels and texts."""
    rows = [line.split("\t", 1) for line in Path(path).read_text(encoding="utf-8").splitlines() if "\t" in line]
    rows = rows[:limit] if limit else rows
    return [r[0] for r in rows], [r[1] for r in rows]


def cpu_name() -> str:
    """The CPU's model name (``lscpu``)."""
    for line in os.popen("lscpu").read().splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def bench_embedder(args: argparse.Namespace, texts: list[str], tmp: Path) -> list[dict]:
    from bert_hub.export.embedder import export_embedder, output_name
    from bert_hub.export.litert import LiteRTModel
    from bert_hub.runtime.embedder import Embedder

    embedder = Embedder.from_config(args.config, key=args.key, precision="float32")
    embedder.embed(texts[:64])  # its one-time costs (tracing) out of the reference's timing
    start = time.perf_counter()
    reference = embedder.embed(texts)
    tf_speed = len(texts) / (time.perf_counter() - start)
    plain = np.array([all(unicodedata.normalize("NFKC", c) == c for c in t) for t in texts])
    rows = []
    for quantize in QUANTIZATIONS:
        out = tmp / f"embedder-{quantize}.tflite"
        report = export_embedder(args.config, out, key=args.key, quantize=quantize)
        start = time.perf_counter()
        model = LiteRTModel(out, threads=args.threads)
        got = model.batched(32, text=texts)[output_name(args.key)]
        seconds = time.perf_counter() - start
        cos = cosines(got, reference)
        rows.append(
            {
                "what": f"{args.config} --key {args.key}",
                "quantize": quantize,
                "mb": round(report["bytes"] / 1e6, 1),
                "litert_texts_per_s": round(len(texts) / seconds, 1),
                "tensorflow_float32_texts_per_s": round(tf_speed, 1),
                "cosine_mean": round(float(cos.mean()), 5),
                "cosine_min": round(float(cos.min()), 4),
                "cosine_min_plain_texts": round(float(cos[plain].min()), 5),
                "texts": len(texts),
                "texts_with_compatibility_characters": int((~plain).sum()),
            }
        )
        print(json.dumps(rows[-1]), file=sys.stderr)
    return rows


def scores(labels: list[str], predicted: list[str], positive: str) -> tuple[float, float]:
    gold = np.array(labels) == positive
    pred = np.array(predicted) == positive
    accuracy = float((np.array(labels) == np.array(predicted)).mean())
    tp = float((gold & pred).sum())
    f1 = 2 * tp / max(1.0, float(gold.sum() + pred.sum()))
    return accuracy, f1


def bench_run(args: argparse.Namespace, tmp: Path) -> list[dict]:
    import tensorflow as tf
    import tensorflow_text  # noqa: F401

    from bert_hub.export.litert import LiteRTModel
    from bert_hub.export.run import export_run
    from bert_hub.finetune.exported import find_model_dir, read_metadata, served_batches

    labels, texts = read_rows(args.heldout)
    folder = find_model_dir(args.run)
    positive = read_metadata(folder).get("positive_label") or labels[0]
    serve = tf.saved_model.load(str(folder)).signatures["serving_default"]
    start = time.perf_counter()
    saved = [""] * len(texts)
    for idx, out in served_batches(serve, {"text": texts}, 32):  # length-sorted batches, as LiteRTModel.batched
        for i, label in zip(idx, out["label"]):
            saved[i] = label.decode()
    saved_speed = len(texts) / (time.perf_counter() - start)
    saved_accuracy, saved_f1 = scores(labels, saved, positive)
    rows = []
    for quantize in QUANTIZATIONS:
        out = tmp / f"run-{quantize}.tflite"
        report = export_run(args.run, out, quantize=quantize)
        start = time.perf_counter()
        got = [v.decode() for v in LiteRTModel(out, threads=args.threads).batched(32, text=texts)["label"]]
        seconds = time.perf_counter() - start
        accuracy, f1 = scores(labels, got, positive)
        rows.append(
            {
                "what": f"run {Path(args.run).name}, {len(texts)} held-out",
                "quantize": quantize,
                "mb": round(report["bytes"] / 1e6, 1),
                "litert_texts_per_s": round(len(texts) / seconds, 1),
                "savedmodel_texts_per_s": round(saved_speed, 1),
                "accuracy": round(accuracy, 4),
                "savedmodel_accuracy": round(saved_accuracy, 4),
                f"{positive}_f1": round(f1, 4),
                f"savedmodel_{positive}_f1": round(saved_f1, 4),
                "same_labels_as_savedmodel": int(sum(a == b for a, b in zip(got, saved))),
            }
        )
        print(json.dumps(rows[-1]), file=sys.stderr)
    return rows


QUESTIONS = ("Who is it from?", "What is the prize?", "When?", "Where?")
"""The answerer's questions, asked in turn of the texts (its contexts)."""


def same_rows(run: str, out: Path, columns: dict[str, list[str]], keys: tuple[str, ...], threads: int | None):
    """Rows of ``columns`` served by the LiteRT file ``out`` and by ``run``'s SavedModel in length-sorted
    batches: each one's texts/s, how many rows agree on ``keys`` (per-word outputs cut to the row's words),
    and the rows (each a tuple of ``keys``' values, per engine)."""
    import tensorflow as tf

    from bert_hub.export.litert import LiteRTModel
    from bert_hub.finetune.exported import batches_by_length, find_model_dir

    serve = tf.saved_model.load(str(find_model_dir(run))).signatures["serving_default"]
    runner = LiteRTModel(out, threads=threads).runner()
    batch = 16 if len(columns) > 1 else 32
    batches = batches_by_length(list(columns.values()), batch)
    rows: dict[str, list] = {}
    speed = {}
    for name, call in (
        (
            "savedmodel",
            lambda feed: {k: v.numpy() for k, v in serve(**{c: tf.constant(v) for c, v in feed.items()}).items()},
        ),
        ("litert", lambda feed: runner(**{c: np.array(v, dtype=object) for c, v in feed.items()})),
    ):
        got = [None] * len(next(iter(columns.values())))
        start = time.perf_counter()
        for idx in batches:
            res = call({c: [v[i] for i in idx] for c, v in columns.items()})
            for k, i in enumerate(idx):
                n = int(res["word_count"][k]) if "word_count" in res else None
                got[i] = tuple(np.asarray(res[key][k] if n is None else res[key][k][:n]).tolist() for key in keys)
        speed[name] = round(len(got) / (time.perf_counter() - start), 1)
        rows[name] = got
    same = sum(a == b for a, b in zip(rows["savedmodel"], rows["litert"]))
    return speed, same, rows


def bench_token_runs(args: argparse.Namespace, texts: list[str], tmp: Path) -> list[dict]:
    from bert_hub.export.run import export_run

    rows = []
    for kind, run in (("tagger", args.tagger), ("answerer", args.answerer)):
        if not run:
            continue
        if kind == "tagger":
            columns, keys = {"text": texts}, ("words", "start", "end", "tags")
        else:
            asked = [QUESTIONS[i % len(QUESTIONS)] for i in range(len(texts))]
            columns, keys = {"question": asked, "context": texts}, ("answer", "start", "end", "has_answer")
        for quantize in QUANTIZATIONS:
            out = tmp / f"{kind}-{quantize}.tflite"
            report = export_run(run, out, quantize=quantize)
            speed, same, served = same_rows(run, out, columns, keys, args.threads)
            rows.append(
                {
                    "what": f"{kind} {Path(run).name}, {len(texts)} texts",
                    "quantize": quantize,
                    "mb": round(report["bytes"] / 1e6, 1),
                    "litert_texts_per_s": speed["litert"],
                    "savedmodel_texts_per_s": speed["savedmodel"],
                    "rows_as_savedmodel": same,
                }
            )
            if kind == "tagger":  # of all words, those tagged as the SavedModel tags them
                tags = [(a[-1], b[-1]) for a, b in zip(served["savedmodel"], served["litert"])]
                rows[-1]["word_tags_as_savedmodel"] = round(
                    sum(x == y for a, b in tags for x, y in zip(a, b)) / max(1, sum(len(a) for a, _ in tags)), 4
                )
            print(json.dumps(rows[-1]), file=sys.stderr)
    return rows


def train_on_folds(data: str, tmp: Path) -> tuple[str, str]:
    """A run trained with ``bert-hub train``'s defaults on three stratified folds of four of ``data`` (seed 0),
    and the file of the fourth, held out."""
    import subprocess

    sys.path.insert(0, str(Path(__file__).parent))
    from finetune_spam import folds

    lines = [line for line in Path(data).read_text(encoding="utf-8").splitlines() if "\t" in line]
    labels = np.array([line.split("\t", 1)[0] for line in lines])
    held = set(folds((labels == sorted(set(labels))[-1]).astype(int), 4, 0)[0].tolist())
    heldout, rest, run = tmp / "heldout.tsv", tmp / "rest.tsv", tmp / "run"
    heldout.write_text("".join(lines[i] + "\n" for i in sorted(held)), encoding="utf-8")
    rest.write_text("".join(line + "\n" for i, line in enumerate(lines) if i not in held), encoding="utf-8")
    bert_hub = Path(sys.executable).with_name("bert-hub")
    subprocess.run([str(bert_hub), "train", "--data", str(rest), "--out", str(run), "--no-progress"], check=True)
    return str(run), str(heldout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="label<TAB>text file: its texts are embedded")
    parser.add_argument("--config", default="default")
    parser.add_argument("--key", default="sentence")
    parser.add_argument("--limit", type=int, help="the first N texts only")
    parser.add_argument("--threads", type=int, help="LiteRT interpreter threads (default: LiteRT's)")
    parser.add_argument("--run", help="a bert-hub train run folder to export and score")
    parser.add_argument("--heldout", help="label<TAB>text rows the run did not train on")
    parser.add_argument("--train", action="store_true", help="train a run on 3 folds of --data, hold out the 4th")
    parser.add_argument("--tagger", help="a token-classification run to export and compare on --data's texts")
    parser.add_argument(
        "--answerer", help="a question-answering run to export and compare (--data's texts as contexts)"
    )
    parser.add_argument("--no-embedder", action="store_true", help="skip the embedder's rows")
    parser.add_argument("--json-out", help="write the rows as JSON here")
    args = parser.parse_args()
    if bool(args.run) != bool(args.heldout) or (args.train and args.run):
        parser.error("--run and --heldout go together; --train makes both")
    _, texts = read_rows(args.data, args.limit)
    with tempfile.TemporaryDirectory(prefix="bench_litert_") as tmp:
        if args.train:
            args.run, args.heldout = train_on_folds(args.data, Path(tmp))
        rows = [] if args.no_embedder else bench_embedder(args, texts, Path(tmp))
        if args.run:
            rows += bench_run(args, Path(tmp))
        rows += bench_token_runs(args, texts, Path(tmp))
    print(f"CPU: {cpu_name()}, {os.cpu_count()} cores")
    for row in rows:
        print("  " + ", ".join(f"{k} {v}" for k, v in row.items()))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps({"cpu": cpu_name(), "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
