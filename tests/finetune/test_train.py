"""Fine-tuning: data checks, bucketed batches, resume, export, metrics, CLI, mirrored."""

from __future__ import annotations

import dataclasses
import json
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import onednn_packs_weights, python_json, run
from hypothesis import given, settings
from hypothesis import strategies as st

from bert_hub.core.errors import ConfigError, InputError, Interrupted
from bert_hub.explore.samples import sms_rows, write_sms_file
from bert_hub.finetune.metrics import binary_metrics, roc_auc
from bert_hub.finetune.tasks.classification import TextClassification
from bert_hub.finetune.tasks.labelled_texts import LabelledTexts, read_labelled, stratified_split
from bert_hub.finetune.train import train
from bert_hub.finetune.train_config import (
    DEFAULT_EPOCHS,
    MAX_AUTO_EPOCHS,
    MIN_STEPS,
    TrainConfig,
    load_train_config,
    recorded_train_config,
)
from bert_hub.runtime.batching import shuffled_batches

FAST = TrainConfig(
    epochs=2, batch_size=8, learning_rate=1e-3, seq_length=64, test_fraction=0.1, keep_best=True, precision="float32"
)
TUNED = TextClassification(tune_threshold=True)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_reads_sms_format_and_header_formats(tmp_path):
    d = read_labelled(write(tmp_path / "sms.txt", 'ham\thello there\nspam\t"WIN cash\tnow"\n\nham\tok\n'))
    assert d.texts == ["hello there", "WIN cash\tnow", "ok"] and d.labels == [0, 1, 0]
    assert d.label_names == ("ham", "spam") and d.counts() == {"ham": 2, "spam": 1}
    csv = read_labelled(
        write(tmp_path / "d.csv", 'body,kind\n"a, b",pos\nc,neg\n'), text_col="body", label_col="kind", positive="pos"
    )
    assert csv.texts == ["a, b", "c"] and csv.labels == [1, 0] and csv.label_names == ("neg", "pos")
    tsv = read_labelled(write(tmp_path / "d.tsv", "label\ttext\nyes\tx\nno\ty\n"), positive="yes")
    assert tsv.labels == [1, 0]


@pytest.mark.parametrize(
    "content, kwargs, words",
    [
        ("", {}, "is empty"),
        ("ham\thi\nspam no tab here\n", {}, r"line 2 has no tab"),
        ("ham\thi\neggs\tbad\n", {}, r"which label is the positive class\? The labels are 'eggs', 'ham'"),
        ("ham\thi\nham\tho\n", {}, "a classifier needs two classes"),
        (
            "label,text\na,x\nb,y\nc,z\n",
            {"fmt": "csv", "positive": "a"},
            r"`positive` names the positive class of two labels; these 3 labels \(a, b, c\) are a multi-class task",
        ),
        ("kind,body\na,x\n", {"fmt": "csv"}, "has no column 'text'"),
        ("ham\thi\nspam\tyo\n", {"positive": "eggs"}, "positive label 'eggs' does not occur"),
    ],
)
def test_bad_data_names_file_and_line(tmp_path, content, kwargs, words):
    path = write(tmp_path / "data.txt", content)
    with pytest.raises(InputError, match=words) as e:
        read_labelled(path, **kwargs)
    assert str(path) in str(e.value)
    with pytest.raises(InputError, match="does not exist"):
        read_labelled(tmp_path / "missing.tsv")


def test_stratified_split_is_seeded_and_balanced():
    rows = sms_rows(400, seed=2)
    data = LabelledTexts([t for _, t in rows], [int(lab == "spam") for lab, _ in rows], ("ham", "spam"))
    a = stratified_split(data, seed=5)
    b = stratified_split(data, seed=5)
    assert [s.texts for s in a] == [s.texts for s in b]
    assert sum(len(s) for s in a) == 400
    rate = np.mean(data.labels)
    for split in a:
        assert abs(np.mean(split.labels) - rate) < 0.03


def test_epoch_batches_group_lengths_with_a_constant_count():
    lengths = np.random.default_rng(0).integers(3, 100, size=1000)
    counts = {len(shuffled_batches(lengths, 32, seed=1, epoch=e, bucketing=True)) for e in range(4)}
    assert counts == {32}
    batches = shuffled_batches(lengths, 32, seed=1, epoch=0, bucketing=True)
    spread = np.mean([lengths[b].max() - lengths[b].min() for b in batches])
    assert spread < 10  # similar lengths together
    assert sorted(np.concatenate(batches).tolist()) == list(range(1000))


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.floats(0, 1)), min_size=2, max_size=40))
def test_roc_auc_equals_pairwise_definition(pairs):
    y = np.array([p[0] for p in pairs])
    s = np.array([p[1] for p in pairs])
    auc = roc_auc(y, s)
    pos, neg = s[y == 1], s[y == 0]
    if not len(pos) or not len(neg):
        assert auc is None
        return
    want = np.mean([(p > n) + 0.5 * (p == n) for p in pos for n in neg])
    assert abs(auc - want) < 1e-9


def test_binary_metrics_confusion():
    m = binary_metrics([1, 1, 0, 0, 1], [0.9, 0.2, 0.7, 0.1, 0.6])
    assert m["confusion_matrix"] == [[1, 1], [1, 2]]
    assert m["precision"] == 2 / 3 and m["recall"] == 2 / 3 and m["accuracy"] == 0.6


def test_train_config_yaml(tmp_path):
    cfg, own = load_train_config(
        write(tmp_path / "t.yaml", "epochs: 4\nlearning_rate: 5.0e-5\nclass_weight: true\n"),
        settings=TextClassification.Settings(),
    )
    assert cfg.epochs == 4 and cfg.learning_rate == 5e-5 and own.class_weight
    with pytest.raises(ConfigError, match=r"t2\.yaml: unknown field 'epoch'"):
        load_train_config(write(tmp_path / "t2.yaml", "epoch: 4\n"))
    with pytest.raises(ConfigError, match=r"field 'dropout': must be in \[0, 1\)"):
        load_train_config(write(tmp_path / "t3.yaml", "dropout: 1.5\n"))
    with pytest.raises(ConfigError, match="expected an integer or null"):
        load_train_config(write(tmp_path / "t4.yaml", "epochs: many\n"))
    with pytest.raises(ConfigError, match="expected an integer or null"):
        load_train_config(write(tmp_path / "t5.yaml", "epochs: true\n"))
    assert load_train_config(write(tmp_path / "t6.yaml", "epochs: null\n"))[0].epochs is None  # planned from the data


@pytest.fixture(scope="module")
def sms_file(tmp_path_factory):
    return write_sms_file(tmp_path_factory.mktemp("sms") / "sms.tsv", 120, seed=4)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_bundle, sms_file):
    out = tmp_path_factory.mktemp("runs") / "spam"
    summary = train(tiny_bundle, read_labelled(sms_file), out, FAST, task=TUNED)
    return out, summary


def test_training_run_writes_everything(trained):
    out, summary = trained
    assert summary["finished"] and summary["epochs_done"] == 2
    assert summary["steps"] == 2 * summary["steps_per_epoch"]
    assert {
        "history.json",
        "curves.png",
        "metrics.json",
        "model",
        "checkpoints",
        "summary.json",
        "train_config.yaml",
    } <= {p.name for p in out.iterdir()}
    assert (out / "curves.png").read_bytes()[:4] == b"\x89PNG"
    m = summary["test_metrics"]
    assert set(m) >= {"accuracy", "precision", "recall", "f1", "roc_auc", "confusion_matrix"}
    assert all(h["examples_per_second"] > 0 for h in summary["history"])


def test_a_small_set_gets_more_epochs_unless_epochs_is_given(tmp_path, tiny_bundle, sms_file):
    data = read_labelled(sms_file)  # 120 rows, 10% held out: 14 batches of 8 an epoch
    quick = FAST.replace(keep_best=False)
    planned = dataclasses.replace(quick, epochs=None)
    partial = train(tiny_bundle, data, tmp_path / "r", planned, stop_after_epochs=1)
    steps = partial["steps_per_epoch"]
    assert partial["epochs"] == min(MAX_AUTO_EPOCHS, -(-MIN_STEPS // steps)) > DEFAULT_EPOCHS
    recorded = tmp_path / "r" / "train_config.yaml"
    assert recorded_train_config(tmp_path / "r").epochs == partial["epochs"]
    # as if planned on other data: resuming keeps the recorded number, it does not plan again
    recorded.write_text(recorded.read_text().replace(f"epochs: {partial['epochs']}\n", "epochs: 3\n"))
    again = train(tiny_bundle, data, tmp_path / "r", planned, resume=True, stop_after_epochs=1)
    assert again["epochs"] == 3 and again["epochs_done"] == 2
    # resuming needs the last checkpoint only; the best epoch's weights are kept with keep_best alone
    assert sorted(p.name for p in (tmp_path / "r" / "checkpoints").iterdir()) == [
        "checkpoint",
        "ckpt-2.data-00000-of-00001",
        "ckpt-2.index",
    ]
    assert quick.planned_epochs(steps) == 2  # --epochs given: exactly that
    assert TrainConfig().planned_epochs(-(-MIN_STEPS // DEFAULT_EPOCHS)) == DEFAULT_EPOCHS  # a large set: 4


def test_export_loads_with_plain_tensorflow(trained):
    out, summary = trained
    script = (
        "import tensorflow as tf, tensorflow_text, json, sys\n"
        f"m = tf.saved_model.load({str(out / 'model')!r})\n"
        "r = m.signatures['serving_default'](text=tf.constant(['WINNER!! Claim your prize now', 'see you at lunch']))\n"
        "print(json.dumps({'p': r['probability'].numpy().tolist(), 'l': [x.decode() for x in r['label'].numpy()],\n"
        "  'bert_hub': 'bert_hub' in sys.modules}))\n"
    )
    res = python_json(script)
    assert res["bert_hub"] is False and len(res["p"]) == 2 and all(0 <= p <= 1 for p in res["p"])
    assert set(res["l"]) <= {"ham", "spam"}
    cli = Path(sys.executable).with_name("saved_model_cli")
    show = subprocess.run(
        [str(cli), "show", "--dir", str(out / "model"), "--tag_set", "serve", "--signature_def", "serving_default"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert show.returncode == 0 and "text" in show.stdout and "probability" in show.stdout


def test_cli_predict_and_evaluate(trained, sms_file):
    out, _ = trained
    pred = json.loads(run("predict", "--model", str(out), "WINNER!! Claim your prize now", "see you", "--json").stdout)
    assert [p["text"] for p in pred["predictions"]] == ["WINNER!! Claim your prize now", "see you"]
    ev = json.loads(run("evaluate", "--model", str(out), "--data", str(sms_file), "--json").stdout)
    assert ev["examples"] == 120 and 0 <= ev["accuracy"] <= 1
    text = run("evaluate", "--model", str(out), "--data", str(sms_file)).stdout
    assert "accuracy" in text and "true / predicted" in text
    err = run("predict", "--model", str(out.parent), "x", check_rc=2).stderr
    assert err.startswith("error: ") and "is not a model bert_hub trained" in err


def test_cli_train_errors(tmp_path, sms_file, trained):
    out, _ = trained
    err = run("train", "--data", str(sms_file), "--out", str(out), check_rc=2).stderr
    assert "already exists" in err
    bad = write(tmp_path / "bad.tsv", "ham\thello\nspam\n")
    err = run("train", "--data", str(bad), "--out", str(tmp_path / "x"), check_rc=2).stderr
    assert "line 2 has no tab" in err and not (tmp_path / "x").exists()


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="oneDNN matmuls are x86 only")
def test_training_refuses_a_process_whose_weights_are_frozen(tmp_path, tiny_bundle, sms_file, monkeypatch):
    if not onednn_packs_weights():
        pytest.skip("TensorFlow runs no oneDNN matmuls on this CPU: weights are never frozen, nothing to refuse")
    # Set by an inference script or a shell profile: training would keep the first step's weights.
    monkeypatch.setenv("TF_ONEDNN_ASSUME_FROZEN_WEIGHTS", "1")
    err = run(
        "train",
        "--config",
        str(tiny_bundle),
        "--data",
        str(sms_file),
        "--out",
        str(tmp_path / "r"),
        check_rc=2,
        process=True,
    ).stderr
    assert err.startswith("error: TF_ONEDNN_ASSUME_FROZEN_WEIGHTS is on in this process")
    assert "unset it" in err and len(err.strip().splitlines()) == 1 and not (tmp_path / "r").exists()


@pytest.mark.parametrize("flags", [(), ("--lora", "2")], ids=["full", "lora"])
def test_mirrored_strategy_on_two_logical_cpus(tmp_path, tiny_bundle, sms_file, flags):
    report = json.loads(
        run(
            "train",
            "--config",
            str(tiny_bundle),
            "--data",
            str(sms_file),
            "--out",
            str(tmp_path / "m"),
            "--epochs",
            "1",
            "--batch-size",
            "8",
            "--seq-length",
            "64",
            "--learning-rate",
            "0.001",
            "--test-fraction",
            "0.1",
            "--strategy",
            "mirrored",
            "--cpu-replicas",
            "2",
            "--json",
            *flags,
            process=True,
        ).stdout
    )
    assert report["replicas"] == 2 and report["finished"] and "test_metrics" in report
    assert ("lora" in report) == bool(flags)
    assert (tmp_path / "m" / "model" / "saved_model.pb").is_file()


def test_threshold_is_chosen_on_validation_and_travels_with_the_model(trained, sms_file, tmp_path):
    from bert_hub.finetune.metrics import best_f1_threshold
    from bert_hub.finetune.tasks.classification import Classifier

    out, summary = trained
    clf = Classifier(out)
    assert clf.info["threshold"] == summary["threshold"] == summary["test_metrics"]["threshold"]
    assert 0 < summary["threshold"] < 1
    ev = json.loads(
        run(
            "evaluate", "--model", str(out), "--data", str(sms_file), "--json", "--plot", str(tmp_path / "eval.png")
        ).stdout
    )
    assert ev["threshold"] == summary["threshold"]
    assert (tmp_path / "eval.png").read_bytes()[:4] == b"\x89PNG"
    assert best_f1_threshold([0, 1], [0.2, 0.8]) == 0.5  # ties keep the value nearest 0.5


def test_the_best_epoch_is_exported(trained):
    out, summary = trained
    history = summary["history"]
    assert summary["best_epoch"] == min(history, key=lambda h: h["val_loss"])["epoch"]
    assert (out / "checkpoints" / "best.index").is_file()


def test_pooling_is_a_setting(tmp_path, tiny_bundle, sms_file):
    with pytest.raises(ConfigError, match="`pooling` must be one of pooled_output, mean"):
        TextClassification(pooling="max")
    summary = train(
        tiny_bundle,
        read_labelled(sms_file),
        tmp_path / "mean",
        TrainConfig(epochs=1, batch_size=8, learning_rate=1e-3, seq_length=64),
        task=TextClassification(pooling="mean"),
    )
    assert summary["finished"] and (tmp_path / "mean" / "model" / "saved_model.pb").is_file()


def test_a_resumed_float32_run_repeats_the_uninterrupted_one(tmp_path, tiny_bundle, sms_file, trained):
    """Same batches, same dropout (the encoder's and the head's, drawn from the seed and the step)."""
    data = read_labelled(sms_file)
    train(tiny_bundle, data, tmp_path / "r", FAST, task=TUNED, stop_after_epochs=1)
    resumed = train(tiny_bundle, data, tmp_path / "r", FAST, task=TUNED, resume=True)
    whole = trained[1]["history"]
    assert [h["epoch"] for h in resumed["history"]] == [h["epoch"] for h in whole] == [1, 2]
    for got, want in zip(resumed["history"], whole):
        for key in ("loss", "val_loss", "accuracy"):
            assert got[key] == pytest.approx(want[key], abs=1e-5), (got, want)


def test_an_interrupt_between_an_epochs_record_and_its_checkpoint_trains_it_once(
    tmp_path, tiny_bundle, sms_file, monkeypatch, trained
):
    import bert_hub.finetune.train as training

    def interrupt_in_epoch_2(name: str) -> None:
        history = tmp_path / "r" / "history.json"
        if name == "history-written" and len(json.loads(history.read_text())) == 2:
            raise KeyboardInterrupt

    data = read_labelled(sms_file)
    monkeypatch.setattr(training, "pause_point", interrupt_in_epoch_2)
    with pytest.raises(Interrupted, match="keeps 1 epoch of 2"):
        train(tiny_bundle, data, tmp_path / "r", FAST, task=TUNED)
    assert [h["epoch"] for h in json.loads((tmp_path / "r" / "history.json").read_text())] == [1, 2]
    monkeypatch.undo()
    resumed = train(tiny_bundle, data, tmp_path / "r", FAST, task=TUNED, resume=True)
    assert [h["epoch"] for h in resumed["history"]] == [1, 2] and resumed["steps"] == trained[1]["steps"]
    saved = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert [h["epoch"] for h in saved["history"]] == [1, 2]
    assert [h["epoch"] for h in json.loads((tmp_path / "r" / "history.json").read_text())] == [1, 2]
    assert resumed["best_epoch"] in (1, 2)


def test_a_bfloat16_run_repeats_resumes_in_float32_and_ends_with_the_same_steps(
    tmp_path, tiny_bundle, sms_file, trained
):
    import tf_keras

    from bert_hub.runtime.precision import thread_uses_bf16

    class Rewritten(tf_keras.callbacks.Callback):  # what a user's callback sees: float32
        seen: set = set()

        def on_train_batch_end(self, batch, logs=None):
            self.seen.add(thread_uses_bf16())

    data = read_labelled(sms_file)
    bf16 = FAST.replace(precision="bfloat16")  # the steps of FAST, in mixed precision
    partial = train(tiny_bundle, data, tmp_path / "r", bf16, task=TUNED, stop_after_epochs=1, callbacks=[Rewritten()])
    assert partial["finished"] is False and partial["epochs_done"] == 1
    assert not (tmp_path / "r" / "model").exists()
    assert partial["precision"] == "bfloat16" and partial["history"][0]["precision"] == "bfloat16"
    assert Rewritten.seen == {False}  # only the train and test steps are rewritten
    float32 = trained[1]["history"][0]
    assert float32["precision"] == "float32"
    assert partial["history"][0]["loss"] != float32["loss"]  # the rewrite ran: bfloat16 matmuls
    assert partial["history"][0]["loss"] == pytest.approx(float32["loss"], rel=0.05)
    again = train(tiny_bundle, data, tmp_path / "again", bf16, task=TUNED, stop_after_epochs=1)
    assert again["history"][0]["loss"] == partial["history"][0]["loss"]  # --seed repeats within a precision
    with pytest.raises(InputError, match="already exists; pass `resume=True`"):
        train(tiny_bundle, data, tmp_path / "r", bf16, task=TUNED)
    # --resume ends with the steps of an uninterrupted run; the precision may change on the way (weights and
    # optimizer state are float32 either way), no other setting may
    resumed = train(tiny_bundle, data, tmp_path / "r", FAST, task=TUNED, resume=True)
    assert resumed["finished"] and resumed["steps"] == trained[1]["steps"]
    assert [(h["epoch"], h["precision"]) for h in resumed["history"]] == [(1, "bfloat16"), (2, "float32")]
    assert resumed["precision"] == "float32"  # the last epoch's; the CLI says "bfloat16, then float32"
    with pytest.raises(ConfigError, match="`precision` must be one of auto, float32, bfloat16, int8, got 'fp16'"):
        TrainConfig().replace(precision="fp16")


def test_the_python_api_refuses_wrong_types_and_values_in_one_line(tmp_path, tiny_bundle, sms_file):
    from bert_hub.finetune.options import OptionError

    with pytest.raises(OptionError, match=r"`learning_rate` must be positive, got -1"):
        TrainConfig(epochs=1, learning_rate=-1.0)
    with pytest.raises(OptionError, match=r"`epochs` must be a whole number or None, got '1'"):
        TrainConfig(epochs="1")
    with pytest.raises(OptionError, match=r"`seed` must be at least 0, got -1"):
        TrainConfig(seed=-1)
    with pytest.raises(InputError, match="`cfg` must be a TrainConfig"):
        train(tiny_bundle, read_labelled(sms_file), tmp_path / "r", {"epochs": 1})
    with pytest.raises(OptionError, match=r"`positive` must be a string or None, got 1"):
        read_labelled(sms_file, positive=1)
    with pytest.raises(InputError, match="`label_names` must be a list of labels"):
        read_labelled(sms_file, label_names="ham")
    with pytest.raises(InputError, match="a data file is a path"):
        read_labelled(None)
    assert not (tmp_path / "r").exists()


def test_a_run_resumes_on_its_own_data_only(tmp_path, tiny_bundle, sms_file):
    data = read_labelled(sms_file)
    train(tiny_bundle, data, tmp_path / "r", FAST, task=TUNED, stop_after_epochs=1)
    other = stratified_split(data, validation=0.5, test=0.0, seed=3)[0]
    with pytest.raises(InputError, match="continues .* on the data it started with, and this data differs"):
        train(tiny_bundle, other, tmp_path / "r", FAST, task=TUNED, resume=True)
    assert train(tiny_bundle, read_labelled(sms_file), tmp_path / "r", FAST, task=TUNED, resume=True)["finished"]


def test_evaluate_takes_a_data_file_path(trained, sms_file):
    from bert_hub.finetune.tasks import load_model

    model = load_model(trained[0])
    assert model.evaluate(sms_file) == model.evaluate(model.read_data(sms_file))
