"""Exporting a training run again: its serving model as a LiteRT file (or a SavedModel), from raw strings.

A run's ``model/`` is a SavedModel whose graph LiteRT cannot convert (the
preprocess model's tokenizer, the encoder's training-form ops). The export is
rebuilt instead: the task's Keras model, of the shape the run's
``train_config.yaml`` and the export's metadata describe, takes the weights
the export holds (checked one by one, name and shape); the task's own serving
module is traced around it with the pipeline of the format
([`bert_hub.export.serving`][bert_hub.export.serving]), so the file has the
run's signatures, inputs, outputs and label strings.

Built for the sentence-level tasks: text classification (binary,
multi-class, and multi-label of up to 12 labels, whose joined label string
is looked up in a table) and text regression, single
texts and pairs. Token classification and question answering export as
SavedModels only: their text signatures split words and cut answers out as
strings, which LiteRT has no ops for (each model class says why in its
``litert_refusal``).

Examples:
    ```python
    from bert_hub.export.run import export_run
    export_run("runs/spam", "spam.tflite")  # doctest: +SKIP
    ```
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from bert_hub.core.caches import check_trusted
from bert_hub.core.config import load_config
from bert_hub.core.errors import InputError, ModelFormatError
from bert_hub.export.serving import check_format, check_out, pipeline_for, starting, write_artifact
from bert_hub.finetune.exported import find_model_dir, load_export, read_metadata
from bert_hub.finetune.tasks import get_task
from bert_hub.hub.pipeline import BertPipeline


def run_settings(run: Path) -> dict[str, Any]:
    """The run's recorded settings (``train_config.yaml``: its model config, task and settings)."""
    path = run / "train_config.yaml"
    try:
        settings = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError:
        raise ModelFormatError(
            f"{run} has no train_config.yaml: give the run folder `bert-hub train` wrote (not its model/ folder)"
        ) from None
    except yaml.YAMLError as e:
        raise ModelFormatError(f"{path}: not YAML ({str(e).splitlines()[0]}); the run folder is damaged") from None
    if not isinstance(settings, dict) or not isinstance(settings.get("model"), str):
        raise ModelFormatError(f"{path}: no field model (the run's model config); the run folder is damaged")
    return settings


def load_weights(model: Any, saved: list[Any], source: Path) -> None:
    """Assigns ``saved`` (the export's variables, in the model's order) to ``model``'s weights, each
    checked by name and shape."""
    weights = list(model.weights)
    if len(weights) != len(saved):
        raise ModelFormatError(
            f"{source} holds {len(saved)} weights, the model its run describes {len(weights)}; export the run again"
        )
    for mine, theirs in zip(weights, saved):
        if mine.name != theirs.name or tuple(mine.shape) != tuple(theirs.shape):
            raise ModelFormatError(
                f"{source}: weight {theirs.name} {tuple(theirs.shape)} where the model has {mine.name} "
                f"{tuple(mine.shape)}; export the run again"
            )
        mine.assign(theirs)


def export_run(
    run: str | Path,
    out: str | Path,
    *,
    fmt: str = "litert",
    quantize: str = "none",
    overwrite: bool = False,
    notify: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Exports the fine-tuned model of ``run`` (a ``bert-hub train`` run folder) to ``out``.

    Args:
        run: the run folder.
        out: a ``*.tflite`` file (``fmt="litert"``) or a SavedModel folder (``fmt="savedmodel"``).
        fmt: ``litert`` or ``savedmodel``.
        quantize: ``none``, ``dynamic-int8`` or ``float16`` (LiteRT only; see
            [`bert_hub.export.litert`][bert_hub.export.litert]).
        overwrite: replace an ``out`` bert_hub wrote.
        notify: told (one line) when the checks are done and the work starts.

    Returns:
        What was written: ``output``, ``format``, ``quantize``, ``bytes``,
        ``signatures``, ``custom_ops``, ``task``, ``model`` and ``seconds``.
    """
    check_format(fmt, quantize)
    run = Path(run).expanduser()
    folder = check_trusted(find_model_dir(run), handle=str(run))
    info = read_metadata(folder)
    kind = get_task(info["task"]).model_type()
    settings = run_settings(folder.parent if folder.name == "model" else run)
    out = check_out(out, fmt, overwrite)
    refusal = kind.litert_refusal(info) if fmt == "litert" else None
    if refusal:
        raise InputError(f"{run} is a {info['task']} model: {refusal}; export it with format savedmodel")
    try:
        config = load_config(settings["model"])
    except InputError as e:
        raise InputError(f"{run}/train_config.yaml names the model {settings['model']!r}, which is gone: {e}") from None
    starting(notify, f"the {info['task']} model of {run}", fmt, quantize)
    bert = BertPipeline(config, trainable=True)
    model = kind.rebuild_model(bert, settings, info)
    _, _, loaded = load_export(folder, info["task"])
    load_weights(model, list(getattr(loaded, f"{kind.weights_name}_weights")), folder)
    module, signatures = kind.serving_module(model, pipeline_for(bert, fmt), info)
    report = write_artifact(module, signatures, info, out, fmt=fmt, quantize=quantize, overwrite=overwrite)
    return {**report, "task": info["task"], "model": config.name, "run": str(run)}
