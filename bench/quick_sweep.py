"""How quick runs were tuned: each preset on the first 2,000 training images, for 1 (or 2) epochs,
with one setting changed at a time (peak learning rate, warm-up share, batch size, augmentation
strength), scored on the 5,000 VALIDATION images (never the test set), median over seeds.

    python bench/quick_sweep.py [--presets seed fast strong] [--epochs 1] [--seeds 0 1 2]
"""

from __future__ import annotations

import os
import statistics
import sys
import threading
from dataclasses import fields, replace
from pathlib import Path
from unittest import mock

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


class _NoLog:
    def emit(self, event: str, **fields) -> None:
        pass


def scaled_augmentation(settings, strength: float):
    """Every probability and magnitude of `settings` times `strength` (the blur's width kept)."""
    return replace(settings, **{f.name: getattr(settings, f.name) * strength for f in fields(settings)
                                if f.name != "elastic_sigma"})


def val_accuracy(mnist, config, warmup_fraction: float | None, augment_strength: float | None) -> float:
    from digits import augment, training
    from digits.data import Split
    from digits.store import ModelStore

    patches = []
    if warmup_fraction is not None:
        patches.append(mock.patch.object(training, "WARMUP_FRACTION", warmup_fraction))
    if augment_strength is not None:
        settings = scaled_augmentation(augment.settings_for_run(config.limit * config.epochs), augment_strength)
        patches.append(mock.patch.object(training, "settings_for_run", lambda images: settings))
    for patch in patches:
        patch.start()
    try:
        train = Split(mnist.train.images[:config.limit], mnist.train.labels[:config.limit])
        _, live = training.fit(config, train, mnist.validation, "none", _NoLog(), threading.Event(), ModelStore())
    finally:
        for patch in patches:
            patch.stop()
    return live.history[-1]["val_accuracy"]


def trials(preset_name: str) -> list[tuple[str, dict]]:
    """(label, changes) pairs: the current recipe, then one knob at a time (a rate factor
    multiplies the preset's own rate)."""
    from digits.config import PRESETS

    out = [("current", {})]
    out += [(f"lr x{m}", {"lr_factor": m}) for m in (0.5, 2, 3)]
    if PRESETS[preset_name].schedule == "onecycle":
        out += [(f"warm-up {w:.0%}", {"warmup": w}) for w in (0.05, 0.1, 0.3)]
    out += [(f"batch {b}", {"batch": b}) for b in (6, 8, 10, 20, 32)]
    out += [(f"batch {b}, lr x{m}", {"batch": b, "lr_factor": m}) for b, m in ((10, 2), (20, 3))]
    if preset_name == "strong":
        out += [(f"augment x{s}", {"augment": s}) for s in (0.5, 2.0)]
    return out


def main() -> None:
    from quick_runs import quick_parser  # bench/, beside this file

    parser = quick_parser(__doc__)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--only", nargs="*", help="trial labels to run (default: all)")
    args = parser.parse_args()

    from digits.config import PRESETS, preset
    from digits.data import load_mnist

    mnist = load_mnist()
    print("| preset | epochs | change | batch | peak rate | validation accuracy (median) | per seed |")
    print("|---|---|---|---|---|---|---|")
    for preset_name in args.presets:
        for label, change in trials(preset_name):
            if args.only and label not in args.only:
                continue
            scores = []
            for seed in args.seeds:
                rate = PRESETS[preset_name].learning_rate * change["lr_factor"] if "lr_factor" in change else None
                config = preset(preset_name, limit=args.limit, epochs=args.epochs, seed=seed,
                                batch_size=change.get("batch"), learning_rate=rate)
                scores.append(val_accuracy(mnist, config, change.get("warmup"), change.get("augment")))
            print(f"| {preset_name} | {args.epochs} | {label} | {config.batch_size} | {config.learning_rate:g} "
                  f"| {statistics.median(scores):.2%} | {' '.join(f'{s:.1%}' for s in scores)} |", flush=True)


if __name__ == "__main__":
    main()
