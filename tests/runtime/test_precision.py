"""bfloat16 per thread: a call never runs at another thread's precision, and no process-wide option moves."""

from __future__ import annotations

import threading
import time

import tensorflow as tf

from bert_hub.runtime.precision import precision_scope, thread_uses_bf16

KEY = "auto_mixed_precision_onednn_bfloat16"


def test_threads_each_see_their_own_precision_and_the_process_option_never_moves():
    process = dict(tf.config.optimizer.get_experimental_options())
    seen: list[tuple[bool, bool]] = []
    start = threading.Barrier(6)

    def work(bf16: bool) -> None:
        start.wait()
        for _ in range(30):
            with precision_scope(bf16):
                seen.append((bf16, thread_uses_bf16()))
                time.sleep(0.001)  # the other threads enter and leave their own scopes meanwhile
                seen.append((bf16, thread_uses_bf16()))
                assert tf.config.optimizer.get_experimental_options() == process
            seen.append((False, thread_uses_bf16()))

    threads = [threading.Thread(target=work, args=(i % 2 == 0,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(seen) == 6 * 30 * 3
    assert all(wanted == got for wanted, got in seen)
    assert tf.config.optimizer.get_experimental_options() == process and not thread_uses_bf16()


def test_nested_scopes_restore_the_outer_one():
    with precision_scope(True):
        with precision_scope(False):
            assert not thread_uses_bf16()
        assert thread_uses_bf16()
    assert not thread_uses_bf16()


def test_a_function_called_in_a_scope_gets_the_rewrite_in_its_call_options():
    """The bf16 toggle travels with the call: the attribute TensorFlow passes to the function call op."""
    from tensorflow.core.protobuf import config_pb2
    from tensorflow.python.eager import context

    with precision_scope(True):
        attrs = context.context().function_call_options.as_attrs()
    config = config_pb2.ConfigProto()
    config.ParseFromString(attrs["config_proto"])
    assert config.graph_options.rewrite_options.auto_mixed_precision_onednn_bfloat16 == 1  # ON
