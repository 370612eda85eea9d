"""Training on several machines: MultiWorkerMirroredStrategy, two worker processes on 127.0.0.1."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bert_hub.core.errors import InputError
from bert_hub.explore.samples import write_sms_file
from bert_hub.finetune.tasks.classification import Classifier
from bert_hub.finetune.tasks.labelled_texts import read_labelled
from bert_hub.finetune.train import train
from bert_hub.finetune.train_config import TrainConfig
from bert_hub.runtime.batching import at_least

pytestmark = [pytest.mark.slow, pytest.mark.subprocess]  # worker processes training together

# float32 on both sides: `auto` is float32 for a multi-worker run, but a single process on a CPU with
# native bfloat16 may measure bfloat16 faster and take it (then the two differ by more than rounding).
SETTINGS = {
    "epochs": 1,
    "batch_size": 8,
    "seq_length": 64,
    "learning_rate": 1e-3,
    "dropout": 0.0,
    "seed": 3,
    "test_fraction": 0.1,
    "precision": "float32",
}
TEXTS = [
    "WINNER!! Claim your prize now",
    "see you at lunch",
    "free entry call now",
    "ok then",
    "URGENT! call 0800 now to claim",
    "the meeting is moved to 3pm",
]


def free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.fixture(scope="module")
def no_dropout_bundle(tmp_path_factory, tiny_vocab) -> Path:
    """The tiny model without dropout, so that one and two workers must compute the same thing."""
    from bert_hub.builder.bundle import write_bundle
    from bert_hub.builder.vocab import read_vocab
    from bert_hub.builder.weights import random_weights
    from bert_hub.core.config import Architecture

    arch = Architecture(
        layers=2,
        hidden=32,
        heads=4,
        intermediate=64,
        vocab_size=len(read_vocab(tiny_vocab)),
        max_position_embeddings=128,
    )
    out = tmp_path_factory.mktemp("nodrop") / "bundle"
    write_bundle(
        out,
        name="tiny_no_dropout",
        architecture=arch,
        weights=random_weights(arch, seed=1),
        vocab_file=tiny_vocab,
        lower_case=True,
        dropout_rate=0.0,
        attention_dropout_rate=0.0,
    )
    return out


def run_workers(bundle: Path, data: Path, out: Path, *extra: str) -> list[dict]:
    """``bert-hub train --strategy multi-worker`` in two processes (workers 0 and 1); their JSON summaries."""
    cluster = {"worker": [f"127.0.0.1:{p}" for p in free_ports(2)]}
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in SETTINGS.items()]
    procs = []
    for index in range(2):
        env = {**os.environ, "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})}
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "bert_hub.cli",
                    "train",
                    "--config",
                    str(bundle),
                    "--data",
                    str(data),
                    "--out",
                    str(out),
                    "--strategy",
                    "multi-worker",
                    "--json",
                    *flags,
                    *extra,
                ],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    outputs = [p.communicate(timeout=600) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outputs]
    return [json.loads(o[0]) for o in outputs]


def test_two_workers_train_what_one_process_trains(tmp_path, no_dropout_bundle):
    data = write_sms_file(tmp_path / "sms.tsv", 120, seed=4)  # 96 training examples: 12 global batches of 8
    chief, worker = run_workers(no_dropout_bundle, data, tmp_path / "multi")
    assert chief["chief"] is True and worker["chief"] is False and "export" not in worker
    assert chief["replicas"] == 2 and chief["steps"] == worker["steps"] == chief["steps_per_epoch"] == 12
    assert sorted(p.name for p in tmp_path.iterdir()) == ["multi", "sms.tsv"]  # only the chief wrote

    single = train(no_dropout_bundle, read_labelled(data), tmp_path / "single", TrainConfig(**SETTINGS))
    assert single["steps"] == chief["steps"]
    multi_p = [r["probability"] for r in Classifier(tmp_path / "multi").predict(TEXTS)]
    single_p = [r["probability"] for r in Classifier(tmp_path / "single").predict(TEXTS)]
    # Same examples in every step; only the order of float additions differs (two half-batch
    # gradients summed by the all-reduce instead of one batch), so equal to float32 rounding.
    assert np.abs(np.array(multi_p) - np.array(single_p)).max() <= 1e-4

    chief, worker = run_workers(no_dropout_bundle, data, tmp_path / "multi", "--resume", "--epochs=2")
    assert chief["steps"] == worker["steps"] == 24 and [h["epoch"] for h in chief["history"]] == [1, 2]


def test_a_chief_that_refuses_its_out_leaves_no_worker_waiting(tmp_path, no_dropout_bundle):
    data = write_sms_file(tmp_path / "sms.tsv", 40, seed=4)
    out = tmp_path / "thesis"
    out.mkdir()
    (out / "chapter1.txt").write_text("mine")
    cluster = {"worker": [f"127.0.0.1:{p}" for p in free_ports(2)]}
    procs = []
    for index in range(2):
        env = {**os.environ, "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})}
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "bert_hub.cli",
                    "train",
                    "--config",
                    str(no_dropout_bundle),
                    "--data",
                    str(data),
                    "--out",
                    str(out),
                    "--strategy",
                    "multi-worker",
                    "--worker-timeout",
                    "10",
                ],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    (_, chief_err), (_, worker_err) = [p.communicate(timeout=300) for p in procs]
    assert procs[0].returncode == 2 and "already exists" in chief_err.strip().splitlines()[-1]
    assert procs[1].returncode == 2
    assert "error: the other workers did not answer in time" in worker_err, worker_err[-3000:]
    assert [p.name for p in out.iterdir()] == ["chapter1.txt"]


def test_multi_worker_needs_tf_config(tmp_path, monkeypatch, tiny_bundle):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(InputError, match="needs the cluster in TF_CONFIG"):
        train(
            tiny_bundle,
            read_labelled(write_sms_file(tmp_path / "s.tsv", 40)),
            tmp_path / "r",
            TrainConfig(epochs=1),
            strategy="multi-worker",
        )


def test_small_batches_are_merged_for_the_workers():
    batches = [np.arange(0, 8), np.arange(8, 9), np.arange(9, 17)]
    assert [len(b) for b in at_least(batches, 2)] == [9, 8]
    assert [len(b) for b in at_least([np.arange(1), np.arange(1, 5)], 2)] == [5]
    assert sorted(np.concatenate(at_least(batches, 2)).tolist()) == list(range(17))
