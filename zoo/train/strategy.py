"""Picking a tf.distribute strategy: one training loop runs under all of them.

- ``default``: the current device (one CPU or GPU).
- ``mirrored``: every GPU of this host (MirroredStrategy); on a host without GPUs, every
  logical CPU device.
- ``multiworker``: several hosts, each running the same command with its own ``TF_CONFIG``
  (MultiWorkerMirroredStrategy). Keras' ``Model.fit`` fails under it (keras-team/keras#20585);
  this loop calls ``strategy.run`` itself, which works.
- ``tpu``: TPUStrategy through the TPU cluster resolver.
- ``auto``: multiworker when ``TF_CONFIG`` names several workers (a chief counts), else
  mirrored when there are several GPUs, else default.
"""

from __future__ import annotations

import json
import os

from zoo.errors import ZooError


def tf_config_workers() -> int:
    """How many workers ``TF_CONFIG`` names, a chief included (0 when it is unset)."""
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return 0
    try:
        cluster = json.loads(raw).get("cluster", {})
        jobs = [cluster.get(job, []) for job in ("chief", "worker")]
    except (ValueError, AttributeError):
        jobs = [None]
    if not all(isinstance(job, list) for job in jobs):
        raise ZooError("TF_CONFIG is not valid JSON with a cluster.worker list")
    return sum(len(job) for job in jobs)


def make_strategy(name: str):
    """A tf.distribute.Strategy for ``name`` (see the module docstring)."""
    import tensorflow as tf

    if name == "auto":
        if tf_config_workers() > 1:
            name = "multiworker"
        elif len(tf.config.list_logical_devices("GPU")) > 1:
            name = "mirrored"
        else:
            name = "default"
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
        return tf.distribute.MirroredStrategy(devices)
    if name == "multiworker":
        if tf_config_workers() < 1:
            raise ZooError("--strategy multiworker needs TF_CONFIG naming the cluster's workers")
        try:
            return tf.distribute.MultiWorkerMirroredStrategy()
        except ValueError as error:  # TF_CONFIG's task is missing or not in its cluster
            raise ZooError(f"TF_CONFIG: {error}") from None
    if name == "tpu":
        try:
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
            tf.config.experimental_connect_to_cluster(resolver)
            tf.tpu.experimental.initialize_tpu_system(resolver)
        except (ValueError, tf.errors.OpError) as error:
            raise ZooError(f"no TPU found: {error}") from None
        return tf.distribute.TPUStrategy(resolver)
    raise ZooError(f"unknown strategy {name!r}")


def is_chief(strategy) -> bool:
    """Whether this process writes the run's files (worker 0 under multiworker)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    spec = resolver.cluster_spec().as_dict() if resolver is not None else {}
    if not spec or resolver.task_type is None:
        return True
    if "chief" in spec:
        return resolver.task_type == "chief"
    return resolver.task_type == "worker" and resolver.task_id == 0


def chief_process() -> bool:
    """Whether this process writes the run's files, read from ``TF_CONFIG`` before any
    strategy exists (the chief, else worker 0; a lone process always)."""
    if tf_config_workers() <= 1:
        return True
    config = json.loads(os.environ["TF_CONFIG"])
    task = config.get("task", {})
    if "chief" in config["cluster"]:
        return task.get("type") == "chief"
    return task.get("type") == "worker" and int(task.get("index", 0)) == 0
