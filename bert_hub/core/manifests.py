"""What bert_hub wrote: the manifest of each folder it writes, a record of each single file, the outputs of the
current command.

A folder bert_hub writes carries a manifest (`MARKER`: its kind, and the
size, time and SHA-256 of every file it wrote); ``overwrite`` replaces it
only if every file in the whole tree is one the manifest lists, unchanged
(a ``notes.txt`` a user dropped into ``encoder/`` is never deleted). Which
files a folder holds is said by its writer, as a
[`FolderKind`][bert_hub.core.manifests.FolderKind] (a run, a bundle, an export
declare their own). A single file (``.npy``, an image) is replaced only if
bert_hub's record of the files it wrote (in its cache folder) names it with
the same content, never because of its format.

Examples:
    >>> import tempfile, pathlib
    >>> from bert_hub.core.manifests import FolderKind, foreign_entries, mark_directory
    >>> NOTES = FolderKind("notes", frozenset({"a.txt"}))
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "a.txt").write_text("mine, by bert_hub")
    >>> mark_directory(folder, NOTES)
    >>> _ = (folder / "b.txt").write_text("a user's")
    >>> foreign_entries(folder)
    (['b.txt'], [])
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bert_hub.core.atomic import atomic_write_text
from bert_hub.core.caches import cache_root
from bert_hub.core.errors import InputError

log = logging.getLogger(__name__)

MARKER = ".bert_hub_output.json"
"""The file that marks a folder as bert_hub's own output, with the manifest of what it wrote."""


FORMER_KIND_NAMES = {"classifier": "export"}
"""Kinds of folder by the name their manifests had before (an export's was ``classifier``)."""


@dataclasses.dataclass(frozen=True)
class FolderKind:
    """A kind of folder bert_hub writes, declared by its writer: its name (in the manifest) and the entries it
    writes at the folder's top (only those are listed, so a file a user put beside them is never taken for
    bert_hub's)."""

    name: str
    entries: frozenset[str]


_written = threading.local()


@contextlib.contextmanager
def track_written() -> Iterator[list[Path]]:
    """Collects the outputs put in place (complete) inside the block, in order.

    The CLI uses it to say, after an interrupt, what was already written.
    """
    previous = getattr(_written, "paths", None)
    paths: list[Path] = []
    _written.paths = paths
    try:
        yield paths
    finally:
        _written.paths = previous


def completed(path: Path) -> None:
    """Notes that ``path``, an output, is in place and complete (see `track_written`)."""
    paths = getattr(_written, "paths", None)
    if paths is not None:
        paths.append(Path(path))


def file_digest(path: Path) -> str:
    """SHA-256 of a file's content."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 22):
            h.update(block)
    return h.hexdigest()


def file_entry(path: Path) -> list[Any]:
    """What a manifest records of a file: ``[size, mtime_ns, sha256]``."""
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


def mark_directory(path: Path, kind: FolderKind) -> None:
    """Writes ``path``'s marker: its kind and the manifest of the files of that kind's entries.

    Called when bert_hub has finished writing (a staged folder before it is
    swapped in; a run after each epoch). Only the kind's own top-level entries
    are listed, so a file a user put beside them is never taken for bert_hub's.
    """
    known = (read_marker(path) or {}).get("files")
    known = known if isinstance(known, dict) else {}
    files, dirs = {}, []
    allowed = kind.entries
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
            files[rel.as_posix()] = entry if unchanged else file_entry(p)
    marker = {"written_by": "bert_hub", "kind": kind.name, "files": files, "empty_folders": dirs}
    atomic_write_text(path / MARKER, json.dumps(marker, indent=0, sort_keys=True) + "\n")


def read_marker(path: Path) -> dict[str, Any] | None:
    """``path``'s manifest, or None when it has none readable."""
    try:
        data = json.loads((path / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("kind"), str):
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
    marker = read_marker(path) or {}
    files = marker.get("files")
    listed: dict[str, Any] = files if isinstance(files, dict) else {}
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


def owned_directory(path: Path, what: str = "`out`", kind: FolderKind | None = None) -> None:
    """Raises unless ``path`` is a folder bert_hub wrote (of ``kind``, when given) whose every file it wrote,
    unchanged."""
    if not any(path.iterdir()):
        return  # an empty folder holds nothing to lose
    marker = read_marker(path)
    if marker is None:
        raise InputError(
            f"{what} {path} was not written by bert_hub (it has no {MARKER}); "
            "`overwrite` replaces only bert_hub's own outputs: move it away or choose another path"
        )
    found = FORMER_KIND_NAMES.get(marker["kind"], marker["kind"])
    if kind is not None and found != kind.name:
        raise InputError(
            f"{what} {path} holds bert_hub's {found}, not its {kind.name}: `overwrite` replaces an "
            "output of the same kind only; choose another path"
        )
    if not isinstance(marker.get("files"), dict):
        raise InputError(
            f"{what} {path} was written by an older bert_hub that kept no list of its files, so "
            "`overwrite` cannot tell them from yours: delete it yourself or choose another path"
        )
    new, changed = foreign_entries(path)
    if new:
        raise InputError(
            f"{what} {path} holds {_names(new)}, which bert_hub did not write; `overwrite` "
            "replaces only bert_hub's own outputs: move them away or choose another path"
        )
    if changed:
        raise InputError(
            f"{what} {path}: {_names(changed)} changed since bert_hub wrote "
            f"{'them' if len(changed) > 1 else 'it'}; `overwrite` would lose that change: "
            "move the folder away or choose another path"
        )


def _record_path(path: Path) -> Path:
    key = hashlib.sha256(str(path).encode("utf-8", "surrogateescape")).hexdigest()[:40]
    return cache_root() / "written" / f"{key}.json"


def record_written_file(path: Path, entry: list[Any] | None = None) -> None:
    """Notes that bert_hub wrote the single file ``path`` (as it is now, or as ``entry`` says), for a
    later ``overwrite``."""
    path = Path(path).absolute()
    record = _record_path(path)
    try:
        record.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(record, json.dumps({"path": str(path), "file": entry or file_entry(path)}) + "\n")
    except OSError as e:  # the output itself is complete: say what a later overwrite will do
        log.warning(
            "bert_hub: wrote %s but could not record it in %s (%s); a later overwrite will refuse to replace it",
            path,
            record.parent,
            e.strerror,
        )


def wrote_file(path: Path) -> bool:
    """Whether bert_hub wrote the single file ``path`` and it has not changed since."""
    path = Path(path).absolute()
    try:
        data = json.loads(_record_path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get("path") == str(path) and _same(path, data.get("file"))


def remove_output_file(path: Path) -> None:
    """Deletes a single output file bert_hub wrote (checked by the caller), and its record."""
    path.unlink()
    with contextlib.suppress(OSError):
        _record_path(path.absolute()).unlink()
