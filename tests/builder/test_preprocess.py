"""The built preprocess model against the TF Hub interface."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_text as text
from conftest import TINY_VOCAB, write_vocab
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bert_hub.core.errors import InputError, VocabError

SEEDS = ["This is a spam mail", "Computers are not unique to computers"]
texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=80)


def test_seed_sentences_with_the_real_vocab(minilm, minilm_vocab):
    out = minilm.preprocess(SEEDS)
    assert {k: v.shape for k, v in out.items()} == {
        "input_word_ids": (2, 128),
        "input_mask": (2, 128),
        "input_type_ids": (2, 128),
    }
    assert all(v.dtype == np.int32 for v in out.values())
    assert out["input_mask"].sum(axis=1).tolist() == [8, 8]
    ids = out["input_word_ids"]
    cls, sep, pad = (minilm_vocab.index(t) for t in ("[CLS]", "[SEP]", "[PAD]"))
    assert (cls, sep, pad) == (101, 102, 0)
    assert ids[:, 0].tolist() == [cls, cls] and ids[:, 7].tolist() == [sep, sep]
    expected = ["[CLS]", "this", "is", "a", "spa", "##m", "mail", "[SEP]"]
    assert [minilm_vocab[i] for i in ids[0, :8]] == expected
    words = ["computers", "are", "not", "unique", "to", "computers"]
    assert ids[1, 1:7].tolist() == [minilm_vocab.index(w) for w in words]
    assert (ids[:, 8:] == pad).all() and (out["input_type_ids"] == 0).all()


def test_special_tokens_are_read_from_the_vocab(tiny, minilm):
    assert tiny.special_tokens() == {
        "vocab_size": len(TINY_VOCAB),
        "padding_id": TINY_VOCAB.index("[PAD]"),
        "start_of_sequence_id": TINY_VOCAB.index("[CLS]"),
        "end_of_segment_id": TINY_VOCAB.index("[SEP]"),
        "mask_id": TINY_VOCAB.index("[MASK]"),
    }
    assert minilm.special_tokens() == {
        "vocab_size": 30522,
        "padding_id": 0,
        "start_of_sequence_id": 101,
        "end_of_segment_id": 102,
        "mask_id": 103,
    }


def test_padding_uses_the_vocab_pad_id(tiny):
    out = tiny.preprocess(["the cat"], seq_length=8)
    pad = TINY_VOCAB.index("[PAD]")
    assert out["input_word_ids"][0].tolist()[4:] == [pad] * 4
    assert out["input_mask"][0].tolist() == [1, 1, 1, 1, 0, 0, 0, 0]


def test_tokenize_interface(tiny):
    tokens = tiny.tokenize(["the cats sat", "hello"])
    assert isinstance(tokens, tf.RaggedTensor) and tokens.dtype == tf.int32
    assert tokens.ragged_rank == 2 and tokens.row_splits.dtype == tf.int64
    v = TINY_VOCAB.index
    assert tokens.to_list() == [[[v("the")], [v("cat"), v("##s")], [v("sat")]], [[v("hello")]]]


def test_packing_checks_cost_no_functions_to_load(tiny_bundle):
    """Ragged int64 checks become a cond (two functions) each; packing checks int32 splits with plain
    asserts, so the SavedModel holds the tokenizer's own few: it loaded 183 functions before (0.7 s more)."""
    from tensorflow.core.protobuf import saved_model_pb2

    saved = saved_model_pb2.SavedModel.FromString((tiny_bundle / "preprocess" / "saved_model.pb").read_bytes())
    functions = [f.signature.name for f in saved.meta_graphs[0].graph_def.library.function]
    assert not [name for name in functions if "RoundRobinTrimmer" in name or "RaggedConcat" in name]
    assert len(functions) < 60, len(functions)


def test_vocab_without_mask_leaves_mask_id_out(tmp_path):
    from bert_hub.builder.preprocess import write_preprocess_savedmodel
    from bert_hub.hub.loading import load_preprocess

    vocab = write_vocab(tmp_path / "v.txt", [t for t in TINY_VOCAB if t != "[MASK]"])
    write_preprocess_savedmodel(vocab, tmp_path / "pre", lower_case=True)
    specials = {k: int(v) for k, v in load_preprocess(tmp_path / "pre").tokenize.get_special_tokens_dict().items()}
    assert "mask_id" not in specials and specials["start_of_sequence_id"] == TINY_VOCAB.index("[CLS]")


@pytest.mark.parametrize("missing", ["[CLS]", "[SEP]", "[PAD]"])
def test_vocab_without_required_token_is_refused(tmp_path, missing):
    from bert_hub.builder.bundle import build_random_bundle

    vocab = write_vocab(tmp_path / "v.txt", [t for t in TINY_VOCAB if t != missing])
    with pytest.raises(VocabError, match=rf"v\.txt: the vocab has no \{missing[:-1]}\]"):
        build_random_bundle(tmp_path / "out", layers=1, hidden=8, heads=2, vocab_file=vocab)
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out*"))


@pytest.mark.parametrize(
    "change, words",
    [
        (lambda tokens: tokens[:5] + [""] + tokens[5:], "line 6 is blank"),
        (lambda tokens: tokens + [tokens[-1]], f"line {len(TINY_VOCAB) + 1} repeats the token"),
    ],
)
def test_a_vocab_with_a_blank_line_or_a_token_twice_is_refused_by_line(tmp_path, change, words):
    from bert_hub.builder.bundle import build_random_bundle

    vocab = tmp_path / "v.txt"
    vocab.write_text("\n".join(change(list(TINY_VOCAB))) + "\n", encoding="utf-8")
    with pytest.raises(VocabError, match=rf"v\.txt: {words}"):
        build_random_bundle(tmp_path / "out", layers=1, hidden=8, heads=2, vocab_file=vocab)
    assert not (tmp_path / "out").exists()


def test_pairs_get_type_ids_and_two_seps(tiny):
    a, b = tiny.tokenize(["the cat sat"]), tiny.tokenize(["a dog"])
    out = tiny.pack([a, b], seq_length=10)
    v = TINY_VOCAB.index
    assert out["input_word_ids"][0].tolist() == [
        v("[CLS]"),
        v("the"),
        v("cat"),
        v("sat"),
        v("[SEP]"),
        v("a"),
        v("dog"),
        v("[SEP]"),
        v("[PAD]"),
        v("[PAD]"),
    ]
    assert out["input_type_ids"][0].tolist() == [0, 0, 0, 0, 0, 1, 1, 1, 0, 0]
    assert out["input_mask"][0].tolist() == [1] * 8 + [0, 0]


def round_robin(len_a: int, len_b: int, budget: int) -> tuple[int, int]:
    """Independent statement of round-robin trimming: one token at a time, A first."""
    take_a = take_b = 0
    while take_a + take_b < budget and (take_a < len_a or take_b < len_b):
        if take_a < len_a:
            take_a += 1
        if take_b < len_b and take_a + take_b < budget:
            take_b += 1
    return take_a, take_b


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(len_a=st.integers(0, 20), len_b=st.integers(0, 20), seq_length=st.integers(3, 24))
def test_round_robin_truncation(tiny, len_a, len_b, seq_length):
    v = TINY_VOCAB.index
    a = tf.ragged.constant([[v("cat")] * len_a], dtype=tf.int32, ragged_rank=1)
    b = tf.ragged.constant([[v("dog")] * len_b], dtype=tf.int32, ragged_rank=1)
    out = tiny.pack([a, b], seq_length=seq_length)
    ids = out["input_word_ids"][0].tolist()
    want_a, want_b = round_robin(len_a, len_b, seq_length - 3)
    assert ids.count(v("cat")) == want_a and ids.count(v("dog")) == want_b
    assert out["input_mask"][0].sum() == want_a + want_b + 3
    assert len(ids) == seq_length


def test_long_text_is_truncated_not_an_error(minilm):
    out = minilm.preprocess(["word " * 500], seq_length=16)
    ids = out["input_word_ids"][0]
    assert out["input_mask"][0].sum() == 16 and ids[0] == 101 and ids[-1] == 102


def test_empty_string_packs_to_cls_sep(minilm):
    out = minilm.preprocess([""])
    assert out["input_word_ids"][0, :3].tolist() == [101, 102, 0]


def test_bad_texts_are_clear_errors(minilm):
    with pytest.raises(InputError, match="no texts given"):
        minilm.preprocess([])
    with pytest.raises(InputError, match=r"texts\[1\] is not valid UTF-8"):
        minilm.preprocess([b"ok", b"\xff\xfe bad"])
    with pytest.raises(InputError, match=r"texts\[0\] is a int"):
        minilm.preprocess([3])
    with pytest.raises(InputError, match="seq_length must be"):
        minilm.preprocess(["x"], seq_length=2)
    assert minilm.preprocess([b"caf\xc3\xa9"])["input_mask"].sum() == 3


@pytest.fixture(scope="session")
def upstream_style(minilm_checkpoint, tmp_path_factory):
    """A preprocess model over MiniLM's vocab that normalises text as the Kaggle preprocess models do."""
    from bert_hub.builder.preprocess import write_preprocess_savedmodel

    out = tmp_path_factory.mktemp("upstream_style") / "preprocess"
    write_preprocess_savedmodel(minilm_checkpoint / "vocab.txt", out, lower_case=True)
    return _Preprocess(tf.saved_model.load(str(out)))


class _Preprocess:
    """A restored preprocess SavedModel with the pipeline's method names (NumPy out)."""

    def __init__(self, model):
        self.model = model

    def tokenize(self, texts):
        return self.model.tokenize(tf.constant(texts))

    def preprocess(self, texts):
        return {k: v.numpy() for k, v in self.model(tf.constant(texts)).items()}

    def pack(self, segments, seq_length):
        return {k: v.numpy() for k, v in self.model.bert_pack_inputs(segments, seq_length=seq_length).items()}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.lists(texts, min_size=1, max_size=4))
def test_tokenizer_is_tf_text_bert_tokenizer_and_packing_invariants(upstream_style, minilm_checkpoint, batch):
    # The upstream preprocess model: text.BertTokenizer over the vocab, lower_case=True.
    table = tf.lookup.StaticHashTable(
        tf.lookup.TextFileInitializer(
            str(minilm_checkpoint / "vocab.txt"),
            tf.string,
            tf.lookup.TextFileIndex.WHOLE_LINE,
            tf.int64,
            tf.lookup.TextFileIndex.LINE_NUMBER,
        ),
        default_value=-1,
    )
    reference = text.BertTokenizer(table, lower_case=True).tokenize(tf.constant(batch))
    ours = upstream_style.tokenize(batch)
    assert ours.to_list() == reference.to_list()
    packed = upstream_style.preprocess(batch)
    for row, (ids, mask) in enumerate(zip(packed["input_word_ids"], packed["input_mask"])):
        n = int(mask.sum())
        pieces = [p for word in reference[row].to_list() for p in word][:126]
        assert n == len(pieces) + 2
        assert ids[:n].tolist() == [101, *pieces, 102]
        assert (ids[n:] == 0).all() and mask[:n].all()
    pack = upstream_style.pack([ours], seq_length=128)
    for key in packed:
        np.testing.assert_array_equal(packed[key], pack[key])


#: Characters where the two normalisations part: compatibility forms (NFKC maps them), accents, case, control,
#: format and private-use characters, Unicode's other spaces, CJK, emoji.
TRICKY = "…ﬁ™½²Ｆｕｌｌ①é̀ÉİßΣς\u200b\ufeff\u00ad\x00\x07\ufffd\ue000\u00a0\u2003\u2029\u3000\t\n中文日本😀👍🏽£€"
hf_texts = st.text(
    alphabet=st.one_of(st.sampled_from(TRICKY), st.characters(max_codepoint=0x24F, blacklist_categories=("Cs",))),
    max_size=60,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.lists(hf_texts, min_size=1, max_size=4))
def test_a_converted_checkpoint_tokenizes_as_its_own_hugging_face_tokenizer(minilm, hf_ids, batch):
    # The embedded default converts from a Hugging Face checkpoint: its ids are the ones its tokenizer.json gives.
    packed = minilm.preprocess(batch)
    for row, text_ in enumerate(batch):
        n = int(packed["input_mask"][row].sum())
        assert packed["input_word_ids"][row, :n].tolist() == hf_ids(text_)  # [CLS] ... [SEP]


def test_compatibility_forms_stay_as_hugging_face_keeps_them(minilm, upstream_style, hf_ids, minilm_vocab):
    for text_, hf_piece in (("wait…", "…"), ("ﬁne", "ﬁ")):
        ours = [minilm_vocab[i] for i in minilm.tokenize([text_]).flat_values.numpy()]
        assert ours == [minilm_vocab[i] for i in hf_ids(text_, special_tokens=False)]
        assert hf_piece in ours
    # the Kaggle preprocess models fold them with NFKC: ... and fine
    assert [minilm_vocab[i] for i in upstream_style.tokenize(["wait…"]).flat_values.numpy()] == ["wait", ".", ".", "."]
