"""Training beyond one device or machine, on tf.distribute.

  none         the default strategy: one device (a GPU when TensorFlow sees one, else the CPU)
  mirrored     MirroredStrategy: every GPU of this machine (the CPU when there is none), model.fit
  multiworker  MultiWorkerMirroredStrategy across the machines named in TF_CONFIG; a custom
               training step run by `strategy.run` (Keras 3's model.fit fails under this strategy:
               keras-team/keras#20585)

The global batch and the peak learning rate scale with the number of replicas (the linear scaling
rule), so each replica sees the configured batch size. Only the chief (TF_CONFIG's "chief" task, or
worker 0 when there is none) writes the event log and the version.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace

from digits.config import TrainConfig

MODES = ("none", "mirrored", "multiworker")


def cluster_role() -> tuple[str, int]:
    """(task type, index) from TF_CONFIG; ("chief", 0) without one. Read without TensorFlow."""
    try:
        task = json.loads(os.environ.get("TF_CONFIG") or "{}").get("task") or {}
        return str(task.get("type", "chief")), int(task.get("index", 0))
    except (ValueError, TypeError, AttributeError):
        return "chief", 0


def is_chief() -> bool:
    """Whether this process writes: the "chief" task, or worker 0 of a cluster without a chief."""
    kind, index = cluster_role()
    try:
        cluster = json.loads(os.environ.get("TF_CONFIG") or "{}").get("cluster") or {}
    except (ValueError, AttributeError):
        cluster = {}
    return kind == "chief" or (kind == "worker" and index == 0 and "chief" not in cluster)


def make_strategy(mode: str):
    """The tf.distribute strategy for a mode (see the module docstring)."""
    import tensorflow as tf

    if mode == "mirrored":
        return tf.distribute.MirroredStrategy()
    if mode == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def devices(strategy) -> list[str]:
    """The devices that train: the strategy's replicas, or for the default strategy the device
    TensorFlow places ops on (the first GPU when there is one)."""
    import tensorflow as tf

    if strategy is not tf.distribute.get_strategy():  # a real strategy knows its replicas' devices
        return [str(device) for device in strategy.extended.worker_devices]
    gpus = tf.config.list_logical_devices("GPU")
    return [gpus[0].name if gpus else tf.config.list_logical_devices("CPU")[0].name]


def scaled(config: TrainConfig, replicas: int) -> TrainConfig:
    """The config for `replicas` replicas: global batch and peak learning rate times `replicas`."""
    if replicas == 1:
        return config
    return replace(config, batch_size=config.batch_size * replicas,
                   learning_rate=config.learning_rate * replicas)
