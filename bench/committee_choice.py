"""Which committee to ship: versions alone and every committee of them (their probabilities
averaged), on the VALIDATION split's variants, never the test set.

    python bench/committee_choice.py previous default member2     # versions of the store (DIGITS_STORE)

Prints a Markdown table: each version and each combination on the first 5,000 validation images
of every variant, prepared as the Predict page prepares them ("no digit" counts as wrong), with
the worst variant and the mean. ~10 min on 2 cores, nearly all of it the variants' preparation.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from digits.data import load_mnist  # noqa: E402
from digits.predict import version_predictor  # noqa: E402
from digits.store import ModelStore  # noqa: E402
from digits.variants import VARIANTS, variant_inputs  # noqa: E402

VALIDATION_IMAGES = 5_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("versions", nargs="+", help="digit versions of the store, each a candidate member")
    args = parser.parse_args()
    validation = load_mnist().validation
    images, labels = validation.images[:VALIDATION_IMAGES], validation.labels[:VALIDATION_IMAGES]
    inputs = {name: variant_inputs(name, images) for name in VARIANTS}       # name -> ([N, 28, 28], [N] no digit)
    store = ModelStore()
    probabilities = {version: {name: version_predictor(store, version).probabilities(x)
                               for name, (x, _) in inputs.items()} for version in args.versions}  # [N, 10] each
    print("| weights | " + " | ".join(VARIANTS) + " | worst | mean |")
    print("|---" * (len(VARIANTS) + 3) + "|")
    for size in range(1, len(args.versions) + 1):
        for members in itertools.combinations(args.versions, size):
            accuracies = [((np.mean([probabilities[m][name] for m in members], axis=0).argmax(1) == labels)
                           & ~inputs[name][1]).mean() for name in VARIANTS]
            print(f"| {' + '.join(members)} | " + " | ".join(f"{a:.2%}" for a in accuracies)
                  + f" | {min(accuracies):.2%} | {np.mean(accuracies):.2%} |", flush=True)


if __name__ == "__main__":
    main()
