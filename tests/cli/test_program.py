"""The bert-hub command as a user runs it: output, --json, errors, quiet logs.

Commands run in this process through ``cli.main`` (the same code path as the
``bert-hub`` script, without starting TensorFlow again); the tests that must
see a real process (quiet start-up logs, exit codes, Ctrl-C, logical devices)
start one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import one_error_line, run

NOISE = ("I0000", "oneDNN", "absl::InitializeLog", "cudart_stub", "Traceback")


@pytest.fixture(scope="module")
def demo_json(minilm):  # minilm: the embedded model is converted in this session's cache
    return run("demo", "--json", process=True)


def test_demo_json_on_the_embedded_default(demo_json):
    report = json.loads(demo_json.stdout)
    pre, enc = report["preprocess"], report["encoder"]
    assert pre["shapes"] == {k: [2, 128] for k in ("input_word_ids", "input_mask", "input_type_ids")}
    assert pre["real_tokens"] == [8, 8]
    assert pre["first_ids"] == [101, 101] and pre["last_real_ids"] == [102, 102]
    assert pre["cls_positions"] == [[0], [0]] and pre["sep_positions"] == [[7], [7]]
    assert enc["keys"] == ["default", "encoder_outputs", "pooled_output", "sequence_output"]
    assert enc["num_encoder_outputs"] == enc["num_layers"] == 6
    assert enc["last_encoder_output_equals_sequence_output"] is True
    assert len(enc["pooled_output_preview"]) == 2


def test_cli_is_quiet_by_default(demo_json):
    assert not [line for line in demo_json.stderr.splitlines() if any(n in line for n in NOISE)]


def test_demo_text_output(minilm):
    out = run("demo").stdout
    assert "real tokens: 8" in out and "[CLS]=101" in out and "encoder_outputs[-1] == sequence_output: True" in out


def test_build_then_demo_on_the_built_bundle(tmp_path, tiny_vocab):
    out = tmp_path / "m"
    built = json.loads(
        run(
            "build",
            "--layers",
            "2",
            "--hidden",
            "16",
            "--heads",
            "2",
            "--vocab",
            str(tiny_vocab),
            "--out",
            str(out),
            "--json",
        ).stdout
    )
    assert built["architecture"]["layers"] == 2 and built["has_mlm"] is True
    assert Path(built["config"]) == out / "bert_hub.yaml"
    report = json.loads(run("demo", "--config", str(out / "bert_hub.yaml"), "--json").stdout)
    assert report["encoder"]["num_encoder_outputs"] == 2
    assert report["encoder"]["shapes"]["pooled_output"] == [2, 16]
    refused = run(
        "build",
        "--layers",
        "2",
        "--hidden",
        "16",
        "--heads",
        "2",
        "--vocab",
        str(tiny_vocab),
        "--out",
        str(out),
        check_rc=2,
    )
    assert refused.stderr.startswith(f"error: --out {out} already exists") and "--overwrite" in refused.stderr


def test_convert_contract(tmp_path, minilm_checkpoint):
    out = tmp_path / "converted"
    report = json.loads(run("convert", "--from", str(minilm_checkpoint), "--out", str(out), "--json").stdout)
    assert report["architecture"]["hidden"] == 384 and report["has_mlm"] is False
    assert {p.name for p in out.iterdir()} == {"preprocess", "encoder", "bert_hub.yaml", ".bert_hub_output.json"}


@pytest.mark.parametrize(
    "args, words",
    [
        (
            ["convert", "--from", "/no/such/dir", "--out", "/tmp/bert_hub_never"],
            "checkpoint directory /no/such/dir does not exist",
        ),
        (["demo", "--config", "/no/such.yaml"], "config '/no/such.yaml' not found"),
        (
            [
                "build",
                "--layers",
                "2",
                "--hidden",
                "10",
                "--heads",
                "3",
                "--vocab",
                "/no/vocab.txt",
                "--out",
                "/tmp/bert_hub_never",
            ],
            "cannot read vocab file /no/vocab.txt",
        ),
    ],
)
def test_errors_are_one_line(args, words):
    proc = run(*args, check_rc=2)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], proc.stderr
    assert not Path("/tmp/bert_hub_never").exists()


@pytest.mark.parametrize(
    "flags, words",
    [
        (["--hidden", "10", "--heads", "3"], "error: --heads: hidden size 10 must be divisible by heads=3"),
        (["--hidden", "8", "--heads", "2", "--name", " "], "error: --name is empty; give the model a name"),
    ],
)
def test_build_names_the_flag_at_fault(flags, words):
    proc = run("build", "--layers", "1", *flags, "--vocab-from", "default", "--out", "/tmp/bert_hub_never", check_rc=2)
    assert proc.stderr.strip().splitlines()[-1].startswith(words), proc.stderr
    assert not Path("/tmp/bert_hub_never").exists()


def test_bad_number_is_an_argparse_error():
    proc = run("build", "--layers", "0", "--hidden", "8", "--heads", "2", "--vocab", "v", "--out", "o", check_rc=2)
    assert "--layers: must be at least 1" in proc.stderr


# -- the conventions users expect of a command line ------------------------------------------------------


def test_version_and_argument_errors_point_at_the_subcommands_help(capsys):
    from bert_hub import __version__
    from bert_hub.cli import main

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"bert-hub {__version__}"
    assert main(["embed", "--input", "x.txt"]) == 2
    assert capsys.readouterr().err.strip().endswith("(see `bert-hub embed --help`)")
    assert main(["embed", "--input", "x.txt", "--output", "x.npy", "--nonsense"]) == 2
    assert "error: unknown flag --nonsense (see `bert-hub embed --help`)" in capsys.readouterr().err


def test_every_command_is_declared_once_in_the_table():
    from bert_hub.cli import build_parser
    from bert_hub.cli.args import subcommands
    from bert_hub.cli.program import COMMAND_GROUPS

    commands = subcommands(build_parser())
    assert set(commands) == {
        "models",
        "demo",
        "inspect",
        "compare-layers",
        "fill-mask",
        "samples",
        "embed",
        "train",
        "evaluate",
        "predict",
        "export",
        "build",
        "convert",
    }
    owners = {c: p.get_default("handler").__module__ for c, p in commands.items()}
    assert set(owners.values()) == {g.__name__ for g in COMMAND_GROUPS}  # each group runs its own commands


def test_samples_are_written_whole_and_never_over_a_users_files(tmp_path):
    report = json.loads(run("samples", "--out", tmp_path / "s", "--json").stdout)
    assert set(report["files"]) == {
        "texts.txt",
        "sms.tsv",
        "test.tsv",
        "topics.tsv",
        "topics.jsonl",
        "tags.tsv",
        "ratings.tsv",
        "ner.conll",
        "squad.json",
    }
    lines = (tmp_path / "s" / "sms.tsv").read_text(encoding="utf-8").splitlines()
    assert len(lines) == report["files"]["sms.tsv"] and {line.split("\t")[0] for line in lines} == {"ham", "spam"}
    json.loads((tmp_path / "s" / "squad.json").read_text(encoding="utf-8"))
    err = run("samples", "--out", tmp_path / "s", check_rc=2).stderr
    assert "--overwrite" in err
    run("samples", "--out", tmp_path / "s", "--overwrite")  # its own files: replaced
    (tmp_path / "s" / "sms.tsv").write_text("mine\tedited\n", encoding="utf-8")
    err = run("samples", "--out", tmp_path / "s", "--overwrite", check_rc=2).stderr
    assert "sms.tsv" in err and (tmp_path / "s" / "sms.tsv").read_text() == "mine\tedited\n"


def test_embed_reads_standard_input(tmp_path, tiny_bundle, monkeypatch):
    import io
    import sys

    import numpy as np

    texts = "the cat sat\n\nhello world\n"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(texts.encode("utf-8"))))
    report = json.loads(
        run(
            "embed",
            "--config",
            tiny_bundle,
            "--input",
            "-",
            "--output",
            tmp_path / "v.npy",
            "--precision",
            "float32",
            "--no-xla",
            "--json",
        ).stdout
    )
    assert report["input"] == "-" and report["texts"] == 3
    (tmp_path / "t.txt").write_text(texts, encoding="utf-8")
    run(
        "embed",
        "--config",
        tiny_bundle,
        "--input",
        tmp_path / "t.txt",
        "--output",
        tmp_path / "f.npy",
        "--precision",
        "float32",
        "--no-xla",
    )
    assert np.abs(np.load(tmp_path / "v.npy") - np.load(tmp_path / "f.npy")).max() <= 1e-6


def test_predict_reads_a_file_or_standard_input_without_beam(tmp_path, trained_classifier, monkeypatch):
    import io
    import sys

    texts = ["WINNER!! Claim your prize now", "see you at lunch", ""]
    (tmp_path / "t.txt").write_text("\ufeff" + "\n".join(texts) + "\n", encoding="utf-8")
    from_file = json.loads(
        run("predict", "--model", trained_classifier, "--input", tmp_path / "t.txt", "--json").stdout
    )["predictions"]
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(("\n".join(texts) + "\n").encode("utf-8"))))
    from_stdin = json.loads(run("predict", "--model", trained_classifier, "--input", "-", "--json").stdout)
    args = json.loads(run("predict", "--model", trained_classifier, *texts, "--json").stdout)["predictions"]
    assert [r["text"] for r in from_file] == texts and from_file == from_stdin["predictions"] == args
    err = run("predict", "--model", trained_classifier, "--input", tmp_path / "t.txt", "a text", check_rc=2).stderr
    assert "give TEXT arguments or --input FILE, not both" in err


def test_the_program_runs_without_keras_3_unless_told_otherwise():
    from conftest import python_json

    script = (
        "import contextlib, io, json, os, sys\n"
        "from bert_hub.cli.program import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    rc = main(['models', '--json'], standalone=True)\n"
        "import tensorflow as tf\n"
        "print(json.dumps({'rc': rc, 'keras_3': 'keras' in sys.modules, 'tf_keras': tf.keras.__name__,\n"
        "                  'variable': os.environ.get('TF_USE_LEGACY_KERAS')}))\n"
    )
    report = python_json(script)
    assert report["rc"] == 0 and report["variable"] == "1"
    assert not report["keras_3"] and report["tf_keras"].startswith("tf_keras")
    chosen = python_json("import os; os.environ['TF_USE_LEGACY_KERAS'] = '0'\n" + script)  # the user's value wins
    assert chosen["variable"] == "0" and chosen["keras_3"]


def test_predict_on_empty_standard_input_says_so(trained_classifier, monkeypatch):
    import io
    import sys

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"")))
    err = run("predict", "--model", trained_classifier, "--input", "-", check_rc=2).stderr
    assert err.strip() == "error: --input - (standard input) is empty; give one text per line"


def test_a_folder_given_as_data_or_input_is_said_to_be_a_folder(tmp_path, trained_classifier):
    for args, words in (
        (("train", "--data", tmp_path, "--out", tmp_path / "run"), f"data file {tmp_path} is a folder"),
        (("evaluate", "--model", trained_classifier, "--data", tmp_path), f"data file {tmp_path} is a folder"),
        (("predict", "--model", trained_classifier, "--input", tmp_path), f"--input {tmp_path} is a folder"),
        (("embed", "--input", tmp_path, "--output", tmp_path / "v.npy"), f"--input {tmp_path} is a folder"),
    ):
        err = run(*args, check_rc=2).stderr
        assert err.startswith(f"error: {words}, not a file; give ") and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "args, words",
    [
        (["predict", "--model", "m", "--inp", "f"], "unknown flag --inp (did you mean --input?)"),
        (["train", "--dta", "x", "--out", "y"], "unknown flag --dta (did you mean --data?)"),
        (["train", "--data", "x", "--out", "y", "--over"], "unknown flag --over (did you mean --overwrite?)"),
        (["embed", "--out", "x.npy", "--input", "t.txt"], "unknown flag --out (did you mean --output?)"),
        (["train", "--data", "x"], "the following arguments are required: --out"),
        (["embed", "--input", "a", "b", "--output", "v.npy"], "unexpected argument: b"),
    ],
)
def test_flags_match_exactly_and_unknown_ones_are_named_first(args, words):
    err = run(*args, check_rc=2).stderr
    assert err.strip() == f"error: {words} (see `bert-hub {args[0]} --help`)"


def test_train_help_states_each_default_once():
    import re

    text = run("train", "--help").stdout
    entries = re.split(r"\n  (?=-)", text)  # one entry per flag: its line and the help lines under it
    for flag in ("--test-fraction", "--validation-fraction", "--epochs", "--batch-size"):
        entry = " ".join(next(e for e in entries if e.startswith(flag + " ")).split())
        assert len(re.findall(r"\bdefault\b", entry)) == 1, (flag, entry)


def test_predict_says_what_its_number_is(trained_classifier):
    lines = run(
        "predict", "--model", trained_classifier, "WINNER!! Claim your prize now", "see you"
    ).stdout.splitlines()
    assert lines[0].split() == ["label", "P(spam)", "text"]
    assert [line.split()[0] for line in lines[1:]] == [line.split()[0] for line in lines[1:]]
    assert all(0 <= float(line.split()[1]) <= 1 for line in lines[1:]) and lines[2].endswith("see you")


@pytest.mark.subprocess
def test_a_script_that_reaches_a_model_through_bert_hub_is_quiet(minilm):
    """TensorFlow's start-up log is held back when bert_hub starts it, unless the script asked for it."""
    import subprocess
    import sys

    script = "import bert_hub; print(bert_hub.load_pipeline().encode(['hi'])['pooled_output'].shape)"
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    quiet = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert quiet.returncode == 0 and quiet.stdout.strip() == "(1, 384)"
    assert not [line for line in quiet.stderr.splitlines() if any(n in line for n in NOISE)], quiet.stderr
    asked = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env={**env, "TF_CPP_MIN_LOG_LEVEL": "0"},
        timeout=300,
    )
    assert asked.returncode == 0 and "oneDNN" in asked.stderr  # the user's setting wins


def test_careless_arguments_get_one_line(tmp_path, trained_classifier):
    """Siblings of the newcomer's cases: each is one line naming the flag, exit 2, nothing written."""
    sms = tmp_path / "sms.tsv"
    sms.write_text("".join(f"{'spam' if i % 3 == 0 else 'ham'}\tmessage {i}\n" for i in range(30)))
    (tmp_path / "dup.yaml").write_text("epochs: 1\nepochs: 2\n")
    (tmp_path / "latin1.yaml").write_bytes(b"\xff\xfe epochs: 1\n")
    cases = [
        (("train", "--data", sms, "--out", tmp_path / "r", "--seed", "-1"), "argument --seed: must be from 0 to"),
        (
            ("train", "--data", sms, "--out", tmp_path / "r", "--learning-rate", "0"),
            "--learning-rate: must be positive",
        ),
        (
            ("train", "--data", sms, "--out", tmp_path / "r", "--validation-fraction", "0.5", "--test-fraction", "0.6"),
            "--test-fraction and --validation-fraction (0.6 + 0.5) must sum to less than 1",
        ),
        (
            ("train", "--data", sms, "--out", tmp_path / "r", "--train-config", tmp_path / "dup.yaml"),
            "dup.yaml: line 2: the key 'epochs' is given twice",
        ),
        (
            ("train", "--data", sms, "--out", tmp_path / "r", "--train-config", tmp_path / "latin1.yaml"),
            "latin1.yaml: line 1 is not valid UTF-8",
        ),
        (("train", "--data", "", "--out", tmp_path / "r"), "the data file is empty ('')"),
        (("train", "--data", sms, "--out", ""), "--out is empty"),
        (("train", "--data", sms, "--out", tmp_path), f"--data {sms} is inside --out {tmp_path}"),
        (("--json", "models"), "--json goes after the command's name: bert-hub models --json"),
        (
            ("build", "--layers", "1", "--hidden", "8", "--heads", "2", "--seed", "-1", "--out", tmp_path / "b"),
            "argument --seed: must be from 0 to",
        ),
        (
            ("evaluate", "--model", trained_classifier, "--data", sms, "--label-sep", ";"),
            "--label-sep separates the labels of a multi-label classifier's data",
        ),
        (
            ("predict", "--model", trained_classifier, "--top-k", "2", "hello"),
            "--top-k shows the most probable labels of a multi-class classifier",
        ),
    ]
    for args, words in cases:
        err = run(*args, check_rc=2).stderr
        assert words in one_error_line(err), (args, err)
    assert not (tmp_path / "r").exists() and not (tmp_path / "b").exists()


def test_overwrite_replaces_an_output_of_its_own_kind_only(tmp_path, trained_classifier):
    import shutil

    run_copy = Path(shutil.copytree(trained_classifier, tmp_path / "victim"))
    before = sorted(p.name for p in run_copy.iterdir())
    err = run("samples", "--out", run_copy, "--overwrite", check_rc=2).stderr
    assert (
        "holds bert_hub's run, not its samples: --overwrite replaces an output of the same kind only"
        in one_error_line(err)
    )
    assert sorted(p.name for p in run_copy.iterdir()) == before
