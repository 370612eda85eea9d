"""Writing a file whole or not at all, with the permissions a plain write would give, where it can be written.

``mkstemp`` / ``mkdtemp`` make files and folders private to their owner;
bert_hub's outputs get the modes the user's umask gives instead (``644`` /
``755`` with the usual ``022``), so an export can be served by another user
and a cache shared. Whether a place can be written is found by trying
(permissions do not tell on a read-only or special file system, in an
immutable folder, or for root), and said in one line by every writer.

Examples:
    >>> import tempfile, pathlib
    >>> from bert_hub.core.atomic import atomic_write_text
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "notes" / "a.txt"
    >>> atomic_write_text(path, "hello")
    >>> path.read_text()
    'hello'
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from bert_hub.core.errors import InputError


def umask() -> int:
    """The process's umask (read without changing it)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def set_normal_mode(path: Path) -> None:
    """Gives ``path`` the mode a plain ``open``/``mkdir`` would have under the umask."""
    base = 0o777 if Path(path).is_dir() else 0o666
    os.chmod(path, base & ~umask())


def cannot_write(path: Path, what: str, where: Path, error: OSError | None = None) -> InputError:
    """The one error of every writer whose output cannot be written at ``path`` (``where``: the folder that
    refused, ``error``: why)."""
    why = f" ({error.strerror})" if error is not None and error.strerror else ""
    return InputError(f"{what} {path}: cannot write into {where}{why}; choose a writable location")


def check_parent(path: Path, what: str) -> None:
    """The parent must be a folder (or creatable) that we can write into: tried with a file of our own,
    since permissions do not tell (a read-only or special file system, an immutable folder, root)."""
    ancestor = path.parent
    while not ancestor.exists() and not ancestor.is_symlink():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise InputError(f"{what} {path}: {ancestor} is a file, not a folder; choose another path")
    below = path.relative_to(ancestor).parts[0]  # named so that clean_stale removes it if we are killed
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{below}.", suffix=".tmp", dir=ancestor)
    except OSError as e:
        raise cannot_write(path, what, ancestor, e) from None
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(probe)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yields a temporary file path beside ``path``; renamed to ``path`` when the block succeeds.

    For bert_hub's own files (inside its folders and caches). The caller has
    checked ``path``. On any exception the temporary file is removed and
    ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        set_normal_mode(tmp)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Writes ``text`` to ``path`` through a temporary file and a rename."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
