"""The task registry: every task is named, described and claims real settings; the CLI finds them there."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import one_error_line, run

from bert_hub.finetune.tasks import TASKS
from bert_hub.finetune.train_config import TrainConfig


def test_every_task_in_the_registry_is_named_described_and_owns_its_settings():
    common = set(TrainConfig.names())
    for name, task in TASKS.items():
        assert task.name == name and task.summary
        assert not set(task.Settings.names()) & common, name  # its own, not the common ones


def _code_words(path: Path) -> set[str]:
    """The names and string contents in the code of ``path`` (docstrings and comments left out)."""
    import ast

    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(n.body[0].value)
        for n in ast.walk(tree)
        if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and n.body
        and isinstance(n.body[0], ast.Expr)
        and isinstance(n.body[0].value, ast.Constant)
    }
    words: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            words.add(node.id)
        elif isinstance(node, ast.Attribute):
            words.add(node.attr)
        elif isinstance(node, ast.keyword) and node.arg:
            words.add(node.arg)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            words |= set(re.findall(r"[a-z_]+", node.value))
    return words


def test_no_tasks_settings_data_options_or_predict_inputs_outside_its_modules():
    """The CLI, the exporter, Beam, samples and the loop ask the registry: none names a task's options."""
    import bert_hub

    generic = {"texts", "pair", "context", "question", "positive", "threshold", "fmt", "top_k", "class_weight"}
    generic.add("pooling")  # a model's own sentence vector has one too (core.config.SentenceEmbedding)
    specific = {
        name
        for task in TASKS.values()
        for group in (task.Settings, task.DataOptions, task.model_type().PredictInputs)
        for name in group.names()
    } - generic
    assert {"doc_stride", "max_query_length", "max_answer_length", "tune_threshold", "label_sep"} <= specific
    root = Path(bert_hub.__file__).parent
    for path in root.rglob("*.py"):
        if (root / "finetune" / "tasks") in path.parents:
            continue
        found = _code_words(path) & specific
        assert not found, f"{path.relative_to(root)} names {sorted(found)}"


def test_the_cli_never_names_a_task():
    import bert_hub.cli

    names = "|".join(re.escape(name) for name in TASKS)
    for module in Path(bert_hub.cli.__file__).parent.glob("*.py"):
        assert not re.search(f"[\"'](?:{names})[\"']", module.read_text(encoding="utf-8")), module.name


@pytest.mark.parametrize(
    "task, own, foreign",
    [
        ("text-classification", ["--positive", "--multi-label", "--tune-threshold", "--pooling"], ["--doc-stride"]),
        ("text-regression", ["--pair-col", "--pooling"], ["--positive", "--tune-threshold", "--doc-stride"]),
        ("token-classification", ["--epochs"], ["--positive", "--pooling", "--doc-stride", "--text-col"]),
        ("question-answering", ["--doc-stride", "--max-query-length"], ["--positive", "--class-weight"]),
    ],
)
def test_train_help_shows_the_tasks_own_flags_only(task, own, foreign, capsys):
    from bert_hub.cli import main

    assert main(["train", "--task", task, "--help"]) == 0
    text = capsys.readouterr().out
    for flag in ["--epochs", "--learning-rate", "--seed", *own]:
        assert flag in text, flag
    for flag in foreign:
        assert flag not in text, flag


def test_another_tasks_flag_names_the_task(tmp_path):
    err = run(
        "train", "--data", str(tmp_path / "x.tsv"), "--out", str(tmp_path / "o"), "--doc-stride", "32", check_rc=2
    ).stderr
    assert (
        "--doc-stride is a setting of question-answering, not of text-classification: add --task "
        "question-answering (see `bert-hub train --help`)" in one_error_line(err)
    )


def test_a_training_yaml_with_another_tasks_setting_is_refused(tmp_path):
    from bert_hub.core.errors import ConfigError
    from bert_hub.finetune.tasks import settings_owners
    from bert_hub.finetune.tasks.classification import ClassificationSettings
    from bert_hub.finetune.train_config import load_train_config

    (tmp_path / "t.yaml").write_text("doc_stride: 16\npooling: mean\nepochs: 2\n")
    others = {k: v for k, v in settings_owners().items() if v != "text-classification"}
    with pytest.raises(
        ConfigError, match="field 'doc_stride' is a setting of question-answering, not of text-classification"
    ):
        load_train_config(
            tmp_path / "t.yaml", settings=ClassificationSettings(), task="text-classification", others=others
        )
    (tmp_path / "ok.yaml").write_text("pooling: mean\nepochs: 2\n")  # its own and common ones
    cfg, own = load_train_config(
        tmp_path / "ok.yaml", settings=ClassificationSettings(), task="text-classification", others=others
    )
    assert cfg.epochs == 2 and own.pooling == "mean"
    (tmp_path / "d.tsv").write_text("ham\thello\nspam\twin\n" * 5)
    err = run(
        "train",
        "--data",
        tmp_path / "d.tsv",
        "--out",
        tmp_path / "o",
        "--train-config",
        tmp_path / "t.yaml",
        check_rc=2,
    ).stderr
    assert "field 'doc_stride' is a setting of question-answering" in one_error_line(err)
    assert not (tmp_path / "o").exists()


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    from bert_hub.explore.samples import write_samples

    out = tmp_path_factory.mktemp("samples") / "s"
    write_samples(out)
    return out


@pytest.mark.parametrize(
    "name, task",
    [
        ("sms.tsv", "text-classification"),
        ("topics.jsonl", "text-classification"),
        ("tags.tsv", "text-classification"),  # label sets: a first line with none
        ("ratings.tsv", "text-regression"),
        ("ner.conll", "token-classification"),
        ("squad.json", "question-answering"),
        ("texts.txt", None),
    ],
)
def test_a_file_is_taken_for_the_task_its_data_looks_like(samples, name, task):
    from bert_hub.finetune.tasks import guess_task

    guessed = guess_task(samples / name)
    assert (guessed.name if guessed else None) == task
    if task:
        assert guess_task(samples / name, besides=task) is None


@pytest.mark.parametrize(
    "flags, name, words",
    [
        ([], "squad.json", "; it looks like question-answering data (train it with --task question-answering)"),
        (["--task", "token-classification"], "sms.tsv", "(train it with --task text-classification)"),
        (["--task", "text-regression"], "tags.tsv", "(train it with --task text-classification)"),
        (["--task", "question-answering"], "ner.conll", "(train it with --task token-classification)"),
    ],
)
def test_data_of_another_task_says_which(tmp_path, samples, flags, name, words):
    err = run("train", *flags, "--data", samples / name, "--out", tmp_path / "o", check_rc=2).stderr
    assert one_error_line(err).endswith(words)
    assert not (tmp_path / "o").exists()


def test_a_tag_that_is_no_word_gets_a_plain_example():
    from bert_hub.finetune.tasks.entities import tag_problem

    assert tag_problem("gym").endswith("write e.g. B-gym and I-gym")
    assert tag_problem('"food"}').endswith("write e.g. B-PER and I-PER")
