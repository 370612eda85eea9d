"""The fine-tuning tasks, by name: the one registry that training, the CLI, the exporter and Beam look up.

Each task is a [`Task`][bert_hub.finetune.task.Task]: its settings, how it
reads its data, builds its head and loss, exports, and which exported model
serves it ([`load`][bert_hub.finetune.task.Task.load]); nothing outside its
module branches on its name. Besides the four built in, a package adds a
task with an entry point in the group ``bert_hub.tasks`` naming its
``Task`` subclass, in its ``pyproject.toml``:

```toml
[project.entry-points."bert_hub.tasks"]
my-task = "my_package.my_task:MyTask"
```

Examples:
    >>> from bert_hub.finetune.tasks import TASKS, get_task
    >>> list(TASKS)[:4]
    ['text-classification', 'text-regression', 'token-classification', 'question-answering']
    >>> get_task("question-answering").Settings.names()
    ('doc_stride', 'max_query_length', 'max_answer_length')
"""

from __future__ import annotations

import logging
from importlib.metadata import entry_points
from pathlib import Path

from bert_hub.core.errors import InputError
from bert_hub.finetune.exported import ExportedModel, model_task
from bert_hub.finetune.task import Task
from bert_hub.finetune.tasks.classification import TextClassification
from bert_hub.finetune.tasks.question_answering import QuestionAnswering
from bert_hub.finetune.tasks.regression import TextRegression
from bert_hub.finetune.tasks.token_classification import TokenClassification

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "bert_hub.tasks"
"""The entry-point group in which packages register their tasks."""


def _plugged_in() -> list[type[Task]]:
    """The tasks that installed packages register (entry point group ``bert_hub.tasks``), in name order.

    One that does not load, or is not a ``Task``, is left out with a warning naming it.
    """
    found = []
    for point in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda p: p.name):
        try:
            task = point.load()
        except Exception as e:
            log.warning("bert_hub: the task %s (%s) does not load: %s", point.name, point.value, e)
            continue
        if not (isinstance(task, type) and issubclass(task, Task) and task.name):
            log.warning("bert_hub: the entry point %s (%s) is not a bert_hub Task with a name", point.name, point.value)
            continue
        found.append(task)
    return found


TASKS: dict[str, type[Task]] = {
    t.name: t for t in (TextClassification, TextRegression, TokenClassification, QuestionAnswering)
}
"""Task name -> task; the first is ``bert-hub train``'s default, then the other built-in tasks, then those
of installed packages."""
TASKS.update({t.name: t for t in _plugged_in() if t.name not in TASKS})
DEFAULT_TASK = TextClassification.name
"""The task of ``bert-hub train`` without ``--task``."""


def get_task(name: str) -> type[Task]:
    """The task named ``name``; an unknown name is one line listing the known ones."""
    if name not in TASKS:
        raise InputError(f"unknown task {name!r}; use one of {', '.join(TASKS)}")
    return TASKS[name]


def guess_task(path: str | Path, besides: str = "") -> type[Task] | None:
    """The first task (in [`TASKS`][bert_hub.finetune.tasks.TASKS]' order) besides ``besides`` whose data
    the file at ``path`` looks like, from its first characters; ``None`` if none or unreadable. For hints.

    Examples:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "ner.txt"
        >>> _ = path.write_text("EU B-ORG\\nrejects O\\nGerman B-MISC\\ncall O\\n")
        >>> guess_task(path).name
        'token-classification'
    """
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            head = f.read(4096)
    except (OSError, TypeError, ValueError):
        return None
    return next((t for name, t in TASKS.items() if name != besides and t.looks_like(head)), None)


def load_model(path: str | Path, precision: str = "float32") -> ExportedModel:
    """The exported model at ``path`` (a run folder or its ``model/``), loaded by its own task, to serve in
    ``precision`` (`SERVING_PRECISIONS`: ``float32`` or ``int8``)."""
    return get_task(model_task(path)).load(path, precision)


def settings_owners() -> dict[str, str]:
    """Each task's own settings -> the task's name (the first that declares a name)."""
    owners: dict[str, str] = {}
    for task in TASKS.values():
        for name in task.Settings.names():
            owners.setdefault(name, task.name)
    return owners
