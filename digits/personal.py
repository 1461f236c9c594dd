"""Fine-tuning on the user's samples: what a run starts from and which samples it trains on, and
how a version reads each writer's held-out samples (and what a fine-tune fixed and broke).

No TensorFlow here: `train.py` checks all of it before TensorFlow loads, so a missing version or
writer is reported at once. The mixing itself happens in `digits.training`.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from digits.config import PRESETS, ConfigError, TrainConfig
from digits.data import Split
from digits.samples import SampleStore
from digits.store import ModelStore

MAX_RECORDED_IDS = 2_000  # meta.json lists the sample ids up to this many; beyond, their count and digest


@dataclass(frozen=True)
class TrainingSamples:
    """The digit samples of some writers; `held_out` marks the 20% (by id) that never trains."""
    ids: np.ndarray                     # int64 [N]
    images: np.ndarray                  # uint8 [N, 28, 28], ink = 255
    labels: np.ndarray                  # uint8 [N]
    writers: list[str]                  # [N]
    held_out: np.ndarray = field(repr=False)  # bool [N]

    def part(self, held: bool) -> TrainingSamples:
        keep = self.held_out == held
        return TrainingSamples(self.ids[keep], self.images[keep], self.labels[keep],
                               [w for w, k in zip(self.writers, keep) if k], self.held_out[keep])

    def digest(self) -> str:
        """SHA-256 of the ids, labels and inputs: which samples, exactly, a version saw."""
        hasher = hashlib.sha256()
        for sample_id, label, image in zip(self.ids, self.labels, self.images):
            hasher.update(f"{sample_id}:{label}:".encode())
            hasher.update(image.tobytes())
        return hasher.hexdigest()

    def __len__(self) -> int:
        return len(self.ids)


def training_samples(store: SampleStore, writers: Iterable[str] | None = None) -> TrainingSamples:
    """Every single-digit sample (of `writers`, or of everyone when None), oldest first."""
    samples = [s for s in reversed(store.find(writers=writers)) if s.is_digit]
    return TrainingSamples(
        ids=np.array([s.id for s in samples], np.int64),
        images=np.stack([s.model_input for s in samples]) if samples else np.zeros((0, 28, 28), np.uint8),
        labels=np.array([int(s.label) for s in samples], np.uint8),
        writers=[s.writer for s in samples],
        held_out=np.array([s.held_out for s in samples], bool))


def writer_accuracy(predictor, samples: TrainingSamples) -> list[dict]:
    """Accuracy of a predictor on each writer's samples: [{writer, samples, correct, accuracy}]."""
    if not len(samples):
        return []
    predictions = predictor.probabilities(samples.images.astype(np.float32) / 255).argmax(axis=1)
    rows = []
    for writer in sorted(set(samples.writers)):
        mine = np.array([w == writer for w in samples.writers])
        correct = int((predictions[mine] == samples.labels[mine]).sum())
        rows.append({"writer": writer, "samples": int(mine.sum()), "correct": correct,
                     "accuracy": correct / int(mine.sum())})
    return rows


def compare(parent, child, samples: TrainingSamples) -> dict:
    """Which samples a fine-tuned child reads right that its parent got wrong, and the reverse:
    {fixed: [ids], broken: [ids], parent_correct, child_correct, samples}."""
    if not len(samples):
        return {"fixed": [], "broken": [], "parent_correct": 0, "child_correct": 0, "samples": 0}
    images = samples.images.astype(np.float32) / 255
    parent_right = parent.probabilities(images).argmax(axis=1) == samples.labels
    child_right = child.probabilities(images).argmax(axis=1) == samples.labels
    return {"fixed": samples.ids[child_right & ~parent_right].tolist(),
            "broken": samples.ids[parent_right & ~child_right].tolist(),
            "parent_correct": int(parent_right.sum()), "child_correct": int(child_right.sum()),
            "samples": len(samples)}


def check_start(config: TrainConfig, store: ModelStore) -> None:
    """StoreError when the version to start from cannot be used, ConfigError when its network is
    not the preset's (a fine-tune keeps the parent's network)."""
    if not config.from_version:
        return
    info = store.usable(config.from_version)
    if info.task != config.task:
        raise ConfigError(f"version {config.from_version!r} reads {info.task}s and the {config.preset!r} preset "
                          f"trains a {config.task} model: start from a {config.task} version")
    architecture = ((info.meta or {}).get("architecture") or {}).get("name")
    if config.preset != "personal" and architecture and architecture != config.preset:
        presets = f"the {architecture!r} or 'personal' preset" if architecture in PRESETS else "the 'personal' preset"
        raise ConfigError(f"version {config.from_version!r} is a {architecture!r} network and the "
                          f"{config.preset!r} preset trains a {config.preset!r} one: start from it with {presets}")


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
