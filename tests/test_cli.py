"""The bert-hub command as a user runs it: output, --json, errors, quiet logs.

Commands run in this process through ``cli.main`` (the same code path as the
``bert-hub`` script, without starting TensorFlow again); the tests that must
see a real process (quiet start-up logs, exit codes, Ctrl-C, logical devices)
start one.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import run

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
    built = json.loads(run("build", "--layers", "2", "--hidden", "16", "--heads", "2", "--vocab",
                           str(tiny_vocab), "--out", str(out), "--json").stdout)
    assert built["architecture"]["layers"] == 2 and built["has_mlm"] is True
    assert Path(built["config"]) == out / "bert_hub.yaml"
    report = json.loads(run("demo", "--config", str(out / "bert_hub.yaml"), "--json").stdout)
    assert report["encoder"]["num_encoder_outputs"] == 2
    assert report["encoder"]["shapes"]["pooled_output"] == [2, 16]
    refused = run("build", "--layers", "2", "--hidden", "16", "--heads", "2", "--vocab",
                  str(tiny_vocab), "--out", str(out), check_rc=2)
    assert refused.stderr.startswith(f"error: --out {out} already exists") and "--overwrite" in refused.stderr


def test_convert_contract(tmp_path, minilm_checkpoint):
    out = tmp_path / "converted"
    report = json.loads(run("convert", "--from", str(minilm_checkpoint), "--out", str(out), "--json").stdout)
    assert report["architecture"]["hidden"] == 384 and report["has_mlm"] is False
    assert {p.name for p in out.iterdir()} == {"preprocess", "encoder", "bert_hub.yaml", ".bert_hub_output.json"}


@pytest.mark.parametrize("args, words", [
    (["convert", "--from", "/no/such/dir", "--out", "/tmp/bert_hub_never"], "checkpoint directory /no/such/dir does not exist"),
    (["demo", "--config", "/no/such.yaml"], "config '/no/such.yaml' not found"),
    (["build", "--layers", "2", "--hidden", "10", "--heads", "3", "--vocab", "/no/vocab.txt", "--out", "/tmp/bert_hub_never"],
     "cannot read vocab file /no/vocab.txt"),
])
def test_errors_are_one_line(args, words):
    proc = run(*args, check_rc=2)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], proc.stderr
    assert not Path("/tmp/bert_hub_never").exists()


def test_bad_number_is_an_argparse_error():
    proc = run("build", "--layers", "0", "--hidden", "8", "--heads", "2", "--vocab", "v", "--out", "o", check_rc=2)
    assert "--layers: must be at least 1" in proc.stderr
