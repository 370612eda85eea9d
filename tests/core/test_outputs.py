"""Nothing lost, nothing surprising: the cases of the "careless user" report, one test each.

Safe ``--overwrite`` (only bert_hub's own outputs), normal permissions,
repeatable ``--seed``, interrupts that leave nothing or a resumable run,
YAML numbers, any two labels, one-line errors and exit 2 everywhere.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import one_error_line

from bert_hub.core.errors import InputError, Interrupted
from bert_hub.core.manifests import MARKER, mark_directory
from bert_hub.core.outputs import make_directory
from bert_hub.explore.samples import write_sms_file
from bert_hub.finetune.run_folder import RUN
from bert_hub.finetune.tasks.labelled_texts import read_labelled
from bert_hub.finetune.train import train
from bert_hub.finetune.train_config import TrainConfig, load_train_config

FAST = TrainConfig(epochs=2, batch_size=8, learning_rate=1e-3, seq_length=64, test_fraction=0.1, seed=7)
TRAIN_FLAGS = ("--epochs", "1", "--batch-size", "8", "--seq-length", "64", "--learning-rate", "0.001")


@pytest.fixture(scope="module")
def sms(tmp_path_factory) -> Path:
    return write_sms_file(tmp_path_factory.mktemp("sms") / "sms.tsv", 120, seed=4)


def listing(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


# -- 1. --overwrite never deletes what bert_hub did not write ----------------------------


def test_overwrite_refuses_a_folder_bert_hub_did_not_write(tmp_path, cli, tiny_bundle, sms):
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.txt").write_text("thesis")
    rc, _, err = cli("train", "--config", tiny_bundle, "--data", sms, "--out", precious, "--overwrite", *TRAIN_FLAGS)
    assert rc == 2 and "was not written by bert_hub" in one_error_line(err)
    assert listing(precious) == {"thesis.txt": b"thesis"}


def test_overwrite_refuses_a_bert_hub_run_holding_a_users_file(tmp_path, cli, tiny_bundle, sms):
    run = tmp_path / "run"
    run.mkdir()
    (run / "history.json").write_text("[]")
    mark_directory(run, RUN)  # as bert_hub leaves a run: its manifest lists history.json
    (run / "notes.txt").write_text("mine")
    rc, _, err = cli("train", "--config", tiny_bundle, "--data", sms, "--out", run, "--overwrite", *TRAIN_FLAGS)
    assert rc == 2 and "holds notes.txt, which bert_hub did not write" in one_error_line(err)
    assert (run / "notes.txt").read_text() == "mine"


def test_failed_overwrite_keeps_the_old_run(tmp_path, cli, tiny_bundle):
    run = tmp_path / "run_keep"
    run.mkdir()
    (run / "history.json").write_text("[1]")
    mark_directory(run, RUN)
    tiny_data = tmp_path / "tiny.csv"
    tiny_data.write_text("label,text\nham,a\nspam,b\nham,c\nspam,d\n")
    rc, _, err = cli("train", "--config", tiny_bundle, "--data", tiny_data, "--out", run, "--overwrite")
    assert rc == 2 and "the validation split has 0 examples" in one_error_line(err)
    assert listing(run) == {MARKER: (run / MARKER).read_bytes(), "history.json": b"[1]"}


def test_build_into_a_folder_with_other_files_is_refused(tmp_path, cli, tiny_vocab, monkeypatch):
    (tmp_path / "report.docx").write_text("keep me")
    monkeypatch.chdir(tmp_path)
    rc, _, err = cli(
        "build", "--layers", "1", "--hidden", "8", "--heads", "2", "--vocab", tiny_vocab, "--out", ".", "--overwrite"
    )
    assert rc == 2 and "was not written by bert_hub" in one_error_line(err)
    assert listing(tmp_path) == {"report.docx": b"keep me"}


def test_overwrite_replaces_bert_hubs_own_bundle(tmp_path, cli, tiny_vocab):
    out = tmp_path / "m"
    args = ("build", "--layers", "1", "--hidden", "8", "--heads", "2", "--vocab", tiny_vocab, "--out", out)
    assert cli(*args, "--seed", "1")[0] == 0
    before = listing(out)
    assert cli(*args, "--seed", "2", "--overwrite")[0] == 0
    after = listing(out)
    assert set(after) == set(before) and after != before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left beside


def test_embed_and_plot_refuse_to_replace_foreign_files(tmp_path, cli, tiny_bundle):
    texts = tmp_path / "t.txt"
    texts.write_text("hello world\nthe cat\n")
    out = tmp_path / "v.npy"
    out.write_text("not an array")
    rc, _, err = cli("embed", "--config", tiny_bundle, "--input", texts, "--output", out, "--no-progress")
    assert rc == 2 and "already exists; pass --overwrite" in one_error_line(err)
    rc, _, err = cli(
        "embed", "--config", tiny_bundle, "--input", texts, "--output", out, "--overwrite", "--no-progress"
    )
    assert rc == 2 and "is not a NumPy .npy file that bert_hub wrote" in one_error_line(err)
    assert out.read_text() == "not an array"
    plot = tmp_path / "thesis.png"
    plot.write_text("words")
    rc, _, err = cli("compare-layers", "--config", tiny_bundle, "--plot", plot, "--overwrite", "hello")
    assert rc == 2 and "is not an image that bert_hub wrote" in one_error_line(err)
    assert plot.read_text() == "words"


# -- 2. normal permissions -------------------------------------------------------------------


def test_outputs_get_the_modes_of_the_umask(tmp_path, cli, tiny_bundle, tiny_vocab):
    old = os.umask(0o022)
    try:
        bundle = tmp_path / "b"
        assert (
            cli("build", "--layers", "1", "--hidden", "8", "--heads", "2", "--vocab", tiny_vocab, "--out", bundle)[0]
            == 0
        )
        texts = tmp_path / "t.txt"
        texts.write_text("hello\n")
        assert (
            cli("embed", "--config", tiny_bundle, "--input", texts, "--output", tmp_path / "v.npy", "--no-progress")[0]
            == 0
        )
        assert cli("compare-layers", "--config", tiny_bundle, "--plot", tmp_path / "l.png", "hello")[0] == 0
    finally:
        os.umask(old)
    modes = {
        p: stat.S_IMODE(p.stat().st_mode) for p in [bundle, *bundle.rglob("*"), tmp_path / "v.npy", tmp_path / "l.png"]
    }
    assert {oct(m) for p, m in modes.items() if p.is_dir()} == {"0o755"}
    assert {oct(m) for p, m in modes.items() if p.is_file()} == {"0o644"}


def test_embedded_cache_is_readable_by_others(minilm):
    root = Path(minilm.encoder_dir).parent
    assert stat.S_IMODE(root.stat().st_mode) & 0o055 == 0o055
    assert all(stat.S_IMODE(p.stat().st_mode) & 0o044 == 0o044 for p in root.rglob("*"))


# -- 3. --seed makes a run repeatable --------------------------------------------------------


def test_same_seed_gives_identical_runs(tmp_path, tiny_bundle, sms):
    import tensorflow as tf

    data = read_labelled(sms)
    a = train(tiny_bundle, data, tmp_path / "a", FAST)
    b = train(tiny_bundle, data, tmp_path / "b", FAST)
    assert [h["loss"] for h in a["history"]] == [h["loss"] for h in b["history"]]
    assert a["test_metrics"] == b["test_metrics"]
    ra, rb = (tf.train.load_checkpoint(str(tmp_path / r / "checkpoints")) for r in "ab")
    names = [n for n, _ in tf.train.list_variables(str(tmp_path / "a" / "checkpoints")) if "kernel" in n]
    assert names and all(np.array_equal(ra.get_tensor(n), rb.get_tensor(n)) for n in names)
    c = train(tiny_bundle, data, tmp_path / "c", TrainConfig(**{**FAST.__dict__, "seed": 8}), stop_after_epochs=1)
    assert c["history"][0]["loss"] != a["history"][0]["loss"]


def test_dropout_of_built_encoders_follows_the_seed(tiny):
    import tensorflow as tf

    inputs = {k: tf.constant(v) for k, v in tiny.preprocess(["the cat sat on the mat"]).items()}
    runs = []
    for _ in range(2):
        tiny.encoder.dropout_seed.assign([5, 0])
        runs.append([tiny.encoder(inputs, training=True)["pooled_output"].numpy() for _ in range(2)])
    assert np.array_equal(runs[0][0], runs[1][0]) and np.array_equal(runs[0][1], runs[1][1])
    assert not np.array_equal(runs[0][0], runs[0][1])  # each step draws new masks
    assert int(tiny.encoder.dropout_seed[1]) == 2


# -- 4. Ctrl-C during training ------------------------------------------------------------------


def _stop_at_step(step: int):
    import tf_keras

    class StopAt(tf_keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if int(self.model.optimizer.iterations.numpy()) >= step:
                raise KeyboardInterrupt

    return StopAt()


def test_interrupt_before_the_first_checkpoint_leaves_nothing(tmp_path, tiny_bundle, sms):
    with pytest.raises(Interrupted, match="before the first epoch was saved; nothing was left behind"):
        train(tiny_bundle, read_labelled(sms), tmp_path / "run", FAST, callbacks=[_stop_at_step(3)])
    assert list(tmp_path.iterdir()) == []


def test_interrupts_mid_epoch_and_during_export_resume(tmp_path, tiny_bundle, sms, monkeypatch):
    import tensorflow as tf

    data, out = read_labelled(sms), tmp_path / "run"
    with pytest.raises(Interrupted, match=r"keeps 1 epoch of 2: continue it .* `resume=True`"):
        train(tiny_bundle, data, out, FAST, callbacks=[_stop_at_step(15)])  # 12 steps an epoch
    real_save = tf.saved_model.save

    def save_then_interrupt(*args, **kwargs):
        real_save(*args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(tf.saved_model, "save", save_then_interrupt)
    with pytest.raises(Interrupted, match="keeps 2 epochs of 2"):
        train(tiny_bundle, data, out, FAST, resume=True)
    assert not (out / "model").exists() and not [p for p in out.iterdir() if p.name.startswith(".model")]
    monkeypatch.setattr(tf.saved_model, "save", real_save)
    done = train(tiny_bundle, data, out, FAST, resume=True)
    assert done["finished"] and done["steps"] == 24 and (out / "model" / "saved_model.pb").is_file()

    before = listing(out)  # a complete run, replaced with --overwrite and interrupted: kept as it was
    with pytest.raises(Interrupted, match="is as it was"):
        train(tiny_bundle, data, out, FAST, overwrite=True, callbacks=[_stop_at_step(2)])
    assert listing(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_resume_without_a_checkpoint_says_what_to_do(tmp_path, cli, tiny_bundle, sms):
    run = make_directory(tmp_path / "run", RUN)
    (run / "checkpoints").mkdir()
    rc, _, err = cli("train", "--config", tiny_bundle, "--data", sms, "--out", run, "--resume", *TRAIN_FLAGS)
    assert rc == 2 and "no checkpoint was saved" in one_error_line(err) and "--overwrite" in err


def test_ctrl_c_in_a_real_process(tmp_path, tiny_bundle, sms, cli):
    out = tmp_path / "run_int"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bert_hub.cli",
            "train",
            "--config",
            str(tiny_bundle),
            "--data",
            str(sms),
            "--out",
            str(out),
            "--epochs",
            "30",
            "--batch-size",
            "8",
            "--seq-length",
            "64",
        ],
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if line.startswith("epoch 1/30"):
            proc.send_signal(signal.SIGINT)
            break
    rest = proc.communicate(timeout=300)[1]
    assert proc.returncode == 130, "".join(seen) + rest
    last = rest.strip().splitlines()[-1]
    assert last.startswith(f"interrupted; {out} keeps") and "--resume" in last
    rc, _, _ = cli(
        "train",
        "--config",
        tiny_bundle,
        "--data",
        sms,
        "--out",
        out,
        "--epochs",
        "2",
        "--batch-size",
        "8",
        "--seq-length",
        "64",
        "--resume",
    )
    assert rc == 0 and (out / "model" / "saved_model.pb").is_file()


# -- 5. numbers in YAML as people write them -----------------------------------------------


def test_yaml_learning_rate_in_e_notation(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text("learning_rate: 3e-5\nwarmup_fraction: 1e-1\n")
    cfg, _ = load_train_config(path)
    assert cfg.learning_rate == 3e-5 and cfg.warmup_fraction == 0.1
    path.write_text("learning_rate: fast\n")
    with pytest.raises(Exception, match="field 'learning_rate': expected a number or null, got 'fast'"):
        load_train_config(path)


# -- 6. README commands and API -------------------------------------------------------------


def test_pack_takes_plain_strings(minilm):
    packed = minilm.pack(["how old are you?", "I am six"], seq_length=16)
    tokenized = minilm.pack([minilm.tokenize(["how old are you?"]), minilm.tokenize(["I am six"])], seq_length=16)
    assert all(np.array_equal(packed[k], tokenized[k]) for k in packed)
    with pytest.raises(InputError, match="the two segments have 2 and 1 rows"):
        minilm.pack([["a", "b"], ["c"]])


def test_train_creates_missing_parent_folders(tmp_path, tiny_bundle, sms):
    summary = train(
        tiny_bundle,
        read_labelled(sms),
        tmp_path / "runs" / "spam",
        TrainConfig(epochs=1, batch_size=8, seq_length=64, learning_rate=1e-3),
    )
    assert summary["finished"] and (tmp_path / "runs" / "spam" / "model").is_dir()


# -- 7. any two labels ---------------------------------------------------------------------------


def test_any_two_labels_in_both_formats(tmp_path):
    sms = tmp_path / "good_bad.tsv"
    sms.write_text("good\tlovely day\nbad\tWIN cash\ngood\tok\n")
    d = read_labelled(sms, positive="bad")
    assert d.label_names == ("good", "bad") and d.labels == [0, 1, 0]
    cap = tmp_path / "cap.tsv"
    cap.write_text("Ham\thello\nSpam\tWIN\n")
    assert read_labelled(cap).label_names == ("Ham", "Spam")
    assert read_labelled(cap, positive="spam").label_names == ("Ham", "Spam")
    header = tmp_path / "h.csv"
    header.write_text("label,text\nbad,x\ngood,y\n")
    with pytest.raises(
        InputError,
        match=r"which label is the positive class\? The labels are 'bad', 'good'; "
        r"name one with `positive`",
    ):
        read_labelled(header)
    assert read_labelled(header, positive="good").labels == [0, 1]


# -- 8. one line, exit 2 ----------------------------------------------------------------------


def test_broken_pipe_ends_quietly(monkeypatch):
    from bert_hub.cli import program

    read, write = os.pipe()
    os.close(read)
    pipe = os.fdopen(write, "w")
    monkeypatch.setattr(sys, "stdout", pipe)
    args = program.build_parser().parse_args(["models"])
    assert program._run(args) == 0


@pytest.mark.parametrize(
    "make, args, words",
    [
        (
            lambda d: (d / "plots").mkdir(),
            ["compare-layers", "--plot", "{d}/plots", "hello"],
            "is a folder, not a file",
        ),
        (
            lambda d: (d / "d.npy").mkdir(),
            ["embed", "--input", "{d}/t.txt", "--output", "{d}/d.npy"],
            "is a folder, not a file",
        ),
        (
            lambda d: (d / "afile").write_text("x"),
            ["train", "--data", "{d}/t.txt", "--out", "{d}/afile", "--overwrite"],
            "is a file, not a folder",
        ),
        (lambda d: None, ["embed", "--input", "{d}", "--output", "{d}/o.npy"], "is a folder, not a file"),
        (
            lambda d: None,
            ["embed", "--input", "{d}/t.txt", "--output", "{d}/o.npy", "--buckets", "0,-8"],
            "buckets 0, -8: each bucket is a packed length from 3",
        ),
        (lambda d: None, ["compare-layers", "--plot", "{d}/x.txt", "hello"], "unknown image format '.txt'"),
    ],
)
def test_wrong_kind_of_path_is_one_line(tmp_path, cli, tiny_bundle, make, args, words):
    (tmp_path / "t.txt").write_text("ham\thello\nspam\tworld\n")
    make(tmp_path)
    rc, _, err = cli(*[a.replace("{d}", str(tmp_path)) for a in args], "--config", tiny_bundle)
    assert rc == 2 and words in one_error_line(err)


def test_argument_errors_are_one_line(cli):
    rc, _, err = cli("embed", "--input", "x")
    assert rc == 2 and "the following arguments are required: --output" in one_error_line(err)
    assert "see `bert-hub embed --help`" in err
    rc, _, err = cli("train", "--epochs", "zero", "--data", "x", "--out", "y")
    assert rc == 2 and "--epochs: expected a whole number" in one_error_line(err)


# -- 9. silently wrong, no more -------------------------------------------------------------


def test_plot_format_follows_the_suffix(tmp_path, cli, tiny_bundle):
    for name, magic in (("x.jpg", b"\xff\xd8\xff"), ("x.pdf", b"%PDF"), ("x.png", b"\x89PNG")):
        assert cli("compare-layers", "--config", tiny_bundle, "--plot", tmp_path / name, "hello")[0] == 0
        assert (tmp_path / name).read_bytes().startswith(magic), name


def test_no_stale_lengths_file_and_truncation_counted(tmp_path, cli, tiny_bundle):
    texts = tmp_path / "t.txt"
    texts.write_text("hello world\n" + "the cat " * 400 + "\n")
    out = tmp_path / "s.npy"
    rc, stdout, _ = cli(
        "embed",
        "--config",
        tiny_bundle,
        "--input",
        texts,
        "--output",
        out,
        "--key",
        "sequence_output",
        "--json",
        "--no-progress",
    )
    assert rc == 0 and (tmp_path / "s.lengths.npy").is_file()
    assert json.loads(stdout)["truncated_texts"] == 1
    rc, stdout, _ = cli(
        "embed",
        "--config",
        tiny_bundle,
        "--input",
        texts,
        "--output",
        out,
        "--key",
        "mean",
        "--overwrite",
        "--no-progress",
    )
    assert rc == 0 and not (tmp_path / "s.lengths.npy").exists()
    assert "truncated to 128 tokens: 1 text\n" in stdout + "\n"
    assert np.load(out).shape == (2, 32)


def test_models_names_work_with_config(cli):
    rc, out, _ = cli("models", "--json")
    names = [m["name"] for m in json.loads(out)["models"]]
    assert "all-MiniLM-L6-v2" in names
    from bert_hub.core.config import load_config

    assert load_config("all-MiniLM-L6-v2").name == "all-MiniLM-L6-v2"


# -- 10. misleading no more -----------------------------------------------------------------


def test_truncation_message_and_plurals(cli, tiny_bundle, tiny_vocab):
    rc, out, _ = cli("inspect", "--config", tiny_bundle, "--seq-length", "3", "hello world")
    assert rc == 0 and "truncated: 1 of 2 wordpieces kept" in out and "TRUNCATED from" not in out
    rc, _, err = cli("inspect", "--config", tiny_bundle, "--pair", "hello")
    assert rc == 2 and "got 1 text" in err and "1 texts" not in err
