"""Mixed-precision training: how ``auto`` chooses (measured once per CPU and model shape, then read)."""

from __future__ import annotations

import json

import pytest

from bert_hub.finetune.mixed_precision import choose_precision
from bert_hub.finetune.train_config import TrainConfig

SHAPE, BUCKETS = "L=2 H=32 A=4 I=37", (8, 16, 24, 32, 64)


def classifier(bert, strategy=None):
    """A compiled classifier on ``bert`` and its training examples (built under ``strategy``)."""
    import contextlib

    from bert_hub.explore.samples import sms_rows
    from bert_hub.finetune.tasks.classification import TextClassification
    from bert_hub.finetune.tasks.labelled_texts import LabelledTexts
    from bert_hub.finetune.train import _compile

    cfg = TrainConfig(epochs=1, batch_size=8, seq_length=64)
    rows = sms_rows(40, seed=3)
    task = TextClassification()
    train_split, _, _ = task.split(
        LabelledTexts([t for _, t in rows], [int(k == "spam") for k, _ in rows], ("ham", "spam")), cfg
    )
    with strategy.scope() if strategy else contextlib.nullcontext():
        model = task.build_model(bert, cfg)
        _compile(model, task, cfg, total_steps=10)
    return model, task.examples(bert, train_split, cfg)


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BERT_HUB_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "calibration.json"


def test_auto_measures_both_precisions_once_where_bfloat16_is_native(tiny, fresh_cache):
    model, examples = classifier(tiny)
    weights = [w.numpy().copy() for w in model.variables]
    told = []

    def choose(requested="auto", native=True, **kw):
        return choose_precision(
            requested, model, examples, BUCKETS, 8, SHAPE, native_bf16=native, notify=told.append, **kw
        )

    # without native bfloat16, or on several workers, auto is float32 and nothing is measured
    assert choose(native=False).precision == "float32" and "no native bfloat16" in choose(native=False).describe()
    assert "multi-worker" in choose(multi_worker=True).describe() and not told and not fresh_cache.exists()
    chosen = choose()
    assert set(chosen.speeds) == {"fp32", "bf16"} and all(s > 0 for s in chosen.speeds.values())
    assert chosen.mode.name == min(chosen.speeds, key=chosen.speeds.get)
    assert "auto: a forward and backward pass took" in chosen.describe()
    assert len(told) == 1 and "measuring fp32, bf16" in told[0]
    ((key, entry),) = json.loads(fresh_cache.read_text()).items()
    assert f"{SHAPE} | training" in key and "batch 8" in key and "replicas" not in key
    assert entry["seconds_per_batch"] == chosen.speeds and 3 <= entry["length"] <= 64
    assert choose().mode == chosen.mode and len(told) == 1  # read from the cache, not measured again
    # measuring trained nothing: weights, optimizer state, step and the loss metric are as they were
    assert all((w.numpy() == before).all() for w, before in zip(model.variables, weights))
    assert int(model.optimizer.iterations.numpy()) == 0 and model.metrics[0].result().numpy() == 0
    for requested in ("float32", "bfloat16"):  # set: taken as given
        fixed = choose(requested)
        assert fixed.precision == requested and fixed.describe().endswith(f"(set: precision {requested}, not auto)")
    assert len(told) == 1
    emulated = choose("bfloat16", native=False)  # taken, with a warning
    assert emulated.precision == "bfloat16" and "no native bfloat16: it is emulated" in emulated.describe()


def test_auto_measures_through_a_distribution_strategy(tiny_bundle, fresh_cache):
    import tensorflow as tf

    from bert_hub.core.config import load_config
    from bert_hub.hub.pipeline import BertPipeline

    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])  # one replica, yet the variables are distributed
    with strategy.scope():
        bert = BertPipeline(load_config(tiny_bundle), trainable=True)
    model, examples = classifier(bert, strategy)
    chosen = choose_precision("auto", model, examples, BUCKETS, 8, SHAPE, strategy, native_bf16=True)
    assert set(chosen.speeds) == {"fp32", "bf16"}
