"""``bert-hub export``: LiteRT files (and SavedModels) from runs and configs, checked in the LiteRT interpreter."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import TOPICS, one_error_line, train_tiny
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bert_hub.core.errors import InputError, ModelFormatError

pytest.importorskip("ai_edge_litert", reason="the LiteRT runtime (ai-edge-litert, the litert extra) is not installed")

SMS_LIKE = [
    "Free entry in 2 a wkly comp to win FA Cup final tkts 21st May 2005. Text FA to 87121",
    "Ok lar... Joking wif u oni...",
    "I'm gonna be home soon and i don't want to talk about this stuff anymore tonight, k?",
    "WINNER!! As a valued network customer you have been selected to receive a £900 prize reward!",
    "Café au lait? Ärger im Büro, naïve résumé",
    "short",
    "",
]


def serve_saved(folder: Path, **columns: list[str]) -> dict[str, np.ndarray]:
    import tensorflow as tf
    import tensorflow_text  # noqa: F401

    fn = tf.saved_model.load(str(folder)).signatures["serving_default"]
    return {k: v.numpy() for k, v in fn(**{k: tf.constant(v) for k, v in columns.items()}).items()}


# -- the tokenizer in the graph -----------------------------------------------------------------


@pytest.fixture(scope="module")
def minilm_pre(minilm):
    from bert_hub.export.preprocess import InGraphPreprocessor

    return InGraphPreprocessor.for_pipeline(minilm)


@pytest.fixture(scope="module")
def tiny_pre(tiny):
    from bert_hub.export.preprocess import InGraphPreprocessor

    return InGraphPreprocessor.for_pipeline(tiny)


#: Texts of the tiny vocab's letters with accents, capitals, punctuation, a tab and compatibility characters.
texts = st.lists(
    st.text(alphabet=st.sampled_from(list("catdogthe mat sat Café ,.!xyz unwanted ÉÀ…ﬁ\t"))), min_size=1, max_size=5
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first=texts, second=texts, length=st.integers(3, 24))
def test_in_graph_packing_gives_the_preprocess_models_ids(tiny, tiny_pre, first, second, length):
    import tensorflow as tf

    second = (second * len(first))[: len(first)]
    for segments in ([first], [first, second]):
        expected = tiny.pack([tiny.tokenize(s) for s in segments], length)
        got = tiny_pre.bert_pack_inputs([tiny_pre.tokenize(tf.constant(s)) for s in segments], tf.constant(length))
        for key, value in expected.items():
            np.testing.assert_array_equal(got[key].numpy(), value, err_msg=f"{key} of {segments} at {length}")


#: Any text of the Basic Multilingual Plane but four characters newer than Python's Unicode tables
#: (bert_hub.export.normalizer).
bmp_texts = st.lists(
    st.text(
        st.characters(max_codepoint=0xFFFF, exclude_categories=("Cs",), exclude_characters="\u0ece\u1b4e\u1b4f\u1b7f")
    ),
    min_size=1,
)


@settings(max_examples=40, deadline=None)
@given(bmp_texts)
def test_a_hugging_face_model_gets_its_own_tokenizers_ids(minilm_pre, minilm, texts):
    assert minilm_pre.tokenize(texts).to_list() == minilm.tokenize(texts).merge_dims(1, -1).to_list()


def test_compatibility_characters_stay_as_hugging_face_keeps_them(minilm_pre, minilm):
    texts = [*SMS_LIKE, "wait… ﬁnal ofﬁce", "Ｈｅｌｌｏ ｗｏｒｌｄ ①②③ ½ ™", "a\tb\nc\x01d\u200be\ue000f İstanbul ß"]
    assert minilm_pre.tokenize(texts).to_list() == minilm.tokenize(texts).merge_dims(1, -1).to_list()


# -- runs ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def spam_litert(trained_classifier, tmp_path_factory):
    from bert_hub.export.run import export_run

    out = tmp_path_factory.mktemp("litert") / "spam.tflite"
    return out, export_run(trained_classifier, out)


def test_a_binary_run_serves_raw_strings_in_litert_as_its_saved_model(trained_classifier, spam_litert):
    from bert_hub.export.litert import CUSTOM_OPS, LiteRTModel

    out, report = spam_litert
    assert report["task"] == "text-classification" and report["custom_ops"] == sorted(CUSTOM_OPS)
    assert out.stat().st_size == report["bytes"]
    model = LiteRTModel(out)
    assert model.signatures == {"serving_default": {"inputs": ["text"], "outputs": ["label", "probability"]}}
    texts = SMS_LIKE * 3  # batches of several sizes
    got = model.batched(5, text=texts)
    expected = serve_saved(trained_classifier / "model", text=texts)
    np.testing.assert_allclose(got["probability"], expected["probability"], atol=1e-5)
    assert got["label"].tolist() == expected["label"].tolist()
    none = np.array([], dtype=object)  # a batch of no texts: empty outputs, as the SavedModel gives
    assert {k: v.shape for k, v in model(text=none).items()} == {"label": (0,), "probability": (0,)}
    assert model.batched(4, text=[])["probability"].shape == (0,)


@pytest.fixture(scope="module")
def topic_pairs_run(tmp_path_factory, tiny_bundle):
    rng = np.random.default_rng(5)
    names = sorted(TOPICS)
    lines = ["text\ttext_pair\tlabel"]
    for _ in range(90):
        label = names[rng.integers(len(names))]
        words = [" ".join(rng.choice(TOPICS[label], size=rng.integers(2, 9))) for _ in range(2)]
        lines.append(f"{words[0]}\t{words[1]}\t{label}")
    data = tmp_path_factory.mktemp("pairs") / "pairs.tsv"
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return train_tiny(tmp_path_factory, "pairs", tiny_bundle, data, "--pair-col", "text_pair", "--epochs", "1")[0]


def test_a_multi_class_pair_run_keeps_its_signature_and_labels(topic_pairs_run, tmp_path):
    from bert_hub.export.litert import LiteRTModel
    from bert_hub.export.run import export_run

    export_run(topic_pairs_run, tmp_path / "pairs.tflite")
    model = LiteRTModel(tmp_path / "pairs.tflite")
    signature = model.signatures["serving_default"]
    assert sorted(signature["inputs"]) == ["text", "text_pair"]
    assert sorted(signature["outputs"]) == ["label", "probabilities", "probability"]
    # long pairs: trimmed round-robin to the run's length, as the SavedModel does
    first = ["cat dog mat " * 12, "hello world", "spam mail is this " * 5]
    second = ["hello", "mat sat " * 20, "x"]
    got = model(text=np.array(first), text_pair=np.array(second))
    expected = serve_saved(topic_pairs_run / "model", text=first, text_pair=second)
    np.testing.assert_allclose(got["probabilities"], expected["probabilities"], atol=1e-5)
    assert got["label"].tolist() == expected["label"].tolist()


def test_a_multi_label_run_joins_its_labels_in_litert(tmp_path_factory, tiny_bundle, tmp_path):
    from bert_hub.export.litert import LiteRTModel
    from bert_hub.export.run import export_run

    rng = np.random.default_rng(6)
    names = sorted(TOPICS)
    lines = []
    for _ in range(80):
        chosen = sorted(rng.choice(names, size=int(rng.integers(0, 3)), replace=False))
        words = [w for t in chosen for w in rng.choice(TOPICS[t], 3)] or ["the", "on", "a"]
        lines.append(f"{','.join(chosen)}\t{' '.join(words)}")
    data = tmp_path / "tagged.tsv"
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    run, _ = train_tiny(tmp_path_factory, "tags", tiny_bundle, data, "--multi-label", "--epochs", "2")
    export_run(run, tmp_path / "tags.tflite")
    texts = ["cat dog hello world", "spam mail", "the", "hello ! mat", "is this mail ! world sat"]
    got = LiteRTModel(tmp_path / "tags.tflite")(text=np.array(texts))
    expected = serve_saved(run / "model", text=texts)
    np.testing.assert_allclose(got["probabilities"], expected["probabilities"], atol=1e-5)
    np.testing.assert_array_equal(got["predicted"], expected["predicted"])
    joined = [",".join(n for n, p in zip(names, row) if p).encode() for row in got["predicted"]]
    assert got["label"].tolist() == expected["label"].tolist() == joined


def test_a_run_exports_to_a_saved_model_again(trained_classifier, tmp_path):
    from bert_hub.export.run import export_run
    from bert_hub.finetune.exported import read_metadata

    report = export_run(trained_classifier, tmp_path / "again", fmt="savedmodel")
    assert report["format"] == "savedmodel" and report["custom_ops"] == []
    assert read_metadata(tmp_path / "again") == read_metadata(trained_classifier / "model")
    got = serve_saved(tmp_path / "again", text=SMS_LIKE)
    expected = serve_saved(trained_classifier / "model", text=SMS_LIKE)
    np.testing.assert_allclose(got["probability"], expected["probability"], atol=1e-6)


def test_quantized_files_are_smaller_and_close(trained_classifier, spam_litert, tmp_path):
    from bert_hub.export.litert import LiteRTModel
    from bert_hub.export.run import export_run

    full = LiteRTModel(spam_litert[0]).batched(8, text=SMS_LIKE)["probability"]
    sizes = {}
    for quantize in ("dynamic-int8", "float16"):
        out = tmp_path / f"{quantize}.tflite"
        sizes[quantize] = export_run(trained_classifier, out, quantize=quantize)["bytes"]
        got = LiteRTModel(out).batched(8, text=SMS_LIKE)["probability"]
        np.testing.assert_allclose(got, full, atol=0.05, err_msg=quantize)
    assert sizes["dynamic-int8"] < sizes["float16"] < spam_litert[1]["bytes"]


# -- embedders ----------------------------------------------------------------------------------


def test_the_sentence_key_of_the_default_model_in_litert_is_embeds(tmp_path):
    from bert_hub.export.embedder import export_embedder
    from bert_hub.export.litert import LiteRTModel
    from bert_hub.runtime.embedder import Embedder

    report = export_embedder("default", tmp_path / "minilm.tflite", key="sentence")
    assert (report["pooling"], report["normalize"], report["seq_length"]) == ("mean", True, 256)
    texts = [*SMS_LIKE, "wait… ﬁnal", "the cat sat on the mat " * 60]  # longer than 256 tokens: cut as embed cuts it
    got = LiteRTModel(tmp_path / "minilm.tflite").batched(3, text=texts)["sentence"]
    expected = Embedder.from_config("default", key="sentence", precision="float32").embed(texts)
    np.testing.assert_allclose(got, expected, atol=2e-5)


def test_per_token_keys_come_with_their_mask(tiny_bundle, tiny, tmp_path):
    from bert_hub.export.embedder import export_embedder
    from bert_hub.export.litert import LiteRTModel

    config = tiny_bundle / "bert_hub.yaml"
    export_embedder(config, tmp_path / "layer.tflite", key="encoder_outputs[1]")
    model = LiteRTModel(tmp_path / "layer.tflite")
    assert model.signatures["serving_default"]["outputs"] == ["encoder_outputs_1", "input_mask"]
    texts = ["the cat sat", "hello world ! the dog is this mail"]
    got = model(text=np.array(texts))
    inputs = tiny.preprocess(texts, seq_length=int(got["input_mask"].shape[1]))
    np.testing.assert_array_equal(got["input_mask"], inputs["input_mask"])
    expected = tiny.encode_inputs(inputs)["encoder_outputs"][1]
    real = inputs["input_mask"].astype(bool)
    np.testing.assert_allclose(got["encoder_outputs_1"][real], expected[real], atol=1e-5)


# -- bad input ----------------------------------------------------------------------------------


def test_bad_exports_are_one_line_and_write_nothing(cli, trained_classifier, minilm, tmp_path):
    import shutil

    gone = tmp_path / "gone"
    shutil.copytree(trained_classifier, gone)
    settings = gone / "train_config.yaml"
    settings.write_text(settings.read_text().replace("model: ", "model: /nowhere/", 1))
    run_files = sorted(p.relative_to(trained_classifier) for p in trained_classifier.rglob("*"))
    foreign = tmp_path / "foreign.tflite"
    foreign.write_bytes(b"not mine")
    not_a_run = tmp_path / "other"
    (not_a_run / "model").mkdir(parents=True)
    (not_a_run / "model" / "saved_model.pb").write_bytes(b"")
    cases = {
        ("--model", str(not_a_run), "--out", str(tmp_path / "a.tflite")): "not a model bert_hub trained",
        ("--model", str(trained_classifier), "--out", str(tmp_path / "a.lite")): "name it *.tflite",
        ("--model", str(trained_classifier), "--out", str(foreign)): "already exists",
        ("--model", str(trained_classifier), "--out", str(foreign), "--overwrite"): "bert_hub replaces only its own",
        ("--model", str(trained_classifier), "--out", str(tmp_path / "a.tflite"), "--key", "cls"): "with --config",
        ("--config", "default", "--out", str(tmp_path / "a.tflite")): "give its --key",
        ("--config", "default", "--key", "nope", "--out", str(tmp_path / "a.tflite")): "nope",
        ("--config", "default", "--key", "cls", "--out", str(tmp_path / "s"), "--quantize", "float16",
         "--format", "savedmodel"): "--quantize 'float16' is for --format litert",
        ("--model", str(trained_classifier), "--out", str(trained_classifier / "m.tflite")): "inside the run folder",
        ("--model", str(trained_classifier), "--out", str(trained_classifier / "model"), "--format", "savedmodel",
         "--overwrite"): "inside the run folder",
        ("--model", str(gone), "--out", str(tmp_path / "a.tflite")): "train_config.yaml names the model",
        ("--model", str(tmp_path / "nowhere"), "--out", str(tmp_path / "a.tflite")): "does not exist",
        ("--model", str(trained_classifier), "--out", ""): "--out is empty",
    }  # fmt: skip
    for args, expected in cases.items():
        rc, out, err = cli("export", *args)
        assert rc != 0 and expected in one_error_line(err), (args, err)
    assert foreign.read_bytes() == b"not mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["foreign.tflite", "gone", "other"]
    assert sorted(p.relative_to(trained_classifier) for p in trained_classifier.rglob("*")) == run_files


def test_an_encoder_off_the_fast_path_is_refused(tmp_path, monkeypatch):
    import dataclasses

    from bert_hub import load_pipeline
    from bert_hub.export.serving import pipeline_for

    bert = load_pipeline("default")
    monkeypatch.setattr(bert, "_fast_path", dataclasses.replace(bert.fast_path(), layout=None, reason="ALBERT"))
    with pytest.raises(InputError, match="LiteRT export runs bert_hub's own forward pass.*ALBERT"):
        pipeline_for(bert, "litert")


def test_the_cli_reports_in_json_and_replaces_its_own_file(cli, tiny_bundle, tmp_path):
    out = tmp_path / "tiny.tflite"
    args = ("export", "--config", str(tiny_bundle / "bert_hub.yaml"), "--key", "mean", "--out", str(out), "--json")
    rc, stdout, _ = cli(*args)
    report = json.loads(stdout)
    assert rc == 0 and report["output"] == str(out) and report["bytes"] == out.stat().st_size
    rc, stdout, _ = cli(*args, "--overwrite", "--quantize", "dynamic-int8")
    assert rc == 0 and json.loads(stdout)["quantize"] == "dynamic-int8"


def test_a_file_that_is_not_litert_does_not_load(tmp_path):
    from bert_hub.export.litert import LiteRTModel

    (tmp_path / "x.tflite").write_bytes(b"\0" * 16)
    with pytest.raises(ModelFormatError, match="is not a LiteRT"):
        LiteRTModel(tmp_path / "x.tflite")
