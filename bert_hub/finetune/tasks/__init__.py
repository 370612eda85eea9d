"""The fine-tuning tasks, by name: the one registry that training, the CLI and Beam look up.

Each task is a [`Task`][bert_hub.finetune.task.Task]: how it reads its data,
builds its head and loss, exports, and which exported model serves it
([`load`][bert_hub.finetune.task.Task.load]); nothing outside its module
branches on its name.

Examples:
    >>> from bert_hub.finetune.tasks import TASKS, get_task
    >>> list(TASKS)
    ['text-classification', 'text-regression', 'token-classification', 'question-answering']
    >>> get_task("question-answering").settings
    ('doc_stride', 'max_query_length', 'max_answer_length')
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bert_hub.core.errors import InputError
from bert_hub.finetune.exported import model_task
from bert_hub.finetune.task import Task
from bert_hub.finetune.tasks.classification import TextClassification
from bert_hub.finetune.tasks.question_answering import QuestionAnswering
from bert_hub.finetune.tasks.regression import TextRegression
from bert_hub.finetune.tasks.token_classification import TokenClassification

TASKS: dict[str, type[Task]] = {t.name: t for t in (TextClassification, TextRegression, TokenClassification,
                                                    QuestionAnswering)}
"""Task name -> task; the first is ``bert-hub train``'s default."""
DEFAULT_TASK = TextClassification.name


def get_task(name: str) -> type[Task]:
    """The task named ``name``; an unknown name is one line listing the known ones."""
    if name not in TASKS:
        raise InputError(f"unknown task {name!r}; use one of {', '.join(TASKS)}")
    return TASKS[name]


def load_model(path: str | Path) -> Any:
    """The exported model at ``path`` (a run folder or its ``model/``), loaded by its own task."""
    return get_task(model_task(path)).load(path)


def own_settings() -> set[str]:
    """The training settings that belong to one task or another (the rest are common to all)."""
    return {name for task in TASKS.values() for name in task.settings}
