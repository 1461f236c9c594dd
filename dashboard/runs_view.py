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


def settings_text(config: TrainConfig) -> str:
    """"preset seed, 5 epochs, batch 64, learning rate 0.001, …": what a run really starts with."""
    return (f"preset {config.preset}, {config.epochs} epochs, batch {config.batch_size}, learning rate "
            f"{config.learning_rate:g}, {config.schedule} schedule, {'' if config.augment else 'no '}augmentation, "
            f"class weights {format_class_weights(config.class_weights) or 'none'}, "
            f"{min(config.limit or TRAIN_SIZE, TRAIN_SIZE):,} training images")


def config_from_form(preset_name: str, *, epochs: int, batch_size: int | None, learning_rate: float,
                     schedule: str, augment: bool, class_weights: str, subset_size: int | None,
                     name: str, activate: bool, from_version: str | None = None,
                     writers: Sequence[str] = ()) -> TrainConfig:
    """The validated TrainConfig for the form's values (no subset size = every training image, no
    batch size = the preset's scaled to the subset, the preset's learning rate = the preset's rule
    (its quick-run rate for a tiny run), an empty name = a time stamp, no writers = no samples);
    ConfigError with every problem otherwise."""
    rate = float(learning_rate)
    return preset(preset_name, epochs=int(epochs), batch_size=None if batch_size is None else int(batch_size),
                  learning_rate=None if rate == PRESETS[preset_name].learning_rate else rate,
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


def run_progress(status: RunStatus, now: float | None = None) -> Progress:
    """The progress bar of a running run: within the current epoch, with its ETA and the run's.

    Between two reports of the training process (one per compiled call of several steps, at most
    every 0.2 s) the step is extrapolated at the run's pace, so the bar moves with every
    refresh; the pace is the run's average since its first step, not the last call's, so the ETA
    does not jump (and the first call, which includes compiling the step, does not count)."""
    now = time.time() if now is None else now
    batch = status.progress
    if status.stop_requested is not None:
        fraction = min(1.0, batch["step"] / max(1, batch.get("steps", 1))) if batch else 0.0
        return Progress(fraction, "Stopping after the current batch… nothing will be saved.")
    if status.phase in PHASE_LABELS or (batch is None and not status.epochs):
        return Progress(1.0 if status.phase in ("evaluating", "saving") else 0.0,
                        PHASE_LABELS.get(status.phase, "Starting…"))
    total = status.total_epochs
    of_total = f"/{total}" if total else ""
    if batch is None:  # between epochs: the next one has not reported yet
        return Progress(1.0, f"Epoch {len(status.epochs)}{of_total} done; validating…")
    epoch, steps = batch["epoch"], max(1, batch.get("steps", 1))
    pace = steps_per_second(status)
    if not batch.get("step") or pace is None:
        first = "compiling the training step" if epoch == 1 else "starting"
        return Progress(0.0, f"Epoch {epoch}{of_total} · {first}…")
    step = min(steps, batch["step"] + int(pace * max(0.0, now - batch["time"])))
    caption = f"Epoch {epoch}{of_total} · step {step}/{steps}"
    epoch_left = (steps - step) / pace
    caption += f" · about {format_duration(epoch_left)} left in this epoch"
    if total and total > epoch:
        caption += f", {format_duration(epoch_left + (total - epoch) * steps / pace)} in all"
    return Progress(min(1.0, step / steps), caption)


def steps_per_second(status: RunStatus) -> float | None:
    """The run's training pace so far, in steps per second of wall time (validation pauses
    included), from its first report after the first compiled call; None before two reports
    (or one, within the first epoch: then that report's own pace)."""
    points = [(global_step(event), event["time"]) for event in status.steps]
    if len(points) >= 2 and points[-1][1] > points[0][1]:
        return (points[-1][0] - points[0][0]) / (points[-1][1] - points[0][1])
    if points and status.steps[-1].get("seconds"):
        return status.steps[-1]["step"] / status.steps[-1]["seconds"]
    return None


def global_step(event: dict) -> int:
    return (event["epoch"] - 1) * event.get("steps", 1) + event["step"]


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


def percent_or_dash(value: float | None) -> str:
    """A table cell for an accuracy: '99.61%', or '—' for a run or version that has none (a
    number column would show 'None')."""
    return "—" if value is None else f"{value:.2%}"


def run_rows(statuses: Iterable[RunStatus], now: float | None = None) -> list[dict]:
    now = now or time.time()
    rows = []
    for status in statuses:
        duration = ((status.ended or now) - status.started) if status.started else None
        rows.append({
            "run": status.run_id,
            "state": status.state,
            "test accuracy": percent_or_dash(status.test_accuracy),
            "epochs done": len(status.epochs),
            **settings_summary(status.config),
            "started": time.strftime("%Y-%m-%d %H:%M", time.localtime(status.started)) if status.started else "",
            "duration": format_duration(duration) if duration is not None else "",
            "error": status.error or "",
        })
    return rows


# -- curves, diffs and search ------------------------------------------------------------------
def run_curve_data(status: RunStatus) -> dict:
    """A run's numbers for `charts.run_curves`: per report of the training process (at most every
    0.2 s), the mean loss and accuracy of the steps since the previous report (Keras
    reports the running mean since the epoch began; the difference of two gives the interval's),
    the learning rate; and each finished epoch's validation loss and accuracy."""
    steps = {"x": [], "loss": [], "accuracy": [], "learning_rate": []}
    previous: dict[int, tuple[int, float, float]] = {}  # epoch -> (step, loss sum, accuracy sum)
    for event in status.steps:
        step, per_epoch = event["step"], max(1, event.get("steps", 1))
        before, loss_sum, accuracy_sum = previous.get(event["epoch"], (0, 0.0, 0.0))
        if step <= before or "loss" not in event:
            continue
        previous[event["epoch"]] = (step, event["loss"] * step, event.get("accuracy", 0.0) * step)
        steps["x"].append(event["epoch"] - 1 + step / per_epoch)
        steps["loss"].append((event["loss"] * step - loss_sum) / (step - before))
        steps["accuracy"].append((event.get("accuracy", 0.0) * step - accuracy_sum) / (step - before))
        steps["learning_rate"].append(event.get("learning_rate"))
    epochs = {"x": [record["epoch"] for record in status.epochs],
              "val_loss": [record.get("val_loss") for record in status.epochs],
              "val_accuracy": [record.get("val_accuracy") for record in status.epochs]}
    return {"steps": steps, "epochs": epochs}


def run_summary(status: RunStatus) -> dict:
    """What two runs are compared on: every setting and every result."""
    last = status.epochs[-1] if status.epochs else {}
    return {**settings_summary(status.config), "seed": status.config.get("seed"), "state": status.state,
            "test accuracy": status.test_accuracy, "epochs done": len(status.epochs),
            "last validation accuracy": last.get("val_accuracy"), "last validation loss": last.get("val_loss"),
            "training time": format_duration(sum(record.get("seconds", 0) for record in status.epochs))
            if status.epochs else None, "error": status.error}


def diff_rows(first: RunStatus, second: RunStatus) -> list[dict]:
    """The two runs' settings and results side by side, one row each, differing rows first."""
    left, right = run_summary(first), run_summary(second)
    rows = [{"": key, first.run_id: _shown(left[key]), second.run_id: _shown(right[key]),
             "differs": left[key] != right[key]} for key in left]
    return sorted(rows, key=lambda row: not row["differs"])


def _shown(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def matches(query: str, *texts) -> bool:
    """Whether every word of `query` appears (case-insensitively) in one of `texts` (ids, notes, tags)."""
    haystack = " ".join(str(text) for text in texts if text).lower()
    return all(word in haystack for word in query.lower().split())
