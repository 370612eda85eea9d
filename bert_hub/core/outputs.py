"""The one rule for everything bert_hub writes: check first, build aside, swap in, never clobber.

Every command that writes (``build``, ``convert``, ``train``, ``embed``,
plots, Beam's output, the embedded cache) goes through this module, which
puts together the pieces below it:

1. **Check before touching anything.** [`check_output_file`][bert_hub.core.outputs.check_output_file]
   and [`check_output_dir`][bert_hub.core.outputs.check_output_dir] run before the long work
   starts; a folder where a file is expected (or the reverse), an existing
   output without ``overwrite``, or a place that cannot be written is one
   [`InputError`][bert_hub.core.errors.InputError] naming the path and the way out.
2. **Replace only what bert_hub wrote, at any depth** (the manifests and
   records of [`bert_hub.core.manifests`][bert_hub.core.manifests]; each writer declares
   the files of its folders as a [`FolderKind`][bert_hub.core.manifests.FolderKind]).
3. **One writer per output** (`bert_hub.core.locks`).
4. **Build aside, swap in when complete.** New outputs are written to a
   temporary sibling (``.NAME.tmp-*``) and put in place at the end: a folder
   by one atomic exchange with the old one (``renameat2``), files by
   ``rename``, with Ctrl-C and SIGTERM held back for that instant
   (`bert_hub.core.interrupts`). After any interrupt,
   the output is the complete old one or the complete new one.
5. **Normal permissions** (`bert_hub.core.atomic`).

Messages name the argument at fault as a Python caller wrote it (`` `out` ``,
`` `overwrite=True` ``); the CLI writes its flags instead.

Examples:
    >>> import tempfile, pathlib
    >>> from bert_hub.core.manifests import FolderKind
    >>> from bert_hub.core.outputs import atomic_directory, check_output_dir
    >>> BUNDLE = FolderKind("bundle", frozenset({"bert_hub.yaml"}))
    >>> parent = pathlib.Path(tempfile.mkdtemp())
    >>> with atomic_directory(parent / "bundle", kind=BUNDLE) as tmp:
    ...     _ = (tmp / "bert_hub.yaml").write_text("name: x\\n")
    >>> sorted(p.name for p in (parent / "bundle").iterdir())
    ['.bert_hub_output.json', 'bert_hub.yaml']
    >>> (parent / "bundle" / "notes.txt").write_text("mine")
    4
    >>> check_output_dir(parent / "bundle", overwrite=True)
    Traceback (most recent call last):
    ...
    bert_hub.core.errors.InputError: ... holds notes.txt, which bert_hub did not write; ...
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime
import errno
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from bert_hub.core.atomic import check_parent, set_normal_mode
from bert_hub.core.errors import InputError
from bert_hub.core.interrupts import deferred_interrupts
from bert_hub.core.locks import output_lock
from bert_hub.core.manifests import (
    FolderKind,
    completed,
    file_entry,
    mark_directory,
    owned_directory,
    record_written_file,
    remove_output_file,
    wrote_file,
)
from bert_hub.core.pause import pause_point

FILE_KINDS: dict[str, str] = {"npy": "a NumPy .npy file", "image": "an image", "litert": "a LiteRT .tflite file"}
"""Single-file outputs: what they are called in messages."""


def check_output_file(
    path: str | os.PathLike[str], *, kind: str, overwrite: bool = False, what: str = "output"
) -> Path:
    """Checks that a single-file output may be written at ``path``; returns it absolute.

    Raises:
        InputError: ``path`` is a folder; it exists and ``overwrite`` is off;
            it exists but bert_hub did not write it (or it changed since); or
            its folder cannot be written.
    """
    if not str(path).strip():
        raise InputError(f"{what} is empty; give the file to write")
    path = Path(path).expanduser().absolute()
    label = FILE_KINDS[kind]
    if path.is_dir():
        raise InputError(f"{what} {path} is a folder, not a file; give a file name inside it")
    if path.exists() or path.is_symlink():
        if not overwrite:
            raise InputError(
                f"{what} {path} already exists; pass `overwrite=True` to replace it, or choose another name"
            )
        if not path.is_file() or path.is_symlink() or not wrote_file(path):
            raise InputError(
                f"{what} {path} exists and is not {label} that bert_hub wrote (or it changed "
                "since); bert_hub replaces only its own outputs: move it away or choose another name"
            )
    check_parent(path, what)
    return path


def check_output_dir(
    path: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    what: str = "`out`",
    exists_hint: str = "pass `overwrite=True` to replace it",
    kind: FolderKind | None = None,
) -> Path:
    """Checks that an output folder (of ``kind``) may be written at ``path``; returns it absolute.

    An empty existing folder counts as absent. An existing one needs
    ``overwrite`` and must be bert_hub's own, of the same kind (see
    [`owned_directory`][bert_hub.core.manifests.owned_directory]).
    """
    if not str(path).strip():
        raise InputError(f"{what} is empty; give the folder to write")
    path = Path(path).expanduser().absolute()
    if path.exists() and not path.is_dir():
        raise InputError(f"{what} {path} is a file, not a folder; choose another {what}")
    if path.is_dir() and any(path.iterdir()):
        if not overwrite:
            raise InputError(f"{what} {path} already exists; {exists_hint}, or choose another {what}")
        owned_directory(path, what, kind)
    check_parent(path, what)
    return path


def make_directory(path: Path, kind: FolderKind) -> Path:
    """Creates ``path`` (and missing parents) as a marked output folder."""
    path.mkdir(parents=True, exist_ok=True)
    mark_directory(path, kind)
    return path


def staging_directory(out: Path, kind: FolderKind) -> Path:
    """A new, marked temporary folder beside ``out`` (normal permissions)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    set_normal_mode(tmp)
    mark_directory(tmp, kind)
    return tmp


_RENAME_EXCHANGE = 2


_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Atomically exchanges two paths (Linux ``renameat2``); False where the system cannot."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def swap_in(
    tmp: Path, out: Path, kind: FolderKind, what: str = "`out`", on_swapped: Callable[[], None] | None = None
) -> None:
    """Puts the complete folder ``tmp`` in place of ``out``; an old ``out`` (bert_hub's) is removed after.

    ``tmp``'s manifest is written first. The exchange itself is atomic, and
    Ctrl-C / SIGTERM are held back until ``on_swapped`` (which records that
    the new output is in place) has run and the old folder is deleted.
    """
    mark_directory(tmp, kind)
    pause_point(f"before-swap:{out.name}")
    old = None
    with deferred_interrupts():
        pause_point(f"swap:{out.name}")
        if out.is_dir():
            try:
                owned_directory(out, what, kind)  # checked again: it may have changed during the work
            except InputError as e:  # keep the finished work where the user can see it
                kept = out.with_name(f"{out.name}.new-{datetime.datetime.now():%Y%m%d-%H%M%S}")
                os.rename(tmp, kept)
                raise InputError(
                    f"{e}; the new output was kept as {kept}: rename it once the folder is cleared"
                ) from None
            if _exchange(tmp, out):
                old = tmp
            else:
                aside = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
                os.replace(out, aside / out.name)
                os.replace(tmp, out)
                old = aside
        else:
            os.replace(tmp, out)
        completed(out)
        if on_swapped is not None:
            on_swapped()
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def atomic_directory(
    out: str | os.PathLike[str], *, kind: FolderKind, overwrite: bool = False, what: str = "`out`"
) -> Iterator[Path]:
    """Yields a temporary folder that becomes ``out`` when the block succeeds.

    ``out`` is locked and checked first (`output_lock`,
    `check_output_dir`). On any exception, Ctrl-C included, the
    temporary folder is removed and ``out`` is left as it was.
    """
    out = check_output_dir(out, overwrite=overwrite, what=what, kind=kind)
    with output_lock(out, what=what):
        out = check_output_dir(out, overwrite=overwrite, what=what, kind=kind)
        tmp = staging_directory(out, kind)
        try:
            yield tmp
            swap_in(tmp, out, kind, what)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise


@contextlib.contextmanager
def atomic_outputs(*paths: Path, remove: Sequence[Path] = ()) -> Iterator[list[Path]]:
    """Yields a temporary path for each user-facing output file; all are put in place together at the end.

    The caller holds the outputs' lock and has checked them
    (`check_output_file`), and the files in ``remove`` (earlier
    outputs of bert_hub that the new ones make stale). The renames and
    removals run with Ctrl-C and SIGTERM held back, and each file is
    recorded as bert_hub's (so ``overwrite`` may replace it later). On any
    exception nothing is renamed or removed and the temporary files are.
    """
    tmps = []
    try:
        for path in paths:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            os.close(fd)
            tmps.append(Path(name))
        yield list(tmps)
        for tmp in tmps:
            set_normal_mode(tmp)
        entries = [file_entry(tmp) for tmp in tmps]  # hashed before: the renames below are instants
        with deferred_interrupts():
            pause_point("commit-files")
            for tmp, path in zip(tmps, paths):
                os.replace(tmp, path)
            for path in remove:
                remove_output_file(path)
            for path in paths:
                completed(path)
        for path, entry in zip(paths, entries):
            record_written_file(path, entry)
    finally:
        for tmp in tmps:
            with contextlib.suppress(OSError):
                tmp.unlink()
