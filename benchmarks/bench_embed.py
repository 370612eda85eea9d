"""Embedding throughput: the notebook path against bert_hub's embed, in one run.

Builds (once) a BERT-Base-shaped model with random weights (L=12 H=768 A=12,
the uncased vocab of the embedded default) and measures on the same texts:

  notebook      hub.KerasLayer preprocess -> encoder in a tf_keras model,
                fixed 128 tokens, eager calls, batch 32 (the notebook's path)
  fp32          bert_hub Embedder: bucketing (multiples of 8), tf.function per bucket
  fp32+xla      the same with jit_compile
  bf16          fp32 graph run with oneDNN bfloat16 auto-mixed-precision (if the CPU has bf16)
  bf16+xla      both

Workloads: "short", 1,024 texts of 8-48 real tokens (uniform, [CLS]/[SEP]
included), and "full", 256 texts that fill 128 tokens. Every mode runs in its
own process (bf16 is a process-wide TensorFlow option), warms up on a sample
that touches every bucket, then embeds the whole workload once.

Achieved GFLOP/s counts the matmul FLOPs of BERT at the packed length of each
batch: per layer 2*b*L*(4*H^2 + 2*H*I) for the dense layers plus 4*b*L^2*H for
attention scores and context, plus the pooler. The fp32 peak is
cores x GHz x 64 (two AVX-512 FMA units x 16 lanes x 2 FLOPs per cycle).

    .venv/bin/python benchmarks/bench_embed.py [--texts-short 1024] [--texts-full 256] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

MODES = ("notebook", "fp32", "fp32+xla", "bf16", "bf16+xla")
L_, H_, A_, I_ = 12, 768, 12, 3072


def model_dir(work: Path) -> Path:
    from bert_hub.builder.bundle import build_random_bundle
    from bert_hub.embedded import checkpoint_dir

    out = work / "bert_base_random"
    if not (out / "bert_hub.yaml").is_file():
        print(f"building a random BERT-Base-shaped model in {out} ...", file=sys.stderr, flush=True)
        build_random_bundle(out, layers=L_, hidden=H_, heads=A_, intermediate=I_,
                            vocab_file=checkpoint_dir("all-MiniLM-L6-v2") / "vocab.txt", with_mlm=False)
    return out


def workloads(vocab: list[str], n_short: int, n_full: int, seed: int = 0) -> dict[str, list[str]]:
    """Texts of known wordpiece counts: whole words that are single vocab entries."""
    import numpy as np

    rng = np.random.default_rng(seed)
    words = [w for w in vocab[2000:] if w.isalpha() and w.isascii() and len(w) > 2][:8000]
    short = [" ".join(rng.choice(words, size=int(n) - 2)) for n in rng.integers(8, 49, size=n_short)]
    full = [" ".join(rng.choice(words, size=140)) for _ in range(n_full)]
    return {"short": short, "full": full}


def flops(batch: int, length: int) -> float:
    dense = 2 * batch * length * (4 * H_ * H_ + 2 * H_ * I_)
    attention = 4 * batch * length * length * H_
    return L_ * (dense + attention) + 2 * batch * H_ * H_


def run_mode(mode: str, model: Path, texts_file: Path) -> dict:
    """Runs in a child process: embeds every workload once, after a warm-up."""
    import numpy as np
    import tensorflow as tf

    from bert_hub import load_pipeline
    from bert_hub.tasks.embed import Embedder

    bf16 = mode.startswith("bf16")
    bert = load_pipeline(model)
    data = json.loads(texts_file.read_text())
    results = {}
    for name, texts in data.items():
        lengths = bert.tokenize(texts).merge_dims(1, -1).row_lengths().numpy() + 2
        lengths = np.minimum(lengths, 128)
        if mode == "notebook":
            def embed(batch_texts):
                return bert.model(tf.constant(batch_texts))["pooled_output"].numpy()

            def run(ts):
                return np.concatenate([embed(ts[i:i + 32]) for i in range(0, len(ts), 32)])

            executed = sum(flops(min(32, len(texts) - i), 128) for i in range(0, len(texts), 32))
            warm = texts[:32]
        else:
            embedder = Embedder(bert, batch_size=32, jit_compile=mode.endswith("xla"), bf16=bf16)
            assert embedder.jit_compile == mode.endswith("xla")
            order = np.argsort(lengths, kind="stable")
            executed = 0.0
            for i in range(0, len(texts), 32):
                idx = order[i:i + 32]
                executed += flops(len(idx), embedder._bucket(int(lengths[idx].max())))
            # Warm up every bucket this workload will use (traces, XLA compiles, bf16 rewrites):
            # one full batch per bucket.
            warm = [texts[int(order[i])] for i in range(0, len(texts), 32)]

            def run(ts):
                return embedder.embed(ts)

            cold_start = time.perf_counter()
            for t in warm:
                embedder.embed([t] * 32)
            results.setdefault("warmup_seconds", {})[name] = round(time.perf_counter() - cold_start, 2)
        if mode == "notebook":
            run(warm)
        start = time.perf_counter()
        vectors = run(texts)
        seconds = time.perf_counter() - start
        np.save(texts_file.with_name(f"vectors_{mode}_{name}.npy"), vectors)
        results[name] = {"texts": len(texts), "real_tokens": int(lengths.sum()), "seconds": seconds,
                         "texts_per_second": len(texts) / seconds,
                         "real_tokens_per_second": float(lengths.sum()) / seconds,
                         "gflops_per_second": executed / seconds / 1e9}
    return results


def cpu_peak_gflops() -> tuple[float, str]:
    cores = os.cpu_count() or 1
    ghz = 0.0
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("cpu MHz"):
                ghz = float(line.split(":")[1]) / 1000
                break
    except OSError:
        pass
    return cores * ghz * 64, f"{cores} cores x {ghz:.2f} GHz x 64 FLOP/cycle (2 AVX-512 FMA x 16 lanes x 2)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", default=".bench", help="folder for the built model and vectors")
    parser.add_argument("--texts-short", type=int, default=1024)
    parser.add_argument("--texts-full", type=int, default=256)
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--child", nargs=3, metavar=("MODE", "MODEL", "TEXTS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, model, texts = args.child
        print(json.dumps(run_mode(mode, Path(model), Path(texts))))
        return

    import numpy as np

    from bert_hub.builder.vocab import read_vocab
    from bert_hub.precision import cpu_supports_bf16

    work = Path(args.work).absolute()
    work.mkdir(parents=True, exist_ok=True)
    model = model_dir(work)
    texts_file = work / "texts.json"
    texts_file.write_text(json.dumps(workloads(read_vocab(model / "preprocess" / "assets" / "vocab.txt"),
                                               args.texts_short, args.texts_full)))
    modes = [m for m in args.modes.split(",") if m]
    if not cpu_supports_bf16():
        modes = [m for m in modes if not m.startswith("bf16")]
    results = {}
    for mode in modes:
        print(f"running {mode} ...", file=sys.stderr, flush=True)
        proc = subprocess.run([sys.executable, __file__, "--child", mode, str(model), str(texts_file)],
                              capture_output=True, text=True)
        if proc.returncode:
            sys.exit(f"mode {mode} failed:\n{proc.stderr[-3000:]}")
        results[mode] = json.loads(proc.stdout.strip().splitlines()[-1])

    peak, how = cpu_peak_gflops()
    base = {w: results["notebook"][w]["texts_per_second"] for w in ("short", "full")} if "notebook" in results else None
    ref = {w: np.load(work / f"vectors_fp32_{w}.npy") for w in ("short", "full")} if "fp32" in results else None
    lines = [f"CPU: {how} = {peak:.0f} GFLOP/s fp32 peak; bf16: {'yes' if cpu_supports_bf16() else 'no'}",
             "", "| workload | mode | texts/s | real tokens/s | GFLOP/s | % fp32 peak | vs notebook | min cosine to fp32 |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for w in ("short", "full"):
        for mode, r in results.items():
            x = r[w]
            cos = ""
            if ref is not None:
                v = np.load(work / f"vectors_{mode}_{w}.npy")
                c = (v * ref[w]).sum(1) / np.linalg.norm(v, axis=1) / np.linalg.norm(ref[w], axis=1)
                cos = f"{c.min():.5f}"
                x["min_cosine_to_fp32"] = float(c.min())
            ratio = f"{x['texts_per_second'] / base[w]:.2f}x" if base else ""
            lines.append(f"| {w} ({x['texts']}) | {mode} | {x['texts_per_second']:.1f} | "
                         f"{x['real_tokens_per_second']:.0f} | {x['gflops_per_second']:.0f} | "
                         f"{100 * x['gflops_per_second'] / peak:.0f}% | {ratio} | {cos} |")
    print("\n".join(lines))
    if args.json:
        Path(args.json).write_text(json.dumps({"peak_gflops": peak, "peak": how, "results": results}, indent=1))


if __name__ == "__main__":
    main()
