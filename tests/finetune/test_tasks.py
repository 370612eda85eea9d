"""The task registry: every task is named, described and claims real settings; the CLI finds them there."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from bert_hub.finetune.tasks import TASKS
from bert_hub.finetune.train_config import TrainConfig
from conftest import one_error_line, run


def test_every_task_in_the_registry_is_named_described_and_claims_real_settings():
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    for name, task in TASKS.items():
        assert task.name == name and task.summary
        assert set(task.settings) <= fields, name


def test_the_cli_never_names_a_task():
    import bert_hub.cli

    names = "|".join(re.escape(name) for name in TASKS)
    for module in Path(bert_hub.cli.__file__).parent.glob("*.py"):
        assert not re.search(f"[\"'](?:{names})[\"']", module.read_text(encoding="utf-8")), module.name


@pytest.mark.parametrize("task, own, foreign", [
    ("text-classification", ["--positive", "--multi-label", "--tune-threshold", "--pooling"], ["--doc-stride"]),
    ("text-regression", ["--pair-col", "--pooling"], ["--positive", "--tune-threshold", "--doc-stride"]),
    ("token-classification", ["--epochs"], ["--positive", "--pooling", "--doc-stride", "--text-col"]),
    ("question-answering", ["--doc-stride", "--max-query-length"], ["--positive", "--class-weight"]),
])
def test_train_help_shows_the_tasks_own_flags_only(task, own, foreign, capsys):
    from bert_hub.cli import main

    assert main(["train", "--task", task, "--help"]) == 0
    text = capsys.readouterr().out
    for flag in ["--epochs", "--learning-rate", "--seed", *own]:
        assert flag in text, flag
    for flag in foreign:
        assert flag not in text, flag


def test_another_tasks_flag_names_the_task(tmp_path):
    err = run("train", "--data", str(tmp_path / "x.tsv"), "--out", str(tmp_path / "o"), "--doc-stride", "32",
              check_rc=2).stderr
    assert "--doc-stride is a setting of question-answering, not of text-classification: add --task " \
           "question-answering (see `bert-hub train --help`)" in one_error_line(err)


def test_a_training_yaml_with_another_tasks_setting_is_refused(tmp_path):
    from bert_hub.core.errors import ConfigError
    from bert_hub.finetune.tasks.classification import TextClassification
    from bert_hub.finetune.train import check_task_settings

    with pytest.raises(ConfigError, match="'doc_stride' is one of question-answering, not of text-classification"):
        check_task_settings(TrainConfig(doc_stride=16), TextClassification())
    check_task_settings(TrainConfig(pooling="mean", epochs=2), TextClassification())  # its own and common ones
    (tmp_path / "t.yaml").write_text("doc_stride: 16\n")
    (tmp_path / "d.tsv").write_text("ham\thello\nspam\twin\n" * 5)
    err = run("train", "--data", tmp_path / "d.tsv", "--out", tmp_path / "o", "--train-config", tmp_path / "t.yaml",
              check_rc=2).stderr
    assert "training setting 'doc_stride' is one of question-answering" in one_error_line(err)
    assert not (tmp_path / "o").exists()
