"""Distribution strategies for training: one device, mirrored, or multi-worker from ``TF_CONFIG``.

The multi-worker parts join the cluster with a time limit and split every global batch explicitly
between the workers (not by tf.data auto-sharding), so a global step trains on exactly the examples
of a single-process step."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from bert_hub.core.errors import InputError
from bert_hub.finetune.task import Examples
from bert_hub.finetune.train_config import STRATEGIES, WORKER_TIMEOUT

log = logging.getLogger(__name__)


def _tf_config() -> dict[str, Any]:
    """The cluster and this process's task, from ``TF_CONFIG`` (multi-worker training)."""
    try:
        config = json.loads(os.environ["TF_CONFIG"])
        cluster, task = config["cluster"], config.get("task", {})
        if not isinstance(cluster, dict) or not isinstance(task, dict):
            raise TypeError
    except (KeyError, ValueError, TypeError):
        raise InputError(
            "`strategy` multi-worker needs the cluster in TF_CONFIG, e.g. "
            '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
            '"task": {"type": "worker", "index": 0}}'
        ) from None
    return {"cluster": cluster, "task": task}


def writes_the_run(strategy: str) -> bool:
    """Whether this process writes the run: the chief, or worker 0 when there is no chief.

    Read from ``TF_CONFIG`` before the strategy exists, so that the chief checks
    ``--out`` (and refuses a bad one) before it joins the cluster.
    """
    if strategy != "multi-worker":
        return True
    config = _tf_config()
    kind, index = config["task"].get("type"), config["task"].get("index", 0)
    if "chief" in config["cluster"]:
        return kind == "chief"
    return kind == "worker" and index == 0


def _join_cluster_within(cluster: dict[str, Any], seconds: float) -> None:
    """Configures TensorFlow's coordination service as the strategy would, with a registration timeout.

    Without it a worker waits for the cluster's leader (the chief) without end;
    with it, one that is not there in ``seconds`` (say it refused its --out)
    ends the wait with an error.
    """
    import tensorflow as tf

    # TensorFlow's own strategy module and the helpers it uses for this (pinned TensorFlow 2.21).
    from tensorflow.python.distribute import collective_all_reduce_strategy as strategy_module
    from tensorflow.python.distribute import multi_worker_util
    from tensorflow.python.eager import context

    protos = getattr(strategy_module, "coordination_config_pb2", None)
    if protos is None:  # another TensorFlow: keep its default (wait for the leader)
        log.warning(
            "warning: this TensorFlow offers no registration timeout; `worker_timeout` covers only "
            "the synchronisation points after the start"
        )
        return
    spec = tf.train.ClusterSpec(cluster)
    jobs = [
        protos.CoordinatedJob(name=job, num_tasks=spec.num_tasks(job))
        for job in ("chief", "worker")
        if job in spec.jobs
    ]
    context.context().configure_coordination_service(
        service_type="standalone",
        service_leader=multi_worker_util.coordination_leader(spec),
        coordinated_jobs=jobs,
        cluster_register_timeout_in_ms=int(seconds * 1000),
    )


def no_answer(error: BaseException) -> BaseException:
    """The one-line error for a worker the others did not answer (else ``error`` itself)."""
    import tensorflow as tf

    if isinstance(error, (tf.errors.DeadlineExceededError, tf.errors.UnavailableError)):
        return InputError(
            "the other workers did not answer in time (`worker_timeout`): check that every "
            "worker of TF_CONFIG runs, and the chief's output (it stops at once if `out` "
            "is refused)"
        )
    return error


def distribution_strategy(strategy: str, worker_timeout: float = WORKER_TIMEOUT) -> Any:
    """The ``tf.distribute`` strategy named ``strategy`` (``default``, ``mirrored``, ``multi-worker``)."""
    import tensorflow as tf

    if strategy == "multi-worker":
        cluster = _tf_config()["cluster"]
        log.info("multi-worker training: %s", ", ".join(f"{k} {v}" for k, v in cluster.items()))
        _join_cluster_within(cluster, worker_timeout)
        options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=worker_timeout)
        return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    if strategy == "mirrored":
        devices = [d.name for d in tf.config.list_logical_devices("GPU")] or [
            d.name for d in tf.config.list_logical_devices("CPU")
        ]
        return tf.distribute.MirroredStrategy(devices=devices)
    if strategy == "default":
        return tf.distribute.get_strategy()
    raise InputError(f"unknown strategy {strategy!r}; use one of {', '.join(STRATEGIES)}")


def is_multi_worker(dist: Any) -> bool:
    """Whether ``dist`` spans several workers."""
    import tensorflow as tf

    return isinstance(dist, tf.distribute.MultiWorkerMirroredStrategy)


def training_data(dist: Any, train_ex: Examples, batches: Sequence[np.ndarray], buckets: Sequence[int]) -> Any:
    """The training input: global batches; on several workers, worker i takes every N-th example of each.

    Every worker draws the same global batches (same seed), so a step of a
    multi-worker run trains on exactly the examples of the same step of a
    single-process run, and the learning-rate schedule counts global steps.
    """
    if not is_multi_worker(dist):
        return train_ex.dataset(batches, buckets)
    import tf_keras

    def per_worker(context: Any) -> Any:
        share = [b[context.input_pipeline_id :: context.num_input_pipelines] for b in batches]
        return train_ex.dataset(share, buckets)

    return tf_keras.utils.experimental.DatasetCreator(per_worker)
