"""``precision int8``: asked for only (``auto`` never picks it), for inference only, on the fast path; its vectors
near float32's, on texts of every length and on real messages."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import run

from bert_hub.core.cpu import cpu_has_int8_dot
from bert_hub.core.errors import InputError
from bert_hub.runtime.calibration import allowed_modes
from bert_hub.runtime.embedder import Embedder

SHARED_SMS = Path(__file__).resolve().parents[3] / "shared" / "data" / "sms_spam_train.tsv"
TEXTS = [
    "This is a spam mail",
    "see you at lunch tomorrow?",
    "WINNER!! As a valued network customer you have been selected to receive a £900 prize reward!",
    "naïve café résumé",
    " ".join(f"word{i} is followed by another" for i in range(30)),  # about 180 tokens
]


def _cosines(a, b):
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def test_int8_is_asked_for_only_and_never_with_xla():
    for native in (True, False):
        assert all(m.precision != "int8" for m in allowed_modes("auto", None, native_bf16=native))
    assert [m.name for m in allowed_modes("int8")] == ["int8"]
    with pytest.raises(InputError, match="precision int8 runs without XLA"):
        allowed_modes("int8", True)


def test_int8_vectors_stay_near_float32_for_every_key(minilm):
    for key in ("sentence", "pooled_output", "cls"):
        want = Embedder(minilm, key=key, precision="float32").embed(TEXTS)
        embedder = Embedder(minilm, key=key, precision="int8")
        got = embedder.embed(TEXTS)
        assert embedder.precision == "int8" and got.shape == want.shape
        cos = _cosines(got, want)
        assert cos.min() >= 0.97 and cos.mean() >= 0.985, (key, cos)


@pytest.mark.skipif(not SHARED_SMS.is_file(), reason=f"the real SMS of {SHARED_SMS} are not here")
def test_int8_sentence_vectors_of_real_messages_keep_cosine_0_99(minilm):
    messages = [line.split("\t", 1)[1] for line in SHARED_SMS.read_text(encoding="utf-8").splitlines()][:400]
    want = Embedder(minilm, key="sentence", precision="float32").embed(messages)
    cos = _cosines(Embedder(minilm, key="sentence", precision="int8").embed(messages), want)
    # Without an int8 dot product (AVX2 only) the weights keep 7 bits (bert_hub.builder.int8.weight_levels):
    # 0.9898 on average on 512 of these (smallest 0.9718), measured with ONEDNN_MAX_CPU_ISA=AVX2
    assert cos.mean() >= (0.99 if cpu_has_int8_dot() else 0.988) and cos.min() >= 0.97


def test_int8_needs_the_fast_path(tmp_path, minilm):
    from bert_hub import load_pipeline
    from bert_hub.hub.fast_path import FastPath

    bert = load_pipeline("default")
    bert._fast_path = FastPath(None, "exact", "its layout is not one bert_hub reads")
    with pytest.raises(InputError, match="precision int8 runs on bert_hub's fast path, which does not read"):
        Embedder(bert, precision="int8").embed(["hello"])


def test_cli_embeds_in_int8_and_train_refuses_it(tmp_path):
    texts = tmp_path / "texts.txt"
    texts.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    report = json.loads(
        run("embed", "--input", str(texts), "--output", str(tmp_path / "v.npy"), "--precision", "int8", "--json").stdout
    )
    assert report["precision"] == "int8" and np.load(tmp_path / "v.npy").shape == (5, 384)
    refused = run("train", "--data", str(texts), "--out", str(tmp_path / "run"), "--precision", "int8", check_rc=2)
    assert (
        "--precision int8 is for inference" in refused.stderr and "use one of auto, float32, bfloat16" in refused.stderr
    )
    assert not (tmp_path / "run").exists()
