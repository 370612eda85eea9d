"""Early stopping and the best epoch (decided from the history alone), a run that stops when its validation loss
turns up and exports its best epoch, and the TensorBoard event files it writes, read with TensorBoard's own reader."""

from __future__ import annotations

import json
import random

import pytest
from conftest import run
from hypothesis import given
from hypothesis import strategies as st

from bert_hub.core.errors import ConfigError, InputError
from bert_hub.explore.samples import sms_rows
from bert_hub.finetune.early_stopping import best_epoch, check_monitor, stop_reason
from bert_hub.finetune.train_config import TrainConfig

losses = st.lists(st.floats(0.0, 10.0, allow_nan=False), min_size=1, max_size=12)


def _history(values, monitor="val_loss"):
    return [{"epoch": i + 1, monitor: v} for i, v in enumerate(values)]


@given(values=losses, patience=st.integers(1, 4))
def test_a_run_stops_exactly_when_its_best_is_patience_epochs_old(values, patience):
    history = _history(values)
    best = best_epoch(history)
    assert values[best - 1] == min(values) and all(v > min(values) for v in values[best:])
    # with no min_delta, the best epoch is the last one that improved on all before it
    first_best = values.index(min(values)) + 1
    reason = stop_reason(history, patience=patience)
    assert (reason is not None) == (len(values) - first_best >= patience)
    if reason:
        assert f"epoch {first_best}'s" in reason


@given(values=st.lists(st.floats(0.0, 1.0, allow_nan=False), min_size=1, max_size=12))
def test_a_metric_that_is_no_loss_is_better_higher(values):
    history = _history(values, "val_accuracy")
    assert values[best_epoch(history, "val_accuracy") - 1] == max(values)


def test_min_delta_counts_only_larger_improvements():
    history = _history([0.50, 0.495, 0.494, 0.30])
    assert (
        stop_reason(history[:3], patience=2, min_delta=0.01)
        == "val_loss has not improved on epoch 1's 0.5000 for 2 epochs"
    )
    assert stop_reason(history[:3], patience=2) is None
    assert stop_reason(history, patience=2, min_delta=0.01) is None


def test_settings_and_monitor_are_checked():
    with pytest.raises(ConfigError, match="`early_stopping` must be at least 1"):
        TrainConfig(early_stopping=0)
    with pytest.raises(ConfigError, match="`monitor` is empty"):
        TrainConfig(monitor=" ")
    with pytest.raises(InputError, match="`monitor` 'val_f1' is not a value this run logs; it logs accuracy, loss"):
        check_monitor("val_f1", ["loss", "accuracy", "val_loss", "val_accuracy"])


@pytest.fixture(scope="module")
def stopped_run(tmp_path_factory, tiny_bundle):
    """A three-class run on labels drawn at random: it learns its training set, so its validation loss turns up."""
    work = tmp_path_factory.mktemp("early")
    rng = random.Random(3)
    rows = [(rng.choice(["news", "sport", "food"]), text) for _, text in sms_rows(160, seed=5)]
    data = work / "topics.tsv"
    data.write_text("".join(f"{label}\t{text}\n" for label, text in rows), encoding="utf-8")
    out = work / "run"
    summary = json.loads(
        run(
            "train", "--config", str(tiny_bundle), "--data", str(data), "--out", str(out), "--epochs", "12",
            "--batch-size", "8", "--learning-rate", "3e-3", "--seq-length", "32", "--precision", "float32",
            "--early-stopping", "1", "--tensorboard", "--json",
        ).stdout
    )  # fmt: skip
    return out, data, summary


def test_a_run_whose_validation_loss_turns_up_stops_and_exports_its_best_epoch(stopped_run, tiny_bundle):
    out, data, summary = stopped_run
    history = summary["history"]
    stop = summary["stopped_early"]
    assert summary["finished"] and stop["epoch"] == summary["epochs_done"] == len(history) < 12
    losses = [h["val_loss"] for h in history]
    assert summary["best_epoch"] == losses.index(min(losses)) + 1 == len(history) - 1  # patience 1
    assert losses[-1] >= min(losses)
    assert stop["reason"] == f"val_loss has not improved on epoch {len(history) - 1}'s {min(losses):.4f} for 1 epoch"
    assert (out / "model" / "saved_model.pb").is_file()
    assert run("predict", "--model", str(out), "a football match tonight").stdout.strip()
    # nothing to resume
    refused = run(
        "train", "--config", str(tiny_bundle), "--data", str(data), "--out", str(out), "--resume", "--epochs", "12",
        check_rc=2,
    )  # fmt: skip
    assert "stopped early after epoch" in refused.stderr and "nothing to resume" in refused.stderr


def _scalars(folder):
    """TensorBoard's reader over a folder of event files: {tag: [(step, value)]} (tf.summary writes scalars as
    tensors of the scalars plugin; every one kept)."""
    from tensorboard.backend.event_processing.event_accumulator import TENSORS, EventAccumulator
    from tensorboard.util.tensor_util import make_ndarray

    events = EventAccumulator(str(folder), size_guidance={TENSORS: 0}).Reload()
    return {
        tag: [(e.step, float(make_ndarray(e.tensor_proto))) for e in events.Tensors(tag)]
        for tag in events.Tags()["tensors"]
        if events.SummaryMetadata(tag).plugin_data.plugin_name == "scalars"
    }


def test_tensorboard_reads_the_runs_scalars(stopped_run):
    out, _, summary = stopped_run
    steps = _scalars(out / "tensorboard" / "train")
    assert {"loss", "learning_rate"} <= set(steps)
    rates = steps["learning_rate"]
    assert len(rates) == summary["steps"] and rates[-1][0] == summary["steps"]
    assert 0 < max(r for _, r in rates) <= 3e-3 + 1e-9
    epochs = _scalars(out / "tensorboard" / "epochs")
    assert {"loss", "val_loss", "accuracy", "val_accuracy", "examples_per_second"} <= set(epochs)
    assert [(step, round(v, 5)) for step, v in epochs["val_loss"]] == [
        (h["epoch"], round(h["val_loss"], 5)) for h in summary["history"]
    ]
