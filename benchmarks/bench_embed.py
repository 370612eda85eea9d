"""Embedding throughput: bert_hub's modes, the notebook path and (with --peers) PyTorch / ONNX Runtime.

One BERT-Base-shaped model (L=12 H=768 A=12, random weights, the uncased
vocab of the embedded default) is written once as a Hugging Face checkpoint
(config.json, model.safetensors, vocab.txt) and converted to a bert_hub
bundle, so every engine runs the same weights on the same texts:

  bert_hub         ``bert-hub embed``'s default: ``Embedder.from_config``, mode ``auto``, in a
                   process that packs weights once as ``bert-hub embed`` does (see
                   bert_hub.runtime.precision). The calibration ``auto`` makes on a new CPU runs
                   first, in a process of its own and a fresh cache, and is reported
                   apart: the engine's first pass is what every later run pays.
  bert_hub api     the same from a Python script that calls neither ``enable_onednn()`` nor
                   ``assume_frozen_weights()`` (Eigen kernels on an AVX2 CPU; elsewhere oneDNN with
                   weights packed again at every call)
  bert_hub fp32 / fp32+xla / bf16 / bf16+xla / int8
                   ``bert_hub`` with the mode forced (bf16 only where the CPU has native bf16;
                   int8: ``--precision int8``, the int8 kernels made at load, inside "first pass")
  notebook         hub.KerasLayer preprocess -> encoder in a tf_keras model, fixed 128
                   tokens, eager calls (the notebook's path)
  kaggle graph     (--upstream) ``bert_hub`` on the same weights exported by tensorflow/models' own
                   TF Hub code (``../shared/tools/upstream_bert``: the Kaggle graph, tanh GELU), placed
                   under the real Kaggle handles in a kagglehub cache and loaded by the shipped
                   config ``bert_en_uncased_L-12_H-768_A-12``: bert_hub's fast path on upstream's
                   variables. It also reports how far the fast path is from the export's own graph
                   (every output, 128-token texts and pairs).
  kaggle own graph (--upstream) the same, running the export's own graph (no fast path: as before)
  torch fp32 / torch bf16 / onnxruntime fp32 / torch int8 / onnxruntime int8   (--peers, when installed)
                   Hugging Face tokenizers (BertWordPieceTokenizer on the same vocab.txt),
                   batches sorted by length and padded to their longest; PyTorch
                   ``transformers.BertModel`` under ``inference_mode`` (bf16: CPU autocast);
                   ONNX Runtime on the same model exported with ``torch.onnx.export``

Batch 32 everywhere; pooled_output is the output; tokenization is inside the
timed region for every engine. Each engine runs in its own process: it loads,
makes one pass over each workload ("first pass": what a one-shot run pays,
tracing, XLA compilation and oneDNN's first-use costs included), then three
more; "texts/s" is the median of those three (warm). Workloads: "short", texts
of 8-48 tokens ([CLS]/[SEP] included), and "full", texts that fill 128 tokens.
With ``--data`` (``label<TAB>text``, e.g. the SMS Spam Collection) the short
texts are real messages of 8-48 tokens and the full ones real messages joined
until they pass 128 tokens; else random words of the vocab.

    .venv/bin/python benchmarks/bench_embed.py [--peers] [--upstream] [--data FILE] [--texts-short 1024]
        [--texts-full 256] [--engines a,b,...] [--json out.json]

Peers are benchmark-only: ``pip install torch==2.13.0 transformers onnx onnxscript onnxruntime``
(the ``peers`` extra names them).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

L_, H_, A_, I_ = 12, 768, 12, 3072
BATCH = 32
SEQ = 128
OURS = (
    "bert_hub",
    "bert_hub api",
    "bert_hub fp32",
    "bert_hub fp32+xla",
    "bert_hub bf16",
    "bert_hub bf16+xla",
    "bert_hub int8",
    "notebook",
)
#: Engines whose mode ``auto`` chooses (calibrated first, in a child of their own).
AUTO = ("bert_hub", "bert_hub api", "kaggle graph", "kaggle own graph")
PEERS = ("torch fp32", "torch bf16", "onnxruntime fp32", "torch int8", "onnxruntime int8")
#: The upstream export (the Kaggle graph) under bert_hub.
UPSTREAM = ("kaggle graph", "kaggle own graph")
#: The Kaggle handles the export is placed under, and the shipped config that names them.
KAGGLE_CONFIG = "bert_en_uncased_L-12_H-768_A-12"
KAGGLE_HANDLES = {
    "preprocess": "tensorflow/bert/tensorFlow2/en-uncased-preprocess/3",
    "encoder": "tensorflow/bert/tensorFlow2/en-uncased-l-12-h-768-a-12/4",
}
UPSTREAM_TOOL = Path(__file__).resolve().parents[2] / "shared" / "tools" / "upstream_bert"


# -- the shared model ---------------------------------------------------------
def hf_checkpoint(work: Path) -> Path:
    """A random BERT-Base-shaped checkpoint in Hugging Face's layout (bert_hub's weights, renamed)."""
    import numpy as np
    from safetensors.numpy import save_file

    from bert_hub.builder.checkpoint import _HF_DENSE, _HF_NORM
    from bert_hub.builder.vocab import read_vocab
    from bert_hub.builder.weights import random_weights
    from bert_hub.core.config import Architecture
    from bert_hub.hub.embedded import checkpoint_dir

    out = work / "bert_base_hf"
    if (out / "model.safetensors").is_file():
        return out
    out.mkdir(parents=True, exist_ok=True)
    vocab = checkpoint_dir("all-MiniLM-L6-v2") / "vocab.txt"
    tokens = read_vocab(vocab)
    arch = Architecture(layers=L_, hidden=H_, heads=A_, vocab_size=len(tokens), intermediate=I_)
    w = random_weights(arch, seed=0, with_mlm=False)
    hf = {
        "embeddings.word_embeddings.weight": w["embeddings/word_embeddings"],
        "embeddings.position_embeddings.weight": w["embeddings/position_embeddings"],
        "embeddings.token_type_embeddings.weight": w["embeddings/type_embeddings"],
        "embeddings.LayerNorm.weight": w["embeddings/layer_norm/gamma"],
        "embeddings.LayerNorm.bias": w["embeddings/layer_norm/beta"],
        "pooler.dense.weight": w["pooler/kernel"].T,
        "pooler.dense.bias": w["pooler/bias"],
    }
    for i in range(L_):
        for ours, theirs in _HF_DENSE.items():
            hf[f"encoder.layer.{i}.{theirs}.weight"] = w[f"transformer/layer_{i}/{ours}/kernel"].T
            hf[f"encoder.layer.{i}.{theirs}.bias"] = w[f"transformer/layer_{i}/{ours}/bias"]
        for ours, theirs in _HF_NORM.items():
            hf[f"encoder.layer.{i}.{theirs}.weight"] = w[f"transformer/layer_{i}/{ours}/gamma"]
            hf[f"encoder.layer.{i}.{theirs}.bias"] = w[f"transformer/layer_{i}/{ours}/beta"]
    save_file({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in hf.items()}, str(out / "model.safetensors"))
    (out / "vocab.txt").write_bytes(vocab.read_bytes())
    (out / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True}))
    (out / "config.json").write_text(
        json.dumps(
            {
                "model_type": "bert",
                "architectures": ["BertModel"],
                "num_hidden_layers": L_,
                "hidden_size": H_,
                "num_attention_heads": A_,
                "intermediate_size": I_,
                "vocab_size": len(tokens),
                "max_position_embeddings": 512,
                "type_vocab_size": 2,
                "hidden_act": "gelu",
                "layer_norm_eps": 1e-12,
                "hidden_dropout_prob": 0.1,
                "attention_probs_dropout_prob": 0.1,
            }
        )
    )
    return out


def bundle(work: Path, checkpoint: Path) -> Path:
    from bert_hub.builder.bundle import convert_checkpoint_bundle

    out = work / "bert_base_bundle"
    if not (out / "bert_hub.yaml").is_file():
        print(f"converting the checkpoint into {out} ...", file=sys.stderr, flush=True)
        convert_checkpoint_bundle(checkpoint, out, name="bert_base_random")
    return out


def kaggle_cache(work: Path, checkpoint: Path, tool: Path) -> Path:
    """The same weights exported by tensorflow/models (tanh GELU, as the Kaggle BERTs), placed under the
    real handles in a kagglehub cache folder (returned)."""
    cache = work / "kagglehub"
    if all((cache / "models" / f"{h}.complete").is_file() for h in KAGGLE_HANDLES.values()):
        return cache
    tanh = work / "bert_base_hf_tanh"  # the checkpoint with Hugging Face's name for the tanh GELU
    tanh.mkdir(exist_ok=True)
    for f in ("vocab.txt", "model.safetensors", "tokenizer_config.json"):
        if not (tanh / f).exists():
            (tanh / f).symlink_to(checkpoint / f)
    config = json.loads((checkpoint / "config.json").read_text())
    (tanh / "config.json").write_text(json.dumps({**config, "hidden_act": "gelu_new"}))
    print(
        f"setting up {tool} and exporting the checkpoint with tensorflow/models' code (minutes) ...",
        file=sys.stderr,
        flush=True,
    )
    python = (
        subprocess.run(["bash", str(tool / "setup.sh")], check=True, capture_output=True, text=True)
        .stdout.strip()
        .splitlines()[-1]
    )
    export = work / "upstream_export"
    shutil.rmtree(export, ignore_errors=True)
    subprocess.run(
        [python, str(tool / "export.py"), "--hf-dir", str(tanh), "--out", str(export)], check=True, capture_output=True
    )
    for role, handle in KAGGLE_HANDLES.items():
        target = cache / "models" / handle
        shutil.rmtree(target, ignore_errors=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(export / role, target)
        (target.parent / f"{target.name}.complete").touch()
    return cache


def upstream_fidelity(bert, texts: list[str]) -> float:
    """The fast path against the export's own graph: the largest difference over every output, on
    128-token texts and on pairs."""
    from bert_hub.hub.fast_path import difference

    worst = 0.0
    for inputs in (bert.preprocess(texts[:8]), bert.pack([texts[:8], texts[8:16]])):
        fast = bert.inference_encoder()(inputs, training=False)
        worst = max(worst, difference(fast, bert.encoder(inputs, training=False), inputs["input_mask"]))
    return worst


# -- the texts ----------------------------------------------------------------
def workloads(vocab_file: Path, data: Path | None, n_short: int, n_full: int, seed: int = 0) -> dict[str, list[str]]:
    import numpy as np
    from tokenizers import BertWordPieceTokenizer

    tok = BertWordPieceTokenizer(str(vocab_file), lowercase=True)
    rng = np.random.default_rng(seed)

    def length(text: str) -> int:
        return len(tok.encode(text).ids)  # [CLS] and [SEP] included

    if data is not None:
        texts = [
            line.split("\t", 1)[1].strip() for line in data.read_text(encoding="utf-8").splitlines() if "\t" in line
        ]
        rng.shuffle(texts)
        short = [t for t in texts if 8 <= length(t) <= 48][:n_short]
        full, current = [], ""
        for t in texts:
            current = f"{current} {t}".strip()
            if length(current) > SEQ + 8:
                full.append(current)
                current = ""
            if len(full) == n_full:
                break
        return {name: texts for name, texts in (("short", short), ("full", full)) if texts}
    from bert_hub.builder.vocab import read_vocab

    words = [w for w in read_vocab(vocab_file)[2000:] if w.isalpha() and w.isascii() and len(w) > 2][:8000]
    short = [" ".join(rng.choice(words, size=int(n) - 2)) for n in rng.integers(8, 49, size=n_short)]
    full = [" ".join(rng.choice(words, size=SEQ + 12)) for _ in range(n_full)]
    return {name: texts for name, texts in (("short", short), ("full", full)) if texts}


# -- one engine, in a child process ---------------------------------------------
def timed_passes(run, texts: list[str], passes: int = 3) -> tuple[float, list[float], object]:
    start = time.perf_counter()
    vectors = run(texts)
    first = time.perf_counter() - start
    warm = []
    for _ in range(passes):
        start = time.perf_counter()
        run(texts)
        warm.append(time.perf_counter() - start)
    return first, warm, vectors


def ours(engine: str, model: Path) -> tuple[dict, object]:
    """An Embedder (or the notebook's path) and what it cost to set up."""
    import numpy as np

    import bert_hub
    from bert_hub.runtime.embedder import Embedder

    started = time.perf_counter()
    bert = bert_hub.load_pipeline(KAGGLE_CONFIG if engine.removeprefix("calibrate ") in UPSTREAM else model)
    info = {"load_seconds": time.perf_counter() - started}
    if engine.endswith("kaggle own graph"):
        from bert_hub.hub.fast_path import FastPath

        bert._fast_path = FastPath(None, "tanh", "benchmark: the export's own graph")  # as before the fast path
    if engine == "notebook":
        import tensorflow as tf

        def run(texts):
            return np.concatenate(
                [
                    bert.model(tf.constant(texts[i : i + BATCH]))["pooled_output"].numpy()
                    for i in range(0, len(texts), BATCH)
                ]
            )

        return info, run
    from bert_hub.runtime.calibration import MODES

    forced = MODES.get(engine.removeprefix("calibrate ").removeprefix("bert_hub").strip())
    embedder = (
        Embedder(bert, batch_size=BATCH, precision=forced.precision, jit_compile=forced.xla)
        if forced
        else Embedder.from_config(bert, batch_size=BATCH)
    )  # what bert-hub embed does
    started = time.perf_counter()
    info["mode"] = embedder.resolve_mode().name  # calibrates on first use when mode is auto
    info["calibration_seconds"] = time.perf_counter() - started
    info["encoder_path"] = bert.fast_path().as_dict()
    return info, embedder.embed


def peer(engine: str, checkpoint: Path, work: Path) -> tuple[dict, object]:
    import numpy as np
    import torch
    from tokenizers import BertWordPieceTokenizer
    from transformers import BertModel

    torch.set_num_threads(os.cpu_count() or 1)
    started = time.perf_counter()
    tokenizer = BertWordPieceTokenizer(str(checkpoint / "vocab.txt"), lowercase=True)
    tokenizer.enable_truncation(SEQ)
    model = BertModel.from_pretrained(str(checkpoint)).eval()
    info: dict = {"threads": torch.get_num_threads()}

    def batches(texts):
        ids = [e.ids for e in tokenizer.encode_batch(texts)]
        order = np.argsort([len(x) for x in ids], kind="stable")
        for i in range(0, len(texts), BATCH):
            idx = order[i : i + BATCH]
            width = max(len(ids[j]) for j in idx)
            word = np.zeros((len(idx), width), np.int64)
            mask = np.zeros((len(idx), width), np.int64)
            for row, j in enumerate(idx):
                word[row, : len(ids[j])] = ids[j]
                mask[row, : len(ids[j])] = 1
            yield idx, word, mask

    def collect(texts, compute):
        out = np.zeros((len(texts), H_), np.float32)
        for idx, word, mask in batches(texts):
            out[idx] = compute(word, mask)
        return out

    if engine == "torch int8":  # PyTorch's dynamic int8 Linear layers (int8 weights, activations quantized per call)
        model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    if engine.startswith("torch"):
        bf16 = engine.endswith("bf16")

        def compute(word, mask):
            with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                out = model(
                    input_ids=torch.from_numpy(word),
                    attention_mask=torch.from_numpy(mask),
                    token_type_ids=torch.zeros_like(torch.from_numpy(word)),
                ).pooler_output
            return out.float().numpy()
    else:
        import onnxruntime as ort

        path = work / "bert_base.onnx"
        if not path.is_file():

            class Pooled(torch.nn.Module):  # positional inputs, one output: what the export needs
                def __init__(self, bert):
                    super().__init__()
                    self.bert = bert

                def forward(self, input_ids, attention_mask, token_type_ids):
                    return self.bert(
                        input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
                    ).pooler_output

            dummy = torch.ones((2, 16), dtype=torch.int64)
            torch.onnx.export(
                Pooled(model).eval(),
                (dummy, dummy, torch.zeros_like(dummy)),
                str(path),
                input_names=["input_ids", "attention_mask", "token_type_ids"],
                output_names=["pooler_output"],
                dynamic_axes={n: {0: "batch", 1: "length"} for n in ("input_ids", "attention_mask", "token_type_ids")},
                opset_version=17,
                dynamo=False,
            )
        if engine.endswith("int8"):  # dynamic int8 per channel, as sentence-transformers exports it
            from onnxruntime.quantization import QuantType, quantize_dynamic

            quantized = work / "bert_base_int8.onnx"
            if not quantized.is_file():
                quantize_dynamic(str(path), str(quantized), per_channel=True, weight_type=QuantType.QInt8)
            path = quantized
        options = ort.SessionOptions()
        options.intra_op_num_threads = os.cpu_count() or 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        info["onnxruntime"] = ort.__version__

        def compute(word, mask):
            return session.run(
                ["pooler_output"], {"input_ids": word, "attention_mask": mask, "token_type_ids": np.zeros_like(word)}
            )[0]

    info["load_seconds"] = time.perf_counter() - started
    info["torch"] = torch.__version__
    return info, lambda texts: collect(texts, compute)


def child(engine: str, model: Path, checkpoint: Path, texts_file: Path) -> dict:
    name = engine.removeprefix("calibrate ")
    if (name.startswith("bert_hub") or name in UPSTREAM) and not name.endswith(" api"):
        from bert_hub.runtime.precision import assume_frozen_weights, enable_onednn

        enable_onednn()  # what `bert-hub embed` does at start-up: oneDNN on an AVX2 CPU,
        assume_frozen_weights()  # and weights packed once (an inference-only process)
    import numpy as np

    work = texts_file.parent
    info, run = peer(engine, checkpoint, work) if engine in PEERS else ours(engine, model)
    results = dict(info)
    if engine.startswith("calibrate "):
        return results  # the mode is chosen and cached: nothing to time
    workloads = json.loads(texts_file.read_text())
    for name, texts in workloads.items():
        first, warm, vectors = timed_passes(run, texts)
        np.save(work / f"vectors_{engine.replace(' ', '_')}_{name}.npy", vectors)
        results[name] = {
            "texts": len(texts),
            "first_pass_seconds": first,
            "warm_seconds": warm,
            "texts_per_second": len(texts) / statistics.median(warm),
            "first_pass_texts_per_second": len(texts) / first,
        }
    if engine == "kaggle graph":
        import bert_hub

        results["max_difference_from_own_graph"] = upstream_fidelity(
            bert_hub.load_pipeline(KAGGLE_CONFIG), list(workloads.values())[-1]
        )
    return results


# -- the parent: runs every engine, prints one table ---------------------------
def draw(results: dict, cpu: str, path: Path) -> Path:
    """The chart of a run's results (``--json``'s ``results``): texts/s per engine, a panel per workload."""
    from charts import bar_chart

    workloads = [w for w in ("short", "full") if any(w in r for r in results.values())]
    panels = {
        f"{w} texts ({next(r[w]['texts'] for r in results.values() if w in r)})": {
            e: r[w]["texts_per_second"] for e, r in results.items() if w in r
        }
        for w in workloads
    }
    return bar_chart(panels, "texts/s (warm)", f"Embedding, BERT-Base shape, batch {BATCH}\n{cpu}", path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", default=".bench", help="folder for the model, texts and vectors")
    parser.add_argument("--data", type=Path, help="label<TAB>text file of real messages")
    parser.add_argument("--texts-short", type=int, default=1024)
    parser.add_argument("--texts-full", type=int, default=256)
    parser.add_argument("--peers", action="store_true", help="also run PyTorch and ONNX Runtime")
    parser.add_argument(
        "--upstream",
        action="store_true",
        help="also run the Kaggle graph (the same weights exported by tensorflow/models)",
    )
    parser.add_argument("--upstream-tool", type=Path, default=UPSTREAM_TOOL, help="the upstream export tool's folder")
    parser.add_argument("--engines", help="comma-separated subset of: " + ", ".join(OURS + UPSTREAM + PEERS))
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--chart", type=Path, help="also draw texts/s per engine and workload here (.png, .svg)")
    parser.add_argument("--replot", type=Path, metavar="JSON", help="only draw --chart from the results of --json")
    parser.add_argument("--child", nargs=4, metavar=("ENGINE", "MODEL", "CHECKPOINT", "TEXTS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        engine, model, checkpoint, texts = args.child
        print(json.dumps(child(engine, Path(model), Path(checkpoint), Path(texts))))
        return
    if args.replot:
        recorded = json.loads(args.replot.read_text())
        print(draw(recorded["results"], recorded["cpu"], args.chart or args.replot.with_suffix(".png")))
        return

    import numpy as np

    from bert_hub.core.cpu import cpu_supports_bf16
    from bert_hub.runtime.calibration import cpu_signature

    work = Path(args.work).absolute()
    work.mkdir(parents=True, exist_ok=True)
    checkpoint = hf_checkpoint(work)
    model = bundle(work, checkpoint)
    texts_file = work / "texts.json"
    data = workloads(checkpoint / "vocab.txt", args.data, args.texts_short, args.texts_full)
    if not data:
        sys.exit("no texts to embed: give --texts-short or --texts-full above 0")
    texts_file.write_text(json.dumps(data))
    engines = (
        args.engines.split(",")
        if args.engines
        else (list(OURS) + (list(UPSTREAM) if args.upstream else []) + (list(PEERS) if args.peers else []))
    )
    kagglehub = kaggle_cache(work, checkpoint, args.upstream_tool) if set(engines) & set(UPSTREAM) else None
    if not cpu_supports_bf16():  # emulated bf16 is many times slower than float32: no peer would choose it
        print("this CPU has no native bfloat16: the bf16 engines are left out", file=sys.stderr)
        engines = [e for e in engines if "bf16" not in e]
    results, calibrations, failed = {}, {}, []
    calibration_cache = tempfile.mkdtemp(prefix="bert_hub_bench_cache_")  # auto calibrates from scratch
    for engine in [f"calibrate {e}" for e in engines if e in AUTO] + engines:
        print(f"running {engine} ...", file=sys.stderr, flush=True)
        env = dict(os.environ, BERT_HUB_CACHE=calibration_cache)
        if kagglehub is not None:
            env["KAGGLEHUB_CACHE"] = str(kagglehub)
        proc = subprocess.run(
            [sys.executable, __file__, "--child", engine, str(model), str(checkpoint), str(texts_file)],
            capture_output=True,
            text=True,
            env=env,
        )
        if proc.returncode:  # the other engines' results still count
            print(f"{engine} failed, left out of the table:\n{proc.stderr[-3000:]}", file=sys.stderr)
            failed.append(engine)
            continue
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        if engine.startswith("calibrate "):
            calibrations[engine.removeprefix("calibrate ")] = result
        else:
            results[engine] = result

    if not results:
        sys.exit("every engine failed: nothing to compare")
    source = f"real messages of {args.data.name}" if args.data else "random vocab words"
    lines = [f"CPU: {cpu_signature()}; {os.cpu_count()} cores; texts: {source}; batch {BATCH}"]
    lines += [
        f"{e}: auto chose {c['mode']} (calibrated in {c['calibration_seconds']:.1f} s on the first run, "
        "then read from the cache: once per CPU, TensorFlow version and model shape)"
        for e, c in calibrations.items()
    ]
    lines += [f"left out, failed (see above): {', '.join(failed)}"] if failed else []
    lines += [""]
    best_peer = {w: max((results[e][w]["texts_per_second"] for e in results if e in PEERS), default=None) for w in data}
    reference = "bert_hub fp32" if "bert_hub fp32" in results else next(iter(results))
    lines += [
        f"| workload | engine | texts/s (warm) | first pass texts/s | vs best peer | min cosine to {reference} |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for w in data:
        ref = np.load(work / f"vectors_{reference.replace(' ', '_')}_{w}.npy")
        for engine, r in results.items():
            x = r[w]
            v = np.load(work / f"vectors_{engine.replace(' ', '_')}_{w}.npy")
            cos = (v * ref).sum(1) / np.linalg.norm(v, axis=1) / np.linalg.norm(ref, axis=1)
            x["min_cosine"] = float(cos.min())
            ratio = f"{x['texts_per_second'] / best_peer[w]:.2f}x" if best_peer[w] else ""
            lines.append(
                f"| {w} ({x['texts']}) | {engine} | {x['texts_per_second']:.1f} | "
                f"{x['first_pass_texts_per_second']:.1f} | {ratio} | {cos.min():.5f} |"
            )
    print("\n".join(lines))
    if args.chart:
        draw(results, cpu_signature(), args.chart)
    if args.json:
        Path(args.json).write_text(
            json.dumps({"cpu": cpu_signature(), "calibrations": calibrations, "results": results}, indent=1)
        )


if __name__ == "__main__":
    main()
