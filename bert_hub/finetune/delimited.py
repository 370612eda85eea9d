"""Delimited data files (CSV, TSV, ``label<TAB>text``): every row has the fields it should, or an error says so.

One rule for every format and task: a row with more or fewer fields than
the header (or than ``label<TAB>text``'s two, in a file without a header) is
an [`InputError`][bert_hub.core.errors.InputError] naming the file, the line and
both counts. Nothing is cut or padded in silence: ``ham,hello, how are you``
under a ``label,text`` header is three fields, not the text ``hello``.

Quoting follows the CSV convention: a field that starts with ``"`` and ends
with ``"`` is unquoted, and ``""`` inside it is one quote (``"food, cooking"``
is the one field ``food, cooking``). In a CSV file this is strict, and a
quoted field may span lines. In tab-separated files a row is a line and a
field that is not quoted this way is read as it is, so texts that merely
start with a quote (``"Hi" he said``, as in the SMS Spam Collection) keep it.

Examples:
    >>> from bert_hub.finetune.delimited import split_tab_line
    >>> split_tab_line('"food, cooking"\\tcarrots and "peas"')
    ['food, cooking', 'carrots and "peas"']
    >>> split_tab_line('ham\\t"Hi" he said')
    ['ham', '"Hi" he said']
"""

from __future__ import annotations

import contextlib
import csv
import io
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from bert_hub.core.errors import InputError, plural

DELIMITERS = {"csv": ",", "tsv": "\t", "sms": "\t"}
"""The delimiter of each delimited format."""


def unquote(field: str) -> str:
    """``field`` without its CSV quotes when the whole field is quoted (``"a ""b"" c"`` -> ``a "b" c``), else as
    it is.

    >>> unquote('"food, cooking"'), unquote('"Hi" he said')
    ('food, cooking', '"Hi" he said')
    """
    inner = field[1:-1]
    if len(field) >= 2 and field[0] == field[-1] == '"' and '"' not in inner.replace('""', ""):
        return inner.replace('""', '"')
    return field


def split_tab_line(line: str) -> list[str]:
    """The fields of one tab-separated line: CSV-quoted fields unquoted, any other field as it is."""
    try:
        with _any_field_size():
            fields = next(csv.reader([line], delimiter="\t", strict=True))
    except (csv.Error, StopIteration):
        return [unquote(field) for field in line.split("\t")]
    if len(fields) == 0:
        return [""]
    return fields


@contextlib.contextmanager
def _any_field_size() -> Iterator[None]:
    """The csv module refuses fields over 128 KiB (a process-wide limit): lifted while a data file is read."""
    limit = csv.field_size_limit()
    csv.field_size_limit(sys.maxsize)
    try:
        yield
    finally:
        csv.field_size_limit(limit)


def _tab_rows(content: str) -> Iterator[tuple[int, list[str]]]:
    for number, line in enumerate(content.split("\n"), start=1):
        line = line.rstrip("\r")
        if line.strip():
            yield number, split_tab_line(line)


def _csv_rows(path: Path, content: str) -> Iterator[tuple[int, list[str]]]:
    reader = csv.reader(io.StringIO(content, newline=""), delimiter=",", strict=True)
    start = 1
    while True:
        try:
            with _any_field_size():
                row = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            if "expected after" in str(e):
                raise InputError(
                    f"{path}: line {reader.line_num}: a field that starts with a double quote goes on "
                    "after its closing quote; quote the whole field and double the quotes inside it "
                    '("""Hello"" he said")'
                ) from None
            raise InputError(
                f"{path}: line {start}: a double quote opens a field that never closes; close it, "
                'or double the quote ("") if it is part of the text'
            ) from None
        if row and any(c.strip() for c in row):
            yield start, row
        start = reader.line_num + 1


def delimited_rows(path: Path, content: str, fmt: str) -> Iterator[tuple[int, list[str]]]:
    """``(line, fields)`` of each non-blank row of ``content`` (the file ``path``) in ``fmt`` (csv, tsv or sms).

    ``line`` is the row's first line. The fields are not yet checked against a header: see
    [`checked_rows`][bert_hub.finetune.delimited.checked_rows].
    """
    if fmt not in DELIMITERS:
        raise ValueError(f"not a delimited format: {fmt!r}")
    if "\r" in content and "\n" not in content.rstrip("\r\n"):
        raise InputError(
            f"{path}: its lines end with a carriage return alone (old Mac line endings); convert them "
            "to newlines (e.g. `tr '\\r' '\\n'`)"
        )
    return _csv_rows(path, content) if fmt == "csv" else _tab_rows(content)


def field_count_error(
    path: Path, line: int, found: int, expected: int, fmt: str, *, header: list[str] | None
) -> InputError:
    """The one-line error of a row with ``found`` fields where ``expected`` belong."""
    if header is not None:
        want = f"the header (line 1) has {expected}: {', '.join(header)}"
    else:
        want = f"expected {expected}: label<TAB>text"
    sep = "comma" if fmt == "csv" else "tab"
    if found > expected:
        fix = (
            f'put a field that holds a {sep} in double quotes ("hello, how are you")'
            if fmt == "csv"
            else "put a field that holds a tab in double quotes, or remove the tab"
        )
    else:
        fix = f"give every row a field for each column (an empty field is two {sep}s in a row)"
    return InputError(f"{path}: line {line} has {plural(found, 'field')}, {want}; {fix}")


def checked_rows(
    path: Path, content: str, fmt: str, *, header: bool, check_header: Callable[[list[str]], None] | None = None
) -> tuple[list[str] | None, list[tuple[int, list[str]]]]:
    """The header (or None) and every data row of a delimited file, each with as many fields as the header.

    Without a header (the ``sms`` format), every row has two fields: a label and a text. ``check_header``
    is called with the header's names before any row is read (to name a missing column first).

    Raises:
        InputError: naming the file, the line and both counts for a row with
            another number of fields, or a CSV quote left open.
    """
    rows = delimited_rows(path, content, fmt)
    names: list[str] | None = None
    if header:
        try:
            _, names = next(rows)
        except StopIteration:
            raise InputError(f"data file {path} is empty") from None
        names = [n.strip() for n in names]
        if check_header is not None:
            check_header(names)
    expected = len(names) if names is not None else 2
    out = []
    for line, fields in rows:
        if len(fields) != expected:
            if names is None and len(fields) == 1:
                raise InputError(f"{path}: line {line} has no tab; expected label<TAB>text")
            raise field_count_error(path, line, len(fields), expected, fmt, header=names)
        out.append((line, fields))
    return names, out
