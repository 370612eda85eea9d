"""The one rule for everything bert_hub writes: check first, build aside, swap in, never clobber.

Every command that writes (``build``, ``convert``, ``train``, ``embed``,
``--plot``, Beam's ``--output``, the embedded cache) goes through this module:

1. **Check before touching anything.** `check_output_file` and
   `check_output_dir` run before the long work starts; a folder where
   a file is expected (or the reverse), an existing output without
   ``--overwrite``, or a parent that cannot be written is one
   [`InputError`][bert_hub.core.errors.InputError] naming the path and the way out.
2. **Replace only what bert_hub wrote, at any depth.** A folder bert_hub
   writes carries a manifest (`MARKER`: its kind, and the size, time and
   SHA-256 of every file it wrote); ``--overwrite`` replaces it only if every
   file in the whole tree is one the manifest lists, unchanged (a
   ``notes.txt`` a user dropped into ``encoder/`` is never deleted). A single
   file (``.npy``, an image) is replaced only if bert_hub's record of the
   files it wrote (in its cache folder) names it with the same content, never
   because of its format: your own holiday JPEG is safe.
3. **One writer per output.** `output_lock` holds ``.NAME.lock`` beside
   the output for the whole command; a second command writing the same
   output stops in one line naming the process that holds it. A lock left by
   a process that died is taken over.
4. **Build aside, swap in when complete.** New outputs are written to a
   temporary sibling (``.NAME.tmp-*``) and put in place at the end: a folder
   by one atomic exchange with the old one (``renameat2``), files by
   ``rename``, with Ctrl-C and SIGTERM held back for that instant. After any
   interrupt, the output is the complete old one or the complete new one.
   Leftovers of a killed process (``.NAME.tmp-*``, ``.NAME.old-*``) are
   removed by the next command that writes the same output, which says so.
5. **Normal permissions.** Files and folders get the modes the user's umask
   gives (``mkstemp``/``mkdtemp`` would make them private to their owner).

Examples:
    >>> import tempfile, pathlib
    >>> from bert_hub.core.outputs import atomic_directory, check_output_dir
    >>> parent = pathlib.Path(tempfile.mkdtemp())
    >>> with atomic_directory(parent / "bundle", kind="bundle") as tmp:
    ...     _ = (tmp / "bert_hub.yaml").write_text("name: x\\n")
    >>> sorted(p.name for p in (parent / "bundle").iterdir())
    ['.bert_hub_output.json', 'bert_hub.yaml']
    >>> (parent / "bundle" / "notes.txt").write_text("mine")
    4
    >>> check_output_dir(parent / "bundle", kind="bundle", overwrite=True)
    Traceback (most recent call last):
    ...
    bert_hub.core.errors.InputError: ... holds notes.txt, which bert_hub did not write; ...
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime
import errno
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import signal
import socket
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from bert_hub.core.caches import cache_root
from bert_hub.core.errors import InputError
from bert_hub.core.pause import pause_point

log = logging.getLogger(__name__)

MARKER = ".bert_hub_output.json"
"""The file that marks a folder as bert_hub's own output, with the manifest of what it wrote."""

DIR_KINDS: dict[str, frozenset[str]] = {
    "bundle": frozenset({"preprocess", "encoder", "bert_hub.yaml"}),
    "run": frozenset({"checkpoints", "history.json", "curves.png", "metrics.json", "summary.json",
                      "train_config.yaml", "model"}),
    # every exported model (classifier, tagger, question answerer)
    "classifier": frozenset({"saved_model.pb", "variables", "assets", "fingerprint.pb",
                             "bert_hub_classifier.json"}),
    "beam": frozenset({"data", "errors", "summary.json"}),
    # bert-hub samples
    "samples": frozenset({"texts.txt", "sms.tsv", "test.tsv", "topics.tsv", "topics.jsonl", "tags.tsv", "ratings.tsv", "ner.conll",
                          "squad.json"}),
}
"""What bert_hub writes at the top of each kind of output folder."""

FILE_KINDS: dict[str, str] = {"npy": "a NumPy .npy file", "image": "an image"}
"""Single-file outputs: what they are called in messages."""


# -- the current command's completed outputs ---------------------------------------

_written = threading.local()


@contextlib.contextmanager
def track_written() -> Iterator[list[Path]]:
    """Collects the outputs put in place (complete) inside the block, in order.

    The CLI uses it to say, after an interrupt, what was already written.
    """
    previous = getattr(_written, "paths", None)
    _written.paths = paths = []
    try:
        yield paths
    finally:
        _written.paths = previous


def _completed(path: Path) -> None:
    paths = getattr(_written, "paths", None)
    if paths is not None:
        paths.append(Path(path))


# -- interrupts held back while an output is put in place ---------------------------

@contextlib.contextmanager
def deferred_interrupts(redeliver: bool = True) -> Iterator[None]:
    """Holds back SIGINT and SIGTERM for the block; one that arrived is delivered after it.

    With ``redeliver=False`` (clean-up after an interrupt already being
    handled) one that arrived is dropped. Python signal handlers run in the
    main thread only; elsewhere the block runs as it is.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    previous: dict[int, Any] = {}
    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, lambda signum, frame: pending.append(signum))
        yield
    finally:
        _restore_handlers(list(previous.items()))
        if pending and redeliver:
            handler = previous[pending[0]]
            if callable(handler):
                handler(pending[0], None)
            elif handler == signal.SIG_DFL:
                signal.raise_signal(pending[0])


def _restore_handlers(handlers: list[tuple[int, Any]]) -> None:
    """Puts back signal handlers, each in its own ``finally``: a signal handled between two of them
    cannot leave the others replaced."""
    if handlers:
        try:
            signal.signal(*handlers[0])
        finally:
            _restore_handlers(handlers[1:])


# -- permissions ------------------------------------------------------------------------

def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def set_normal_mode(path: Path) -> None:
    """Gives ``path`` the mode a plain ``open``/``mkdir`` would have under the umask."""
    base = 0o777 if Path(path).is_dir() else 0o666
    os.chmod(path, base & ~_umask())


def cannot_write(path: Path, what: str, where: Path, error: OSError | None = None) -> InputError:
    """The one error of every writer whose output cannot be written at ``path`` (``where``: the folder that
    refused, ``error``: why)."""
    why = f" ({error.strerror})" if error is not None and error.strerror else ""
    return InputError(f"{what} {path}: cannot write into {where}{why}; choose a writable location")


def _check_parent(path: Path, what: str) -> None:
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


# -- what bert_hub wrote: manifests of folders, a record of single files ----------------

def file_digest(path: Path) -> str:
    """SHA-256 of a file's content."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 22):
            h.update(block)
    return h.hexdigest()


def _entry(path: Path) -> list[Any]:
    info = path.stat()
    return [info.st_size, info.st_mtime_ns, file_digest(path)]


def _same(path: Path, entry: Any) -> bool:
    """Whether the file at ``path`` is the one ``entry`` ([size, mtime_ns, sha256]) recorded."""
    try:
        info = path.lstat()
        if not isinstance(entry, list) or len(entry) != 3 or not path.is_file() or path.is_symlink():
            return False
        if info.st_size != entry[0]:
            return False
        return info.st_mtime_ns == entry[1] or file_digest(path) == entry[2]
    except OSError:
        return False


def _tree_files(path: Path) -> Iterator[Path]:
    """Every file, symlink and other non-folder under ``path`` (symlinks not followed), and every empty folder."""
    for root, dirs, files in os.walk(path):
        here = Path(root)
        for name in list(dirs):
            if (here / name).is_symlink():
                dirs.remove(name)
                files.append(name)
        if not dirs and not files and here != path:
            yield here
        for name in files:
            yield here / name


def mark_directory(path: Path, kind: str) -> None:
    """Writes ``path``'s marker: its kind and the manifest of the files of that kind's entries.

    Called when bert_hub has finished writing (a staged folder before it is
    swapped in; a run after each epoch). Only the kind's own top-level entries
    are listed, so a file a user put beside them is never taken for bert_hub's.
    """
    known = (_marker(path) or {}).get("files")
    known = known if isinstance(known, dict) else {}
    files, dirs = {}, []
    allowed = DIR_KINDS[kind]
    for p in _tree_files(path):
        rel = p.relative_to(path)
        if rel.parts[0] not in allowed or p.is_symlink():
            continue
        if p.is_dir():
            dirs.append(rel.as_posix())
        elif p.is_file():
            entry = known.get(rel.as_posix())
            info = p.stat()
            unchanged = isinstance(entry, list) and len(entry) == 3 and entry[:2] == [info.st_size, info.st_mtime_ns]
            files[rel.as_posix()] = entry if unchanged else _entry(p)
    marker = {"written_by": "bert_hub", "kind": kind, "files": files, "empty_folders": dirs}
    atomic_write_text(path / MARKER, json.dumps(marker, indent=0, sort_keys=True) + "\n")


def _marker(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((path / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("kind") not in DIR_KINDS:
        return None
    return data


_LEFTOVER = re.compile(r"^\..+\.(lock|tmp-[A-Za-z0-9_]{8}|old-[A-Za-z0-9_]{8}|[A-Za-z0-9_]{8}\.tmp)$")
"""What bert_hub leaves inside a folder when it is killed while writing there: a lock, a staged or set-aside folder,
a temporary file (``.NAME.lock``, ``.NAME.tmp-XXXXXXXX``, ``.NAME.old-XXXXXXXX``, ``.NAME.XXXXXXXX.tmp``). They are
bert_hub's, whatever the manifest says."""


def foreign_entries(path: Path) -> tuple[list[str], list[str]]:
    """Files under folder ``path`` that bert_hub did not write, and those it wrote that changed since.

    Paths are relative to ``path`` (``encoder/NOTES.txt``); the whole tree is
    walked, symlinks included and not followed.
    """
    marker = _marker(path) or {}
    listed = marker.get("files") if isinstance(marker.get("files"), dict) else {}
    empty = set(marker.get("empty_folders") or [])
    new, changed = [], []
    for p in _tree_files(path):
        rel = p.relative_to(path).as_posix()
        if rel == MARKER or any(_LEFTOVER.match(part) for part in Path(rel).parts):
            continue
        if p.is_dir() and not p.is_symlink():
            if rel not in empty and not any(name.startswith(rel + "/") for name in listed):
                new.append(rel + "/")
        elif rel not in listed:
            new.append(rel)
        elif not _same(p, listed[rel]):
            changed.append(rel)
    return sorted(new), sorted(changed)


def _names(items: list[str]) -> str:
    return ", ".join(items[:3]) + (f" and {len(items) - 3} more" if len(items) > 3 else "")


def owned_directory(path: Path, what: str = "--out") -> None:
    """Raises unless ``path`` is a folder bert_hub wrote whose every file it wrote, unchanged."""
    if not any(path.iterdir()):
        return  # an empty folder holds nothing to lose
    marker = _marker(path)
    if marker is None:
        raise InputError(f"{what} {path} was not written by bert_hub (it has no {MARKER}); "
                         "--overwrite replaces only bert_hub's own outputs: move it away or choose another path")
    if not isinstance(marker.get("files"), dict):
        raise InputError(f"{what} {path} was written by an older bert_hub that kept no list of its files, so "
                         "--overwrite cannot tell them from yours: delete it yourself or choose another path")
    new, changed = foreign_entries(path)
    if new:
        raise InputError(f"{what} {path} holds {_names(new)}, which bert_hub did not write; --overwrite "
                         "replaces only bert_hub's own outputs: move them away or choose another path")
    if changed:
        raise InputError(f"{what} {path}: {_names(changed)} changed since bert_hub wrote "
                         f"{'them' if len(changed) > 1 else 'it'}; --overwrite would lose that change: "
                         "move the folder away or choose another path")


def _record_path(path: Path) -> Path:
    key = hashlib.sha256(str(path).encode("utf-8", "surrogateescape")).hexdigest()[:40]
    return cache_root() / "written" / f"{key}.json"


def record_written_file(path: Path, entry: list[Any] | None = None) -> None:
    """Notes that bert_hub wrote the single file ``path`` (as it is now, or as ``entry`` says), for a
    later ``--overwrite``."""
    path = Path(path).absolute()
    record = _record_path(path)
    try:
        record.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(record, json.dumps({"path": str(path), "file": entry or _entry(path)}) + "\n")
    except OSError as e:  # the output itself is complete: say what a later --overwrite will do
        log.warning("bert_hub: wrote %s but could not record it in %s (%s); a later --overwrite will refuse "
                    "to replace it", path, record.parent, e.strerror)


def wrote_file(path: Path) -> bool:
    """Whether bert_hub wrote the single file ``path`` and it has not changed since."""
    path = Path(path).absolute()
    try:
        data = json.loads(_record_path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get("path") == str(path) and _same(path, data.get("file"))


def check_output_file(path: str | os.PathLike[str], *, kind: str, overwrite: bool = False,
                      what: str = "output") -> Path:
    """Checks that a single-file output may be written at ``path``; returns it absolute.

    Raises:
        InputError: ``path`` is a folder; it exists and ``overwrite`` is off;
            it exists but bert_hub did not write it (or it changed since); or
            its folder cannot be written.
    """
    path = Path(path).expanduser().absolute()
    label = FILE_KINDS[kind]
    if path.is_dir():
        raise InputError(f"{what} {path} is a folder, not a file; give a file name inside it")
    if path.exists() or path.is_symlink():
        if not overwrite:
            raise InputError(f"{what} {path} already exists; pass --overwrite to replace it, "
                             "or choose another name")
        if not path.is_file() or path.is_symlink() or not wrote_file(path):
            raise InputError(f"{what} {path} exists and is not {label} that bert_hub wrote (or it changed "
                             "since); bert_hub replaces only its own outputs: move it away or choose another name")
    _check_parent(path, what)
    return path


def check_output_dir(path: str | os.PathLike[str], *, kind: str, overwrite: bool = False,
                     what: str = "--out", exists_hint: str = "pass --overwrite to replace it") -> Path:
    """Checks that an output folder of ``kind`` may be written at ``path``; returns it absolute.

    An empty existing folder counts as absent. An existing one needs
    ``overwrite`` and must be bert_hub's own (see `owned_directory`).
    """
    if kind not in DIR_KINDS:
        raise ValueError(f"unknown output kind {kind!r}")
    path = Path(path).expanduser().absolute()
    if path.exists() and not path.is_dir():
        raise InputError(f"{what} {path} is a file, not a folder; choose another {what}")
    if path.is_dir() and any(path.iterdir()):
        if not overwrite:
            raise InputError(f"{what} {path} already exists; {exists_hint}, or choose another {what}")
        owned_directory(path, what)
    _check_parent(path, what)
    return path


def make_directory(path: Path, kind: str) -> Path:
    """Creates ``path`` (and missing parents) as a marked output folder."""
    path.mkdir(parents=True, exist_ok=True)
    mark_directory(path, kind)
    return path


# -- one writer per output ---------------------------------------------------------------

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
def output_lock(out: str | os.PathLike[str], *, what: str = "--out", wait: bool = False) -> Iterator[Path]:
    """Holds ``out``'s lock for the block: one writer per output.

    Another holder makes this raise [`InputError`][bert_hub.core.errors.InputError] naming it (or, with
    ``wait``, waits for it: the embedded cache). The lock is an ``flock`` on
    ``.NAME.lock`` beside ``out``, so a holder that died has released it; its
    file is removed when the block ends.
    """
    out = Path(out).expanduser().absolute()
    path = lock_path(out)
    _check_parent(out, what)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise cannot_write(out, what, path.parent, e) from None
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666 & ~_umask())
        except OSError as e:
            raise cannot_write(out, what, path.parent, e) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(fd)
            raise InputError(f"{what} {out} is being written by another bert-hub process ({_holder(path)}); "
                             f"wait for it to end, or choose another {what}") from None
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
        info = {"pid": os.getpid(), "host": socket.gethostname(),
                "since": datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S"),
                "command": " ".join(["bert-hub", *sys.argv[1:]])[:300]}
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
    removed = []
    try:
        siblings = sorted(out.parent.iterdir())
    except OSError:
        return removed
    prefix = f".{out.name}."
    for p in siblings:
        if not p.name.startswith(prefix) or p.is_symlink():
            continue
        rest = p.name[len(prefix):]
        if p.is_dir() and re.fullmatch(r"old-[A-Za-z0-9_]{8}", rest):
            inner = p / out.name
            if inner.is_dir() and not out.exists() and _marker(inner) is not None:
                os.rename(inner, out)
                log.warning("bert_hub: put back %s from %s (a run was killed while replacing it)", out, p.name)
            if all(_marker(c) is not None for c in p.iterdir() if c.is_dir()) and \
                    not any(c.is_file() for c in p.iterdir()):
                size = _size(p)
                shutil.rmtree(p, ignore_errors=True)
                removed.append(f"{p.name} ({_megabytes(size)})")
        elif p.is_dir() and re.fullmatch(r"tmp-[A-Za-z0-9_]{8}", rest) and _marker(p) is not None:
            size = _size(p)
            shutil.rmtree(p, ignore_errors=True)
            removed.append(f"{p.name} ({_megabytes(size)})")
        elif p.is_file() and re.fullmatch(r"[A-Za-z0-9_]{8}\.tmp", rest):
            size = _size(p)
            p.unlink()
            removed.append(f"{p.name} ({_megabytes(size)})")
    if removed:
        log.warning("bert_hub: removed %s left beside %s by an interrupted bert-hub run",
                    ", ".join(removed), out)
    return removed


# -- build aside, swap in ------------------------------------------------------------------

def staging_directory(out: Path, kind: str) -> Path:
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


def swap_in(tmp: Path, out: Path, what: str = "--out", on_swapped: Callable[[], None] | None = None) -> None:
    """Puts the complete folder ``tmp`` in place of ``out``; an old ``out`` (bert_hub's) is removed after.

    ``tmp``'s manifest is written first. The exchange itself is atomic, and
    Ctrl-C / SIGTERM are held back until ``on_swapped`` (which records that
    the new output is in place) has run and the old folder is deleted.
    """
    kind = (_marker(tmp) or {}).get("kind", "run")
    mark_directory(tmp, kind)
    pause_point(f"before-swap:{out.name}")
    old = None
    with deferred_interrupts():
        pause_point(f"swap:{out.name}")
        if out.is_dir():
            try:
                owned_directory(out, what)  # checked again: it may have changed during the work
            except InputError as e:  # keep the finished work where the user can see it
                kept = out.with_name(f"{out.name}.new-{datetime.datetime.now():%Y%m%d-%H%M%S}")
                os.rename(tmp, kept)
                raise InputError(f"{e}; the new output was kept as {kept}: rename it once the folder is "
                                 "cleared") from None
            if _exchange(tmp, out):
                old = tmp
            else:
                aside = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
                os.replace(out, aside / out.name)
                os.replace(tmp, out)
                old = aside
        else:
            os.replace(tmp, out)
        _completed(out)
        if on_swapped is not None:
            on_swapped()
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def atomic_directory(out: str | os.PathLike[str], *, kind: str, overwrite: bool = False,
                     what: str = "--out") -> Iterator[Path]:
    """Yields a temporary folder that becomes ``out`` when the block succeeds.

    ``out`` is locked and checked first (`output_lock`,
    `check_output_dir`). On any exception, Ctrl-C included, the
    temporary folder is removed and ``out`` is left as it was.
    """
    out = check_output_dir(out, kind=kind, overwrite=overwrite, what=what)
    with output_lock(out, what=what):
        out = check_output_dir(out, kind=kind, overwrite=overwrite, what=what)
        tmp = staging_directory(out, kind)
        try:
            yield tmp
            swap_in(tmp, out, what)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise


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


@contextlib.contextmanager
def atomic_outputs(*paths: Path, remove: Sequence[Path] = ()) -> Iterator[list[Path]]:
    """Yields a temporary path for each user-facing output file; all are put in place together at the end.

    The caller holds the outputs' lock and has checked them
    (`check_output_file`), and the files in ``remove`` (earlier
    outputs of bert_hub that the new ones make stale). The renames and
    removals run with Ctrl-C and SIGTERM held back, and each file is
    recorded as bert_hub's (so ``--overwrite`` may replace it later). On any
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
        entries = [_entry(tmp) for tmp in tmps]  # hashed before: the renames below are instants
        with deferred_interrupts():
            pause_point("commit-files")
            for tmp, path in zip(tmps, paths):
                os.replace(tmp, path)
            for path in remove:
                remove_output_file(path)
            for path in paths:
                _completed(path)
        for path, entry in zip(paths, entries):
            record_written_file(path, entry)
    finally:
        for tmp in tmps:
            with contextlib.suppress(OSError):
                tmp.unlink()


def remove_output_file(path: Path) -> None:
    """Deletes a single output file bert_hub wrote (checked by the caller), and its record."""
    path.unlink()
    with contextlib.suppress(OSError):
        _record_path(path.absolute()).unlink()


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Writes ``text`` to ``path`` through a temporary file and a rename."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def read_cache_file(path: Path) -> dict[str, Any]:
    """A JSON cache file (an object of entries) as a dict; empty when absent or unreadable: a cache is
    only an optimisation, what it held is measured again."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_cache_entry(path: Path, key: str, entry: Any) -> None:
    """Sets ``key`` in the JSON cache file at ``path``, re-read first (another process may have added other
    keys meanwhile), written atomically; a read-only cache is left as it is (measured again next time)."""
    cache = read_cache_file(path)
    cache[key] = entry
    try:
        atomic_write_text(path, json.dumps(cache, indent=1, sort_keys=True) + "\n")
    except OSError:
        pass


IMAGE_FORMATS = ("png", "pdf", "svg", "jpg", "jpeg")
"""Image formats ``--plot`` writes, by file suffix."""


def check_image_path(path: str | os.PathLike[str], *, overwrite: bool = False, what: str = "--plot") -> Path:
    """Checks an image output path; its suffix chooses the format (png, pdf, svg, jpg)."""
    checked = check_output_file(path, kind="image", overwrite=overwrite, what=what)
    if checked.suffix.lower().lstrip(".") not in IMAGE_FORMATS:
        raise InputError(f"{what} {path}: unknown image format {checked.suffix or '(no suffix)'!r}; "
                         f"name the file *.{', *.'.join(IMAGE_FORMATS)}")
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


def save_plot(fig: Any, path: str | os.PathLike[str], *, overwrite: bool = False, what: str = "--plot") -> Path:
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
