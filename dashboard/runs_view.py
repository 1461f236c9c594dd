"""The Train page's building blocks: form values -> TrainConfig, a run's progress, ETA and tables.

Pure functions (no Streamlit), so they are tested directly.
"""

from __future__ import annotations

import re
import time
from argparse import ArgumentTypeError
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from digits.config import PRESETS, TRAIN_SIZE, ConfigError, TrainConfig, parse_class_weight, preset
from digits.runs import RunStatus

PHASE_LABELS = {
    "queued": "Starting train.py…",
    "start": "Loading TensorFlow…",
    "data": "Loading MNIST and building the model…",
    "evaluating": "Evaluating the new model on the 10,000 test images…",
    "saving": "Saving the new version…",
    "stop": "Stopping after the current batch…",
}
STATE_LABELS = {
    "running": "running", "done": "finished", "cancelled": "cancelled", "failed": "failed",
    "interrupted": "interrupted (the training process ended without finishing)",
}


# -- the form ------------------------------------------------------------------------------
def format_class_weights(weights: dict[int, float]) -> str:
    return " ".join(f"{digit}={weight:g}" for digit, weight in sorted(weights.items()))


def preset_label(name: str) -> str:
    """"strong: 20 epochs, batch 128, augmentation, class weights 9=2" (from the preset itself)."""
    config = PRESETS[name]
    extras = ["augmentation"] if config.augment else []
    if config.class_weights:
        extras.append(f"class weights {format_class_weights(config.class_weights)}")
    return f"{name}: {config.epochs} epochs, batch {config.batch_size}" + "".join(f", {extra}" for extra in extras)


def parse_class_weights(text: str) -> dict[int, float]:
    """"9=2 4=1.5" (spaces or commas between) -> {9: 2.0, 4: 1.5}; ConfigError naming a bad entry."""
    weights = {}
    for entry in filter(None, re.split(r"[\s,;]+", text.strip())):
        try:
            digit, weight = parse_class_weight(entry)
        except ArgumentTypeError as err:
            raise ConfigError(f"class weights: {err}") from None
        weights[digit] = weight
    return weights


def config_from_form(preset_name: str, *, epochs: int, batch_size: int, learning_rate: float,
                     schedule: str, augment: bool, class_weights: str, subset_size: int | None,
                     name: str, activate: bool, from_version: str | None = None,
                     writers: Sequence[str] = ()) -> TrainConfig:
    """The validated TrainConfig for the form's values (no subset size = every training image, an
    empty name = a time stamp, no writers = no samples); ConfigError with every problem otherwise."""
    return preset(preset_name, epochs=int(epochs), batch_size=int(batch_size), learning_rate=float(learning_rate),
                  schedule=schedule, augment=bool(augment), class_weights=parse_class_weights(class_weights),
                  limit=None if subset_size is None else int(subset_size), name=name.strip() or None,
                  activate=bool(activate), from_version=from_version, samples=bool(writers),
                  writers=tuple(writers)).validate()


# -- a run's progress ------------------------------------------------------------------------
def format_duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


@dataclass(frozen=True)
class Progress:
    fraction: float         # of the current epoch, 0..1
    caption: str            # what the bar stands for, with the time left


def run_progress(status: RunStatus) -> Progress:
    """The progress bar of a running run: within the current epoch, with its ETA and the run's."""
    if status.phase in PHASE_LABELS or (status.progress is None and not status.epochs):
        return Progress(1.0 if status.phase in ("evaluating", "saving") else 0.0,
                        PHASE_LABELS.get(status.phase, "Starting…"))
    total = status.total_epochs
    of_total = f"/{total}" if total else ""
    batch = status.progress
    if batch is None:  # between epochs: the next one has not reported yet
        done = len(status.epochs)
        return Progress(1.0, f"Epoch {done}{of_total} done")
    epoch, step, steps = batch["epoch"], batch.get("step", 0), max(1, batch.get("steps", 1))
    seconds = batch.get("seconds") or 0.0
    caption = f"Epoch {epoch}{of_total} · step {step}/{steps}"
    if step > 0 and seconds > 0:
        epoch_left = seconds / step * (steps - step)
        caption += f" · about {format_duration(epoch_left)} left in this epoch"
        finished = [record["seconds"] for record in status.epochs if record.get("seconds")]
        epoch_seconds = sum(finished) / len(finished) if finished else seconds / step * steps
        if total and total > epoch:
            caption += f", {format_duration(epoch_left + (total - epoch) * epoch_seconds)} in all"
    return Progress(min(1.0, step / steps), caption)


def current_numbers(status: RunStatus) -> dict[str, float]:
    """The numbers to show for the epoch in progress: its running loss and accuracy, and the last
    finished epoch's validation loss and accuracy."""
    numbers = {}
    source = status.progress if status.progress and "loss" in status.progress else \
        (status.epochs[-1] if status.epochs else {})
    for key in ("loss", "accuracy"):
        if key in source:
            numbers[key] = source[key]
    if status.epochs:
        for key in ("val_loss", "val_accuracy", "val_digit_error"):  # the last: number runs only
            if status.epochs[-1].get(key) is not None:
                numbers[key] = status.epochs[-1][key]
    return numbers


# -- tables ------------------------------------------------------------------------------------
def settings_summary(config: dict) -> dict:
    """The settings of a run or version, as table columns."""
    weights = config.get("class_weights") or {}
    return {
        "preset": config.get("preset"),
        "epochs": config.get("epochs"),
        "batch size": config.get("batch_size"),
        "learning rate": config.get("learning_rate"),
        "schedule": config.get("schedule"),
        "augment": config.get("augment"),
        "class weights": format_class_weights({int(k): float(v) for k, v in weights.items()}) or "none",
        "training images": (config.get("limit") or TRAIN_SIZE) if config else None,
    }


def run_rows(statuses: Iterable[RunStatus], now: float | None = None) -> list[dict]:
    now = now or time.time()
    rows = []
    for status in statuses:
        duration = ((status.ended or now) - status.started) if status.started else None
        rows.append({
            "run": status.run_id,
            "state": status.state,
            "test accuracy": status.test_accuracy,
            "epochs done": len(status.epochs),
            **settings_summary(status.config),
            "started": time.strftime("%Y-%m-%d %H:%M", time.localtime(status.started)) if status.started else "",
            "duration": format_duration(duration) if duration is not None else "",
            "error": status.error or "",
        })
    return rows
