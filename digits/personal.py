"""Fine-tuning on the user's samples: what a run starts from and which samples it trains on.

No TensorFlow here: `train.py` checks all of it before TensorFlow loads, so a missing version or
writer is reported at once. The mixing itself happens in `digits.training`.
"""

from __future__ import annotations

import math

import numpy as np

from digits.config import ConfigError, TrainConfig
from digits.data import Split
from digits.samples import SampleStore, TrainingSamples, training_samples
from digits.store import ModelStore, StoreError

MAX_RECORDED_IDS = 2_000  # meta.json lists the sample ids up to this many; beyond, their count and digest


def check_start(config: TrainConfig, store: ModelStore) -> None:
    """StoreError when the version to start from cannot be used, ConfigError when its network is
    not the preset's (a fine-tune keeps the parent's network)."""
    if not config.from_version:
        return
    info = store.usable(config.from_version)
    architecture = ((info.meta or {}).get("architecture") or {}).get("name")
    if config.preset != "personal" and architecture and architecture != config.preset:
        raise ConfigError(f"version {config.from_version!r} is a {architecture!r} network and the "
                          f"{config.preset!r} preset trains a {config.preset!r} one: start from it with the "
                          f"{architecture!r} or 'personal' preset")


def samples_for(config: TrainConfig, samples: SampleStore | None = None) -> TrainingSamples | None:
    """The training split (80%) of the configured writers' digit samples; None when the config
    takes none. SampleError when the database cannot be read, ConfigError when it holds none."""
    if not config.samples:
        return None
    found = training_samples(samples or SampleStore(), config.writers or None)
    missing = sorted(set(config.writers) - set(found.writers))
    if missing:
        raise ConfigError(f"no digit samples of {', '.join(map(repr, missing))}; "
                          "`python -m digits samples list` shows who has some")
    train = found.part(held=False)
    if not len(train):
        raise ConfigError("there are no samples to fine-tune on" if not len(found) else
                          f"all {len(found)} samples are in the held-out 20%: add a few more")
    return train


def mixed(mnist: Split, samples: TrainingSamples, share: float) -> tuple[Split, int]:
    """MNIST images with the samples repeated until they are about `share` of the whole (so a
    hundred samples matter beside thousands of MNIST images): (the mix, the repeat count)."""
    repeats = max(1, math.ceil(share / (1 - share) * len(mnist) / len(samples)))
    images = np.concatenate([mnist.images, np.tile(samples.images, (repeats, 1, 1))])   # uint8 [N + R*S, 28, 28]
    labels = np.concatenate([mnist.labels, np.tile(samples.labels, repeats)])
    return Split(images, labels), repeats


def fine_tune_record(config: TrainConfig, samples: TrainingSamples | None, repeats: int,
                     parent_meta: dict | None) -> dict:
    """What meta.json says of a fine-tune: the parent, the writers and exactly which samples."""
    record: dict = {"parent": config.from_version,
                    "parent_test_accuracy": ((parent_meta or {}).get("test") or {}).get("accuracy")}
    if samples is not None:
        record["writers"] = sorted(set(samples.writers))
        record["samples"] = {"count": len(samples), "sha256": samples.digest(), "repeats": repeats,
                             "split": "the 80% training split by id (digits.samples.held_out)"}
        if len(samples) <= MAX_RECORDED_IDS:
            record["samples"]["ids"] = samples.ids.tolist()
    return record
