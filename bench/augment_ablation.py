"""What elastic distortion and aspect-ratio jitter add to the `strong` recipe, on the VALIDATION split.

    python bench/augment_ablation.py                         # 4 short runs of 6 epochs (~25 min on 2 idle cores)
    python bench/augment_ablation.py --epochs 3 --limit 20000  # quicker, rougher

Trains the `strong` preset four ways (the earlier augmentation; + elastic distortion; + aspect
jitter; + both with the crossbar 7s and flagged 1s, the shipped recipe) and measures each on the
5,000 validation images: plain, and prepared (`prepare`) as the real-world variants of the first
VARIANT_IMAGES of them. Never the test set: this is where the augmentation was chosen. Prints a
Markdown table and writes it to bench/results/augment_ablation.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from digits import training  # noqa: E402
from digits.augment import AugmentSettings, augment_batch  # noqa: E402
from digits.config import preset  # noqa: E402
from digits.data import load_mnist  # noqa: E402
from digits.evaluation import evaluate  # noqa: E402
from digits.predict import Predictor  # noqa: E402
from digits.store import ModelStore  # noqa: E402
from digits.variants import variant_accuracy, variant_inputs  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "augment_ablation.md"
VARIANT_IMAGES = 2_000
VARIANTS = ("original", "tight crop", "16x16 scan", "1-bit", "phone photo", "ruled paper", "small in frame",
            "thin strokes")
SHIPPED = AugmentSettings()
EARLIER = dataclasses.replace(SHIPPED, aspect_prob=0.0, elastic_prob=0.0, european_prob=0.0)
SETTINGS = {
    "earlier strong augmentation": EARLIER,
    "+ elastic distortion": dataclasses.replace(EARLIER, elastic_prob=SHIPPED.elastic_prob),
    "+ aspect jitter": dataclasses.replace(EARLIER, aspect_prob=SHIPPED.aspect_prob),
    "+ both, + crossbar 7s / flagged 1s (shipped)": SHIPPED,
}


def train_with(settings: AugmentSettings, epochs: int, limit: int | None, mnist, store: ModelStore,
               run_id: str) -> tuple[Predictor, float]:
    """One `strong` run whose training batches are augmented with `settings`."""
    training.augment_batch = functools.partial(augment_batch, settings=settings)  # read by make_dataset
    try:
        started = time.time()
        training.train(preset("strong", epochs=epochs, limit=limit).validate(), store, run_id, data=mnist)
        return Predictor(store.load(run_id)), time.time() - started
    finally:
        training.augment_batch = augment_batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=6, help="epochs per run (the shipped default trains 20)")
    parser.add_argument("--limit", type=int, help="train on the first N training images only")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the Markdown table")
    args = parser.parse_args()
    mnist = load_mnist()
    validation = mnist.validation
    inputs = {name: variant_inputs(name, validation.images[:VARIANT_IMAGES]) for name in VARIANTS}
    labels = validation.labels[:VARIANT_IMAGES]
    store = ModelStore(tempfile.mkdtemp(prefix="augment-ablation-"))
    lines = [f"`strong` preset, {args.epochs} epochs per run on {args.limit or len(mnist.train):,} training images; "
             f"validation accuracy (5,000 images, plain), and "
             f"prepared variants of the first {VARIANT_IMAGES:,} validation images.\n",
             "| augmentation | train time | validation | " + " | ".join(VARIANTS) + " |",
             "|---" * (len(VARIANTS) + 3) + "|"]
    for i, (label, settings) in enumerate(SETTINGS.items()):
        predictor, seconds = train_with(settings, args.epochs, args.limit, mnist, store, f"augment-{i}")
        plain = evaluate(predictor, validation.images, validation.labels).accuracy
        cells = [variant_accuracy(predictor, *inputs[name], labels)["accuracy"] for name in VARIANTS]
        lines.append(f"| {label} | {seconds / 60:.1f} min | {plain:.2%} | " + " | ".join(f"{c:.2%}" for c in cells) + " |")
        print(lines[-1], file=sys.stderr, flush=True)
    table = "\n".join(lines) + "\n"
    print(table)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(table)


if __name__ == "__main__":
    main()
