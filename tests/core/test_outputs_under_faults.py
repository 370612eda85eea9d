"""The fault battery: interrupts at each phase, a full disk, damaged caches, concurrent writers, planted models.

Each numbered case of the "nothing lost under faults" report has a test here
that reproduces it. Interrupts are real signals sent to real ``bert-hub``
processes, at pause points (:mod:`bert_hub.core.pause`) that hold the process at
the exact moment to hit.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from conftest import one_error_line

from bert_hub.core.locks import output_lock
from bert_hub.core.manifests import owned_directory
from bert_hub.explore.samples import write_sms_file

pytestmark = [pytest.mark.slow, pytest.mark.subprocess]  # real bert-hub processes, stopped by real signals

TRAIN_FLAGS = ("--epochs", "1", "--batch-size", "8", "--seq-length", "64", "--learning-rate", "0.001", "--no-progress")


@pytest.fixture(scope="module")
def sms(tmp_path_factory) -> Path:
    return write_sms_file(tmp_path_factory.mktemp("sms") / "sms.tsv", 120, seed=4)


def listing(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def spawn(
    *args, pause: str | None = None, seconds: float = 4, env: dict | None = None, limit_file_size: int | None = None
) -> subprocess.Popen:
    """``bert-hub ARGS`` as a real process (stderr read line by line), held at pause point ``pause``."""
    environ = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    environ.pop("TF_CPP_MIN_LOG_LEVEL", None)  # the CLI must be quiet by itself
    if pause:
        environ.update(BERT_HUB_PAUSE_AT=pause, BERT_HUB_PAUSE_SECONDS=str(seconds))

    def limits() -> None:
        if limit_file_size is not None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG)
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit_file_size, limit_file_size))

    return subprocess.Popen(
        [sys.executable, "-m", "bert_hub.cli", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environ,
        preexec_fn=limits,
    )


def interrupt_at(proc: subprocess.Popen, pause: str, sig: int) -> tuple[int, str, str]:
    """Waits until ``proc`` pauses at ``pause``, sends ``sig``; returns (status, stdout, stderr after)."""
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if line.strip() == f"bert_hub: paused at {pause}":
            proc.send_signal(sig)
            break
    else:
        out, err = proc.communicate(timeout=60)
        raise AssertionError(f"never paused at {pause}: {''.join(seen)}{err}")
    out, err = proc.communicate(timeout=300)
    return proc.returncode, out, err


def last_line(err: str) -> str:
    return err.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def first_run(tmp_path_factory, tiny_bundle, sms) -> Path:
    from conftest import run

    out = tmp_path_factory.mktemp("first") / "rb"
    run("train", "--config", tiny_bundle, "--data", sms, "--out", out, *TRAIN_FLAGS, "--seed", "1")
    return out


@pytest.fixture
def old_run(tmp_path, first_run) -> Path:
    """A complete run, ``rb``, of its own (a copy: new file times, same content, still bert_hub's)."""
    return Path(shutil.copytree(first_run, tmp_path / "rb"))


# -- 1. an interrupt at any moment of `train --overwrite`: the old run or the new one, whole ------


@pytest.mark.parametrize(
    "pause, sig, status, words",
    [
        ("epoch-end", signal.SIGTERM, 143, "is as it was (the new run was discarded)"),
        ("before-swap:rb", signal.SIGINT, 130, "is as it was (the new run was discarded)"),
        ("swap:rb", signal.SIGINT, 130, "holds the new run"),
    ],
)
def test_interrupt_during_overwrite_leaves_one_whole_run(old_run, tiny_bundle, sms, pause, sig, status, words):
    before = listing(old_run)
    proc = spawn(
        "train",
        "--config",
        tiny_bundle,
        "--data",
        sms,
        "--out",
        old_run,
        "--overwrite",
        *TRAIN_FLAGS,
        "--seed",
        "2",
        pause=pause,
    )
    rc, _, err = interrupt_at(proc, pause, sig)
    assert rc == status, err
    assert words in last_line(err)
    assert hidden(old_run.parent) == []  # no .rb.old-*, .rb.tmp-* or lock left
    after = listing(old_run)
    if "as it was" in words:
        assert after == before
    else:
        assert after != before and (old_run / "model" / "saved_model.pb").is_file()
        assert (old_run / "summary.json").is_file()
        owned_directory(old_run)  # its manifest lists every file: --overwrite may replace it again


def test_interrupt_before_the_export_of_a_new_run_resumes(tmp_path, cli, tiny_bundle, sms):
    run = tmp_path / "fresh"
    proc = spawn("train", "--config", tiny_bundle, "--data", sms, "--out", run, *TRAIN_FLAGS, pause="training-done")
    rc, _, err = interrupt_at(proc, "training-done", signal.SIGTERM)
    assert (
        rc == 143
        and last_line(err) == f"interrupted; {run} keeps 1 epoch of 1: continue it with the same command and --resume"
    )
    assert not (run / "model").exists() and hidden(tmp_path) == []
    owned_directory(run)  # the manifest was brought up to date: the run is bert_hub's to replace
    rc, _, err = cli("train", "--config", tiny_bundle, "--data", sms, "--out", run, *TRAIN_FLAGS, "--resume")
    assert rc == 0, err
    assert (run / "model" / "saved_model.pb").is_file()


def test_leftovers_of_a_killed_run_are_removed_and_said(old_run, cli, tiny_bundle, sms):
    from bert_hub.core.outputs import staging_directory
    from bert_hub.finetune.run_folder import RUN

    # What `kill -9` leaves: a half-written run beside the old one, and the old run's own lock file.
    half = staging_directory(old_run, RUN)
    (half / "checkpoints").mkdir()
    (half / "checkpoints" / "ckpt-1.data-00000-of-00001").write_bytes(b"\0" * 2_000_000)
    (old_run.parent / ".rb.lock").write_text("{}")
    rc, _, err = cli("train", "--config", tiny_bundle, "--data", sms, "--out", old_run, "--overwrite", *TRAIN_FLAGS)
    assert rc == 0, err
    assert f"removed {half.name} (2 MB) left beside {old_run} by an interrupted bert-hub run" in err
    assert hidden(old_run.parent) == []


# -- 2. --overwrite looks at the whole tree --------------------------------------------------


def test_overwrite_never_deletes_a_users_file_at_any_depth(tmp_path, cli, tiny_vocab):
    out = tmp_path / "m"
    build = ("build", "--layers", "1", "--hidden", "8", "--heads", "2", "--vocab", tiny_vocab, "--out", out)
    assert cli(*build)[0] == 0
    (out / "encoder" / "NOTES.txt").write_text("mine")
    (out / "preprocess" / "mydata").mkdir()
    (out / "preprocess" / "mydata" / "x.csv").write_text("a,b\n")
    rc, _, err = cli(*build, "--overwrite", "--seed", "3")
    assert (
        rc == 2
        and "holds encoder/NOTES.txt, preprocess/mydata/x.csv, which bert_hub did not write" in one_error_line(err)
    )
    assert (out / "encoder" / "NOTES.txt").read_text() == "mine"
    assert (out / "preprocess" / "mydata" / "x.csv").read_text() == "a,b\n"
    (out / "encoder" / "NOTES.txt").unlink()
    shutil.rmtree(out / "preprocess" / "mydata")
    config = out / "bert_hub.yaml"
    config.write_text(config.read_text() + "# my edit\n")
    rc, _, err = cli(*build, "--overwrite")
    assert rc == 2 and "bert_hub.yaml changed since bert_hub wrote it" in one_error_line(err)


def test_overwrite_checks_inside_run_folders(tmp_path, cli, trained_classifier, tiny_bundle, sms):
    run = tmp_path / "copy"
    shutil.copytree(trained_classifier, run)  # a copy (new times, same content) is still bert_hub's
    owned_directory(run)
    (run / "model" / "variables" / "why.txt").write_text("notes")
    rc, _, err = cli("train", "--config", tiny_bundle, "--data", sms, "--out", run, "--overwrite", *TRAIN_FLAGS)
    assert rc == 2 and "holds model/variables/why.txt, which bert_hub did not write" in one_error_line(err)
    assert (run / "model" / "variables" / "why.txt").read_text() == "notes"


# -- 3. single files: replaced only if bert_hub wrote them, whatever their format -------------


def test_overwrite_replaces_only_files_bert_hub_wrote(tmp_path, cli, tiny_bundle):
    texts = tmp_path / "t.txt"
    texts.write_text("hello world\nthe cat\n")
    mine = tmp_path / "mine.npy"
    np.save(mine, np.arange(3))
    rc, _, err = cli(
        "embed", "--config", tiny_bundle, "--input", texts, "--output", mine, "--overwrite", "--no-progress"
    )
    assert rc == 2 and "is not a NumPy .npy file that bert_hub wrote" in one_error_line(err)
    assert np.array_equal(np.load(mine), np.arange(3))
    photo = tmp_path / "holiday.jpg"
    photo.write_bytes(b"\xff\xd8\xff\xe0" + b"\0" * 64)  # a JPEG's first bytes
    rc, _, err = cli("compare-layers", "--config", tiny_bundle, "--plot", photo, "--overwrite", "hello")
    assert rc == 2 and "is not an image that bert_hub wrote" in one_error_line(err)
    assert photo.read_bytes().startswith(b"\xff\xd8\xff\xe0\0")

    ours = tmp_path / "v.npy"
    assert cli("embed", "--config", tiny_bundle, "--input", texts, "--output", ours, "--no-progress")[0] == 0
    assert (
        cli(
            "embed",
            "--config",
            tiny_bundle,
            "--input",
            texts,
            "--output",
            ours,
            "--overwrite",
            "--key",
            "mean",
            "--no-progress",
        )[0]
        == 0
    )
    np.save(ours, np.zeros(2))  # the user writes over bert_hub's file: now it is theirs
    rc, _, err = cli(
        "embed", "--config", tiny_bundle, "--input", texts, "--output", ours, "--overwrite", "--no-progress"
    )
    assert rc == 2 and "that bert_hub wrote (or it changed since)" in one_error_line(err)
    assert np.array_equal(np.load(ours), np.zeros(2))


# -- 4. one writer per output ---------------------------------------------------------------


def test_a_second_writer_is_refused_and_a_dead_ones_lock_is_taken_over(tmp_path, cli, tiny_bundle, sms):
    out = tmp_path / "tt"
    proc = spawn(
        "train", "--config", tiny_bundle, "--data", sms, "--out", out, *TRAIN_FLAGS, pause="train-start", seconds=120
    )
    for line in proc.stderr:
        if "paused at train-start" in line:
            break
    rc, _, err = cli("train", "--config", tiny_bundle, "--data", sms, "--out", out, *TRAIN_FLAGS)
    assert rc == 2 and f"is being written by another bert-hub process (pid {proc.pid}" in one_error_line(err)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert hidden(tmp_path) == [] and not out.exists()

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (tmp_path / ".tt.lock").write_text(
        json.dumps({"pid": int(dead.stdout), "host": "h", "since": "then", "command": "bert-hub train"})
    )
    rc, _, err = cli("train", "--config", tiny_bundle, "--data", sms, "--out", out, *TRAIN_FLAGS)
    assert rc == 0, err
    assert hidden(tmp_path) == []


def test_lock_is_held_across_processes_for_files_too(tmp_path, cli, tiny_bundle):
    texts = tmp_path / "t.txt"
    texts.write_text("hello\n")
    out = tmp_path / "v.npy"
    with output_lock(out, what="--output"):
        rc, _, err = cli("embed", "--config", tiny_bundle, "--input", texts, "--output", out, "--no-progress")
    assert rc == 2 and "is being written by another bert-hub process" in one_error_line(err)
    assert not out.exists()


# -- 5. --resume with other settings ---------------------------------------------------------


def test_resume_refuses_other_settings_and_finished_runs(tmp_path, cli, trained_classifier, tiny_bundle, sms):
    run = tmp_path / "r"
    shutil.copytree(trained_classifier, run)
    recorded = (run / "train_config.yaml").read_text()
    rc, _, err = cli(
        "train",
        "--config",
        tiny_bundle,
        "--data",
        sms,
        "--out",
        run,
        "--resume",
        "--epochs",
        "2",
        "--learning-rate",
        "0.5",
        "--batch-size",
        "8",
    )
    assert rc == 2 and "--learning-rate 0.5 differs from its train_config.yaml (0.001)" in one_error_line(err)
    rc, _, err = cli("train", "--config", tiny_bundle, "--data", sms, "--out", run, "--resume")
    assert rc == 2 and "is finished (1 epoch trained, 1 asked for, exported): nothing to resume" in one_error_line(err)
    assert (run / "train_config.yaml").read_text() == recorded
    # the run's own settings are the base: only --epochs is needed to train on
    rc, out, err = cli(
        "train", "--config", tiny_bundle, "--data", sms, "--out", run, "--resume", "--epochs", "2", "--json"
    )
    assert rc == 0, err
    assert json.loads(out)["epochs_done"] == 2 and "epochs: 2" in (run / "train_config.yaml").read_text()


def test_a_damaged_checkpoint_is_one_line(tmp_path, cli, tiny_bundle, sms):
    run = tmp_path / "half"
    rc, _, err = cli("train", "--config", tiny_bundle, "--data", sms, "--out", run, *TRAIN_FLAGS)
    assert rc == 0, err
    shutil.rmtree(run / "model")  # as if it stopped before the export
    data = next((run / "checkpoints").glob("ckpt-1.data-*"))
    data.write_bytes(data.read_bytes()[: data.stat().st_size // 2])
    rc, _, err = cli("train", "--config", tiny_bundle, "--data", sms, "--out", run, "--resume", "--epochs", "2")
    assert rc == 2 and last_line(err).startswith("error: cannot resume")
    assert "does not load into the model this data and these settings build, or is damaged" in last_line(err)


# -- 6, 7, 10. Beam: globs, unknown flags, Ctrl-C ----------------------------------------------

beam = pytest.importorskip("apache_beam", reason="the beam extra is not installed")


def test_beam_relative_globs_and_no_match(tmp_path, cli, tiny_bundle, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("texts1.txt").write_text("hello world\nthe cat\n")
    Path("texts2.txt").write_text("a dog\n")
    rc, out, err = cli(
        "embed",
        "--config",
        tiny_bundle,
        "--runner",
        "DirectRunner",
        "--input",
        "texts*.txt",
        "--output",
        "vec",
        "--json",
    )
    assert rc == 0, err
    assert json.loads(out)["rows"] == 3
    rc, _, err = cli(
        "embed", "--config", tiny_bundle, "--runner", "DirectRunner", "--input", "nothing*.txt", "--output", "vec2"
    )
    assert rc == 2 and "--input nothing*.txt matches no file (looked in" in one_error_line(err)
    rc, _, err = cli(
        "embed", "--config", tiny_bundle, "--runner", "DirectRunner", "--input", "missing.txt", "--output", "vec2"
    )
    assert rc == 2 and "--input missing.txt: no such file" in one_error_line(err)
    rc, _, err = cli(
        "embed",
        "--config",
        tiny_bundle,
        "--runner",
        "DirectRunner",
        "--input",
        "texts1.txt",
        "--output",
        "vec2",
        "--kye",
        "cls",
    )
    assert rc == 2 and "unknown option --kye (did you mean --key?)" in one_error_line(err)
    assert not Path("vec2").exists()


def test_ctrl_c_during_a_beam_job(tmp_path, tiny_bundle):
    texts = tmp_path / "many.txt"
    texts.write_text("the cat sat on the mat\n" * 200_000)
    proc = spawn(
        "embed", "--config", tiny_bundle, "--runner", "DirectRunner", "--input", texts, "--output", tmp_path / "out"
    )
    import time

    deadline = time.monotonic() + 120
    while not [p for p in tmp_path.iterdir() if p.name.startswith(".out.tmp-")] and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert err.strip().splitlines() == ["interrupted; the Beam job was stopped and nothing was written"]
    assert hidden(tmp_path) == [] and not (tmp_path / "out").exists()


# -- 8. numbers are finite ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "flag, value",
    [("--learning-rate", "nan"), ("--learning-rate", "inf"), ("--weight-decay", "nan"), ("--worker-timeout", "nan")],
)
def test_non_finite_numbers_are_refused(cli, flag, value):
    rc, _, err = cli("train", "--data", "x.tsv", "--out", "y", flag, value)
    assert rc == 2 and "finite number" in one_error_line(err)


def test_non_finite_numbers_in_yaml(tmp_path, cli):
    for text in ("learning_rate: .nan\n", "weight_decay: .inf\n"):
        cfg = tmp_path / "t.yaml"
        cfg.write_text(text)
        rc, _, err = cli("train", "--data", "x.tsv", "--out", tmp_path / "y", "--train-config", cfg)
        assert rc == 2 and "expected a finite number" in one_error_line(err) and str(cfg) in err


# -- 9. text that is not UTF-8 text ------------------------------------------------------------


def test_utf16_and_bom_inputs(tmp_path, cli, tiny_bundle):
    utf16 = tmp_path / "u16.txt"
    utf16.write_bytes("hello world\nthe cat\n".encode("utf-16-le"))
    rc, _, err = cli("embed", "--config", tiny_bundle, "--input", utf16, "--output", tmp_path / "a.npy")
    assert rc == 2 and f"{utf16}: line 1 holds a NUL byte (is the file UTF-16?)" in one_error_line(err)
    bom, plain = tmp_path / "bom.txt", tmp_path / "plain.txt"
    bom.write_bytes(b"\xef\xbb\xbfhello world\nthe cat\n")
    plain.write_text("hello world\nthe cat\n")
    for src, dst in ((bom, "b.npy"), (plain, "p.npy")):
        assert (
            cli("embed", "--config", tiny_bundle, "--input", src, "--output", tmp_path / dst, "--no-progress")[0] == 0
        )
    assert np.array_equal(np.load(tmp_path / "b.npy"), np.load(tmp_path / "p.npy"))
    data = tmp_path / "d.tsv"
    data.write_bytes(b"ham\thello\nspam\twin\x00 cash\n")
    rc, _, err = cli("train", "--config", tiny_bundle, "--data", data, "--out", tmp_path / "r")
    assert rc == 2 and f"{data}: line 2 holds a NUL byte" in one_error_line(err)


def test_beam_skips_a_bom_and_sends_nul_lines_to_the_dead_letters(tmp_path, cli, tiny_bundle):
    from bert_hub.integrations.beam import read_errors, read_output

    (tmp_path / "a.txt").write_bytes(b"\xef\xbb\xbfhello world\nthe cat\n")
    (tmp_path / "b.txt").write_bytes("a dog\n".encode("utf-16-le"))
    rc, _, err = cli(
        "embed",
        "--config",
        tiny_bundle,
        "--runner",
        "DirectRunner",
        "--input",
        str(tmp_path / "*.txt"),
        "--output",
        tmp_path / "out",
        "--key",
        "mean",
    )
    assert rc == 0, err
    rows = read_output(tmp_path / "out")
    assert [(Path(r["file"]).name, r["line"]) for r in rows] == [("a.txt", 1), ("a.txt", 2)]
    errors = read_errors(tmp_path / "out")
    # UTF-16 "a dog\n" read as bytes: line 1 is "a\0 \0d\0o\0g\0\n", line 2 the NUL after the newline
    assert [(Path(e["file"]).name, e["line"]) for e in errors] == [("b.txt", 1), ("b.txt", 2)]
    assert all("holds a NUL byte (is the file UTF-16?)" in e["error"] for e in errors)


# -- 10. Ctrl-C around a plain embed ----------------------------------------------------------


@pytest.mark.parametrize(
    "pause, words",
    [
        ("embedding", "interrupted; nothing was written (existing outputs are as they were)"),
        ("commit-files", "interrupted after writing {out} (complete)"),
    ],
)
def test_ctrl_c_around_embed_says_what_is_on_disk(tmp_path, tiny_bundle, pause, words):
    texts = tmp_path / "t.txt"
    texts.write_text("hello world\n" * 300)
    out = tmp_path / "v.npy"
    proc = spawn(
        "embed",
        "--config",
        tiny_bundle,
        "--input",
        texts,
        "--output",
        out,
        "--no-progress",
        "--batch-size",
        "8",
        pause=pause,
    )
    rc, _, err = interrupt_at(proc, pause, signal.SIGINT)
    assert rc == 130 and last_line(err) == words.format(out=out)
    assert out.exists() == (pause == "commit-files")
    if out.exists():
        assert np.load(out).shape == (300, 32)
    assert hidden(tmp_path) == []


# -- a full disk -------------------------------------------------------------------------------


def test_a_full_disk_is_one_line_and_leaves_nothing(tmp_path, tiny_bundle, tiny_vocab):
    texts = tmp_path / "t.txt"
    texts.write_text("hello world\n" * 20_000)  # 20,000 x 32 floats: 2.5 MB
    proc = spawn(
        "embed",
        "--config",
        tiny_bundle,
        "--input",
        texts,
        "--output",
        tmp_path / "v.npy",
        "--no-progress",
        "--precision",
        "float32",
        "--no-xla",
        limit_file_size=1 << 20,
    )  # no calibration
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 2, err
    line = one_error_line(err)
    assert "File too large" in line and "free some space" in line
    proc = spawn(
        "build",
        "--layers",
        "1",
        "--hidden",
        "64",
        "--heads",
        "2",
        "--vocab",
        tiny_vocab,
        "--out",
        tmp_path / "m",
        limit_file_size=64 << 10,
    )
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 2, err
    assert last_line(err).startswith("error: cannot write") and "File too large; free some space" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.txt"]


# -- interrupted conversions; a damaged embedded cache -----------------------------------------


def test_interrupted_convert_leaves_nothing(tmp_path, mlm_checkpoint):
    out = tmp_path / "conv"
    proc = spawn("convert", "--from", mlm_checkpoint[0], "--out", out, pause="converting")
    rc, _, err = interrupt_at(proc, "converting", signal.SIGTERM)
    assert rc == 143 and last_line(err) == "interrupted; nothing was written (existing outputs are as they were)"
    assert list(tmp_path.iterdir()) == []


def test_embedded_cache_survives_interrupts_and_damage(tmp_path, monkeypatch, caplog):
    from bert_hub.hub.embedded import bundle_is_complete, embedded_bundle_dir

    cache = tmp_path / "cache"
    proc = spawn("inspect", "hello", pause="converting", env={"BERT_HUB_CACHE": str(cache)})
    rc, _, err = interrupt_at(proc, "converting", signal.SIGTERM)
    assert rc == 143, err
    entries = cache / "embedded"
    assert [p.name for p in entries.iterdir()] == []  # no half-converted entry, no temporary, no lock
    monkeypatch.setenv("BERT_HUB_CACHE", str(cache))
    entry = embedded_bundle_dir("all-MiniLM-L6-v2")
    assert bundle_is_complete(entry)
    variables = next((entry / "encoder" / "variables").glob("variables.data-*"))
    size = variables.stat().st_size
    variables.write_bytes(variables.read_bytes()[:1000])  # truncated
    with caplog.at_level("WARNING", logger="bert_hub"):
        assert embedded_bundle_dir("all-MiniLM-L6-v2") == entry
    assert "was incomplete or damaged; replaced it" in caplog.text
    assert variables.stat().st_size == size and bundle_is_complete(entry)
    assert [p.name for p in entries.iterdir()] == [entry.name]


# -- 11, 12. trust: no model from a place another user can write --------------------------------


def test_tfhub_cache_is_never_the_shared_temp_folder(monkeypatch, tmp_path):
    from bert_hub.core.caches import tfhub_cache_dir

    monkeypatch.delenv("TFHUB_CACHE_DIR")
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert tfhub_cache_dir() == tmp_path / "home" / ".cache" / "tfhub_modules"
    assert not str(tfhub_cache_dir()).startswith(tempfile.gettempdir() + "/tfhub_modules")


@pytest.fixture
def planted(tmp_path, monkeypatch, tiny_bundle):
    """A Small BERT tfhub.dev handle of the catalog, cached by another user (uid 4242) in a cache folder."""
    import hashlib

    from bert_hub.core.config import load_config

    cache = tmp_path / "tfhub"
    cache.mkdir()
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(cache))
    handle = load_config("small_bert_en_uncased_L-2_H-128_A-2").encoder.text
    entry = cache / hashlib.sha1(handle.encode()).hexdigest()
    shutil.copytree(tiny_bundle / "encoder", entry)
    for p in [entry, *entry.rglob("*")]:
        os.chown(p, 4242, 4242)
    return handle, entry


@pytest.mark.skipif(os.getuid() != 0, reason="planting a file of another user needs root (as CI runs)")
def test_a_model_planted_by_another_user_is_refused(planted, cli):
    from bert_hub.core.errors import ResolveError
    from bert_hub.hub.resolution import resolve

    handle, entry = planted
    with pytest.raises(
        ResolveError,
        match=r"belongs to another user \(uid 4242\), so another user could have "
        r"put it there, and a SavedModel is a program; point TFHUB_CACHE_DIR",
    ):
        resolve(handle)
    rc, out, _ = cli("models", "--json")
    row = next(m for m in json.loads(out)["models"] if m["encoder"] == handle)
    assert row["encoder_offline"] is None
    for p in [entry, *entry.rglob("*")]:
        os.chown(p, os.getuid(), os.getgid())
    assert resolve(handle) == entry  # the same folder, when it is the user's own


def test_a_model_folder_others_can_write_is_refused(tmp_path, cli, trained_classifier):
    run = tmp_path / "shared"
    shutil.copytree(trained_classifier, run)
    os.chmod(run / "model" / "saved_model.pb", 0o666)
    rc, _, err = cli("predict", "--model", run, "hello")
    assert rc == 2 and "saved_model.pb is writable by every user" in one_error_line(err)
    assert "a SavedModel is a program" in err


def chown_tree(path: Path, uid: int) -> None:
    for p in [path, *path.rglob("*")]:
        os.chown(p, uid, uid)


@pytest.mark.skipif(os.getuid() != 0, reason="making a file of another user needs root (as CI runs)")
@pytest.mark.parametrize("whose", ["whole folder", "saved_model.pb alone", "the folder above"])
def test_a_named_model_folder_another_user_owns_is_refused(tmp_path, cli, tiny_bundle, trained_classifier, whose):
    """`demo --config DIR` and `predict --model RUN` apply the caches' rule: yours (or root's), up to /tmp."""
    holder = tmp_path / "holder"
    bundle = Path(shutil.copytree(tiny_bundle, holder / "bundle"))
    run = Path(shutil.copytree(trained_classifier, holder / "run"))
    for model, pb in ((bundle, bundle / "encoder" / "saved_model.pb"), (run, run / "model" / "saved_model.pb")):
        if whose == "whole folder":
            chown_tree(model, 4242)
        elif whose == "saved_model.pb alone":
            os.chown(pb, 4242, 4242)
    if whose == "the folder above":
        os.chown(holder, 4242, 4242)
    owner = "holder (a folder above the model) belongs" if whose == "the folder above" else "belongs"
    for args in (("demo", "--config", bundle / "bert_hub.yaml"), ("predict", "--model", run, "hello")):
        rc, _, err = cli(*args)
        line = one_error_line(err)
        assert rc == 2 and f"{owner} to another user (uid 4242)" in line and "a SavedModel is a program" in line, err
        assert "copy it to a folder of your own" in line
    chown_tree(holder, 0)
    assert cli("predict", "--model", run, "hello")[0] == 0  # the same folders, when they are yours (in /tmp)


@pytest.fixture(scope="module")
def unwritable_places(tmp_path_factory):
    """Folders no command can write into, each as this machine allows: /proc, a read-only file system, an
    immutable folder (the last two need root, as CI runs)."""
    places = {"proc": Path("/proc")}
    base = tmp_path_factory.mktemp("unwritable")
    readonly, immutable = base / "readonly", base / "immutable"
    readonly.mkdir()
    immutable.mkdir()
    if (
        subprocess.run(["mount", "-t", "tmpfs", "-o", "ro", "tmpfs", str(readonly)], capture_output=True).returncode
        == 0
    ):
        places["read-only file system"] = readonly
    if subprocess.run(["chattr", "+i", str(immutable)], capture_output=True).returncode == 0:
        places["immutable folder"] = immutable
    yield places
    subprocess.run(["umount", str(readonly)], capture_output=True)
    subprocess.run(["chattr", "-i", str(immutable)], capture_output=True)


def test_every_writer_says_an_unwritable_place_in_one_line(
    unwritable_places, cli, tiny_bundle, tiny_vocab, sms, trained_classifier, tmp_path
):
    texts = tmp_path / "texts.txt"
    texts.write_text("hello\nworld\n")
    for kind, place in unwritable_places.items():
        commands = {
            "train": ("train", "--config", tiny_bundle, "--data", sms, "--out", place / "run", "--epochs", "1"),
            "embed": ("embed", "--config", tiny_bundle, "--input", texts, "--output", place / "v.npy"),
            "samples": ("samples", "--out", place / "samples"),
            "build": (
                "build",
                "--layers",
                "1",
                "--hidden",
                "8",
                "--heads",
                "2",
                "--vocab",
                tiny_vocab,
                "--out",
                place / "deep" / "bundle",
            ),
            "evaluate --plot": ("evaluate", "--model", trained_classifier, "--data", sms, "--plot", place / "p.png"),
            "export": ("export", "--model", trained_classifier, "--out", place / "m.tflite"),
            "export --format savedmodel": ("export", "--model", trained_classifier, "--out", place / "m", "--format",
                                           "savedmodel"),
        }  # fmt: skip
        for name, args in commands.items():
            rc, _, err = cli(*args)
            line = one_error_line(err)
            assert rc == 2 and f"cannot write into {place} (" in line and "choose a writable location" in line, (
                kind,
                name,
                err,
            )
            assert "bert_hub bug" not in line


def test_a_link_inside_a_model_counts_as_what_it_points_to(tmp_path, cli, trained_classifier):
    """A SavedModel file linked from a folder every user can write (or owned by another user) is refused."""
    run = Path(shutil.copytree(trained_classifier, tmp_path / "run"))
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)  # not sticky: anyone may replace what is in it
    pb = run / "model" / "saved_model.pb"
    shutil.move(pb, shared / "saved_model.pb")
    pb.symlink_to(shared / "saved_model.pb")
    rc, _, err = cli("predict", "--model", run, "hello")
    assert (
        rc == 2
        and f"{shared} (a folder above {shared / 'saved_model.pb'}, to which {pb} links) is writable by every user"
        in one_error_line(err)
    )
    os.chmod(shared, 0o755)
    assert cli("predict", "--model", run, "hello")[0] == 0
