"""Delimited data (CSV, TSV, label<TAB>text): every row has its fields, quoting as CSV writers write it."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bert_hub.core.errors import InputError
from bert_hub.finetune.tasks.labelled_texts import read_labelled
from bert_hub.finetune.tasks.regression import read_scored


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "name, content, words",
    [
        # more fields than the header: the text is never cut at the first comma or tab
        (
            "a.csv",
            "label,text\nham,hello, how are you\nspam,win\n",
            "line 2 has 3 fields, the header (line 1) has 2: label, text; put a field that holds a comma in double "
            "quotes",
        ),
        (
            "b.tsv",
            "label\ttext\nham\thello\tthere\tfriend\nspam\twin\n",
            "line 2 has 4 fields, the header (line 1) has 2: label, text; put a field that holds a tab in double "
            "quotes",
        ),
        ("c.sms", "ham\thello\tthere\nspam\twin\n", "line 1 has 3 fields, expected 2: label<TAB>text"),
        # fewer fields than the header, even when the columns in use are there
        (
            "d.csv",
            "label,text,source\nham,hello\nspam,win,web\n",
            "line 2 has 2 fields, the header (line 1) has 3: label, text, source; give every row a field for each "
            "column",
        ),
        ("e.tsv", "text\tlabel\tsource\nhello\tham\nwin\tspam\tweb\n", "line 2 has 2 fields"),
        # the line of a row after a quoted field that spans lines
        ("f.csv", 'label,text\nham,"two\nlines"\nspam,win,extra\n', "line 4 has 3 fields"),
        # CSV quotes must close, and close where the field ends
        (
            "g.csv",
            'label,text\nham,"Hello" he said\nspam,win\n',
            "line 2: a field that starts with a double quote goes on after its closing quote",
        ),
        (
            "h.csv",
            'label,text\nham,"never closed\nspam,win\n',
            "line 2: a double quote opens a field that never closes",
        ),
        ("i.csv", "text,label,text\na,ham,b\n", "line 1 (header) names the column 'text' 2 times"),
        ("j.sms", "ham\thello\nspam\n", "line 2 has no tab; expected label<TAB>text"),
    ],
)
def test_a_row_with_the_wrong_fields_names_file_line_and_counts(tmp_path, name, content, words):
    with pytest.raises(InputError) as e:
        read_labelled(write(tmp_path / name, content))
    assert str(e.value).startswith(f"{tmp_path / name}: ") and words in str(e.value)


def test_multi_label_csv_with_an_unquoted_comma_is_refused_not_read_as_one_label(tmp_path):
    rows = "".join(f"news,sport,story number {i}\n" for i in range(30))
    with pytest.raises(InputError, match="line 2 has 3 fields, the header"):
        read_labelled(write(tmp_path / "tags.csv", "labels,text\n" + rows), label_col="labels", multi_label=True)
    quoted = "".join(f'"news,sport",story number {i}\n' for i in range(30))
    tags = read_labelled(write(tmp_path / "ok.csv", "labels,text\n" + quoted), label_col="labels", multi_label=True)
    assert tags.label_names == ("news", "sport") and all(sorted(s) == [0, 1] for s in tags.labels)


def test_quoted_labels_without_a_header_lose_their_quotes(tmp_path):
    data = read_labelled(
        write(tmp_path / "t.tsv", '"food, cooking"\tcarrots and peas\nnews\tthe vote\n'), multi_label=True
    )
    assert data.label_names == ("cooking", "food", "news")
    assert data.texts == ["carrots and peas", "the vote"]


def test_texts_that_only_start_with_a_quote_keep_it(tmp_path):
    """The SMS Spam Collection has texts like `"Hi" he said`, not CSV-quoted: read as written."""
    data = read_labelled(write(tmp_path / "s.tsv", 'ham\t"Hi" he said\nspam\t"WIN ""cash"" now"\nham\tok "x" y\n'))
    assert data.texts == ['"Hi" he said', 'WIN "cash" now', 'ok "x" y']


def test_scores_go_through_the_same_reader(tmp_path):
    with pytest.raises(InputError, match="line 3 has 3 fields, the header"):
        read_scored(write(tmp_path / "r.csv", "label,text\n4.5,good\n1,bad, really\n"))


def test_json_lines_naming_a_field_twice_is_refused(tmp_path):
    with pytest.raises(InputError, match="line 2 gives the field 'label' twice"):
        read_labelled(
            write(tmp_path / "d.jsonl", '{"text": "a", "label": "x"}\n{"text": "b", "label": "x", "label": "y"}\n')
        )


TEXTS = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\ufeff"), max_size=30)


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(st.tuples(st.sampled_from(["ham", "spam"]), TEXTS, TEXTS), min_size=2, max_size=8),
    fmt=st.sampled_from(["csv", "tsv", "sms"]),
)
def test_what_a_csv_writer_writes_reads_back_as_it_was(tmp_path_factory, rows, fmt):
    """Texts with commas, tabs, quotes, spaces at either end (and newlines in CSV) round-trip exactly."""
    rows = [(label, a, b) for label, a, b in rows]
    if fmt != "csv":  # tab-separated files are one row a line
        rows = [
            (label, a.replace("\n", " ").replace("\r", " "), b.replace("\n", " ").replace("\r", " "))
            for label, a, b in rows
        ]
    rows = [(label, a, b) for label, a, b in rows if (a + b).strip()]  # a blank line is no row
    rows[:2] = [("ham", "x", "y"), ("spam", "z", "w")]
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter="," if fmt == "csv" else "\t")  # lines end in \r\n, as Excel writes
    if fmt != "sms":
        writer.writerow(["label", "text", "text_pair"])
        writer.writerows(rows)
    else:
        writer.writerows([(label, a) for label, a, _ in rows if a.strip()])
    path = tmp_path_factory.mktemp("round") / f"d.{fmt}"
    path.write_bytes(buffer.getvalue().encode("utf-8"))
    if fmt == "sms":
        data = read_labelled(path, fmt="sms")
        expected = [(label, a) for label, a, _ in rows if a.strip()]
        assert [(data.label_names[i], t) for i, t in zip(data.labels, data.texts)] == expected
    else:
        data = read_labelled(path, fmt=fmt, pair_col="text_pair")
        assert data.texts == [a for _, a, _ in rows] and data.pairs == [b for _, _, b in rows]
        assert [data.label_names[i] for i in data.labels] == [label for label, _, _ in rows]


# -- what a careless file looks like: read right, or refused in one line ----------------------------------


def _sms(n: int = 12) -> str:
    return "".join(f"{'spam' if i % 4 == 0 else 'ham'}\tmessage number {i}\n" for i in range(n))


@pytest.mark.parametrize(
    "header, words",
    [
        ("Label\tText\n", "line 1 (header) has no column 'text' (columns: Label, Text); choose it with `text_col`"),
        ("category\tmessage\n", "line 1 looks like a header: its label 'category' is on no other line"),
    ],
)
def test_a_header_that_names_no_column_is_never_read_as_a_data_row(tmp_path, header, words):
    with pytest.raises(InputError, match=re.escape(words)):
        read_labelled(write(tmp_path / "h.tsv", header + _sms()))


@pytest.mark.parametrize("header", ["label \ttext\n", '"label"\t"text"\n', "label\ttext\r\n"])
def test_a_header_with_spaces_quotes_or_crlf_is_a_header(tmp_path, header):
    data = read_labelled(write(tmp_path / "h.tsv", header + _sms()))
    assert data.label_names == ("ham", "spam") and len(data) == 12


def test_a_quoted_label_loses_its_quotes_whatever_its_text(tmp_path):
    data = read_labelled(write(tmp_path / "q.tsv", '"spam"\tWIN a prize\n"spam"\t"Free" entry\n"ham"\tok thanks\n'))
    assert data.label_names == ("ham", "spam") and data.texts[1] == '"Free" entry'
    long = read_labelled(write(tmp_path / "l.tsv", '"spam"\t' + "x" * 200_000 + "\nham\tok\n"))
    assert long.label_names == ("ham", "spam") and len(long.texts[0]) == 200_000


def test_labels_that_are_missing_or_numbers_written_two_ways(tmp_path):
    with pytest.raises(InputError, match="line 2 has no label"):
        read_labelled(write(tmp_path / "e.tsv", "ham\thello\n\tno label\nspam\tWIN\n"))
    numbers = read_labelled(
        write(
            tmp_path / "n.jsonl", '{"text": "a", "label": 1}\n{"text": "b", "label": 1.0}\n{"text": "c", "label": 0}\n'
        ),
        positive="1",
    )
    assert numbers.label_names == ("0", "1") and numbers.labels == [1, 1, 0]
    with pytest.raises(InputError, match=r"line 1: field 'label' is inf, not a finite number"):
        read_labelled(write(tmp_path / "i.jsonl", '{"text": "a", "label": 1e999}\n'))
    with pytest.raises(InputError, match='line 2 has a "text_pair" field and the lines before it have none'):
        read_labelled(
            write(tmp_path / "p.jsonl", '{"text": "a", "label": "x"}\n{"text": "b", "label": "y", "text_pair": "z"}\n')
        )
    with pytest.raises(InputError, match="line 1 has the label '1_5', not a finite number"):
        read_scored(write(tmp_path / "r.tsv", "1_5\tgood\n2\tbad\n"))


def test_old_mac_line_endings_are_named(tmp_path):
    with pytest.raises(InputError, match="carriage return alone"):
        read_labelled(write(tmp_path / "cr.tsv", "ham\thello\rspam\tWIN\rham\tok\r"))
