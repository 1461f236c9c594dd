"""How the stroke-width band of `prepare` was chosen: on the validation split, never the test set.

    python bench/stroke_band.py              # ~2 min on 2 cores

`prepare` redraws a digit one field pixel broader when its strokes are narrower than
THIN_STROKE, and one pixel finer when they are broader than THICK_STROKE (`even_strokes`). This
sweeps the band with the shipped default on the 5,000 validation images, plain and as thick-
and thin-stroke variants, and prints the accuracy of each setting ("off" = never redrawn).
Pick a setting in the middle of the region where every column is best, not its single peak.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from digits import preprocessing  # noqa: E402
from digits.data import load_mnist  # noqa: E402
from digits.predict import Predictor  # noqa: E402
from digits.store import DEFAULT_VERSION, ModelStore  # noqa: E402
from digits.variants import make_variant, prepared_batch  # noqa: E402

VARIANTS = ("original", "thick strokes", "thin strokes")
BANDS = [(0.0, float("inf"))] + [(thin, thick) for thin in (1.6, 1.8, 2.0, 2.2) for thick in (3.2, 3.4, 3.8, 4.2)]


def sweep(predictor: Predictor, images: np.ndarray, labels: np.ndarray) -> None:
    """Print a table row per band: the accuracy on each variant and the worst of them."""
    rgb = {name: make_variant(name, images) for name in VARIANTS}
    for thin, thick in BANDS:
        preprocessing.THIN_STROKE, preprocessing.THICK_STROKE = thin, thick  # read by `even_strokes`
        accuracies = []
        for name in VARIANTS:
            inputs, empty = prepared_batch(rgb[name])
            correct = (predictor.probabilities(inputs).argmax(axis=1) == labels) & ~empty
            accuracies.append(correct.mean())
        print(f"| {'off' if thick == float('inf') else f'{thin} - {thick}'} | "
              + " | ".join(f"{a:.2%}" for a in accuracies) + f" | {min(accuracies):.2%} |", flush=True)


def main() -> None:
    mnist = load_mnist()
    predictor = Predictor(ModelStore().load(DEFAULT_VERSION))
    print(f"Shipped default on the {len(mnist.validation)} validation images, prepared.\n")
    print("| band (field pixels) | " + " | ".join(VARIANTS) + " | worst |\n" + "|---" * (len(VARIANTS) + 2) + "|")
    sweep(predictor, mnist.validation.images, mnist.validation.labels)


if __name__ == "__main__":
    main()
