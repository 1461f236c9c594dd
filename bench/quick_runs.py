"""Quick runs: every preset trained on the first 2,000 training images for 1 and 2 epochs, each
evaluated on the 10,000 test images. `--baseline` also trains each with the full-size recipe's
fixed batch size, learning rate and augmentation, 16 steps per call and Keras' batch-norm momentum
(how quick runs were trained before they were scaled to their size).

    python bench/quick_runs.py [--limit 2000] [--epochs 1 2] [--baseline]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def quick_run(mnist, preset_name: str, limit: int, epochs: int, baseline: bool) -> dict:
    from unittest import mock

    from digits import training
    from digits.augment import AugmentSettings
    from digits.config import PRESETS, preset
    from digits.store import ModelStore

    unscaled = {"batch_size": PRESETS[preset_name].batch_size, "learning_rate": PRESETS[preset_name].learning_rate}
    config = preset(preset_name, limit=limit, epochs=epochs, name=f"{preset_name}-{epochs}",
                    **(unscaled if baseline else {}))
    patches = [mock.patch.object(training, "steps_per_call", lambda steps: training.STEPS_PER_CALL),
               mock.patch.object(training, "settle_batch_norm", lambda model, steps: None),
               mock.patch.object(training, "settings_for_run", lambda images: AugmentSettings())] if baseline else []
    with tempfile.TemporaryDirectory() as root:
        for patch in patches:
            patch.start()
        try:
            started = time.perf_counter()
            training.train(config, ModelStore(root), config.name, threading.Event(), data=mnist)
            seconds = time.perf_counter() - started
        finally:
            for patch in patches:
                patch.stop()
        meta = ModelStore(root).meta(config.name)
    return {"preset": preset_name, "epochs": epochs, "batch": config.batch_size,
            "accuracy": meta["test"]["accuracy"], "train_seconds": meta["train_seconds"], "seconds": seconds}


def quick_parser(description: str) -> argparse.ArgumentParser:
    """The options every quick-run bench shares: the subset size and the presets."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=2000, help="the first N training images")
    parser.add_argument("--presets", nargs="+", default=["seed", "fast", "strong"])
    return parser


def main() -> None:
    parser = quick_parser(__doc__)
    parser.add_argument("--epochs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--baseline", action="store_true", help="also train the unscaled way, for comparison")
    args = parser.parse_args()

    from digits.data import load_mnist

    mnist = load_mnist()
    print("| preset | epochs | recipe | batch | test accuracy | training time |")
    print("|---|---|---|---|---|---|")
    for preset_name in args.presets:
        for epochs in args.epochs:
            for baseline in ([True, False] if args.baseline else [False]):
                row = quick_run(mnist, preset_name, args.limit, epochs, baseline)
                print(f"| {preset_name} | {epochs} | {'unscaled (before)' if baseline else 'scaled'} | {row['batch']} "
                      f"| {row['accuracy']:.2%} | {row['train_seconds']:.1f} s |", flush=True)


if __name__ == "__main__":
    main()
