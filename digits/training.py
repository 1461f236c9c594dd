"""Train one model from a TrainConfig, log every epoch, evaluate on the test set, save a version."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import platform
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf
import keras

from digits import distribution, personal
from digits.augment import augment_batch, settings_for_run
from digits.config import TrainConfig
from digits.data import NUM_CLASSES, Mnist, Split, load_mnist
from digits.model import all_layers, build_model
from digits.predict import LitePredictor, Predictor, to_tflite
from digits.results import RESULTS_FILE, compute_results, encode
from digits.runs import Cancelled, EventLog
from digits.store import ModelStore, tflite_record, write_json

BATCH_EVENT_SECONDS = 0.2  # how often the in-epoch progress (a point of the per-step curves) is written
STEPS_PER_CALL = 16  # training steps per compiled call: less Python overhead per step
CALLS_PER_EPOCH = 20  # at least this many calls an epoch, so a short epoch still reports progress
WARMUP_FRACTION, MIN_WARMUP_STEPS = 0.2, 5


def learning_rate(config: TrainConfig, steps_per_epoch: int):
    if config.schedule == "constant":
        return config.learning_rate
    # One-cycle: warm up from peak/25 to the peak over the first 20% of steps (at least a few, at
    # most half), then cosine-anneal to almost zero. A built-in schedule, so the optimizer config
    # serialises without custom code.
    total = config.epochs * steps_per_epoch
    warmup = max(1, min(total // 2, max(MIN_WARMUP_STEPS, int(WARMUP_FRACTION * total))))
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=config.learning_rate / 25, decay_steps=max(1, total - warmup), alpha=0.002,
        warmup_target=config.learning_rate, warmup_steps=warmup)


def compiled_model(config: TrainConfig, steps_per_epoch: int, start: keras.Model | None = None) -> keras.Model:
    """A fresh model for the config (or `start`, a parent version's model, to fine-tune), seeded,
    compiled with Adam and its learning-rate schedule."""
    keras.utils.set_random_seed(config.seed)
    if start is None:
        model = build_model(config.preset)
        settle_batch_norm(model, config.epochs * steps_per_epoch)
    else:  # a parent's batch norm is frozen: its statistics stay MNIST's
        model = _frozen_statistics(start)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate(config, steps_per_epoch)),
                  loss="categorical_crossentropy", metrics=["accuracy"],
                  steps_per_execution=steps_per_call(steps_per_epoch))
    return model


def steps_per_call(steps_per_epoch: int) -> int:
    """STEPS_PER_CALL, fewer for a short epoch: 16 steps in one call would report no progress."""
    return max(1, min(STEPS_PER_CALL, steps_per_epoch // CALLS_PER_EPOCH))


def settle_batch_norm(model: keras.Model, total_steps: int) -> None:
    """Let batch norm's moving statistics (what inference uses) forget their initial values
    within a short run: with Keras' momentum 0.99 they keep 0.99^100 = 37% of the initial mean 0
    and variance 1 after 100 steps, and the model that trained well predicts badly. Long runs
    (over 1,000 steps) keep 0.99."""
    momentum = min(0.99, 1 - 10 / max(total_steps, 10))  # initial values weigh e^-10 at the end
    for layer in all_layers(model):  # a committee's members' too
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = momentum


def _frozen_statistics(model: keras.Model) -> keras.Model:
    """A parent's batch-norm layers fixed (Keras then runs them in inference mode): a short
    fine-tune on a small mix would otherwise re-estimate MNIST's activation statistics from it
    and forget MNIST faster (Keras' transfer-learning guide does the same)."""
    for layer in all_layers(model):  # a committee's members' too
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
    return model


def make_dataset(split: Split, config: TrainConfig, training: bool) -> tf.data.Dataset:
    """uint8 [N, 28, 28] -> batches of (float32 [B, 28, 28, 1] in [0, 1], one-hot [B, 10], weight [B]).
    Class weights apply to the training loss only: validation metrics stay unweighted, so they
    compare between runs with different weights."""
    weights = np.ones(NUM_CLASSES, np.float32)
    for digit, weight in (config.class_weights if training else {}).items():
        weights[digit] = weight
    weights = tf.constant(weights)
    settings = settings_for_run(len(split) * config.epochs)

    def to_model_input(images, labels):
        x = tf.cast(images, tf.float32)[..., None] / 255.0
        if training and config.augment:
            x = augment_batch(x, settings, labels=labels)
        return x, tf.one_hot(labels, NUM_CLASSES), tf.gather(weights, tf.cast(labels, tf.int32))

    ds = tf.data.Dataset.from_tensor_slices((split.images, split.labels))
    if training:
        ds = ds.shuffle(len(split), seed=config.seed, reshuffle_each_iteration=True)
    # Augment whole batches (vectorised), in parallel with the training step.
    return ds.batch(config.batch_size).map(to_model_input, num_parallel_calls=tf.data.AUTOTUNE) \
        .prefetch(tf.data.AUTOTUNE)


class LiveLog(keras.callbacks.Callback):
    """Writes epoch metrics (and throttled in-epoch progress) to the event log; stops on cancel."""

    def __init__(self, log: EventLog, cancel: threading.Event, steps: int):
        super().__init__()
        self.log, self.cancel, self.steps = log, cancel, steps
        self.history: list[dict] = []

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_start = self.last_write = time.time()
        self.log.emit("batch", epoch=epoch + 1, step=0, steps=self.steps)

    def on_train_batch_end(self, batch, logs=None):
        if self.cancel.is_set():
            self.model.stop_training = True
        now = time.time()
        if now - self.last_write >= BATCH_EVENT_SECONDS:
            self.last_write = now
            self.log.emit("batch", epoch=len(self.history) + 1, step=batch + 1, steps=self.steps,
                          seconds=now - self.epoch_start, learning_rate=_current_lr(self.model), **_floats(logs))

    def on_epoch_end(self, epoch, logs=None):
        if self.cancel.is_set():  # a partial epoch's numbers would mislead
            return
        record = {"epoch": epoch + 1, **_floats(logs), "learning_rate": _current_lr(self.model),
                  "seconds": round(time.time() - self.epoch_start, 3)}
        self.history.append(record)
        self.log.emit("epoch", **record)


def _floats(logs) -> dict:
    return {k: float(v) for k, v in (logs or {}).items() if k in
            ("loss", "accuracy", "val_loss", "val_accuracy", "val_digit_error")}


def _current_lr(model) -> float:
    return float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))


def fit(config: TrainConfig, train_split: Split, validation: Split, mode: str, log, cancel: threading.Event,
        store: ModelStore):
    """Train a fresh model (or fine-tune `config.from_version` of `store`) under the `mode`'s
    tf.distribute strategy (digits.distribution), its progress going to `log`. model.fit for one
    machine; the custom loop below across machines.
    -> (the model, the LiveLog holding its epoch history)."""
    strategy = distribution.make_strategy(mode)
    replicas = strategy.num_replicas_in_sync
    devices = distribution.devices(strategy)
    print(f"training on {', '.join(devices)} ({replicas} replica(s), --distribute {mode})", flush=True)
    log.emit("device", devices=devices, replicas=replicas, distribute=mode)
    config = distribution.scaled(config, replicas)  # the global batch and learning rate
    steps = math.ceil(len(train_split) / config.batch_size)
    with strategy.scope():  # the model's and optimizer's variables are the strategy's
        parent = store.load(config.from_version) if config.from_version else None
        model = compiled_model(config, steps, parent)
    live = LiveLog(log, cancel, steps)
    if mode == "multiworker":
        fit_across_workers(strategy, model, config, train_split, validation, live)
        return model, live
    model.fit(make_dataset(train_split, config, training=True), epochs=config.epochs,
              validation_data=make_dataset(validation, config, training=False),
              callbacks=[live], verbose=1 if sys.stdout.isatty() else 2,
              shuffle=False)  # the dataset reshuffles itself every epoch
    return model, live


def fit_across_workers(strategy, model: keras.Model, config: TrainConfig, train_split: Split, validation: Split,
                       live: LiveLog) -> None:
    """The training loop for MultiWorkerMirroredStrategy: each worker reads its own shard of the
    training images, each replica runs one step on its part of the global batch, and the gradients
    are all-reduced. Every worker prints its steps; LiveLog writes the event log (the chief's)."""
    global_batch = config.batch_size

    def shard(context: tf.distribute.InputContext) -> tf.data.Dataset:
        part = Split(train_split.images[context.input_pipeline_id::context.num_input_pipelines],
                     train_split.labels[context.input_pipeline_id::context.num_input_pipelines])
        per_replica = dataclasses.replace(config, batch_size=context.get_per_replica_batch_size(global_batch))
        return make_dataset(part, per_replica, training=True).repeat()  # every worker takes `steps` steps

    batches = iter(strategy.distribute_datasets_from_function(shard))
    loss_function = keras.losses.CategoricalCrossentropy(reduction=None)

    def replica_step(images, targets, weights):
        with tf.GradientTape() as tape:
            probabilities = model(images, training=True)                  # [B/replicas, 10]
            per_image = loss_function(targets, probabilities) * weights    # [B/replicas]
            loss = tf.nn.compute_average_loss(per_image, global_batch_size=global_batch)
        gradients = tape.gradient(loss, model.trainable_variables)
        model.optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        right = tf.reduce_sum(tf.cast(tf.argmax(probabilities, 1) == tf.argmax(targets, 1), tf.float32))
        return loss, right, tf.cast(tf.shape(images)[0], tf.float32)

    @tf.function
    def step(iterator):
        per_replica = strategy.run(replica_step, args=next(iterator))
        return [strategy.reduce(tf.distribute.ReduceOp.SUM, value, axis=None) for value in per_replica]

    kind, index = distribution.cluster_role()
    live.set_model(model)
    for epoch in range(config.epochs):
        live.on_epoch_begin(epoch)
        loss_sum = right = seen = 0.0
        last_print = 0.0
        for number in range(1, live.steps + 1):
            loss, step_right, step_seen = (float(value) for value in step(batches))
            loss_sum, right, seen = loss_sum + loss, right + step_right, seen + step_seen
            logs = {"loss": loss_sum / number, "accuracy": right / seen}
            live.on_train_batch_end(number - 1, logs)
            if time.time() - last_print >= BATCH_EVENT_SECONDS or number in (1, live.steps):
                last_print = time.time()
                print(f"[{kind} {index}] epoch {epoch + 1}/{config.epochs} step {number}/{live.steps} "
                      f"loss {logs['loss']:.4f} accuracy {logs['accuracy']:.4f}", flush=True)
            if live.cancel.is_set():
                return
        live.on_epoch_end(epoch, {**logs, **validation_metrics(model, validation)})


def validation_metrics(model: keras.Model, validation: Split) -> dict:
    """Unweighted loss and accuracy on the validation images (each worker computes them alike)."""
    probabilities = Predictor(model).probabilities(validation.images.astype(np.float32) / 255.0)
    labels = validation.labels.astype(np.int64)
    picked = np.clip(probabilities[np.arange(len(labels)), labels], 1e-7, 1.0)
    return {"val_loss": float(-np.log(picked).mean()),
            "val_accuracy": float((probabilities.argmax(axis=1) == labels).mean())}


class PrintedLog:
    """The event log of a worker that is not the chief: its events go to its own stdout only."""

    def emit(self, event: str, **fields) -> None:
        if event in ("epoch", "device"):
            print(json.dumps({"event": event, **fields}, default=float), flush=True)


def train_worker(config: TrainConfig, mode: str, data_dir: str | None = None) -> None:
    """A worker that is not the chief: takes part in every step, writes nothing to the store."""
    data = load_mnist(data_dir)
    train_split = Split(data.train.images[:config.limit], data.train.labels[:config.limit]) \
        if config.limit else data.train
    samples = personal.samples_for(config)  # the same mix as the chief's (same seed)
    if samples is not None:
        train_split, _ = personal.mixed(train_split, samples, config.samples_share)
    fit(config, train_split, data.validation, mode, PrintedLog(), threading.Event(), ModelStore())


@dataclass(frozen=True)
class RunContext:
    """What one training run writes to and answers to: the store and the version id it saves,
    its event log, the cancel flag, and how the result is recorded."""
    config: TrainConfig
    store: ModelStore
    run_id: str
    log: EventLog
    cancel: threading.Event
    command: str                   # the command line that reproduces the run, kept in meta.json
    ship: bool = False             # overwrite the shipped default instead of adding a version
    distribute: str = "none"       # a digits.distribution mode
    force: bool = False            # with config.activate: activate even past the quality gate


def train(config: TrainConfig, store: ModelStore, run_id: str, cancel: threading.Event | None = None,
          data: Mnist | None = None, data_dir: str | None = None, command: str | None = None,
          ship: bool = False, distribute: str = "none", force: bool = False) -> Path:
    """Train, evaluate and save one version named `run_id`; events go to the run's log.
    Raises Cancelled (nothing saved) when `cancel` is set; any error is logged as 'failed'."""
    run = RunContext(config, store, run_id, EventLog(store.runs_dir / run_id), cancel or threading.Event(),
                     command or "python train.py " + " ".join(config.to_argv()), ship, distribute, force)
    run.log.emit("start", pid=os.getpid(), config=config.to_dict())
    try:
        run.log.emit("data")
        if config.task == "number":
            from digits.number_training import train_numbers

            path = train_numbers(run, data or load_mnist(data_dir))
        else:
            path = _train(run, data or load_mnist(data_dir))
    except Cancelled:
        run.log.emit("cancelled")
        raise
    except BaseException as err:
        run.log.emit("failed", error=f"{type(err).__name__}: {err}")
        raise
    return path


def _train(run: RunContext, data: Mnist) -> Path:
    config, log = run.config, run.log
    started = time.time()
    train_split = Split(data.train.images[:config.limit], data.train.labels[:config.limit]) \
        if config.limit else data.train
    mnist_images = len(train_split)
    samples = personal.samples_for(config)
    repeats = 0
    if samples is not None:
        train_split, repeats = personal.mixed(train_split, samples, config.samples_share)
    _check(run.cancel)

    model, live = fit(config, train_split, data.validation, run.distribute, log, run.cancel, run.store)
    _check(run.cancel)
    train_seconds = time.time() - started

    log.emit("evaluating")
    inference_model = _without_optimizer(model, model.name)
    flatbuffer = to_tflite(inference_model)  # for LiteRT: serving never imports TensorFlow
    # The test-set results of what is served (the export), kept beside the version (digits.results).
    results = compute_results(LitePredictor(flatbuffer), data.test)
    report = results.evaluation.report()
    meta = {
        "id": run.run_id,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "preset": config.preset,
        "config": config.to_dict(),
        "augmentation": dataclasses.asdict(settings_for_run(len(train_split) * config.epochs))
        if config.augment else None,
        "architecture": {"name": model.name, "parameters": int(model.count_params()),
                         "input": "float32 [N, 28, 28, 1] in [0, 1], ink = 1",
                         "output": "softmax [N, 10]"},
        "data": {"source": str(data.source), "sha256": data.digests, "train_images": mnist_images,
                 "validation_images": len(data.validation), "test_images": len(data.test)},
        "history": live.history,
        "test": report,
        "train_seconds": round(train_seconds, 1),
        "versions": library_versions(),
        "command": run.command,
    }
    if config.from_version or samples is not None:
        meta["fine_tune"] = personal.fine_tune_record(
            config, samples, repeats, run.store.meta(config.from_version) if config.from_version else None)
    return save_version(run, inference_model, flatbuffer, meta, {RESULTS_FILE: encode(results)})


def save_version(run: RunContext, inference_model: keras.Model, flatbuffer: bytes, meta: dict,
                 files: dict[str, bytes]) -> Path:
    """Write the model (without optimizer), its LiteRT export, `files` and meta.json as the run's
    version in one atomic step; activate it when asked."""
    _check(run.cancel)
    run.log.emit("saving")

    def write(folder: Path) -> None:
        inference_model.save(folder / "model.keras")
        (folder / "model.tflite").write_bytes(flatbuffer)
        for name, data in files.items():
            (folder / name).write_bytes(data)
        write_json(folder / "meta.json", {**meta, "tflite": tflite_record(folder / "model.keras", flatbuffer)})
        _check(run.cancel)  # still in the temporary folder: a cancel here leaves the store untouched

    path = run.store.save(run.run_id, write, overwrite=run.ship)
    not_activated = None
    if run.config.activate and not run.ship:
        from digits.gate import activation_concern

        not_activated = None if run.force else activation_concern(run.store, run.run_id)
        if not_activated:
            print(f"not made active: {not_activated.replace('`', '')} (add --force to activate it anyway)",
                  file=sys.stderr, flush=True)
        else:
            run.store.activate(run.run_id)
    run.log.emit("done", version=run.run_id, test_accuracy=meta["test"]["accuracy"], path=str(path),
                 not_activated=not_activated)
    return path


def _without_optimizer(model: keras.Model, architecture: str) -> keras.Model:
    """The same network and weights in a fresh, uncompiled model: a file a third the size, with
    no optimizer state in it (the clone of a compiled model would still carry its optimizer)."""
    fresh = build_model(architecture)
    fresh.set_weights(model.get_weights())
    return fresh


def _check(cancel: threading.Event) -> None:
    if cancel.is_set():
        raise Cancelled()


def library_versions() -> dict:
    import PIL

    return {"python": platform.python_version(), "tensorflow": tf.__version__, "keras": keras.__version__,
            "numpy": np.__version__, "pillow": PIL.__version__}
