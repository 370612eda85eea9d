"""Beam batch inference: which RunInference batch size, and DirectRunner vs single-process embed.

    .venv/bin/python benchmarks/bench_beam.py [--data ../shared/data/sms_spam_train.tsv] [--texts 2048]

1. Batch size: the Embedder run on consecutive batches of B texts (what
   ``RunInference`` hands a model), for several B: inside each batch texts are
   sorted by length and packed to their buckets, so larger batches group
   lengths better, up to the point where they only cost memory. Then batches
   of varying sizes, as Beam's ``BatchElements`` hands them over while it
   adapts its size (seeded, 64 to 256 texts; ``--batches-only`` stops there).
2. The same input file embedded by ``bert-hub embed`` (one process) and by
   ``bert-hub embed --runner DirectRunner`` with 2 worker processes, each as
   a CLI run (start-up and model loading included), one after the other.

Texts: the SMS messages of ``--data`` (label<TAB>text) when given, else
generated SMS-style lines. Model: the embedded default, float32.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def texts_from(data: str | None, n: int) -> list[str]:
    if data:
        rows = [line.split("\t", 1)[1] for line in Path(data).read_text(encoding="utf-8").splitlines() if "\t" in line]
    else:
        from bert_hub.explore.samples import sms_rows

        rows = [t for _, t in sms_rows(n, seed=0)]
    return (rows * (n // len(rows) + 1))[:n]


def batch_sizes(texts: list[str], sizes: list[int]) -> list[dict]:
    from bert_hub.runtime.embedder import Embedder

    embedder = Embedder.from_config("default", key="mean", precision="float32")
    embedder.embed(texts[:256])  # compile the buckets once
    out = []
    for size in sizes:
        started = time.perf_counter()
        for i in range(0, len(texts), size):
            embedder.embed(texts[i : i + size])
        seconds = time.perf_counter() - started
        out.append({"batch": size, "texts_per_second": round(len(texts) / seconds, 1)})
    rng, done, started = np.random.default_rng(0), 0, time.perf_counter()
    while done < len(texts):
        size = int(rng.integers(64, 257))
        embedder.embed(texts[done : done + size])
        done += size
    out.append({"batch": "64-256, varying", "texts_per_second": round(len(texts) / (time.perf_counter() - started), 1)})
    return out


def cli(*args: str) -> tuple[float, dict]:
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "bert_hub.cli", *args, "--json"], capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(proc.stderr)
    return time.perf_counter() - started, json.loads(proc.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", help="label<TAB>text file of real messages")
    parser.add_argument("--texts", type=int, default=2048)
    parser.add_argument("--batches-only", action="store_true", help="only part 1 (no CLI runs)")
    args = parser.parse_args()
    texts = texts_from(args.data, args.texts)
    print(f"{len(texts)} texts; CPU: {os.cpu_count()} cores")
    print("\n| RunInference batch (texts) | texts/s |\n|---:|---:|")
    for row in batch_sizes(texts, [32, 64, 128, 256, 512, 1024]):
        print(f"| {row['batch']} | {row['texts_per_second']} |")
    if args.batches_only:
        return
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        (work / "in").mkdir()
        for part in range(4):  # four files, as a sharded input would be
            (work / "in" / f"part{part}.txt").write_text("\n".join(texts[part::4]) + "\n", encoding="utf-8")
        (work / "all.txt").write_text("\n".join(texts) + "\n", encoding="utf-8")
        single, _ = cli(
            "embed",
            "--input",
            str(work / "all.txt"),
            "--output",
            str(work / "v.npy"),
            "--key",
            "mean",
            "--precision",
            "float32",
            "--no-progress",
        )
        beam, summary = cli(
            "embed",
            "--runner",
            "DirectRunner",
            "--input",
            str(work / "in" / "*.txt"),
            "--output",
            str(work / "beam"),
            "--key",
            "mean",
            "--precision",
            "float32",
            "--direct_running_mode=multi_processing",
            "--direct_num_workers=2",
        )
    print("\n| job (whole CLI run, start-up included) | seconds | texts/s | vs single process |\n|---|---:|---:|---:|")
    print(f"| bert-hub embed (1 process) | {single:.1f} | {len(texts) / single:.1f} | 1.00x |")
    print(
        f"| bert-hub embed --runner DirectRunner, 2 workers | {beam:.1f} | {summary['rows'] / beam:.1f} | "
        f"{single / beam:.2f}x |"
    )


if __name__ == "__main__":
    main()
