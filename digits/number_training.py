"""Train the number reader (`--task number`) on synthetic numbers, with CTC, and evaluate it.

Training numbers are written from the training split's digits, fresh ones every epoch; the
validation numbers (epoch metrics) from the validation split; the test numbers from the test set
only. With `augment` (`--augment`; off in the preset) the training digits are first warped as
the digit model's are (`NUMBER_GLYPHS`: elastic wobble, stroke width, aspect, European 7s and
1s), so that the reader learns hands beyond MNIST's writers rather than those writers. Live metrics: the CTC
loss, and on the validation numbers the sequence accuracy (the whole number right;
`val_accuracy`) and the per-digit error rate (edit distance over digits; `val_digit_error`).
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from digits.augment import AugmentSettings, augment_batch
from digits.data import Mnist, Split
from digits.model import build_model
from digits.number_evaluation import (EVALUATION_NUMBERS, MAX_DIGITS, digit_errors, evaluate_numbers,
                                      network_reads, test_set_by_category)
from digits.numbers import BLANK, FRAMES, decode_batch, strips
from digits.predict import to_tflite
from digits.store import NUMBER_TASK
from digits.synth_numbers import make_numbers

TRAINING_STYLE = "training"    # the synth_numbers category trained on (before number-v11: "mixed")
NUMBERS_PER_EPOCH = 12_000     # fresh synthetic numbers per epoch (fewer with --limit: half the images)
VALIDATION_NUMBERS = 1_000
# Each batch's numbers are written from a fresh pool of this many training digits (about 6.5
# digits a number, so most of a pool is used once).
POOL_PER_NUMBER = 8
# The digit model's augmentation minus what the number generator already does to a digit (its
# paper, ink colour and position) and with less turn (the generator adds its own slant).
NUMBER_GLYPHS = AugmentSettings(invert_prob=0.0, background_prob=0.0, max_shift_px=0.0, max_rotation_deg=8.0)


def targets(labels: list[str]) -> np.ndarray:
    """int32 [N, MAX_DIGITS + 1]: the digits padded with 0, then the number of digits."""
    out = np.zeros((len(labels), MAX_DIGITS + 1), np.int32)
    for i, text in enumerate(labels):
        out[i, :len(text)] = [int(c) for c in text]
        out[i, MAX_DIGITS] = len(text)
    return out


def ctc_loss(y_true, y_pred):
    """CTC between the padded digits (y_true [B, 13]) and the frame logits (y_pred [B, 64, 11])."""
    y_true = keras.ops.cast(y_true, "int32")
    batch = keras.ops.shape(y_pred)[0]
    return keras.ops.ctc_loss(y_true[:, :MAX_DIGITS], y_pred, y_true[:, MAX_DIGITS],
                              keras.ops.full((batch,), FRAMES, "int32"), mask_index=BLANK)


class NumberBatches(keras.utils.PyDataset):
    """Batches of fresh synthetic numbers. Batch i of epoch e draws its digits and writes its
    numbers from a seed of both; the warp of the digits (`glyphs`, or None) draws from TF's generator."""

    def __init__(self, split: Split, numbers: int, batch_size: int, seed: int, glyphs: AugmentSettings | None):
        super().__init__(workers=2, use_multiprocessing=False, max_queue_size=8)
        self.split, self.batch_size, self.seed, self.glyphs, self.epoch = split, batch_size, seed, glyphs, 0
        self.batches = max(1, numbers // batch_size)

    def __len__(self) -> int:
        return self.batches

    def __getitem__(self, index: int):
        seed = (self.seed, self.epoch, index)
        pool = np.random.default_rng(seed).integers(0, len(self.split), POOL_PER_NUMBER * self.batch_size)
        images, labels = self.split.images[pool], self.split.labels[pool]              # [P, 28, 28], [P]
        if self.glyphs is not None:
            warped = augment_batch(tf.convert_to_tensor(images[..., None] / 255, tf.float32), self.glyphs,
                                   labels=tf.convert_to_tensor(labels))
            images = np.round(np.clip(warped.numpy()[..., 0], 0, 1) * 255).astype(np.uint8)
        made = make_numbers(images, labels, self.batch_size, seed, TRAINING_STYLE)
        return strips(made.images)[..., None], targets(made.labels)   # [B, 32, 256, 1], [B, 13]

    def on_epoch_end(self) -> None:
        self.epoch += 1


class SequenceMetrics(keras.callbacks.Callback):
    """Adds the validation numbers' sequence accuracy and digit error rate to each epoch's logs
    (before LiveLog writes them)."""

    def __init__(self, inputs: np.ndarray, labels: list[str]):
        super().__init__()
        self.inputs, self.labels = inputs, labels

    def on_epoch_end(self, epoch, logs=None):
        if self.model.stop_training:  # stopping (cancelled): the run saves nothing, skip the work
            return
        read = decode_batch(self.model.predict(self.inputs, batch_size=250, verbose=0))
        if logs is not None:
            logs["val_accuracy"] = float(np.mean([a == b for a, b in zip(read, self.labels)]))
            logs["val_digit_error"] = digit_errors(self.labels, read)


def train_numbers(run, data: Mnist) -> Path:
    """`digits.training._train` for the number task: train, evaluate, save a version."""
    from digits.training import LiveLog, _check, _without_optimizer, library_versions, learning_rate, save_version

    config, log = run.config, run.log
    started = time.time()
    source = Split(data.train.images[:config.limit], data.train.labels[:config.limit]) \
        if config.limit else data.train
    numbers = NUMBERS_PER_EPOCH if not config.limit else max(config.batch_size, min(NUMBERS_PER_EPOCH,
                                                                                    config.limit // 2))
    glyphs = NUMBER_GLYPHS if config.augment else None
    batches = NumberBatches(source, numbers, config.batch_size, config.seed, glyphs)
    # A quick run on a subset (--limit) is checked on fewer numbers too.
    validation_numbers = min(VALIDATION_NUMBERS, max(100, numbers))
    test_numbers = min(EVALUATION_NUMBERS, max(50, numbers // 2))
    validation = make_numbers(data.validation.images, data.validation.labels, validation_numbers, config.seed + 1)
    val_inputs = strips(validation.images)[..., None]
    _check(run.cancel)

    keras.utils.set_random_seed(config.seed)
    # Continue an earlier number version's training (personal.check_start vetted it) with its own
    # network: a version made before `build_number` grew keeps its smaller one.
    model = run.store.load(config.from_version) if config.from_version else build_model(config.preset)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate(config, len(batches)), clipnorm=5.0),
                  loss=ctc_loss)
    live = LiveLog(log, run.cancel, len(batches))
    model.fit(batches, epochs=config.epochs, validation_data=(val_inputs, targets(validation.labels)),
              callbacks=[SequenceMetrics(val_inputs, validation.labels), live],
              verbose=1 if sys.stdout.isatty() else 2)
    _check(run.cancel)
    train_seconds = time.time() - started

    log.emit("evaluating")
    report = evaluate_numbers(network_reads(lambda x: model.predict(x[..., None], batch_size=250, verbose=0)),
                              test_set_by_category(test_numbers))
    meta = {
        "id": run.run_id,
        "task": NUMBER_TASK,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "preset": config.preset,
        "config": config.to_dict(),
        "augmentation": dataclasses.asdict(glyphs) if glyphs else None,
        "architecture": {"name": model.name, "parameters": int(model.count_params()),
                         "input": "float32 [N, 32, 256, 1] in [0, 1], ink = 1 (digits.numbers.number_strip)",
                         "output": f"logits [N, {FRAMES}, 11]: the digits 0-9 and CTC's blank (10) per frame"},
        "data": {"source": str(data.source), "sha256": data.digests, "train_images": len(source),
                 "style": TRAINING_STYLE,
                 "numbers_per_epoch": len(batches) * config.batch_size,
                 "validation_numbers": validation_numbers, "test_numbers_per_category": test_numbers},
        "history": live.history,
        "test": report,
        "train_seconds": round(train_seconds, 1),
        "versions": library_versions(),
        "command": run.command,
    }
    inference_model = _without_optimizer(model, model.name)
    return save_version(run, inference_model, to_tflite(inference_model), meta, {})
