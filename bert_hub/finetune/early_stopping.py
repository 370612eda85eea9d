"""The best epoch and early stopping, read from a run's history.

Both watch one value of each epoch's record, ``monitor`` (``val_loss`` by
default, or any metric the run logs, such as ``val_accuracy``): a loss (a
name ending in ``loss``) is better when lower, any other metric when higher.
They are decided from ``history.json`` alone, so a resumed run decides as
the uninterrupted one would have.

Examples:
    >>> from bert_hub.finetune.early_stopping import best_epoch, stop_reason
    >>> history = [{"epoch": 1, "val_loss": 0.30}, {"epoch": 2, "val_loss": 0.25}, {"epoch": 3, "val_loss": 0.27}]
    >>> best_epoch(history)
    2
    >>> stop_reason(history, patience=1)
    "val_loss has not improved on epoch 2's 0.2500 for 1 epoch"
    >>> stop_reason(history, patience=2) is None
    True
    >>> best_epoch([{"epoch": 1, "val_accuracy": 0.9}, {"epoch": 2, "val_accuracy": 0.8}], "val_accuracy")
    1
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from bert_hub.core.errors import InputError, plural

DEFAULT_MONITOR = "val_loss"
"""What the best epoch and early stopping watch unless told otherwise."""


def lower_is_better(monitor: str) -> bool:
    """Whether smaller values of ``monitor`` are better (a loss) or larger ones (accuracy, F1, AUC ...)."""
    return monitor.endswith("loss")


def _improvements(history: Sequence[dict[str, Any]], monitor: str, min_delta: float) -> list[tuple[int, float]]:
    """``(epoch, value)`` of each epoch that improved on the best before it by more than ``min_delta``."""
    sign = 1.0 if lower_is_better(monitor) else -1.0
    out: list[tuple[int, float]] = []
    for record in history:
        value = record.get(monitor)
        if value is None or math.isnan(value):
            continue
        if not out or sign * (out[-1][1] - value) > min_delta:
            out.append((int(record["epoch"]), float(value)))
    return out


def best_epoch(history: Sequence[dict[str, Any]], monitor: str = DEFAULT_MONITOR) -> int:
    """The epoch with the best ``monitor`` (the last of equals); the last epoch when none records it."""
    if not history:
        raise InputError("no epoch has been recorded yet")
    sign = 1.0 if lower_is_better(monitor) else -1.0
    scored = [(sign * float(h[monitor]), int(h["epoch"])) for h in history if monitor in h]
    if not scored:
        return int(history[-1]["epoch"])
    best = min(value for value, _ in scored)
    return max(epoch for value, epoch in scored if value == best)


def stop_reason(
    history: Sequence[dict[str, Any]], monitor: str = DEFAULT_MONITOR, patience: int = 1, min_delta: float = 0.0
) -> str | None:
    """Why the run stops now (``monitor`` has not improved by more than ``min_delta`` for ``patience``
    epochs), or ``None`` when it goes on."""
    improved = _improvements(history, monitor, min_delta)
    if not improved:
        return None
    epoch, value = improved[-1]
    waited = int(history[-1]["epoch"]) - epoch
    if waited < patience:
        return None
    return f"{monitor} has not improved on epoch {epoch}'s {value:.4f} for {plural(waited, 'epoch')}"


def check_monitor(monitor: str, logged: Sequence[str]) -> None:
    """Raises `InputError` when a run's epochs do not log ``monitor``, naming those they log."""
    if monitor not in logged:
        raise InputError(
            f"`monitor` {monitor!r} is not a value this run logs; it logs {', '.join(sorted(logged))} "
            "(validation values start with val_)"
        )
