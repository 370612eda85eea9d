"""Words and substrings in LiteRT's ops (bert_hub.export.words) against the regex the SavedModels split with."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

tf = pytest.importorskip("tensorflow")

#: Any text (every plane; no lone surrogates, which UTF-8 cannot hold), weighted towards what splits words.
any_text = st.text(
    st.one_of(
        st.characters(exclude_categories=("Cs",)),
        st.sampled_from(list(" \t\n\u00a0\u3000.,!?'\"-_()[]{}~`@#$%^&*+=<>/\\|;:中文字😀€£…")),
        st.sampled_from(list("abcdefgh")),
    ),
    max_size=40,
)


@pytest.fixture(scope="module")
def regex_words():
    from bert_hub.finetune.tasks.words import TextWords

    return TextWords()


@pytest.fixture(scope="module")
def litert_words():
    from bert_hub.export.words import LiteRTWords

    return LiteRTWords()


def lists(split) -> dict:
    return {name: getattr(split, name).to_list() for name in split._fields}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(any_text, min_size=1, max_size=6))
def test_the_litert_split_is_the_regex_split(regex_words, litert_words, texts):
    texts = tf.constant(texts)
    assert lists(litert_words.split(texts)) == lists(regex_words.split(texts))


def test_offsets_count_characters_and_bytes(litert_words):
    split = litert_words.split(tf.constant(["Zürich, 中文 😀ok", "", "  "]))
    assert [[w.decode() for w in row] for row in split.words.to_list()] == [["Zürich", ",", "中", "文", "😀ok"], [], []]
    assert split.starts.to_list()[0] == [0, 6, 8, 9, 11] and split.ends.to_list()[0] == [6, 7, 9, 10, 14]
    assert split.byte_starts.to_list()[0] == [0, 7, 9, 12, 16] and split.byte_ends.to_list()[0] == [7, 8, 12, 15, 22]


def test_cut_is_substr_in_bytes(regex_words, litert_words):
    texts = tf.constant(["hello wörld", "ab", ""])
    starts = tf.constant([[0, 6], [0, 0], [0, 0]], tf.int64)
    ends = tf.constant([[5, 12], [2, 0], [0, 0]], tf.int64)
    expected = [[b"hello", "wörld".encode()], [b"ab", b""], [b"", b""]]
    assert litert_words.cut(texts, starts, ends).numpy().tolist() == expected
    assert regex_words.cut(texts, starts, ends).numpy().tolist() == expected


@pytest.fixture(scope="module")
def words_file(litert_words):
    """A LiteRT file that splits its texts and cuts every word out again, loaded in the interpreter."""
    pytest.importorskip(
        "ai_edge_litert", reason="the LiteRT runtime (ai-edge-litert, the litert extra) is not installed"
    )
    import tensorflow_text as tf_text
    from ai_edge_litert.interpreter import InterpreterWithCustomOps

    from bert_hub.export.litert import convert

    class Split(tf.Module):
        def __init__(self):
            super().__init__()
            self.words = litert_words

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
        def split(self, text):
            s = self.words.split(text)
            return {
                "words": self.words.cut(text, s.byte_starts.to_tensor(0), s.byte_ends.to_tensor(0)),
                "start": s.starts.to_tensor(-1),
                "end": s.ends.to_tensor(-1),
                "count": tf.cast(s.words.row_lengths(), tf.int32),
            }

    module = Split()
    interpreter = InterpreterWithCustomOps(
        model_content=convert(module, {"serving_default": module.split}),
        custom_op_registerers=list(tf_text.tflite_registrar.SELECT_TFTEXT_OPS),
    )
    return interpreter.get_signature_runner("serving_default")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(any_text, min_size=1, max_size=4))
def test_the_split_runs_in_the_litert_interpreter(words_file, regex_words, texts):
    got = words_file(text=np.array([t.encode() for t in texts], dtype=object))
    expected = regex_words.split(tf.constant(texts))
    for i, n in enumerate(got["count"]):
        assert [w.decode() for w in got["words"][i][:n]] == [w.decode() for w in expected.words[i].numpy()]
        assert got["start"][i][:n].tolist() == expected.starts[i].numpy().tolist()
        assert got["end"][i][:n].tolist() == expected.ends[i].numpy().tolist()


def test_both_splits_read_a_text_up_to_its_first_nul(regex_words, litert_words):
    texts = tf.constant(["ab\x00cd ef", "\x00x", "a b"])
    for words in (regex_words, litert_words):
        assert words.split(texts).words.to_list() == [[b"ab"], [], [b"a", b"b"]]
