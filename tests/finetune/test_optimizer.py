"""The fused AdamW: the same updates as tf_keras' AdamW (the reference), on one replica and on two."""

from __future__ import annotations

import pytest
from conftest import python_json

# Runs in a fresh process: two logical CPUs must be set up before TensorFlow starts.
SCRIPT = r"""
import json
import numpy as np
import tensorflow as tf
import tf_keras
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from bert_hub.finetune.optimizer import WEIGHT_DECAY_EXCLUDE, adamw, warmup_linear_decay

rng = np.random.default_rng(0)
ids = rng.integers(0, 50, (16, 6)).astype("int32")  # rows 50..99 of the embedding never get a gradient
targets = rng.normal(size=(16, 1)).astype("float32")

def trained(fused, strategy):
    tf_keras.utils.set_random_seed(1)
    with strategy.scope():
        model = tf_keras.Sequential([
            tf_keras.layers.Embedding(100, 8, name="word_embeddings"),  # a sparse gradient
            tf_keras.layers.Dense(8, name="dense"),
            tf_keras.layers.LayerNormalization(name="layer_norm"),  # not decayed, nor the biases
            tf_keras.layers.GlobalAveragePooling1D(),
            tf_keras.layers.Dense(1, name="head")])
        model.build((None, 6))
        if fused:
            opt = adamw(peak=0.05, total=8, warmup=2, weight_decay=0.1)
        else:
            opt = tf_keras.optimizers.AdamW(learning_rate=warmup_linear_decay(0.05, 8, 2), weight_decay=0.1)
            opt.exclude_from_weight_decay(var_names=WEIGHT_DECAY_EXCLUDE)
        model.compile(optimizer=opt, loss="mse")
    model.initial = [w.copy() for w in model.get_weights()]
    model.fit(ids, targets, batch_size=8, epochs=3, shuffle=False, verbose=0)
    return model, opt

reference, _ = trained(False, tf.distribute.get_strategy())
fused, opt = trained(True, tf.distribute.get_strategy())
mirrored, _ = trained(True, tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))
diff = lambda a, b: max(float(np.max(np.abs(x - y))) for x, y in zip(a, b))
replicas = [[v.numpy() for v in var.values] for var in mirrored.trainable_variables]
print(json.dumps({
    "class": type(opt).__name__, "steps": int(opt.iterations.numpy()),
    "moved": diff(reference.get_weights(), reference.initial),
    "fused_vs_reference": diff(fused.get_weights(), reference.get_weights()),
    "mirrored_vs_reference": diff(mirrored.get_weights(), reference.get_weights()),
    "replicas_apart": max(float(np.max(np.abs(r[0] - r[1]))) for r in replicas),
}))
"""


@pytest.fixture(scope="module")
def report():
    return python_json(SCRIPT)


def test_fused_adamw_matches_tf_keras_adamw(report):
    assert report["class"] == "FusedAdamW" and report["steps"] == 6
    assert report["moved"] > 0.01  # the weights did move
    assert report["fused_vs_reference"] < 1e-5  # float32 round-off in another order


def test_fused_adamw_keeps_mirrored_replicas_equal(report):
    assert report["replicas_apart"] == 0.0
    assert report["mirrored_vs_reference"] < 1e-5
