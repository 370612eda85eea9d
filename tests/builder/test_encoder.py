"""The built encoder against the interface and an independent NumPy BERT."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from reference_bert import bert_forward, mlm_logits

SENTENCES = [
    "This is a spam mail",
    "Computers are not unique to computers",
    "The quick brown fox jumps over the lazy dog near the riverbank.",
    "",
]


def test_minilm_matches_numpy_reference(minilm, minilm_tensors):
    inputs = minilm.preprocess(SENTENCES, seq_length=24)
    ours = minilm.encode_inputs(inputs)
    seq, pooled, layers = bert_forward(
        minilm_tensors, inputs["input_word_ids"], inputs["input_mask"], inputs["input_type_ids"], heads=12
    )
    mask = inputs["input_mask"].astype(bool)
    # Real tokens: every layer. Padding positions are not defined by the interface.
    assert np.abs(ours["sequence_output"][mask] - seq[mask]).max() <= 1e-4
    for got, want in zip(ours["encoder_outputs"], layers):
        assert np.abs(got[mask] - want[mask]).max() <= 1e-4
    assert np.abs(ours["pooled_output"] - pooled).max() <= 1e-4


def test_pair_inputs_match_numpy_reference(minilm, minilm_tensors):
    a, b = minilm.tokenize(["how old are you?"]), minilm.tokenize(["I am six years old."])
    inputs = minilm.pack([a, b], seq_length=20)
    assert inputs["input_type_ids"].max() == 1
    ours = minilm.encode_inputs(inputs)
    seq, pooled, _ = bert_forward(
        minilm_tensors, inputs["input_word_ids"], inputs["input_mask"], inputs["input_type_ids"], heads=12
    )
    mask = inputs["input_mask"].astype(bool)
    assert np.abs(ours["sequence_output"][mask] - seq[mask]).max() <= 1e-4
    assert np.abs(ours["pooled_output"] - pooled).max() <= 1e-4


def test_dynamic_length_equals_fixed_128_on_real_tokens(minilm):
    short = minilm.encode(SENTENCES, seq_length=16)
    full = minilm.encode(SENTENCES)
    mask = minilm.preprocess(SENTENCES, seq_length=16)["input_mask"].astype(bool)
    assert full["sequence_output"].shape[1] == 128 and short["sequence_output"].shape[1] == 16
    assert np.abs(short["sequence_output"][mask] - full["sequence_output"][:, :16][mask]).max() <= 1e-5
    assert np.abs(short["pooled_output"] - full["pooled_output"]).max() <= 1e-5


def test_four_outputs_shapes_and_aliases(minilm):
    out = minilm.encoder({k: tf.constant(v) for k, v in minilm.preprocess(SENTENCES[:2]).items()})
    assert set(out) == {"encoder_outputs", "sequence_output", "pooled_output", "default"}
    assert isinstance(out["encoder_outputs"], list) and len(out["encoder_outputs"]) == 6
    assert out["sequence_output"].shape == (2, 128, 384) and out["pooled_output"].shape == (2, 384)
    assert all(t.shape == (2, 128, 384) for t in out["encoder_outputs"])
    np.testing.assert_array_equal(out["encoder_outputs"][-1], out["sequence_output"])
    np.testing.assert_array_equal(out["default"], out["pooled_output"])
    assert all(t.dtype == tf.float32 for t in [out["sequence_output"], out["pooled_output"]])


def test_training_flag_turns_dropout_on(tiny):
    feed = {k: tf.constant(v) for k, v in tiny.preprocess(["the cat sat on the mat"]).items()}
    off1, off2 = tiny.encoder(feed, training=False), tiny.encoder(feed)
    np.testing.assert_array_equal(off1["sequence_output"], off2["sequence_output"])
    on1, on2 = tiny.encoder(feed, training=True), tiny.encoder(feed, training=True)
    assert not np.allclose(on1["sequence_output"], on2["sequence_output"])
    assert not np.allclose(on1["sequence_output"], off1["sequence_output"])


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.9])
def test_dropout_drops_its_rate_and_keeps_the_expectation(rate):
    from bert_hub.builder.encoder import dropout_mask

    seed = tf.constant([3, 4], tf.int64)
    mask = dropout_mask(tf.constant([64, 128, 129]), rate, seed).numpy()  # an odd number of elements
    assert mask.shape == (64, 128, 129) and set(np.unique(mask)) == {0.0, mask.max()}
    assert abs((mask == 0).mean() - rate) < 0.005
    assert abs(mask.mean() - 1.0) < 0.01  # the kept elements are scaled up by 1 / P(kept)
    again = dropout_mask(tf.constant([64, 128, 129]), rate, seed).numpy()
    other = dropout_mask(tf.constant([64, 128, 129]), rate, tf.constant([3, 5], tf.int64)).numpy()
    assert np.array_equal(mask, again) and not np.array_equal(mask, other)  # the seed decides


def test_reusable_savedmodel_attributes(tiny, minilm):
    enc = minilm.encoder
    names = [v.name for v in enc.variables]
    assert len(names) == 5 + 6 * 16 + 2 == len(enc.trainable_variables)
    assert not any(n.startswith("Variable") for n in names)
    assert "transformer/layer_3/attention/query/kernel:0" in names
    assert list(enc.regularization_losses) == []
    assert enc.vocab_file.asset_path.numpy().decode().endswith("assets/vocab.txt")
    assert bool(enc.do_lower_case.numpy()) is True
    assert not hasattr(enc, "mlm")  # all-MiniLM-L6-v2 ships no MLM head
    # The tiny model has an MLM head whose weights are not among the root's variables.
    tiny_names = {v.name for v in tiny.encoder.variables}
    assert not any(n.startswith("mlm/") for n in tiny_names)
    assert {v.name for v in tiny.encoder.mlm.variables} >= {"mlm/output_bias:0"}


def test_mlm_subobject_interface(tiny):
    feed = {k: tf.constant(v) for k, v in tiny.preprocess(["the cat [MASK] on the mat"], seq_length=12).items()}
    feed["masked_lm_positions"] = tf.constant([[3, 1]], tf.int32)
    out = tiny.encoder.mlm(feed)
    assert set(out) == {"pooled_output", "sequence_output", "encoder_outputs", "mlm_logits"}
    assert out["mlm_logits"].shape == (1, 2, tiny.special_tokens()["vocab_size"])


def test_converted_mlm_head_matches_numpy_reference(mlm_checkpoint, mlm_bert):
    _, tensors = mlm_checkpoint
    bert = mlm_bert
    inputs = bert.preprocess(["the capital of france is [MASK] ."], seq_length=16)
    positions = np.array([[6, 2]], np.int32)
    out = bert.encoder.mlm(
        {**{k: tf.constant(v) for k, v in inputs.items()}, "masked_lm_positions": tf.constant(positions)}
    )
    seq, _, _ = bert_forward(
        tensors, inputs["input_word_ids"], inputs["input_mask"], inputs["input_type_ids"], heads=12
    )
    want = mlm_logits(tensors, seq, positions)
    assert np.abs(out["mlm_logits"].numpy() - want).max() <= 1e-3
    # As upstream (text.BertTokenizer without preserve_unused_token), "[MASK]" in
    # raw text is split into "[", "mask", "]": masks are placed by id, not by text.
    assert inputs["input_word_ids"][0, 6:9].tolist() == [1031, 7308, 1033]


def test_encoder_graph_has_no_einsum(tiny_bundle):
    """Dense layers are 2-D matmuls: an einsum over "...h,hk" has a gradient that
    materialises a [batch, length, in, out] tensor (out of memory when fine-tuning)."""
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((tiny_bundle / "encoder" / "saved_model.pb").read_bytes())
    ops = {n.op for f in proto.meta_graphs[0].graph_def.library.function for n in f.node_def}
    assert "MatMul" in ops or "BatchMatMulV2" in ops
    assert "Einsum" not in ops


def test_inference_module_traces_one_block_for_every_layer_and_matches_numpy_reference(minilm, minilm_tensors):
    """The inference forward pass (the fast path's) traces its Transformer block once and calls it per
    layer; the numbers are still BERT's, at every layer and length."""
    from bert_hub.builder.encoder import EncoderModule
    from bert_hub.hub.fast_path import bert_hub_weights

    arch = minilm.config.architecture
    module = EncoderModule.for_inference(arch, bert_hub_weights(minilm.encoder, arch))
    spec = {k: tf.TensorSpec([None, None], tf.int32) for k in ("input_word_ids", "input_mask", "input_type_ids")}
    run = tf.function(lambda feed: module.encode(feed), input_signature=[spec])  # as the embedder calls it
    for length in (8, 24):
        inputs = minilm.preprocess(SENTENCES, seq_length=length)
        ours = run({k: tf.constant(v, tf.int32) for k, v in inputs.items()})
        _, pooled, layers = bert_forward(
            minilm_tensors, inputs["input_word_ids"], inputs["input_mask"], inputs["input_type_ids"], heads=12
        )
        mask = inputs["input_mask"].astype(bool)
        for got, want in zip(ours["encoder_outputs"], layers):
            assert np.abs(np.asarray(got)[mask] - want[mask]).max() <= 1e-4
        assert np.abs(np.asarray(ours["pooled_output"]) - pooled).max() <= 1e-4
    assert module._traced_block.experimental_get_tracing_count() == 1


def test_training_through_the_saved_model_has_the_gradients_of_the_forward_pass(tmp_path, tiny_vocab):
    """A written encoder's training function calls one traced block function per layer (so fine-tuning
    builds one block's gradient, not one per layer): its gradients, restored as fine-tuning loads it, are
    those of the forward pass written op by op (eager), at every weight."""
    from bert_hub.builder.bundle import write_bundle
    from bert_hub.builder.encoder import EncoderModule
    from bert_hub.builder.vocab import read_vocab
    from bert_hub.builder.weights import random_weights
    from bert_hub.core.config import Architecture

    arch = Architecture(
        layers=4,
        hidden=32,
        heads=4,
        intermediate=64,
        vocab_size=len(read_vocab(tiny_vocab)),
        max_position_embeddings=64,
    )
    weights = random_weights(arch, seed=4)
    write_bundle(
        tmp_path / "b",
        name="tiny_no_dropout",
        architecture=arch,
        weights=weights,
        vocab_file=tiny_vocab,
        lower_case=True,
        seq_length=16,
        dropout_rate=0.0,
        attention_dropout_rate=0.0,
    )
    restored = tf.saved_model.load(str(tmp_path / "b" / "encoder"))
    rng = np.random.default_rng(0)
    inputs = {
        "input_word_ids": tf.constant(rng.integers(0, arch.vocab_size, (3, 9)), tf.int32),
        "input_mask": tf.constant([[1] * 9, [1] * 5 + [0] * 4, [1] * 2 + [0] * 7], tf.int32),
        "input_type_ids": tf.constant([[0] * 5 + [1] * 4] * 3, tf.int32),
    }

    def loss(out):
        return tf.reduce_sum(out["pooled_output"] ** 2) + tf.reduce_sum(out["sequence_output"][:, :2] ** 2)

    @tf.function
    def saved_gradients():
        with tf.GradientTape() as tape:
            value = loss(restored(inputs, training=True))
        return tape.gradient(value, restored.trainable_variables)

    module = EncoderModule(arch, weights, dropout_rate=0.0, attention_dropout_rate=0.0)
    with tf.GradientTape() as tape:  # eager: each block op by op
        value = loss(module.encode(inputs, training=True))
    names = [v.name.removesuffix(":0") for v in restored.trainable_variables]
    eager = dict(zip(names, tape.gradient(value, [module.weights[n] for n in names])))
    got = dict(zip(names, saved_gradients()))
    assert len(names) == 5 + 4 * 16 + 2
    for name in names:
        want = tf.convert_to_tensor(eager[name])
        difference = float(tf.reduce_max(tf.abs(tf.convert_to_tensor(got[name]) - want)))
        assert difference <= 1e-5 * (1.0 + float(tf.reduce_max(tf.abs(want)))), name  # float32 round-off
    graph = saved_gradients.get_concrete_function().graph.as_graph_def()
    blocks = sorted(f.signature.name for f in graph.library.function if "block" in f.signature.name)
    # The block, the block with the intermediates its gradient needs, and its gradient: for any number of layers.
    assert len(blocks) == 3, blocks
