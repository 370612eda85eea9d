"""The encoder's ops are written in the forms TensorFlow's oneDNN remapper fuses.

The fast path's speed rests on it: MatMul + BiasAdd + GELU as one oneDNN
matmul with the activation as a post-op (one pass over the [tokens, 4H]
activations instead of a dozen element-wise kernels). The remapper matches op
graphs, not functions, so an equivalent formula in another op order runs
unfused and silently slower (tf.nn.gelu's tanh form fused in float32 only, which
left the Kaggle graph's fast path at 0.7x bert_hub's own encoders in bfloat16).
The check reads the graph TensorFlow runs, after grappler, in a fresh process
with oneDNN on (as every ``bert-hub`` command has it).
"""

from __future__ import annotations

from conftest import python_json

from bert_hub.core.cpu import cpu_supports_bf16

RUN_GRAPH = """
import json
from bert_hub.core.cpu import cpu_supports_bf16
from bert_hub.runtime.precision import enable_onednn
enable_onednn()
import numpy as np, tensorflow as tf
from tensorflow.core.protobuf import rewriter_config_pb2

def nodes_run(graph, fetch, feed, bf16, init=None):
    # The nodes of the graph TensorFlow runs (after grappler, oneDNN's bfloat16 rewrite when bf16).
    config = tf.compat.v1.ConfigProto()
    if bf16:
        config.graph_options.rewrite_options.auto_mixed_precision_onednn_bfloat16 = (
            rewriter_config_pb2.RewriterConfig.ON)
    meta = tf.compat.v1.RunMetadata()
    with tf.compat.v1.Session(graph=graph, config=config) as session:
        if init is not None:
            session.run(init)
        session.run(fetch, feed, run_metadata=meta, options=tf.compat.v1.RunOptions(output_partition_graphs=True))
    return [n for g in meta.partition_graphs for n in g.node]
"""

SCRIPT = (
    RUN_GRAPH
    + """
from bert_hub.builder.encoder import GELU

def fused_ops(gelu, bf16):
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None, 16])
        w = tf.constant(np.random.default_rng(0).normal(size=(16, 64)).astype(np.float32))
        b = tf.constant(np.random.default_rng(1).normal(size=64).astype(np.float32))
        y = tf.reduce_sum(gelu(tf.nn.bias_add(tf.matmul(x, w), b)), axis=1)  # not the fetched node itself
    return sorted({op.decode() for n in nodes_run(graph, y, {x: np.ones((4, 16), np.float32)}, bf16)
                   if "fused_ops" in n.attr for op in n.attr["fused_ops"].list.s})

# bfloat16 only where the CPU computes it natively, where `auto` can choose it (elsewhere oneDNN may not
# make the bfloat16 kernels at all).
print(json.dumps({f"{form} {'bf16' if bf16 else 'fp32'}": fused_ops(GELU[form], bf16)
                  for form in GELU for bf16 in ((False, True) if cpu_supports_bf16() else (False,))}))
"""
)


def test_each_gelu_form_fuses_into_its_matmul_in_float32_and_bfloat16():
    fused = python_json(SCRIPT)
    precisions = ("fp32", "bf16") if cpu_supports_bf16() else ("fp32",)
    assert sorted(fused) == sorted(f"{form} {p}" for form in ("exact", "tanh") for p in precisions), fused
    for form, gelu_op in (("exact", "GeluExact"), ("tanh", "GeluApproximate")):
        for precision in precisions:
            assert fused[f"{form} {precision}"] == ["BiasAdd", gelu_op], fused


TRAINING_SCRIPT = (
    RUN_GRAPH
    + """
from bert_hub.builder.encoder import EncoderModule
from bert_hub.builder.weights import random_weights
from bert_hub.core.config import Architecture

arch = Architecture(layers=2, hidden=32, heads=4, intermediate=64, vocab_size=50, max_position_embeddings=32)

def matmuls(training, bf16):
    graph = tf.Graph()
    with graph.as_default():
        module = EncoderModule(arch, random_weights(arch, seed=1))
        inputs = {key: tf.compat.v1.placeholder(tf.int32, [None, None], name=key)
                  for key in ("input_word_ids", "input_mask", "input_type_ids")}
        out = module.encode(inputs, training=training)
        loss = tf.reduce_sum(out["sequence_output"] ** 2) + tf.reduce_sum(out["pooled_output"] ** 2)
        fetch = [g for g in tf.gradients(loss, module.core_variables()) if g is not None] if training else loss
        init = tf.compat.v1.global_variables_initializer()
    feed = {inputs["input_word_ids"]: np.full((2, 8), 7), inputs["input_mask"]: np.ones((2, 8)),
            inputs["input_type_ids"]: np.zeros((2, 8))}
    nodes = [n for n in nodes_run(graph, fetch, feed, bf16, init) if "MatMul" in n.op]
    return {"with bias": sum(b"BiasAdd" in n.attr["fused_ops"].list.s for n in nodes), "all": len(nodes)}

print(json.dumps({f"{'training' if training else 'inference'} {'bf16' if bf16 else 'fp32'}": matmuls(training, bf16)
                  for training in (False, True) for bf16 in ((False, True) if cpu_supports_bf16() else (False,))}))
"""
)


def test_training_keeps_its_matmuls_apart_from_their_bias_adds():
    """Training reads its kernels as variables, where a MatMul fused with its bias runs as oneDNN's inner
    product, which in bfloat16 does not use AMX; so the block keeps the two apart when training (every
    block matmul plain, only the pooler's fused) and fuses them for inference (4 a layer and the pooler)."""
    counts = python_json(TRAINING_SCRIPT)
    for precision in ("fp32", "bf16") if cpu_supports_bf16() else ("fp32",):
        assert counts[f"inference {precision}"]["with bias"] == 4 * 2 + 1, counts
        assert counts[f"training {precision}"]["with bias"] == 1, counts
        assert counts[f"training {precision}"]["all"] > 3 * 4 * 2, counts  # forward and both gradients
