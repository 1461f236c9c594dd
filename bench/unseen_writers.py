"""Number readers on digits written by people MNIST never saw: a check that is neither MNIST's
validation slice (its writers also wrote the training images) nor its test set (never chosen on).

    pip install scikit-learn        # its copy of the UCI digits ships inside the package
    python bench/unseen_writers.py --count 300 default-number MY-NUMBER-VERSION   # as served, same numbers

The UCI optical digits (scikit-learn's `load_digits`: 1,797 digits by 43 writers, 8x8 at 17 grey
levels) are put into MNIST's format, a 20x20 box centred by its ink's mass in a 28x28 field, and
written as synthetic numbers of each category (digits.synth_numbers). They are blurrier than
MNIST's, so the figures are lower; what matters is how readers compare on the same numbers.
Results go to bench/results/unseen_writers.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402
from scipy import ndimage  # noqa: E402

from digits.numbers import number_reader  # noqa: E402
from digits.store import ModelStore  # noqa: E402
from digits.synth_numbers import make_numbers  # noqa: E402
from read_numbers import CATEGORIES  # noqa: E402  (the test numbers' five categories, scored the same way)

SEED = 2024
RESULTS = Path(__file__).resolve().parent / "results" / "unseen_writers.json"


def uci_digits() -> tuple[np.ndarray, np.ndarray]:
    """uint8 [1797, 28, 28] (ink = 255, MNIST's layout) and their labels [1797]."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        sys.exit("this benchmark needs scikit-learn (pip install scikit-learn): its UCI digits are the unseen writers")
    data = load_digits()
    fields = []
    for image in data.images:                                        # [8, 8] in 0..16
        box = Image.fromarray((image * 255 / 16).astype(np.uint8)).resize((20, 20), Image.Resampling.BICUBIC)
        field = np.zeros((28, 28), np.float32)
        field[4:24, 4:24] = np.asarray(box, np.float32)
        cy, cx = ndimage.center_of_mass(field)
        fields.append(np.clip(ndimage.shift(field, (14 - cy, 14 - cx), order=1), 0, 255).astype(np.uint8))
    return np.stack(fields), data.target.astype(np.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("versions", nargs="+", help="number versions to compare, as served")
    parser.add_argument("--count", type=int, default=300, help="numbers per category")
    args = parser.parse_args()
    images, labels = uci_digits()
    store = ModelStore()
    readers = {version: number_reader(store, version) for version in args.versions}
    results = {version: {} for version in readers}
    for category in CATEGORIES:
        made = make_numbers(images, labels, args.count, SEED, category)
        for version, reader in readers.items():
            right = sum(read == label for read, label in zip(reader.numbers(made.images), made.labels))
            results[version][category] = right / args.count
        print(category, {version: f"{results[version][category]:.1%}" for version in readers}, flush=True)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"count": args.count, "seed": SEED, "sequence_accuracy": results}, indent=2))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
