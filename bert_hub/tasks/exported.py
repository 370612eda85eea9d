"""Exported models: the serving SavedModels ``bert-hub train`` writes, for every task.

An export is a SavedModel folder (``RUN/model``) plus ``bert_hub_classifier.json``,
which says what it is: its ``task`` (``text-classification`` when absent, as
in exports of earlier releases) and what serving needs (labels, tags,
window settings). :func:`save_export` writes one atomically;
:func:`load_export` loads one with plain TensorFlow and checks its task.

Example (after ``bert-hub train ... --out runs/spam``)::

    from bert_hub.tasks.exported import load_export
    folder, info, model = load_export("runs/spam", "text-classification")
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bert_hub.caches import check_trusted
from bert_hub.errors import ModelFormatError
from bert_hub.outputs import atomic_directory

#: The file beside every exported bert_hub model saying what it is.
METADATA = "bert_hub_classifier.json"
#: The task of exports whose metadata names none.
DEFAULT_TASK = "text-classification"


def save_export(module: Any, out: str | Path, signatures: dict[str, Any], info: dict[str, Any], *,
                overwrite: bool = True) -> Path:
    """Saves ``module`` with ``signatures`` and its metadata ``info`` to ``out``, built aside and swapped in."""
    import tensorflow as tf

    out = Path(out)
    with atomic_directory(out, kind="classifier", overwrite=overwrite, what="export") as tmp:
        tf.saved_model.save(module, str(tmp), signatures=signatures)
        (tmp / METADATA).write_text(json.dumps(info, indent=1))
    return out


def find_model_dir(path: str | Path) -> Path:
    """A run directory (``runs/spam``) or the exported model directory itself."""
    path = Path(path).expanduser()
    for candidate in (path / "model", path):
        if (candidate / "saved_model.pb").is_file() and (candidate / METADATA).is_file():
            return candidate
    if (path / "checkpoints").is_dir():
        raise ModelFormatError(f"{path} has checkpoints but no exported model/: the run did not finish; "
                               "continue it with `bert-hub train ... --resume`")
    raise ModelFormatError(f"{path} is not a trained classifier, regressor, tagger or question answerer (no saved_model.pb "
                           f"and {METADATA}); give the --out directory of `bert-hub train`")


def model_task(path: str | Path) -> str:
    """The task of the exported model at ``path`` (a run folder or the export)."""
    info = json.loads((find_model_dir(path) / METADATA).read_text())
    return str(info.get("task", DEFAULT_TASK))


def load_export(path: str | Path, task: str) -> tuple[Path, dict[str, Any], Any]:
    """An exported model of ``task``: its folder, its metadata and the loaded SavedModel.

    Plain TensorFlow (after ``import tensorflow_text`` for the tokenizer's
    ops); a model of another task, or one that does not load, is one line.
    A SavedModel is a program: a folder other users can write to is refused
    (:func:`bert_hub.caches.check_trusted`).
    """
    import tensorflow as tf
    import tensorflow_text  # noqa: F401 - the tokenizer's ops

    folder = check_trusted(find_model_dir(path), handle=str(path))
    info = json.loads((folder / METADATA).read_text())
    found = info.get("task", DEFAULT_TASK)
    if found != task:
        raise ModelFormatError(f"{folder} is a {found} model, not a {task} model")
    try:
        return folder, info, tf.saved_model.load(str(folder))
    except Exception as e:  # noqa: BLE001 - TensorFlow raises many types
        raise ModelFormatError(f"cannot load {folder}: {str(e).splitlines()[0][:200]}") from None
