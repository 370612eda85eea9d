"""One writer per output: a lock beside it for the whole command, and what an interrupted writer left beside it.

A command holds ``.NAME.lock`` beside its output ``NAME``
([`output_lock`][bert_hub.core.locks.output_lock]); a second command writing
the same output stops in one line naming the process that holds it. The lock
is an ``flock``, so a holder that died has released it. What a killed writer
left beside the output (``.NAME.tmp-*``, ``.NAME.old-*``, ``.NAME.*.tmp``) is
removed by the next one, which says so ([`clean_stale`][bert_hub.core.locks.clean_stale]).

Examples:
    >>> from pathlib import Path
    >>> from bert_hub.core.locks import lock_path
    >>> lock_path(Path("/data/runs/spam"))
    PosixPath('/data/runs/.spam.lock')
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import logging
import os
import re
import shutil
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

from bert_hub.core.atomic import cannot_write, check_parent, umask
from bert_hub.core.errors import InputError
from bert_hub.core.manifests import read_marker

log = logging.getLogger(__name__)


def lock_path(out: Path) -> Path:
    """The lock file of output ``out``: ``.NAME.lock`` beside it."""
    return out.parent / f".{out.name}.lock"


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        return f"pid {info['pid']} on {info['host']} since {info['since']}: {info['command']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


@contextlib.contextmanager
def output_lock(out: str | os.PathLike[str], *, what: str = "`out`", wait: bool = False) -> Iterator[Path]:
    """Holds ``out``'s lock for the block: one writer per output.

    Another holder makes this raise [`InputError`][bert_hub.core.errors.InputError] naming it (or, with
    ``wait``, waits for it: the embedded cache). The lock is an ``flock`` on
    ``.NAME.lock`` beside ``out``, so a holder that died has released it; its
    file is removed when the block ends.
    """
    out = Path(out).expanduser().absolute()
    path = lock_path(out)
    check_parent(out, what)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise cannot_write(out, what, path.parent, e) from None
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666 & ~umask())
        except OSError as e:
            raise cannot_write(out, what, path.parent, e) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(fd)
            raise InputError(
                f"{what} {out} is being written by another bert-hub process ({_holder(path)}); "
                f"wait for it to end, or choose another {what}"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino  # not a file its last holder removed
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S"),
            "command": " ".join(["bert-hub", *sys.argv[1:]])[:300],
        }
        os.ftruncate(fd, 0)
        os.write(fd, (json.dumps(info) + "\n").encode("utf-8"))
        clean_stale(out)
        yield path
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
        os.close(fd)


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def _megabytes(n: int) -> str:
    return f"{n / 1e6:.0f} MB" if n >= 1e6 else f"{n / 1e3:.0f} kB"


def clean_stale(out: Path) -> list[str]:
    """Removes what an interrupted writer of ``out`` left beside it; says so; returns the names.

    Called with ``out``'s lock held, so no live bert_hub process is writing
    them: ``.NAME.tmp-*`` folders (with bert_hub's marker), ``.NAME.old-*``
    folders holding a previous ``NAME``, and ``.NAME.*.tmp`` files. If
    ``out`` itself is missing and a previous version of it waits in
    ``.NAME.old-*`` (a kill between two renames), that version is put back.
    """
    removed: list[str] = []
    try:
        siblings = sorted(out.parent.iterdir())
    except OSError:
        return removed
    prefix = f".{out.name}."
    for p in siblings:
        if not p.name.startswith(prefix) or p.is_symlink():
            continue
        rest = p.name[len(prefix) :]
        if p.is_dir() and re.fullmatch(r"old-[A-Za-z0-9_]{8}", rest):
            inner = p / out.name
            if inner.is_dir() and not out.exists() and read_marker(inner) is not None:
                os.rename(inner, out)
                log.warning("bert_hub: put back %s from %s (a run was killed while replacing it)", out, p.name)
            if all(read_marker(c) is not None for c in p.iterdir() if c.is_dir()) and not any(
                c.is_file() for c in p.iterdir()
            ):
                size = _size(p)
                shutil.rmtree(p, ignore_errors=True)
                removed.append(f"{p.name} ({_megabytes(size)})")
        elif p.is_dir() and re.fullmatch(r"tmp-[A-Za-z0-9_]{8}", rest) and read_marker(p) is not None:
            size = _size(p)
            shutil.rmtree(p, ignore_errors=True)
            removed.append(f"{p.name} ({_megabytes(size)})")
        elif p.is_file() and re.fullmatch(r"[A-Za-z0-9_]{8}\.tmp", rest):
            size = _size(p)
            p.unlink()
            removed.append(f"{p.name} ({_megabytes(size)})")
    if removed:
        log.warning("bert_hub: removed %s left beside %s by an interrupted bert-hub run", ", ".join(removed), out)
    return removed
