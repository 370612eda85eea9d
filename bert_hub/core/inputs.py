"""Checking the texts a user hands to bert_hub, in memory or in text files.

Texts may be ``str`` or UTF-8 ``bytes``. An empty batch, a non-text item or
bytes that are not UTF-8 get a one-line [`InputError`][bert_hub.core.errors.InputError]
naming the item. An empty string is a valid text (it packs to
``[CLS] [SEP]``); a text longer than ``seq_length`` is truncated, never an
error.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from bert_hub.core.errors import InputError


def check_texts(texts: Iterable[str | bytes] | str, what: str = "texts") -> list[str]:
    """Returns the texts as a list of ``str``, or raises ``InputError``."""
    if isinstance(texts, (str, bytes)):
        texts = [texts]
    if isinstance(texts, (Mapping, set, frozenset)) or not isinstance(texts, Iterable):
        raise InputError(f"{what} must be a list of strings (or one string), not a {type(texts).__name__}")
    out = []
    for i, t in enumerate(texts):
        if isinstance(t, bytes):
            try:
                t = t.decode("utf-8")
            except UnicodeDecodeError as e:
                raise InputError(
                    f"{what}[{i}] is not valid UTF-8 (bad byte at offset {e.start}); decode or clean the text first"
                ) from None
        if not isinstance(t, str):
            raise InputError(f"{what}[{i}] is a {type(t).__name__}, not a string")
        try:
            t.encode("utf-8")
        except UnicodeEncodeError as e:
            raise InputError(
                f"{what}[{i}] holds characters that are not valid Unicode (offset {e.start}); decode the input as UTF-8"
            ) from None
        out.append(t)
    if not out:
        raise InputError(f"no {what} given; pass at least one text")
    return out


def data_path(path: str | Path) -> Path:
    """A data file's path as a ``Path``; not a path, or an empty one, is one line."""
    if not isinstance(path, (str, os.PathLike)):
        raise InputError(f"a data file is a path (a string or a Path), not a {type(path).__name__}")
    if not str(path).strip():
        raise InputError("the data file is empty (''); give the path of the data file")
    return Path(path)


def readable_file(path: str | Path, what: str, hint: str = "") -> Path:
    """``path`` as a ``Path``, checked to be a file this process can read; else one line naming ``what``.

    ``what`` names the input (``data file``, `` `input_path` ``), ``hint`` says what it should hold.

    Examples:
        >>> readable_file("/", "`input_path`", "a text file, one text per line")
        Traceback (most recent call last):
        ...
        bert_hub.core.errors.InputError: `input_path` / is a folder, not a file; give a text file, one text per line
    """
    if not isinstance(path, (str, os.PathLike)):
        raise InputError(f"{what} must be a path (a string or a Path), not a {type(path).__name__}")
    if not str(path).strip():
        raise InputError(f"{what} is empty; give {hint or 'a file'}")
    path = Path(path).expanduser()
    hint = hint or "a file"
    if path.is_dir():
        raise InputError(f"{what} {path} is a folder, not a file; give {hint}")
    if not path.exists():
        raise InputError(f"{what} {path} does not exist; give {hint}")
    if not os.access(path, os.R_OK):
        raise InputError(f"{what} {path} cannot be read (permission denied); give {hint} you can read")
    return path


def decode_utf8(
    raw: bytes,
    path: Path,
    fix: str = "re-encode the file as UTF-8",
    error: type[Exception] = InputError,
    encoding: str = "utf-8-sig",
) -> str:
    """A file's bytes as text (``utf-8-sig`` skips a byte-order mark, ``utf-8`` keeps it); bytes that are
    not UTF-8 are one ``error`` naming ``path``, the line and ``fix``.

    Examples:
        >>> decode_utf8(b"ok\\n\\xff\\n", Path("v.txt"), "save it as UTF-8")
        Traceback (most recent call last):
        ...
        bert_hub.core.errors.InputError: v.txt: line 2 is not valid UTF-8; save it as UTF-8
    """
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise error(f"{path}: line {line} is not valid UTF-8; {fix}") from None


def read_data_file(path: str | Path) -> str:
    """The text of a data file; a missing file, a folder, bad UTF-8 or a NUL byte is one line naming the
    file (and the line). A UTF-8 byte-order mark is skipped."""
    path = readable_file(path, "data file", "the data file itself")
    raw = path.read_bytes()
    if b"\0" in raw:
        line = raw[: raw.index(b"\0")].count(b"\n") + 1
        raise InputError(f"{path}: line {line} holds a NUL byte (is the file UTF-16?); re-encode it as UTF-8")
    return decode_utf8(raw, path)


def scan_text_file(path: Path) -> int:
    """Checks a text file before any work and returns its number of lines (a last line without a
    newline counts).

    Raises:
        InputError: naming the file and the line, for bytes that are not
            UTF-8 or a NUL byte (a UTF-16 file reads as text with a NUL after
            every letter). A UTF-8 byte-order mark at the start is allowed.
    """
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8")()
    n, last = 0, b"\n"
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            if b"\0" in block:
                line = n + block[: block.index(b"\0")].count(b"\n") + 1
                raise InputError(f"{path}: line {line} holds a NUL byte (is the file UTF-16?); re-encode it as UTF-8")
            try:
                decoder.decode(block)
            except UnicodeDecodeError as e:
                line = n + block[: max(e.start, 0)].count(b"\n") + 1
                raise InputError(f"{path}: line {line} is not valid UTF-8; re-encode the file as UTF-8") from None
            n += block.count(b"\n")
            last = block[-1:]
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        line = n + (last != b"\n")
        raise InputError(
            f"{path}: line {line} ends in the middle of a UTF-8 character; re-encode the file as UTF-8"
        ) from None
    return n + (last != b"\n")


def read_lines(path: Path) -> Iterator[str]:
    """The lines of a UTF-8 file, lazily; blank lines are kept as empty texts, a byte-order mark is skipped."""
    with open(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise InputError(
                    f"{path}: line {number} is not valid UTF-8 (byte {e.start}); re-encode the file as UTF-8"
                ) from None
            if "\0" in line:
                raise InputError(f"{path}: line {number} holds a NUL byte (is the file UTF-16?); re-encode it as UTF-8")
            if number == 1:
                line = line.removeprefix("\ufeff")
            yield line.rstrip("\n").rstrip("\r")


@contextlib.contextmanager
def input_file(source: str) -> Iterator[Path]:
    """``--input``: the file named, or for ``-`` standard input copied to a private temporary file named
    ``stdin`` (removed after the block): text files are read twice (checked, then used), a pipe only once."""
    if source != "-":
        yield Path(source).expanduser()
        return
    with tempfile.TemporaryDirectory(prefix="bert_hub-") as folder:
        path = Path(folder) / "stdin"
        with open(path, "wb") as f:
            while block := sys.stdin.buffer.read(1 << 20):
                f.write(block)
        yield path
