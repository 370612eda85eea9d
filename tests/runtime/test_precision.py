"""bfloat16 per thread: a call never runs at another thread's precision, and no process-wide option moves."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import threading
import time

import pytest
import tensorflow as tf

from bert_hub.core.cpu import cpu_flags
from bert_hub.runtime.precision import (
    enable_onednn,
    kernels,
    onednn_enabled,
    precision_scope,
    thread_uses_bf16,
)

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


# -- oneDNN where TensorFlow would leave it off -----------------------------------------------------------------

X86_AVX2 = platform.machine().lower() in ("x86_64", "amd64") and "avx2" in cpu_flags()


@pytest.mark.skipif(not X86_AVX2, reason="bert-hub turns oneDNN on on x86 CPUs with AVX2 only")
def test_the_program_runs_onednn_kernels(tmp_path, tiny_bundle):
    src = tmp_path / "in.txt"
    src.write_text("the cat sat\n")

    env = {k: v for k, v in os.environ.items() if k not in ("TF_ENABLE_ONEDNN_OPTS", "TF_CPP_MIN_LOG_LEVEL")}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bert_hub.cli",
            "embed",
            "--config",
            str(tiny_bundle),
            "--input",
            str(src),
            "--output",
            str(tmp_path / "v.npy"),
            "--precision",
            "float32",
            "--no-xla",
            "--no-progress",
            "--json",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0 and not proc.stderr.strip(), proc.stderr[-2000:]
    assert json.loads(proc.stdout)["kernels"] == "oneDNN"  # the program turned it on (an explicit 0 wins: below)


def test_enable_onednn_changes_nothing_once_tensorflow_is_loaded_or_the_user_chose(monkeypatch):
    chosen = os.environ.get("TF_ENABLE_ONEDNN_OPTS")  # as this process loaded TensorFlow (conftest: "1" on AVX2)
    if chosen in ("0", "1"):
        assert onednn_enabled() is (chosen == "1") and kernels() == ("oneDNN" if chosen == "1" else "Eigen")
    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)
    assert enable_onednn() is False and "TF_ENABLE_ONEDNN_OPTS" not in os.environ  # tensorflow is imported here
    monkeypatch.delitem(sys.modules, "tensorflow")  # as before it loaded (put back after the test)
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")
    assert enable_onednn() is False and os.environ["TF_ENABLE_ONEDNN_OPTS"] == "0"
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", " ")  # empty: TensorFlow ignores it, so it counts as unset
    assert enable_onednn() is X86_AVX2 and os.environ["TF_ENABLE_ONEDNN_OPTS"] == ("1" if X86_AVX2 else " ")
    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS")
    assert enable_onednn() is X86_AVX2 and os.environ.get("TF_ENABLE_ONEDNN_OPTS") == ("1" if X86_AVX2 else None)
