"""Atomic file and directory writes: never a half-written output.

Everything bert_hub writes goes to a temporary sibling first and is renamed
into place once complete, so an interrupted run leaves either the old state
or the new one, and at most a ``.tmp-*`` folder that the next run ignores.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

from bert_hub.errors import InputError


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yields a temporary file path beside ``path``; renamed to ``path`` when the block succeeds.

    On any exception (including Ctrl-C) the temporary file is removed and
    ``path`` is left as it was.
    """
    path = Path(path)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def save_figure(fig: Any, path: Path) -> Path:
    """Saves a matplotlib figure as a PNG at ``path`` (atomically) and closes it."""
    import matplotlib.pyplot as plt

    try:
        with atomic_path(Path(path)) as tmp:
            fig.savefig(tmp, format="png")
    finally:
        plt.close(fig)
    return Path(path)


def atomic_write_text(path: Path, text: str) -> None:
    """Writes ``text`` to ``path`` through a temporary file and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def check_output_dir(out: Path, overwrite: bool = False) -> Path:
    """Validates an output directory path before long work starts."""
    out = Path(out).expanduser().absolute()
    if out.exists() and not overwrite:
        raise InputError(f"output directory {out} already exists; choose another --out or pass --overwrite")
    if out.exists() and not out.is_dir():
        raise InputError(f"output path {out} exists and is not a directory")
    parent = out.parent
    if not parent.is_dir():
        raise InputError(f"the parent directory of {out} does not exist; create {parent} first")
    if not os.access(parent, os.W_OK):
        raise InputError(f"cannot write into {parent}; choose a writable --out")
    return out


@contextlib.contextmanager
def atomic_directory(out: Path, overwrite: bool = False) -> Iterator[Path]:
    """Yields a temporary directory that becomes ``out`` when the block succeeds.

    On any exception (including Ctrl-C) the temporary directory is removed and
    ``out`` is left as it was.
    """
    out = check_output_dir(Path(out), overwrite=overwrite)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        yield tmp
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            os.replace(out, old / out.name)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
