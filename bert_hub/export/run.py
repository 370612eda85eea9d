"""Exporting a training run again: its serving model as a LiteRT file (or a SavedModel), from raw strings.

A run's ``model/`` is a SavedModel whose graph LiteRT cannot convert (the
preprocess model's tokenizer, the encoder's training-form ops). The export is
rebuilt instead ([`ExportedModel.rebuilt`][bert_hub.finetune.exported.ExportedModel.rebuilt]):
the task's Keras model, of the shape the run's ``train_config.yaml`` and the
export's metadata describe, takes the weights the export holds (checked one
by one, name and shape); the task's own serving module is traced around it
with the pipeline of the format ([`bert_hub.export.serving`][bert_hub.export.serving]),
so the file has the run's signatures, inputs, outputs and label strings.

Built for every task: text classification (binary, multi-class, and
multi-label of up to 12 labels, whose joined label string is looked up in
a table; more labels export as a SavedModel only, the model class says why
in its ``litert_refusal``), text regression, single texts and pairs, token
classification and question answering (their words split, and answers cut
out of the context, by [`LiteRTWords`][bert_hub.export.words.LiteRTWords]).

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

from bert_hub.core.caches import check_trusted
from bert_hub.core.errors import InputError
from bert_hub.export.serving import check_format, check_out, pipeline_for, starting, write_artifact
from bert_hub.finetune.exported import find_model_dir, load_export, read_metadata, run_model_config
from bert_hub.finetune.tasks import get_task


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
    folder = check_trusted(find_model_dir(run), handle=str(run))
    run = folder.absolute().parent
    info = read_metadata(folder)
    kind = get_task(info["task"]).model_type()
    settings, config = run_model_config(folder)
    out = check_out(out, fmt, overwrite)
    if out == run or run in out.parents:
        raise InputError(
            f"`out` {out} is inside the run folder {run}, whose files bert_hub keeps as the run wrote them; "
            "write the export elsewhere"
        )
    refusal = kind.litert_refusal(info) if fmt == "litert" else None
    if refusal:
        raise InputError(f"{run} is a {info['task']} model: {refusal}; export it with `fmt` savedmodel")
    starting(notify, f"the {info['task']} model of {run}", fmt, quantize)
    _, _, loaded = load_export(folder, info["task"])
    module, signatures = kind.rebuilt(folder, info, loaded, lambda bert: pipeline_for(bert, fmt))
    report = write_artifact(module, signatures, info, out, fmt=fmt, quantize=quantize, overwrite=overwrite)
    return {**report, "task": info["task"], "model": config.name, "run": str(run)}
