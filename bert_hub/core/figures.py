"""Figures bert_hub draws, saved as files: in a run folder, or where ``plot`` names (png, pdf, svg or jpg).

bert_hub's figures are ``matplotlib.figure.Figure`` objects, drawn without
pyplot, so the backend a notebook chose is never switched.

Examples:
    >>> from bert_hub.core.figures import IMAGE_FORMATS
    >>> IMAGE_FORMATS
    ('png', 'pdf', 'svg', 'jpg', 'jpeg')
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from bert_hub.core.atomic import atomic_path
from bert_hub.core.errors import InputError
from bert_hub.core.locks import output_lock
from bert_hub.core.outputs import atomic_outputs, check_output_file

IMAGE_FORMATS = ("png", "pdf", "svg", "jpg", "jpeg")
"""Image formats a plot is written in, by file suffix."""


def check_image_path(path: str | os.PathLike[str], *, overwrite: bool = False, what: str = "`plot`") -> Path:
    """Checks an image output path; its suffix chooses the format (png, pdf, svg, jpg)."""
    checked = check_output_file(path, kind="image", overwrite=overwrite, what=what)
    if checked.suffix.lower().lstrip(".") not in IMAGE_FORMATS:
        raise InputError(
            f"{what} {path}: unknown image format {checked.suffix or '(no suffix)'!r}; "
            f"name the file *.{', *.'.join(IMAGE_FORMATS)}"
        )
    return checked


def save_figure(fig: Any, path: str | os.PathLike[str]) -> Path:
    """Saves a matplotlib figure inside one of bert_hub's folders (a run's ``curves.png``), atomically.

    bert_hub's figures are ``matplotlib.figure.Figure`` objects, drawn without pyplot, so the backend a
    notebook chose is never switched."""
    path = Path(path)
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=path.suffix.lower().lstrip(".") or "png")
    finally:
        _close(fig)
    return path


def save_plot(fig: Any, path: str | os.PathLike[str], *, overwrite: bool = False, what: str = "`plot`") -> Path:
    """Saves a matplotlib figure as the user-facing file ``path``, in the format its suffix names.

    ``path`` is locked and checked again (`check_image_path`), written
    aside and renamed into place, and recorded as bert_hub's; the figure is closed.
    """
    path = Path(path).expanduser().absolute()
    try:
        with output_lock(path, what=what):
            check_image_path(path, overwrite=overwrite, what=what)
            with atomic_outputs(path) as (tmp,):
                fig.savefig(tmp, format=path.suffix.lower().lstrip(".") or "png")
    finally:
        _close(fig)
    return path


def _close(fig: Any) -> None:
    """Releases a figure that pyplot manages (one a caller made with pyplot); bert_hub's own need nothing."""
    if getattr(fig.canvas, "manager", None) is not None:
        import matplotlib.pyplot as plt

        plt.close(fig)
