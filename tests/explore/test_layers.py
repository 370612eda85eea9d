"""Layer comparison: the last layer against sequence_output, layer similarity, the pooler, the heatmap."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bert_hub.core.errors import InputError
from bert_hub.explore.layers import compare_layers, find_pooler, plot_layer_similarity, select_output


def test_compare_layers(minilm):
    texts = ["This is a spam mail", "Computers are not unique to computers", "short"]
    inputs = minilm.preprocess(texts, seq_length=16)
    outputs = minilm.encode_inputs(inputs)
    report = compare_layers(outputs, inputs["input_mask"], pooler=find_pooler(minilm.encoder))
    m = np.array(report["layer_similarity"])
    assert m.shape == (6, 6) and np.allclose(np.diag(m), 1.0) and np.allclose(m, m.T)
    assert report["last_equals_sequence_output"]["exact"] is True
    # Independent check of one entry: layers 1 and 6 over the real tokens only.
    mask = inputs["input_mask"].astype(bool)
    a, b = outputs["encoder_outputs"][0][mask], outputs["encoder_outputs"][5][mask]
    cos = np.sum(a * b, -1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)
    assert math.isclose(m[0, 5], cos.mean(), abs_tol=1e-5)
    per_token = report["similarity_to_reference_per_token"]
    assert [len(layer) for layer in per_token[2]] == [3] * 6  # "short": [CLS] short [SEP]
    assert np.allclose(per_token[0][-1], 1.0, atol=1e-5)
    assert report["pooled_vs_cls"]["pooled_is_tanh_dense_cls"] is True
    # Padding is excluded: the same texts at length 128 give the same matrix.
    inputs128 = minilm.preprocess(texts)
    m128 = compare_layers(minilm.encode_inputs(inputs128), inputs128["input_mask"])["layer_similarity"]
    assert np.allclose(m, m128, atol=1e-4)


def test_compare_layers_tolerance_and_keys(tiny):
    inputs = tiny.preprocess(["the cat sat"], seq_length=8)
    outputs = tiny.encode_inputs(inputs)
    outputs["sequence_output"] = outputs["sequence_output"] + 1e-7
    a = compare_layers(outputs, inputs["input_mask"])["last_equals_sequence_output"]
    assert a["exact"] is False and a["within_tolerance"] is True
    assert select_output(outputs, "encoder_outputs[0]").shape == (1, 8, 32)
    with pytest.raises(InputError, match="unknown output key 'hidden_states'"):
        compare_layers(outputs, inputs["input_mask"], reference="hidden_states")
    with pytest.raises(InputError, match="has 2 layers"):
        select_output(outputs, "encoder_outputs[5]")
    with pytest.raises(InputError, match="not per-token"):
        compare_layers(outputs, inputs["input_mask"], reference="pooled_output")


def test_heatmap_png(tmp_path):
    path = plot_layer_similarity(np.eye(3), tmp_path / "h.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(InputError, match="already exists; pass `overwrite=True`"):
        plot_layer_similarity(np.eye(3), tmp_path / "h.png")
    assert plot_layer_similarity(np.eye(3), tmp_path / "h.png", overwrite=True) == tmp_path / "h.png"
    assert plot_layer_similarity(np.eye(3), tmp_path / "new" / "h.svg").read_bytes().lstrip().startswith(b"<?xml")


def test_plots_never_switch_a_notebooks_backend(tmp_path):
    from conftest import python_json

    script = (
        "import json, matplotlib\n"
        "matplotlib.use('svg')\n"
        "import numpy as np\n"
        "from bert_hub.explore.layers import plot_layer_similarity\n"
        f"plot_layer_similarity(np.eye(3), {str(tmp_path / 'h.png')!r})\n"
        "import sys\n"
        "print(json.dumps({'backend': matplotlib.get_backend(), 'pyplot': 'matplotlib.pyplot' in sys.modules}))\n"
    )
    assert python_json(script) == {"backend": "svg", "pyplot": False}
    assert (tmp_path / "h.png").read_bytes()[:4] == b"\x89PNG"
