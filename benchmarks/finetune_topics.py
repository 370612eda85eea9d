"""Fine-tuning on real multi-class and multi-label topic data against TF-IDF + linear SVM.

The data comes from ``benchmarks/stdlib_topics.py`` (docstrings of the Python
standard library, labelled by the area of their module; real text, built
here because no topic corpus can be downloaded). bert_hub trains as
``bert-hub train --data train.tsv`` does (its defaults, or the settings
given; 10% of train.tsv for validation), the baseline on all of train.tsv;
both are scored on test.tsv with the same metric functions.

    python benchmarks/stdlib_topics.py --out .bench/topics
    python benchmarks/finetune_topics.py --data .bench/topics
    python benchmarks/stdlib_topics.py --multi-label --out .bench/tags
    python benchmarks/finetune_topics.py --data .bench/tags --multi-label
    python benchmarks/finetune_topics.py --data .bench/topics --epochs 8      # a setting other than the default
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from finetune_spam import tfidf_svm


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True, help="folder with train.tsv and test.tsv")
    ap.add_argument("--multi-label", action="store_true")
    ap.add_argument("--config", default="default")
    ap.add_argument("--epochs", type=int)
    ap.add_argument("--learning-rate", type=float)
    ap.add_argument("--batch-size", type=int)
    ap.add_argument("--pooling", choices=("pooled_output", "mean"))
    ap.add_argument("--seed", type=int, help="seed of bert_hub's split, batches and initialisation (default 0)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--lora", type=int, metavar="RANK", help="train LoRA adapters of this rank (default: off)")
    ap.add_argument("--lora-targets", help="override the default of bert-hub train (with --lora)")
    args = ap.parse_args()

    from bert_hub.runtime.precision import enable_onednn

    enable_onednn()  # as `bert-hub train` does at start-up, before TensorFlow loads

    import numpy as np

    from bert_hub.finetune.metrics import multiclass_metrics, multilabel_metrics
    from bert_hub.finetune.tasks.classification import Classifier, TextClassification
    from bert_hub.finetune.tasks.labelled_texts import read_labelled
    from bert_hub.finetune.train import train
    from bert_hub.finetune.train_config import TrainConfig

    folder = Path(args.data)
    kind = {"multi_label": True} if args.multi_label else {"multi_class": True}
    train_data = read_labelled(folder / "train.tsv", **kind)
    test_data = read_labelled(folder / "test.tsv", **kind).relabelled(train_data.label_names)
    names = train_data.label_names

    started = time.perf_counter()
    model = tfidf_svm(args.multi_label)
    if args.multi_label:
        model.fit(train_data.texts, train_data.label_matrix())
        svm = multilabel_metrics(
            test_data.label_matrix(), np.asarray(model.predict(test_data.texts), np.float32), [0.5] * len(names), names
        )
    else:
        model.fit(train_data.texts, np.asarray(train_data.labels))
        predicted = model.predict(test_data.texts)
        svm = multiclass_metrics(test_data.labels, np.eye(len(names))[predicted], names)
    svm_seconds = time.perf_counter() - started

    cfg = TrainConfig().replace(
        epochs=args.epochs,
        learning_rate=args.learning_rate,
        batch_size=args.batch_size,
        seed=args.seed,
        lora=args.lora,
        lora_targets=args.lora_targets,
    )
    task = TextClassification(pooling=args.pooling)
    with tempfile.TemporaryDirectory(prefix="bert_hub_topics_") as tmp:
        started = time.perf_counter()
        summary = train(args.config, train_data, Path(tmp) / "run", cfg, task=task, progress=False)
        train_seconds = time.perf_counter() - started
        ours = Classifier(Path(tmp) / "run").evaluate(test_data)

    keys = (
        ["micro_f1", "macro_f1", "samples_f1", "subset_accuracy"]
        if args.multi_label
        else ["accuracy", "macro_f1", "micro_f1", "weighted_f1"]
    )
    report = {
        "data": str(folder),
        "train": len(train_data),
        "test": len(test_data),
        "labels": list(names),
        "settings": {
            "epochs": summary["epochs"],
            "learning_rate": cfg.peak_learning_rate,
            "lora": cfg.lora and {"rank": cfg.lora, "targets": cfg.lora_targets},
            "batch_size": cfg.batch_size,
            "pooling": task.settings.pooling,
            "seed": cfg.seed,
            "steps": summary["steps"],
        },
        "bert_hub": {k: ours[k] for k in keys} | {"training_seconds": round(train_seconds, 1)},
        "TF-IDF + LinearSVC": {k: svm[k] for k in keys} | {"training_seconds": round(svm_seconds, 1)},
    }
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    print(
        f"{folder}: {len(train_data)} train / {len(test_data)} test, {len(names)} labels; bert_hub: "
        f"{summary['epochs']} epochs ({summary['steps']} steps), learning rate {cfg.peak_learning_rate}, "
        f"{task.settings.pooling}" + (f", LoRA rank {cfg.lora} on {cfg.lora_targets}" if cfg.lora else "")
    )
    print(f"{'model':<22}" + "".join(f"{k:>16}" for k in keys) + f"{'train s':>10}")
    for name in ("bert_hub", "TF-IDF + LinearSVC"):
        row = report[name]
        print(f"{name:<22}" + "".join(f"{row[k]:>16.4f}" for k in keys) + f"{row['training_seconds']:>10.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
