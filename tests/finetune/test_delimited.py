"""Delimited data (CSV, TSV, label<TAB>text): every row has its fields, quoting as CSV writers write it."""

from __future__ import annotations

import csv
import io
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


@pytest.mark.parametrize("name, content, words", [
    # more fields than the header: the text is never cut at the first comma or tab
    ("a.csv", "label,text\nham,hello, how are you\nspam,win\n",
     "line 2 has 3 fields, the header (line 1) has 2: label, text; put a field that holds a comma in double quotes"),
    ("b.tsv", "label\ttext\nham\thello\tthere\tfriend\nspam\twin\n",
     "line 2 has 4 fields, the header (line 1) has 2: label, text; put a field that holds a tab in double quotes"),
    ("c.sms", "ham\thello\tthere\nspam\twin\n", "line 1 has 3 fields, expected 2: label<TAB>text"),
    # fewer fields than the header, even when the columns in use are there
    ("d.csv", "label,text,source\nham,hello\nspam,win,web\n",
     "line 2 has 2 fields, the header (line 1) has 3: label, text, source; give every row a field for each column"),
    ("e.tsv", "text\tlabel\tsource\nhello\tham\nwin\tspam\tweb\n", "line 2 has 2 fields"),
    # the line of a row after a quoted field that spans lines
    ("f.csv", 'label,text\nham,"two\nlines"\nspam,win,extra\n', "line 4 has 3 fields"),
    # CSV quotes must close, and close where the field ends
    ("g.csv", 'label,text\nham,"Hello" he said\nspam,win\n',
     "line 2: a field that starts with a double quote goes on after its closing quote"),
    ("h.csv", 'label,text\nham,"never closed\nspam,win\n', "line 2: a double quote opens a field that never closes"),
    ("i.csv", "text,label,text\na,ham,b\n", "line 1 (header) names the column 'text' 2 times"),
    ("j.sms", "ham\thello\nspam\n", "line 2 has no tab; expected label<TAB>text"),
])
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
    data = read_labelled(write(tmp_path / "t.tsv", '"food, cooking"\tcarrots and peas\nnews\tthe vote\n'),
                         multi_label=True)
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
        read_labelled(write(tmp_path / "d.jsonl", '{"text": "a", "label": "x"}\n'
                                                  '{"text": "b", "label": "x", "label": "y"}\n'))


TEXTS = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\ufeff"), max_size=30)


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(st.tuples(st.sampled_from(["ham", "spam"]), TEXTS, TEXTS), min_size=2, max_size=8),
       fmt=st.sampled_from(["csv", "tsv", "sms"]))
def test_what_a_csv_writer_writes_reads_back_as_it_was(tmp_path_factory, rows, fmt):
    """Texts with commas, tabs, quotes, spaces at either end (and newlines in CSV) round-trip exactly."""
    rows = [(label, a, b) for label, a, b in rows]
    if fmt != "csv":  # tab-separated files are one row a line
        rows = [(label, a.replace("\n", " ").replace("\r", " "), b.replace("\n", " ").replace("\r", " "))
                for label, a, b in rows]
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
