"""Token inspection: positions, ids, wordpieces, mask and type ids of texts and pairs."""

from __future__ import annotations

import pytest
from conftest import TINY_VOCAB

from bert_hub.core.errors import InputError
from bert_hub.explore.inspect import inspect_texts


def test_inspect_single_sentences(minilm):
    r = inspect_texts(minilm, ["This is a spam mail"])[0]
    assert r["tokens"] == ["[CLS]", "this", "is", "a", "spa", "##m", "mail", "[SEP]"]
    assert r["ids"][0] == 101 and r["ids"][-1] == 102 and r["real_tokens"] == 8
    assert r["cls_positions"] == [0] and r["sep_positions"] == [7] and r["first_padding_position"] == 8
    assert r["mask"] == [1] * 8 and r["type_ids"] == [0] * 8 and not r["truncated"]


def test_inspect_pairs_with_truncation_and_any_length(minilm):
    r = inspect_texts(minilm, [("how old are you?", "I am six years old, and you are older")], seq_length=12)[0]
    assert r["real_tokens"] == 12 and r["first_padding_position"] is None and r["truncated"]
    assert r["sep_positions"] == [6, 11]
    assert r["type_ids"] == [0] * 7 + [1] * 5
    assert r["tokens"][:7] == ["[CLS]", "how", "old", "are", "you", "?", "[SEP]"]
    long = inspect_texts(minilm, ["word " * 300], seq_length=512)[0]
    assert long["real_tokens"] == 302 and long["first_padding_position"] == 302


def test_inspect_decodes_through_the_models_own_vocab(tiny):
    r = inspect_texts(tiny, ["the cats"], seq_length=6)[0]
    assert r["tokens"] == ["[CLS]", "the", "cat", "##s", "[SEP]"]
    assert r["ids"] == [TINY_VOCAB.index(t) for t in r["tokens"]]
    assert r["first_padding_position"] == 5


@pytest.mark.parametrize(
    "items, seq_length, words",
    [
        ([("a question", "")], None, "pair 0 has an empty second segment"),
        ([("", "x")], None, "pair 0 has an empty first segment"),
        (["x"], 2, "seq_length must be an integer from 3"),
        (["x"], 100000, "seq_length must be an integer from 3"),
        ([], None, "no texts given"),
    ],
)
def test_inspect_bad_input(minilm, items, seq_length, words):
    with pytest.raises(InputError, match=words):
        inspect_texts(minilm, items, seq_length=seq_length)
