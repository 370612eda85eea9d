"""Batch embedding: bucketing equals the fixed-128 path, order, traces, streaming files."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import onednn_packs_weights, run
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bert_hub.core.cpu import cpu_supports_bf16
from bert_hub.core.errors import InputError
from bert_hub.core.inputs import scan_text_file
from bert_hub.runtime import batching
from bert_hub.runtime.embedder import Embedder, EmbedStats
from bert_hub.runtime.precision import kernels, precision_scope

#: Where TensorFlow runs its matmuls through oneDNN (x86 Linux builds, unless switched off).
#: Exact comparisons run in one fixed mode (the automatic one may be bfloat16 on this CPU).
F32 = {"precision": "float32", "jit_compile": False}

TEXTS = [
    "This is a spam mail",
    "",
    "Computers are not unique to computers",
    "WINNER!! Claim your prize now, call 0800 123 456 before midnight to get it",
    "ok",
    "see you at lunch",
    "the " * 200,
    "naïve café résumé",
]


@pytest.mark.parametrize("key", ["pooled_output", "cls", "mean", "sequence_output", "encoder_outputs[2]"])
def test_bucketing_equals_fixed_128_for_every_key(minilm, key):
    fast = Embedder(minilm, key=key, batch_size=3, **F32).embed(TEXTS)
    slow = Embedder(minilm, key=key, batch_size=3, bucketing=False, **F32).embed(TEXTS)
    if key in ("sequence_output", "encoder_outputs[2]"):
        assert fast.lengths.tolist() == slow.lengths.tolist()
        assert fast.lengths[0] == 8 and fast.lengths[1] == 2 and fast.lengths[6] == 128
        fast, slow = fast.values, slow.values
    assert fast.shape == slow.shape and np.abs(fast - slow).max() <= 1e-5


def test_keys_mean_what_they_say(minilm):
    out = minilm.encode(TEXTS[:3])
    inputs = minilm.preprocess(TEXTS[:3])
    m = inputs["input_mask"][:, :, None]
    want = {
        "pooled_output": out["pooled_output"],
        "cls": out["sequence_output"][:, 0],
        "mean": (out["sequence_output"] * m).sum(1) / m.sum(1),
    }
    for key, expected in want.items():
        got = Embedder(minilm, key=key, **F32).embed(TEXTS[:3])
        assert np.abs(got - expected).max() <= 1e-5, key


def test_rows_keep_input_order(minilm):
    batch = Embedder(minilm, batch_size=2, **F32).embed(TEXTS)
    for i, text in enumerate(TEXTS):
        single = Embedder(minilm, **F32).embed([text])
        assert np.abs(batch[i] - single[0]).max() <= 1e-5


def test_xla_compiles_once_per_bucket_and_plain_graphs_trace_once(tiny):
    rng = np.random.default_rng(0)
    texts = [
        " ".join(rng.choice(["the", "cat", "sat", "on", "mat", "dog"], size=n)) for n in rng.integers(1, 60, size=120)
    ]
    embedder = Embedder(tiny, batch_size=8, buckets=[16, 32, 64], precision="float32", jit_compile=True)
    embedder.embed(texts)
    used = len(embedder._functions)
    assert 2 <= used <= 4 and embedder.traces == used
    embedder.embed(list(reversed(texts)))  # same buckets again: no retracing
    assert embedder.traces == used
    plain = Embedder(tiny, batch_size=8, buckets=[16, 32, 64], **F32)
    plain.embed(texts)
    plain.embed(list(reversed(texts)))
    assert plain.traces == 1  # one graph for every bucket length


def test_batches_are_packed_to_their_longest_text_by_default(tiny):
    texts = ["the cat sat", "a dog", "the cat sat on the mat", "hello"] * 3
    counted = EmbedStats()
    Embedder(tiny, batch_size=4, **F32).embed(texts, counted)
    lengths = np.sort(batching.tokenize(tiny.preprocessor, texts, tiny.config.seq_length).lengths)
    assert counted.packed_tokens == sum(4 * lengths[i : i + 4].max() for i in range(0, 12, 4))
    on_grid = EmbedStats()
    Embedder(tiny, batch_size=4, buckets=[8, 16], **F32).embed(texts, on_grid)
    assert on_grid.packed_tokens == 12 * 8 and on_grid.as_dict()["packed_tokens"] == 96
    xla = EmbedStats()
    Embedder(tiny, batch_size=4, precision="float32", jit_compile=True).embed(texts, xla)
    assert xla.packed_tokens == 12 * min(32, tiny.config.seq_length)  # with XLA: multiples of 32
    bf16 = EmbedStats()
    Embedder(tiny, batch_size=4, precision="bfloat16", jit_compile=False).embed(texts, bf16)
    assert bf16.packed_tokens == 12 * 8  # bfloat16: multiples of 8


def test_xla_matches(tiny):
    texts = ["the cat sat", "a dog", "hello world " * 10]
    plain = Embedder(tiny, **F32).embed(texts)
    xla = Embedder(tiny, precision="float32", jit_compile=True).embed(texts)
    assert np.abs(plain - xla).max() <= 1e-4


def test_bad_arguments(tiny):
    with pytest.raises(InputError, match="batch size must be a positive integer"):
        Embedder(tiny, batch_size=0)
    with pytest.raises(InputError, match="unknown key 'hidden'"):
        Embedder(tiny, key="hidden")
    with pytest.raises(InputError, match="has 2 layers"):
        Embedder(tiny, key="encoder_outputs[7]")


def test_chunks_are_read_lazily(tiny):
    consumed = []

    def lines():
        for i in range(1000):
            consumed.append(i)
            yield f"text number {i}"

    embedder = Embedder(tiny, batch_size=8, chunk_size=64)
    chunks = embedder.iter_chunks(lines())
    first, _ = next(chunks)
    assert first.shape == (64, 32) and len(consumed) == 64  # no more than one chunk ahead


def test_embed_file_streams_in_order_with_blank_lines(tmp_path, tiny):
    lines = ["the cat sat", "", "a dog on the mat", "", "hello"] * 7
    src = tmp_path / "in.txt"
    src.write_text("\n".join(lines))  # no final newline: the last line still counts
    assert scan_text_file(src) == len(lines)
    out = tmp_path / "out.npy"
    report = Embedder(tiny, batch_size=4, chunk_size=8, **F32).embed_file(src, out)
    got = np.load(out)
    assert got.shape == (len(lines), 32) and report["texts"] == len(lines)
    assert np.abs(got - Embedder(tiny, **F32).embed(lines)).max() <= 1e-5
    seq = Embedder(tiny, key="sequence_output", chunk_size=8).embed_file(src, tmp_path / "seq.npy")
    values, lengths = np.load(tmp_path / "seq.npy"), np.load(seq["lengths"])
    assert lengths.tolist() == [5, 2, 7, 2, 3] * 7 and values.shape == (lengths.sum(), 32)


def test_embed_file_edge_cases(tmp_path, tiny):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    Embedder(tiny).embed_file(empty, tmp_path / "e.npy")
    assert np.load(tmp_path / "e.npy").shape == (0, 32)
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"fine\nalso fine\nbroken \xff here\n")
    with pytest.raises(InputError, match=r"bad\.txt: line 3 is not valid UTF-8"):
        Embedder(tiny).embed_file(bad, tmp_path / "b.npy")
    with pytest.raises(InputError, match="does not exist; give a text file, one text per line"):
        Embedder(tiny).embed_file(tmp_path / "missing.txt", tmp_path / "m.npy")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.txt", "e.npy", "empty.txt"]
    Embedder(tiny).embed_file(empty, tmp_path / "new" / "x.npy")  # missing folders are created
    assert np.load(tmp_path / "new" / "x.npy").shape == (0, 32)


def test_interrupted_embedding_leaves_no_output(tmp_path, tiny, monkeypatch):
    src = tmp_path / "in.txt"
    src.write_text("\n".join(["the cat"] * 50))
    embedder = Embedder(tiny, chunk_size=10, batch_size=10)
    original = embedder._embed_chunk
    calls = []

    def interrupt_on_third(*args):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return original(*args)

    monkeypatch.setattr(embedder, "_embed_chunk", interrupt_on_third)
    with pytest.raises(KeyboardInterrupt):
        embedder.embed_file(src, tmp_path / "out.npy")
    assert [p.name for p in tmp_path.iterdir()] == ["in.txt"]


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    texts=st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=60), min_size=1, max_size=6)
)
def test_bucketing_equals_fixed_on_generated_text(tiny, texts):
    fast = Embedder(tiny, key="mean", batch_size=2, **F32).embed(texts)
    slow = Embedder(tiny, key="mean", batch_size=2, bucketing=False, **F32).embed(texts)
    assert np.abs(fast - slow).max() <= 1e-5


def test_cli_embed(tmp_path, tiny_bundle):
    src = tmp_path / "in.txt"
    src.write_text("the cat sat\n\nhello world\n")
    out = tmp_path / "v.npy"
    report = json.loads(
        run(
            "embed",
            "--config",
            str(tiny_bundle),
            "--input",
            str(src),
            "--output",
            str(out),
            "--key",
            "mean",
            "--no-xla",
            "--precision",
            "float32",
            "--json",
        ).stdout
    )
    assert report["texts"] == 3 and np.load(out).shape == (3, 32)
    assert report["texts_per_second"] > 0 and report["real_tokens"] == 5 + 2 + 4
    err = run(
        "embed",
        "--config",
        str(tiny_bundle),
        "--input",
        str(src),
        "--output",
        str(tmp_path / "w.npy"),
        "--key",
        "nope",
        check_rc=2,
    ).stderr
    assert err.startswith("error: unknown key 'nope'")
    err = run("embed", "--input", str(tmp_path / "none.txt"), "--output", str(out), check_rc=2).stderr
    assert "does not exist; give a text file, one text per line" in err


@pytest.mark.skipif(not cpu_supports_bf16(), reason="this CPU has no native bfloat16")
def test_bf16_stays_close_to_fp32(tmp_path, minilm):
    src = tmp_path / "in.txt"
    src.write_text("\n".join(TEXTS))
    for precision in ("float32", "bfloat16"):
        run(
            "embed",
            "--input",
            str(src),
            "--output",
            str(tmp_path / f"{precision}.npy"),
            "--precision",
            precision,
            "--no-progress",
        )
    a, b = np.load(tmp_path / "float32.npy"), np.load(tmp_path / "bfloat16.npy")
    cosine = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert cosine.min() >= 0.999


# -- the execution mode: measured once per CPU and model shape ------------------
@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BERT_HUB_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "calibration.json"


def test_auto_mode_is_measured_once_then_read_from_the_cache(tiny, fresh_cache):
    told = []
    first = Embedder(tiny, notify=told.append)
    mode = first.resolve_mode()
    expected = {"fp32", "fp32+xla"} | ({"bf16"} if cpu_supports_bf16() else set())
    assert set(first.speeds) == expected and all(s > 0 for s in first.speeds.values())
    assert mode.name == min(first.speeds, key=first.speeds.get)  # the fastest one measured
    assert len(told) == 1 and "measuring" in told[0] and str(fresh_cache) in told[0]
    entry = json.loads(fresh_cache.read_text())
    ((key, saved),) = entry.items()
    assert "tensorflow" in key and "L=2 H=32" in key and "batch 32" in key and f"| {kernels()} |" in key
    assert ("fp32+xla", 32) in first._functions  # 24-token texts, timed as XLA would pack them: to its 32
    assert saved["seconds_per_batch"] == first.speeds
    again = Embedder(tiny, notify=told.append)
    assert again.resolve_mode() == mode and len(told) == 1  # read, not measured
    assert Embedder(tiny, batch_size=4, notify=told.append).resolve_mode() and len(told) == 2  # another shape


def test_flags_narrow_the_choice_and_one_mode_is_not_measured(tiny, fresh_cache):
    told = []
    fixed = Embedder(tiny, precision="float32", jit_compile=False, notify=told.append)
    assert fixed.resolve_mode().name == "fp32" and not told and not fresh_cache.exists()
    fp32 = Embedder(tiny, precision="float32", notify=told.append)
    assert fp32.resolve_mode().precision == "float32" and set(fp32.speeds) == {"fp32", "fp32+xla"}
    with pytest.raises(InputError, match="precision 'half': use one of auto, float32, bfloat16"):
        Embedder(tiny, precision="half")


def test_an_unreadable_calibration_cache_is_measured_again(tiny, fresh_cache):
    fresh_cache.parent.mkdir(parents=True)
    fresh_cache.write_text("{not json")
    embedder = Embedder(tiny, precision="float32")
    assert embedder.resolve_mode().precision == "float32"
    assert len(json.loads(fresh_cache.read_text())) == 1  # rewritten whole


def test_cli_embed_reports_its_mode(tmp_path, tiny_bundle):
    src = tmp_path / "in.txt"
    src.write_text("the cat sat\nhello world\n")
    report = json.loads(
        run(
            "embed", "--config", str(tiny_bundle), "--input", str(src), "--output", str(tmp_path / "v.npy"), "--json"
        ).stdout
    )
    assert report["mode"] in ("fp32", "fp32+xla", "bf16") and report["calibration_seconds"] >= 0
    assert report["precision"] in ("float32", "bfloat16") and report["xla"] == report["mode"].endswith("xla")


# -- an inference-only program packs its weights once; bfloat16 reads bfloat16 kernels -----
def test_the_embed_program_packs_weights_once_and_gives_the_same_vectors(tmp_path, minilm):
    src = tmp_path / "in.txt"
    src.write_text("\n".join(TEXTS * 5))  # several bucket lengths through the same kernels, in any order
    bf16 = cpu_supports_bf16()
    args = [
        "embed",
        "--input",
        src,
        "--key",
        "mean",
        "--precision",
        "bfloat16" if bf16 else "float32",
        "--no-xla",
        "--no-progress",
        "--json",
    ]
    program = json.loads(run(*args, "--output", tmp_path / "program.npy", process=True).stdout)
    here = json.loads(run(*args, "--output", tmp_path / "here.npy").stdout)  # main([...]): not standalone
    assert program["frozen_weights"] is onednn_packs_weights() and here["frozen_weights"] is False
    a, b = np.load(tmp_path / "program.npy"), np.load(tmp_path / "here.npy")
    assert np.abs(a - b).max() <= (2e-2 if bf16 else 1e-5)
    cosine = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert cosine.min() >= 0.9999


def test_an_explicit_zero_keeps_weights_unpacked(tmp_path, tiny_bundle, monkeypatch):
    monkeypatch.setenv("TF_ONEDNN_ASSUME_FROZEN_WEIGHTS", "0")  # the user's choice wins over the program's
    src = tmp_path / "in.txt"
    src.write_text("the cat sat\n")
    report = json.loads(
        run(
            "embed",
            "--config",
            tiny_bundle,
            "--input",
            src,
            "--output",
            tmp_path / "v.npy",
            "--precision",
            "float32",
            "--no-xla",
            "--json",
            process=True,
        ).stdout
    )
    assert report["frozen_weights"] is False


@pytest.mark.skipif(not cpu_supports_bf16(), reason="this CPU has no native bfloat16")
def test_the_bf16_kernel_copy_is_as_close_to_float32_as_the_savedmodel_in_bf16(minilm):
    import tensorflow as tf

    copy = minilm.inference_encoder(bf16=True)
    assert copy is not minilm.encoder and minilm.inference_encoder(bf16=True) is copy  # copied once
    feed = {k: tf.constant(v) for k, v in minilm.preprocess(TEXTS, 64).items()}
    fp32 = tf.function(lambda f: minilm.encoder(f))(feed)
    with precision_scope(True):
        ours = tf.function(lambda f: copy(f))(feed)
        theirs = tf.function(lambda f: minilm.encoder(f))(feed)  # the rewrite casts the kernels per call
    real = feed["input_mask"].numpy().astype(bool)

    def min_cosine(x, y):
        x, y = x["sequence_output"].numpy()[real], y["sequence_output"].numpy()[real]
        return ((x * y).sum(1) / np.linalg.norm(x, axis=1) / np.linalg.norm(y, axis=1)).min()

    # Two roundings of the same computation: each as close to float32 as the other (measured:
    # 0.99982 and 0.99983 for the worst token), and close to each other.
    assert min_cosine(ours, fp32) >= min_cosine(theirs, fp32) - 1e-4
    assert min_cosine(ours, fp32) >= 0.999 and min_cosine(ours, theirs) >= 0.999
    np.testing.assert_allclose(ours["pooled_output"].numpy(), fp32["pooled_output"].numpy(), atol=2e-2)


def test_texts_must_be_a_list_of_strings(tiny):
    from bert_hub.runtime.embedder import Embedder

    embedder = Embedder(tiny)
    for wrong in ({"a": 1}, {"a", "b"}, 3):
        with pytest.raises(InputError, match="texts must be a list of strings"):
            embedder.embed(wrong)
