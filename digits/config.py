"""One typed training config, shared by `train.py` and the dashboard's Train page."""

from __future__ import annotations

import argparse
import math
from dataclasses import asdict, dataclass, field, replace

from digits.data import VALIDATION_SIZE
from digits.store import ACTIVE_FILE, DIGIT_TASK, NUMBER_TASK

TRAIN_SIZE = 60_000 - VALIDATION_SIZE
DEFAULT_CLASS_WEIGHTS = {9: 2.0}  # the tutorial's fix: 4 and 9 are confused, so 9 counts double
# A small subset still gets this many gradient steps per epoch, and under a one-cycle schedule at
# least QUICK_MIN_STEPS in all (a 1-epoch run of 2,000 images: 200 steps of 10): its batches
# shrink (never below MIN_QUICK_BATCH, never above the preset's). A constant rate does not anneal,
# so more, noisier steps end no better there. 55,000 images at batch 128 (430 steps) are unchanged.
# Chosen on the validation split (bench/quick_sweep.py, BENCHMARKS.md).
QUICK_STEPS_PER_EPOCH = 100
QUICK_MIN_STEPS = 200
MIN_QUICK_BATCH = 10
# A tiny run sees at most this many images in all (subset x epochs): it augments lightly
# (digits.augment) and takes the quick-run rate of a preset listed below, when no rate is given.
TINY_RUN_IMAGES = 5_000
# 'seed' keeps the tutorial's constant rate, 1e-3, which in 100 steps left a 2,000-image run at
# ~89% on the validation split; 3x gave ~93% (bench/quick_sweep.py). The one-cycle presets are fine.
QUICK_LEARNING_RATES = {"seed": 3e-3}


class ConfigError(ValueError):
    """A setting is invalid; the message names each bad value and why."""


@dataclass(frozen=True)
class TrainConfig:
    preset: str = "strong"            # model architecture and recipe: "seed", "fast" or "strong"
    epochs: int = 20
    batch_size: int = 128
    learning_rate: float = 3e-3       # peak rate for the one-cycle schedule
    schedule: str = "onecycle"        # "constant" or "onecycle"
    augment: bool = True              # polarity, background, stroke thickness, rotation, shift, zoom
    class_weights: dict[int, float] = field(default_factory=lambda: dict(DEFAULT_CLASS_WEIGHTS))
    limit: int | None = None          # train on the first N training images only
    seed: int = 0
    name: str | None = None           # version id; default: time stamp + preset
    activate: bool = False            # make the new version the active one
    from_version: str | None = None   # start from this version's weights (its architecture) instead of random ones
    samples: bool = False             # mix the user's samples (their 80% training split) into the data
    writers: tuple[str, ...] = ()     # whose samples; empty = every writer's
    samples_share: float = 0.2        # the samples' share of the images of an epoch (oversampled to it)

    def validate(self) -> TrainConfig:
        errors = []
        if self.preset not in PRESETS:
            errors.append(f"preset {self.preset!r} is unknown; choose one of {', '.join(PRESETS)}")
        if self.schedule not in SCHEDULES:
            errors.append(f"schedule {self.schedule!r} is unknown; choose one of {', '.join(SCHEDULES)}")
        if not isinstance(self.epochs, int) or self.epochs < 1:
            errors.append(f"epochs = {self.epochs}: must be a whole number of at least 1")
        if self.limit is not None and (not isinstance(self.limit, int) or self.limit < 1):
            errors.append(f"subset size = {self.limit}: must be at least 1 image (or none for all)")
        train_size = min(self.limit or TRAIN_SIZE, TRAIN_SIZE)
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            errors.append(f"batch size = {self.batch_size}: must be a whole number of at least 1")
        elif self.batch_size > train_size:
            errors.append(f"batch size = {self.batch_size}: larger than the {train_size} training images")
        if not (isinstance(self.learning_rate, (int, float)) and math.isfinite(self.learning_rate)
                and self.learning_rate > 0):
            errors.append(f"learning rate = {self.learning_rate}: must be a finite number above 0")
        for digit, weight in self.class_weights.items():
            if not isinstance(digit, int) or not 0 <= digit <= 9:
                errors.append(f"class weight for {digit!r}: the class must be a digit 0-9")
            if not (isinstance(weight, (int, float)) and math.isfinite(weight) and weight >= 0):
                errors.append(f"class weight {digit}={weight}: the weight must be a finite number >= 0")
        if self.name is not None:
            from digits.store import StoreError, validate_version_id
            try:
                validate_version_id(self.name)
            except StoreError as err:
                errors.append(f"name: {err}")
        errors += self._fine_tune_errors()
        if self.task == NUMBER_TASK and self.samples:
            errors.append("samples are single digits: a number model does not train on them (leave out --samples)")
        if errors:
            raise ConfigError("; ".join(errors))
        return self

    @property
    def task(self) -> str:
        """"number" for the number reader's preset (whole numbers, CTC), "digit" for the others."""
        return NUMBER_TASK if self.preset == NUMBER_TASK else DIGIT_TASK
    def _fine_tune_errors(self) -> list[str]:
        errors = []
        if self.preset == "personal" and not self.from_version:
            errors.append("the 'personal' preset fine-tunes a version: give the version to start from (--from)")
        if self.from_version is not None:
            from digits.store import StoreError, validate_version_id
            try:
                validate_version_id(self.from_version)
            except StoreError as err:
                errors.append(f"start from: {err}")
        if self.writers and not self.samples:
            errors.append("writers are given but samples are not included (add --samples)")
        for writer in self.writers:
            if not isinstance(writer, str) or not writer.strip():
                errors.append(f"writer {writer!r}: must be a non-empty name")
        if not (isinstance(self.samples_share, (int, float)) and 0 < self.samples_share < 1):
            errors.append(f"samples share = {self.samples_share}: must be between 0 and 1 (exclusive)")
        return errors

    def to_dict(self) -> dict:
        out = asdict(self)
        out["class_weights"] = {str(k): v for k, v in self.class_weights.items()}
        out["writers"] = list(self.writers)
        return out

    def to_argv(self) -> list[str]:
        """The `train.py` options that reproduce this config exactly."""
        argv = [
            "--preset", self.preset, "--epochs", str(self.epochs), "--batch-size", str(self.batch_size),
            "--learning-rate", repr(self.learning_rate), "--schedule", self.schedule,
            "--augment" if self.augment else "--no-augment", "--seed", str(self.seed),
        ]
        argv += ["--class-weight", *(f"{k}={v}" for k, v in sorted(self.class_weights.items()))] \
            if self.class_weights else ["--no-class-weights"]
        if self.limit:
            argv += ["--limit", str(self.limit)]
        if self.name:
            argv += ["--name", self.name]
        if self.activate:
            argv.append("--activate")
        if self.from_version:
            argv += ["--from", self.from_version]
        if self.samples != PRESETS[self.preset].samples:
            argv.append("--samples" if self.samples else "--no-samples")
        argv += [arg for writer in self.writers for arg in ("--writer", writer)]
        if self.samples_share != PRESETS[self.preset].samples_share:
            argv += ["--samples-share", repr(self.samples_share)]
        return argv


SCHEDULES = ("constant", "onecycle")
PRESETS: dict[str, TrainConfig] = {
    # The tutorial exactly: its CNN, Adam at Keras' default 1e-3, 5 epochs, batch 64, no extras.
    "seed": TrainConfig(preset="seed", epochs=5, batch_size=64, learning_rate=1e-3,
                        schedule="constant", augment=False, class_weights={}),
    # The quickest way to 99% test accuracy: a leaner CNN (model.build_fast) with a one-cycle rate
    # peaking at 5x the seed's, batch 128, two epochs (see BENCHMARKS.md).
    "fast": TrainConfig(preset="fast", epochs=2, batch_size=128, learning_rate=5e-3,
                        schedule="onecycle", augment=False, class_weights={}),
    # The shipped default: a wider CNN with batch norm and dropout, one-cycle rate, augmentation.
    "strong": TrainConfig(),
    # The number reader (`--task number`): a CNN with CTC over 32x256 strips of synthetic numbers
    # (digits.number_training), fresh numbers every epoch, no class weights. --augment warps the
    # MNIST digits they are written with (number_training.NUMBER_GLYPHS); off by default: it helped
    # on unseen writers' digits but cost MNIST-like numbers 0.5-1.5 points (BENCHMARKS.md, number-v13).
    "number": TrainConfig(preset="number", epochs=4, batch_size=64, learning_rate=3e-3,
                          schedule="onecycle", augment=False, class_weights={}),
    # A short fine-tune of an existing version (its architecture, --from) on the user's samples
    # mixed into a slice of MNIST, with the shipped default's class weights: a low one-cycle rate
    # and batch norm held fixed, so MNIST is not forgotten (BENCHMARKS.md).
    "personal": TrainConfig(preset="personal", epochs=2, batch_size=128, learning_rate=3e-4,
                            schedule="onecycle", augment=True, limit=15_000, samples=True, samples_share=0.15),
}


def preset(preset_name: str, **overrides) -> TrainConfig:
    """The preset with `overrides`; a batch size left out (or None) is the preset's, made smaller
    for a small subset (see `subset_batch_size`), and a learning rate left out is the preset's, or
    its quick-run rate for a tiny run (see `subset_learning_rate`)."""
    if preset_name not in PRESETS:
        raise ConfigError(f"preset {preset_name!r} is unknown; choose one of {', '.join(PRESETS)}")
    limit = overrides.get("limit", PRESETS[preset_name].limit)
    epochs = overrides.get("epochs", PRESETS[preset_name].epochs)
    if overrides.get("batch_size") is None:
        annealed = overrides.get("schedule", PRESETS[preset_name].schedule) == "onecycle"
        overrides["batch_size"] = subset_batch_size(PRESETS[preset_name].batch_size, limit, epochs, annealed)
    if overrides.get("learning_rate") is None:
        overrides["learning_rate"] = subset_learning_rate(preset_name, limit, epochs)
    return replace(PRESETS[preset_name], **overrides)


def subset_learning_rate(preset_name: str, limit: int | None, epochs: int) -> float:
    """The preset's learning rate, or its QUICK_LEARNING_RATES entry for a run of at most
    TINY_RUN_IMAGES images in all."""
    images = min(limit, TRAIN_SIZE) * epochs if isinstance(limit, int) and isinstance(epochs, int) else None
    if images is not None and 0 < images <= TINY_RUN_IMAGES and preset_name in QUICK_LEARNING_RATES:
        return QUICK_LEARNING_RATES[preset_name]
    return PRESETS[preset_name].learning_rate


def subset_batch_size(batch_size: int, limit: int | None, epochs: int = 1, annealed: bool = True) -> int:
    """The preset's batch size, shrunk so a subset of `limit` images still takes about
    QUICK_STEPS_PER_EPOCH steps an epoch and, when the rate anneals, QUICK_MIN_STEPS over its
    `epochs`: 16 steps of 128 images learn little, 200 of 10 a lot."""
    if not isinstance(limit, int) or limit < 1 or limit >= TRAIN_SIZE:
        return batch_size
    epochs = epochs if isinstance(epochs, int) and epochs >= 1 else 1  # a bad value is validate()'s to report
    steps = max(QUICK_STEPS_PER_EPOCH, math.ceil(QUICK_MIN_STEPS / epochs) if annealed else 0)
    return max(1, min(batch_size, max(MIN_QUICK_BATCH, limit // steps), limit))


def parse_class_weight(text: str) -> tuple[int, float]:
    digit, sep, weight = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"{text!r}: write a class weight as DIGIT=WEIGHT, e.g. 9=2.0")
    try:
        return int(digit), float(weight)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: DIGIT must be 0-9 and WEIGHT a number") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Typed `train.py` options; a value left out takes the preset's default."""
    parser.add_argument("--preset", choices=list(PRESETS), default=None,
                        help="model and recipe: 'seed' is the tutorial's, 'fast' reaches 99%% soonest, "
                             "'strong' is the shipped default's (the default), 'number' reads whole numbers")
    parser.add_argument("--task", choices=list(ACTIVE_FILE), default=None,
                        help="'digit' (one digit, the default) or 'number' (whole numbers: the 'number' preset)")
    parser.add_argument("--epochs", type=int, help="passes over the training images")
    parser.add_argument("--batch-size", type=int,
                        help="images per gradient step (default: the preset's, smaller for a small --limit "
                             f"so an epoch has about {QUICK_STEPS_PER_EPOCH} steps and the run "
                             f"{QUICK_MIN_STEPS} at least)")
    parser.add_argument("--learning-rate", type=float, help="Adam's (peak) learning rate")
    parser.add_argument("--schedule", choices=SCHEDULES, help="learning-rate schedule")
    parser.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None,
                        help="random polarity, background, stroke thickness, rotation, shift and zoom")
    parser.add_argument("--class-weight", type=parse_class_weight, nargs="+", metavar="DIGIT=WEIGHT",
                        help="per-class loss weights, e.g. 9=2.0 4=1.5 (default 9=2.0 for 'strong')")
    parser.add_argument("--no-class-weights", action="store_true", help="weigh every class the same")
    parser.add_argument("--limit", type=int, help="train on the first N training images only")
    parser.add_argument("--seed", type=int, help="random seed for weights, shuffling and augmentation")
    parser.add_argument("--name", help="version id for the new model (letters, digits, '.', '_', '-')")
    parser.add_argument("--activate", action="store_true", help="make the new version the active model")
    parser.add_argument("--from", dest="from_version", metavar="VERSION",
                        help="start from this version's weights (and its network) instead of random ones")
    parser.add_argument("--samples", action=argparse.BooleanOptionalAction, default=None,
                        help="mix your samples (`python -m digits samples`; their 80%% training split) into the "
                             "data, oversampled (default: on for 'personal')")
    parser.add_argument("--writer", dest="writers", action="append", metavar="NAME",
                        help="only this writer's samples (repeat for several; default: every writer's)")
    parser.add_argument("--samples-share", type=float,
                        help="the samples' share of each epoch's images, 0-1 (default 0.2; 0.15 for 'personal')")


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    overrides = {key: getattr(args, key) for key in
                 ("epochs", "batch_size", "learning_rate", "schedule", "augment", "limit", "seed", "name",
                  "from_version", "samples", "samples_share") if getattr(args, key) is not None}
    if args.writers:
        overrides["writers"] = tuple(args.writers)
    if args.no_class_weights:
        overrides["class_weights"] = {}
    elif args.class_weight:
        overrides["class_weights"] = dict(args.class_weight)
    return preset(_preset_for_task(args.preset, args.task), activate=args.activate, **overrides).validate()


def _preset_for_task(preset_name: str | None, task: str | None) -> str:
    """--task number means the 'number' preset; a digit preset with --task number is a mistake."""
    if task == NUMBER_TASK and preset_name not in (None, NUMBER_TASK):
        raise ConfigError(f"preset {preset_name!r} trains a digit model; --task number uses the 'number' preset")
    if task == DIGIT_TASK and preset_name == NUMBER_TASK:
        raise ConfigError("preset 'number' trains a number model; leave out --task digit")
    return preset_name or (NUMBER_TASK if task == NUMBER_TASK else "strong")
