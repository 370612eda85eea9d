"""Training throughput with and without length bucketing, on the same data, in one run.

Fine-tunes the embedded default (all-MiniLM-L6-v2, real weights) for one
epoch on generated SMS-style messages (bert_hub.explore.samples), once
packing every batch to 128 tokens (the tutorial's way) and once packing each
batch to its length bucket (multiples of 8). Reports examples/second of the
epoch (tracing included in both) and the ratio.

    .venv/bin/python benchmarks/bench_train.py [--examples 1024] [--config default]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=1024)
    parser.add_argument("--config", default="default")
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()

    from bert_hub.runtime.precision import enable_onednn

    enable_onednn()  # as `bert-hub train` does at start-up, before TensorFlow loads

    from bert_hub.finetune.data import LabelledTexts
    from bert_hub.explore.samples import sms_rows
    from bert_hub.finetune.train import train
    from bert_hub.finetune.train_config import TrainConfig

    rows = sms_rows(args.examples, seed=7)
    data = LabelledTexts([t for _, t in rows], [int(lab == "spam") for lab, _ in rows], ("ham", "spam"))
    # Everything is training data here; the validation split only has to exist.
    splits = (data, data.subset(range(64)), data.subset([]))
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, bucketing in (("fixed 128", False), ("bucketed", True)):
            cfg = TrainConfig(epochs=1, batch_size=args.batch_size, bucketing=bucketing)
            summary = train(args.config, splits, Path(tmp) / name.replace(" ", "_"), cfg)
            h = summary["history"][0]
            results[name] = {"examples_per_second": h["examples_per_second"], "seconds": h["seconds"],
                             "steps": h["steps"]}
    ratio = results["bucketed"]["examples_per_second"] / results["fixed 128"]["examples_per_second"]
    print(json.dumps(results, indent=1))
    print(f"| model | examples | fixed 128: examples/s | bucketed: examples/s | speed-up |\n|---|---:|---:|---:|---:|\n"
          f"| {args.config} | {args.examples} | {results['fixed 128']['examples_per_second']:.1f} | "
          f"{results['bucketed']['examples_per_second']:.1f} | {ratio:.2f}x |")


if __name__ == "__main__":
    main()
