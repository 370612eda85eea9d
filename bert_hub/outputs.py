"""The one rule for everything bert_hub writes: check first, build aside, swap in, never clobber.

Every command that writes (``build``, ``convert``, ``train``, ``embed``,
``compare-layers --plot``, the embedded cache) goes through this module:

1. **Check before touching anything.** :func:`check_output_file` and
   :func:`check_output_dir` run before the long work starts; a folder where
   a file is expected (or the reverse), an existing output without
   ``--overwrite``, or a parent that cannot be written is one
   :class:`~bert_hub.errors.InputError` naming the path and the way out.
2. **Replace only what bert_hub wrote.** A folder bert_hub writes carries a
   marker file (:data:`MARKER`) naming its kind; ``--overwrite`` replaces a
   folder only if it has the marker *and* holds nothing but the entries that
   kind has (a ``notes.txt`` a user dropped into a run is never deleted). A
   single file is replaced only if it is of the format bert_hub writes there
   (a NumPy array for ``embed``, an image for ``--plot``), recognised by its
   first bytes.
3. **Build aside, swap in when complete.** New outputs are written to a
   temporary sibling (``.NAME.tmp-*``) and renamed into place at the end, so
   a failure or Ctrl-C leaves the previous output exactly as it was.
4. **Normal permissions.** Files and folders get the modes the user's umask
   gives (``mkstemp``/``mkdtemp`` would make them private to their owner).

Example:

>>> import tempfile, pathlib
>>> from bert_hub.outputs import atomic_directory, check_output_dir
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
bert_hub.errors.InputError: ... holds notes.txt, which bert_hub did not write; ...
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

from bert_hub.errors import InputError

#: The file that marks a folder as bert_hub's own output.
MARKER = ".bert_hub_output.json"

#: What bert_hub writes at the top of each kind of output folder.
DIR_KINDS: dict[str, frozenset[str]] = {
    "bundle": frozenset({"preprocess", "encoder", "bert_hub.yaml"}),
    "run": frozenset({"checkpoints", "history.json", "curves.png", "metrics.json", "summary.json",
                      "train_config.yaml", "model"}),
    # every exported model (classifier, tagger, question answerer)
    "classifier": frozenset({"saved_model.pb", "variables", "assets", "fingerprint.pb",
                             "bert_hub_classifier.json"}),
    "beam": frozenset({"data", "errors", "summary.json"}),
}

#: Single-file outputs, recognised by their first bytes.
FILE_KINDS: dict[str, tuple[str, tuple[bytes, ...]]] = {
    "npy": ("a NumPy .npy file", (b"\x93NUMPY",)),
    "image": ("an image", (b"\x89PNG", b"%PDF", b"\xff\xd8\xff", b"<?xml", b"<svg")),
}


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def set_normal_mode(path: Path) -> None:
    """Gives ``path`` the mode a plain ``open``/``mkdir`` would have under the umask."""
    base = 0o777 if Path(path).is_dir() else 0o666
    os.chmod(path, base & ~_umask())


def _check_parent(path: Path, what: str) -> None:
    """The parent must be a folder (or creatable) that we can write into."""
    ancestor = path.parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise InputError(f"{what} {path}: {ancestor} is a file, not a folder; choose another path")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise InputError(f"{what} {path}: cannot write into {ancestor}; choose a writable location")


def is_file_of_kind(path: Path, kind: str) -> bool:
    """True when ``path`` starts like a file of ``kind`` (see :data:`FILE_KINDS`)."""
    try:
        with open(path, "rb") as f:
            head = f.read(16).lstrip()
    except OSError:
        return False
    return any(head.startswith(magic) for magic in FILE_KINDS[kind][1])


def check_output_file(path: str | os.PathLike[str], *, kind: str, overwrite: bool = False,
                      what: str = "output") -> Path:
    """Checks that a single-file output may be written at ``path``; returns it absolute.

    Raises:
        InputError: ``path`` is a folder; it exists and ``overwrite`` is off;
            it exists but is not a file of ``kind`` (so not bert_hub's); or
            its folder cannot be written.
    """
    path = Path(path).expanduser().absolute()
    label = FILE_KINDS[kind][0]
    if path.is_dir():
        raise InputError(f"{what} {path} is a folder, not a file; give a file name inside it")
    if path.exists() or path.is_symlink():
        if not overwrite:
            raise InputError(f"{what} {path} already exists; pass --overwrite to replace it, "
                             "or choose another name")
        if not path.is_file() or not is_file_of_kind(path, kind):
            raise InputError(f"{what} {path} exists and is not {label} that bert_hub wrote; "
                             "bert_hub replaces only its own outputs: move it away or choose another name")
    _check_parent(path, what)
    return path


def _marker_kind(path: Path) -> str | None:
    try:
        data = json.loads((path / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    kind = data.get("kind") if isinstance(data, dict) else None
    return kind if kind in DIR_KINDS else None


def foreign_entries(path: Path) -> list[str]:
    """Entries of folder ``path`` that bert_hub did not write (by its marker's kind)."""
    kind = _marker_kind(path)
    allowed = DIR_KINDS.get(kind or "", frozenset()) | {MARKER}
    return sorted(p.name for p in path.iterdir() if p.name not in allowed)


def owned_directory(path: Path, what: str = "--out") -> None:
    """Raises unless ``path`` is a folder that bert_hub wrote and that holds only its entries."""
    if not any(path.iterdir()):
        return  # an empty folder holds nothing to lose
    if _marker_kind(path) is None:
        raise InputError(f"{what} {path} was not written by bert_hub (it has no {MARKER}); "
                         "--overwrite replaces only bert_hub's own outputs: move it away or choose another path")
    stray = foreign_entries(path)
    if stray:
        names = ", ".join(stray[:3]) + (f" and {len(stray) - 3} more" if len(stray) > 3 else "")
        raise InputError(f"{what} {path} holds {names}, which bert_hub did not write; --overwrite "
                         "replaces only bert_hub's own outputs: move them away or choose another path")


def check_output_dir(path: str | os.PathLike[str], *, kind: str, overwrite: bool = False,
                     what: str = "--out", exists_hint: str = "pass --overwrite to replace it") -> Path:
    """Checks that an output folder of ``kind`` may be written at ``path``; returns it absolute.

    An empty existing folder counts as absent. An existing one needs
    ``overwrite`` and must be bert_hub's own (see :func:`owned_directory`).
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


def mark_directory(path: Path, kind: str) -> None:
    """Writes the marker that makes ``path`` recognisable as bert_hub's ``kind`` output."""
    (path / MARKER).write_text(json.dumps({"written_by": "bert_hub", "kind": kind}) + "\n", encoding="utf-8")
    set_normal_mode(path / MARKER)


def make_directory(path: Path, kind: str) -> Path:
    """Creates ``path`` (and missing parents) as a marked, empty output folder."""
    path.mkdir(parents=True, exist_ok=True)
    mark_directory(path, kind)
    return path


def staging_directory(out: Path, kind: str) -> Path:
    """A new, marked temporary folder beside ``out`` (normal permissions)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    set_normal_mode(tmp)
    mark_directory(tmp, kind)
    return tmp


def swap_in(tmp: Path, out: Path, what: str = "--out") -> None:
    """Renames the complete folder ``tmp`` to ``out``; an old ``out`` (bert_hub's) is removed after."""
    if out.is_dir():
        owned_directory(out, what)  # checked again: it may have changed during the work
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
        os.replace(out, old / out.name)
        os.replace(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, out)


@contextlib.contextmanager
def atomic_directory(out: str | os.PathLike[str], *, kind: str, overwrite: bool = False,
                     what: str = "--out") -> Iterator[Path]:
    """Yields a temporary folder that becomes ``out`` when the block succeeds.

    ``out`` is checked first (:func:`check_output_dir`). On any exception,
    Ctrl-C included, the temporary folder is removed and ``out`` is left as
    it was.
    """
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

    The caller has checked ``path`` (:func:`check_output_file`). On any
    exception the temporary file is removed and ``path`` is left as it was.
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


#: Image formats ``--plot`` writes, by file suffix.
IMAGE_FORMATS = ("png", "pdf", "svg", "jpg", "jpeg")


def check_image_path(path: str | os.PathLike[str], *, overwrite: bool = False, what: str = "--plot") -> Path:
    """Checks an image output path; its suffix chooses the format (png, pdf, svg, jpg)."""
    checked = check_output_file(path, kind="image", overwrite=overwrite, what=what)
    if checked.suffix.lower().lstrip(".") not in IMAGE_FORMATS:
        raise InputError(f"{what} {path}: unknown image format {checked.suffix or '(no suffix)'!r}; "
                         f"name the file *.{', *.'.join(IMAGE_FORMATS)}")
    return checked


def save_figure(fig: Any, path: str | os.PathLike[str]) -> Path:
    """Saves a matplotlib figure atomically in the format its suffix names, and closes it."""
    import matplotlib.pyplot as plt

    path = Path(path)
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=path.suffix.lower().lstrip(".") or "png")
    finally:
        plt.close(fig)
    return path
