"""LoRA fine-tuning: adapters against a NumPy reference, merging, what a run keeps, resume, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import one_error_line, run, train_tiny
from reference_bert import bert_forward

from bert_hub.explore.samples import write_sms_file
from bert_hub.finetune.lora import GROUPS, RECORD, TARGETS, Lora, adapter_layer, merge

#: Hugging Face's name of each target's linear layer in a block.
HF_NAMES = {
    "query": "attention.self.query",
    "key": "attention.self.key",
    "value": "attention.self.value",
    "attention_output": "attention.output.dense",
    "intermediate": "intermediate.dense",
    "output": "output.dense",
}
TEXTS = ["the cat sat on the mat", "WINNER!! claim your free prize now", "ok"]


@pytest.fixture(scope="module")
def sms_file(tmp_path_factory):
    return write_sms_file(tmp_path_factory.mktemp("sms") / "sms.tsv", 120, seed=4)


def with_random_b(layer, seed: int = 0) -> None:
    """Gives every adapter's B (zeros at the start) random values, so that the adapters change the numbers."""
    rng = np.random.default_rng(seed)
    for w in layer.weights:
        if w.name.split(":")[0].endswith("lora_b"):
            w.assign(rng.normal(0, 0.05, w.shape).astype(np.float32))


def adapted_outputs(layer, inputs) -> dict:
    import tensorflow as tf

    out = layer({k: tf.constant(v) for k, v in inputs.items()}, training=False)
    return {"sequence_output": out["sequence_output"].numpy(), "pooled_output": out["pooled_output"].numpy()}


@pytest.mark.parametrize("targets", ["query,value,intermediate", "all"])
def test_adapters_compute_bert_with_their_product_added_to_each_kernel(minilm, minilm_tensors, targets):
    """The adapted encoder (all-MiniLM-L6-v2) against the NumPy reference over kernels ``W + scale * A @ B``."""
    lora = Lora(4, alpha=6.0, targets=Lora.parse_targets(targets))
    layer = adapter_layer(minilm, lora, seed=3)
    inputs = minilm.preprocess(TEXTS, seq_length=16)
    start = adapted_outputs(layer, inputs)  # B = 0: the encoder as it is
    plain = minilm.encode_inputs(inputs)
    real = inputs["input_mask"].astype(bool)
    assert np.abs(start["sequence_output"][real] - plain["sequence_output"][real]).max() < 1e-4
    with_random_b(layer)
    weights = {w.name.split(":")[0]: w.numpy() for w in layer.weights}
    tensors = dict(minilm_tensors)
    for i in range(6):
        for target in lora.targets:
            a, b = weights[f"layer_{i}/{target}/lora_a"], weights[f"layer_{i}/{target}/lora_b"]
            name = f"encoder.layer.{i}.{HF_NAMES[target]}.weight"  # [out, in]
            tensors[name] = tensors[name] + (1.5 * a @ b).T
    seq, pooled, _ = bert_forward(tensors, inputs["input_word_ids"], inputs["input_mask"], inputs["input_type_ids"], 12)
    got = adapted_outputs(layer, inputs)
    assert np.abs(got["sequence_output"][real] - seq[real]).max() < 1e-4
    assert np.abs(got["pooled_output"] - pooled).max() < 1e-4
    assert np.abs(got["sequence_output"][real] - start["sequence_output"][real]).max() > 1e-2  # they did change


def test_merging_makes_the_plain_encoder_compute_the_adapted_one(tiny_bundle):
    from bert_hub import load_pipeline

    bert = load_pipeline(tiny_bundle / "bert_hub.yaml")  # its own variables: merging changes them
    layer = adapter_layer(bert, Lora(2, targets=GROUPS["all"]), seed=0, pooler=True)
    with_random_b(layer, seed=1)
    change = next(w for w in layer.weights if w.name.startswith("pooler/kernel"))
    change.assign(np.random.default_rng(2).normal(0, 0.5, change.shape))  # the pooler trained too
    inputs = bert.preprocess(["hello world", "this is spam mail"], seq_length=12)
    adapted = adapted_outputs(layer, inputs)
    before = bert.encode_inputs(inputs)["sequence_output"]
    merge(layer)
    after = bert.encode_inputs(inputs)
    real = inputs["input_mask"].astype(bool)
    assert np.abs(after["sequence_output"][real] - adapted["sequence_output"][real]).max() < 1e-5
    assert np.abs(after["pooled_output"] - adapted["pooled_output"]).max() < 1e-5
    assert np.abs(before[real] - adapted["sequence_output"][real]).max() > 1e-3
    # Merged, the layer adds nothing more (its B and pooler change are zeros): merging again changes nothing.
    again = adapted_outputs(layer, inputs)
    assert np.abs(again["sequence_output"][real] - adapted["sequence_output"][real]).max() < 1e-5
    merge(layer)
    assert np.abs(bert.encode_inputs(inputs)["pooled_output"] - adapted["pooled_output"]).max() < 1e-5


def test_the_adapted_matmul_has_the_gradient_of_the_merged_kernel():
    """adapted_matmul's hand-written gradient against TensorFlow's own of ``x @ (W + s * A @ B)``."""
    import tensorflow as tf

    from bert_hub.builder.encoder import adapted_matmul

    rng = np.random.default_rng(0)
    x, w, a, b = (tf.constant(rng.normal(size=shape), tf.float32) for shape in ((5, 6), (6, 4), (6, 2), (2, 4)))
    dy = tf.constant(rng.normal(size=(5, 4)), tf.float32)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([x, w, a, b])
        mine = adapted_matmul(x, w, a, b, 1.5)
        reference = x @ (tf.stop_gradient(w) + 1.5 * a @ b)
    assert np.abs(mine.numpy() - reference.numpy()).max() < 1e-5
    for got, want in zip(tape.gradient(mine, [x, w, a, b], dy), tape.gradient(reference, [x, w, a, b], dy)):
        assert (got is None) == (want is None)  # the kernel: none
        if got is not None:
            assert np.abs(got.numpy() - want.numpy()).max() < 1e-5


def test_targets_and_groups_are_parsed_and_checked():
    assert Lora.parse_targets("feed-forward,query") == ("query", "intermediate", "output")
    assert Lora.parse_targets("all") == tuple(TARGETS)
    assert Lora(8).alpha == 16.0 and Lora(8, alpha=8).scale == 1.0
    with pytest.raises(Exception, match="'qkv' is not a target; name some of query, key"):
        Lora.parse_targets("qkv")


@pytest.fixture(scope="module")
def lora_run(tmp_path_factory, tiny_bundle, sms_file):
    return train_tiny(tmp_path_factory, "lora", tiny_bundle, sms_file, "--lora", "4", "--epochs", "2")


def checkpoint_variables(run_dir: Path) -> list[tuple[str, list[int]]]:
    import tensorflow as tf

    return tf.train.list_variables(tf.train.latest_checkpoint(str(run_dir / "checkpoints")))


def test_a_lora_run_keeps_adapters_and_head_only_and_exports_a_plain_model(lora_run, sms_file):
    out, report = lora_run
    assert report["finished"] and report["lora"] == {"rank": 4, "alpha": 8.0, "targets": ["query", "value"]}
    assert report["history"][-1]["accuracy"] > 0.5
    names = [name for name, _ in checkpoint_variables(out)]
    model_weights = [n for n in names if n.startswith("model/") and "dropout_seed" not in n]
    # 2 layers x 2 targets (query and value) x (A, B), and the classifier's kernel and bias: nothing of the
    # encoder (the head pools by mean: the pooler does not train)
    assert len(model_weights) == 2 * 2 * 2 + 2, model_weights
    assert len([n for n in names if n.startswith("optimizer/_variables/")]) == 2 * len(model_weights)  # Adam's
    assert not any("word_embeddings" in n or "query/kernel" in n for n in names)
    recorded = yaml.safe_load((out / "train_config.yaml").read_text())
    assert recorded["lora"] == 4 and recorded["learning_rate"] == 0.003  # the test's own rate
    assert len(recorded[RECORD]["fingerprint"]) == 64 and recorded[RECORD]["model"].endswith("bert_hub.yaml")
    # The export is a plain model of the encoder's size: predict needs no flag.
    predicted = json.loads(run("predict", "--model", out, "--json", "WIN a free prize now").stdout)
    assert predicted["predictions"][0]["label"] in ("ham", "spam")
    size = sum(p.stat().st_size for p in (out / "model").rglob("*") if p.is_file())
    kept = sum(p.stat().st_size for p in out.rglob("*") if p.is_file() and "model" not in p.relative_to(out).parts)
    assert kept < size  # the tiny model's export is small; on MiniLM it is 1/20 (docs/benchmarks.md)


def test_the_default_learning_rate_of_lora_is_its_own(tiny_bundle, sms_file, tmp_path):
    from bert_hub.finetune.tasks.labelled_texts import read_labelled
    from bert_hub.finetune.train import train
    from bert_hub.finetune.train_config import TrainConfig

    cfg = TrainConfig(epochs=1, batch_size=16, seq_length=32, lora=2, lora_targets="query,value")
    assert cfg.peak_learning_rate == 1e-3 and TrainConfig().peak_learning_rate == 1e-4
    summary = train(tiny_bundle, read_labelled(sms_file), tmp_path / "r", cfg, stop_after_epochs=0)
    assert summary["finished"] is False
    assert yaml.safe_load((tmp_path / "r" / "train_config.yaml").read_text())["learning_rate"] == 1e-3


def test_a_lora_run_resumes_as_if_uninterrupted_and_refuses_another_base(tiny_bundle, tiny_vocab, sms_file, tmp_path):
    from bert_hub.builder.bundle import build_random_bundle
    from bert_hub.core.errors import InputError
    from bert_hub.finetune.tasks.labelled_texts import read_labelled
    from bert_hub.finetune.train import train
    from bert_hub.finetune.train_config import TrainConfig

    data = read_labelled(sms_file)
    cfg = TrainConfig(epochs=2, batch_size=16, seq_length=32, lora=2, learning_rate=3e-3, precision="float32")
    whole = train(tiny_bundle, data, tmp_path / "whole", cfg)
    train(tiny_bundle, data, tmp_path / "parts", cfg, stop_after_epochs=1)
    other = tmp_path / "other"
    build_random_bundle(
        other,
        layers=2,
        hidden=32,
        heads=4,
        intermediate=64,
        vocab_file=tiny_vocab,
        max_position_embeddings=128,
        seed=2,
    )
    with pytest.raises(InputError, match="on the base model its adapters were trained on"):
        train(other / "bert_hub.yaml", data, tmp_path / "parts", cfg, resume=True)
    resumed = train(tiny_bundle, data, tmp_path / "parts", cfg, resume=True)
    assert resumed["finished"] and resumed["steps"] == whole["steps"]
    for a, b in zip(whole["history"], resumed["history"]):
        assert a["loss"] == pytest.approx(b["loss"], abs=1e-6)
        assert a["val_loss"] == pytest.approx(b["val_loss"], abs=1e-6)
    # Its adapter checkpoints are the run's own: --overwrite replaces a LoRA run with a full one.
    full = TrainConfig(epochs=1, batch_size=16, seq_length=32, learning_rate=3e-3)
    assert train(tiny_bundle, data, tmp_path / "parts", full, overwrite=True)["finished"]
    assert RECORD not in yaml.safe_load((tmp_path / "parts" / "train_config.yaml").read_text())


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--lora", "4", "--lora-targets", "qkv"], "--lora-targets 'qkv' is not a target"),
        (["--lora", "0"], "lora"),
        (["--lora-alpha", "4"], "--lora-alpha scales LoRA adapters, and this run has none"),
    ],
)
def test_bad_lora_settings_are_one_line(tiny_bundle, sms_file, tmp_path, flags, expected):
    err = run("train", "--config", tiny_bundle, "--data", sms_file, "--out", tmp_path / "r", *flags, check_rc=2).stderr
    assert expected in one_error_line(err) and not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    ("task", "writer", "name"),
    [("token-classification", "write_conll", "train.conll"), ("question-answering", "write_squad", "train.json")],
)
def test_the_token_tasks_train_adapters_and_export_a_plain_model(tiny_bundle, tmp_path, task, writer, name):
    import bert_hub.explore.samples as samples

    data = getattr(samples, writer)(tmp_path / name, 40, seed=1)
    out = tmp_path / "run"
    report = json.loads(
        run(
            "train",
            "--task",
            task,
            "--config",
            tiny_bundle,
            "--data",
            data,
            "--out",
            out,
            "--epochs",
            "1",
            "--batch-size",
            "8",
            "--seq-length",
            "128",
            "--lora",
            "2",
            "--json",
        ).stdout
    )
    assert report["finished"] and report["lora"]["rank"] == 2
    names = [n for n, _ in checkpoint_variables(out) if n.startswith("model/") and "OPTIMIZER_SLOT" not in n]
    assert not any("pooler" in n for n in names)  # the heads read sequence_output: the pooler stays frozen
    assert sum("lora_" in n for n in names) == 2 * 2 * 2
    assert (out / "model" / "saved_model.pb").is_file()
