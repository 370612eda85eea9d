"""Spam classification, cross-validated: bert_hub's fine-tuning against a TF-IDF + linear baseline.

    .venv/bin/python benchmarks/finetune_spam.py --data ../shared/data/sms_spam_train.tsv [--folds 5]
        [--config default] [--limit N] [--epochs N] [--learning-rate R] [--pooling mean]
        [--keep-best] [--tune-threshold] [--class-weight] [--precision bfloat16]
        [--lora RANK [--lora-targets TARGETS] [--lora-alpha ALPHA]]

Stratified k folds (seeded). In each fold the other folds are the training
rows: bert_hub trains on them exactly as ``bert-hub train --data`` would
(its default validation split held out, no test split) with
``bert-hub train``'s defaults, changed only by the flags given here; the
baseline (TF-IDF of word 1-2-grams and char 2-5-grams, LinearSVC,
scikit-learn) trains on all of them. Both are scored on the held-out fold.
Prints one table: mean and standard deviation over the folds (bert_hub at
its stored threshold, and at 0.5 as well when ``--tune-threshold`` chose
another). scikit-learn is a benchmark-only dependency (``pip install
scikit-learn``, or the ``bench`` extra).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def folds(labels: np.ndarray, k: int, seed: int) -> list[np.ndarray]:
    """Stratified, seeded fold indices."""
    rng = np.random.default_rng(seed)
    parts: list[list[int]] = [[] for _ in range(k)]
    for cls in (0, 1):
        idx = np.flatnonzero(labels == cls)
        rng.shuffle(idx)
        for i, chunk in enumerate(np.array_split(idx, k)):
            parts[i] += chunk.tolist()
    return [np.sort(np.asarray(p)) for p in parts]


def tfidf_svm(multi_label: bool = False) -> Any:
    """The baseline: TF-IDF of word 1-2-grams and char 2-5-grams, then a linear SVM (one per label for
    label sets)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.pipeline import make_pipeline, make_union
    from sklearn.svm import LinearSVC

    svm = LinearSVC(C=1.0)
    return make_pipeline(
        make_union(
            TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
            TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True),
        ),
        OneVsRestClassifier(svm) if multi_label else svm,
    )


def baseline(train_texts: list[str], train_y: np.ndarray, test_texts: list[str]) -> np.ndarray:
    model = tfidf_svm()
    model.fit(train_texts, train_y)
    return model.predict(test_texts)


def scores(y: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    from bert_hub.finetune.metrics import binary_metrics

    m = binary_metrics(y, predicted.astype(float), 0.5)
    return {"accuracy": m["accuracy"], "f1": m["f1"], "precision": m["precision"], "recall": m["recall"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="label<TAB>text file (SMS Spam Collection format)")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--config", default="default")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, help="override the default of bert-hub train")
    parser.add_argument("--learning-rate", type=float, help="override the default of bert-hub train")
    parser.add_argument("--pooling", help="override the default of bert-hub train (pooled_output or mean)")
    parser.add_argument("--precision", help="override the default of bert-hub train (auto, float32, bfloat16)")
    for flag in ("--keep-best", "--tune-threshold", "--class-weight"):
        parser.add_argument(flag, action="store_true", default=None, help="turn on (default: off)")
    parser.add_argument("--limit", type=int, help="use only the first N folds (quicker, less certain)")
    parser.add_argument("--lora", type=int, metavar="RANK", help="train LoRA adapters of this rank (default: off)")
    parser.add_argument("--lora-targets", help="override the default of bert-hub train (with --lora)")
    parser.add_argument("--lora-alpha", type=float, help="override the default of bert-hub train (with --lora)")
    args = parser.parse_args()

    from bert_hub.runtime.precision import enable_onednn

    enable_onednn()  # as `bert-hub train` does at start-up, before TensorFlow loads

    from bert_hub.finetune.tasks.classification import Classifier, TextClassification
    from bert_hub.finetune.tasks.labelled_texts import LabelledTexts, read_labelled, stratified_split
    from bert_hub.finetune.train import train
    from bert_hub.finetune.train_config import TrainConfig

    data = read_labelled(args.data)
    labels = np.asarray(data.labels)
    cfg = TrainConfig().replace(
        seed=args.seed,
        epochs=args.epochs,
        learning_rate=args.learning_rate,
        keep_best=args.keep_best,
        precision=args.precision,
        lora=args.lora,
        lora_targets=args.lora_targets,
        lora_alpha=args.lora_alpha,
    )
    task = TextClassification(pooling=args.pooling, tune_threshold=args.tune_threshold, class_weight=args.class_weight)
    own = task.settings
    rows: dict[str, list[dict[str, float]]] = {"bert_hub": [], "TF-IDF + LinearSVC": []}
    if own.tune_threshold:
        rows = {"bert_hub (tuned threshold)": [], "bert_hub (threshold 0.5)": [], "TF-IDF + LinearSVC": []}
    parts = folds(labels, args.folds, args.seed)
    with tempfile.TemporaryDirectory(prefix="bert_hub_cv_") as tmp:  # removed at the end, or on a failure
        work = Path(tmp)
        for i, test_idx in enumerate(parts[: args.limit or args.folds]):
            train_idx = np.setdiff1d(np.arange(len(labels)), test_idx)
            rest, test = data.subset(train_idx), data.subset(test_idx)
            fit, val, _ = stratified_split(rest, validation=cfg.validation_fraction, test=0.0, seed=args.seed)
            started = time.perf_counter()
            splits = (fit, val, LabelledTexts([], [], data.label_names))
            summary = train(args.config, splits, work / f"fold{i}", cfg, task=task)
            clf = Classifier(work / f"fold{i}")
            probs = np.array([r["probability"] for r in clf.predict(test.texts)])
            del clf
            shutil.rmtree(work / f"fold{i}")  # one fold's run (~360 MB) on disk at a time
            y = np.asarray(test.labels)
            if own.tune_threshold:
                rows["bert_hub (tuned threshold)"].append(scores(y, probs >= summary["threshold"]))
                rows["bert_hub (threshold 0.5)"].append(scores(y, probs >= 0.5))
            else:
                rows["bert_hub"].append(scores(y, probs >= summary["threshold"]))
            rows["TF-IDF + LinearSVC"].append(scores(y, baseline(rest.texts, np.asarray(rest.labels), test.texts)))
            print(
                json.dumps(
                    {
                        "fold": i,
                        "seconds": round(time.perf_counter() - started, 1),
                        "epochs": summary["epochs"],
                        "threshold": summary["threshold"],
                        "best_epoch": summary.get("best_epoch"),
                        **{name: r[-1] for name, r in rows.items()},
                    }
                ),
                flush=True,
            )
    n = len(rows["TF-IDF + LinearSVC"])
    lora = f", LoRA rank {cfg.lora} on {cfg.lora_targets}" if cfg.lora else ""
    print(
        f"\n{n} of {args.folds} stratified folds of {args.data} ({len(labels)} messages, "
        f"{labels.mean():.1%} spam); bert_hub: {args.config}, {cfg.epochs or 'default'} epochs, learning rate "
        f"{cfg.peak_learning_rate:g}{lora}, pooling {own.pooling}, keep_best {cfg.keep_best}, tune_threshold "
        f"{own.tune_threshold}, class_weight {own.class_weight}, precision {summary['precision']}\n"
    )
    print("| model | accuracy | spam F1 | precision | recall |\n|---|---:|---:|---:|---:|")
    for name, runs in rows.items():
        cells = [
            f"{np.mean([r[k] for r in runs]):.4f} ± {np.std([r[k] for r in runs]):.4f}"
            for k in ("accuracy", "f1", "precision", "recall")
        ]
        print(f"| {name} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
