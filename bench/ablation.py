"""The tutorial's robustness claim, measured: seed; + augmentation; + class weights; both; strong.

    python bench/ablation.py                 # trains the four seed variants (~10 min on 2 cores)
    python bench/ablation.py --limit 5000    # a quicker, rougher run
    python bench/ablation.py --no-seed --versions previous member2   # the shipped default beside versions

Each model is evaluated on the MNIST test set and its variants (inverted polarity, coloured
backgrounds, thick and thin strokes, small rotations; tight crops, 16x16 scans, 1-bit scans, phone
photos, ruled paper, small digits in a large frame), both with the tutorial's plain
preprocessing (grey, resize, scale) and with the project's MNIST-style preparation. Prints a
Markdown table (accuracy, and the 4->9 / 9->4 counts) and writes it to bench/results/ablation.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from digits.config import DEFAULT_CLASS_WEIGHTS, preset  # noqa: E402
from digits.data import load_mnist  # noqa: E402
from digits.predict import Predictor  # noqa: E402
from digits.store import DEFAULT_VERSION, ModelStore  # noqa: E402
from digits.variants import PREPROCESSINGS, VARIANTS, variant_accuracy, variant_inputs  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "ablation.md"
ABLATION = {
    "seed (as written)": dict(augment=False, class_weights={}),
    "seed + augmentation": dict(augment=True, class_weights={}),
    "seed + class weights": dict(augment=False, class_weights=dict(DEFAULT_CLASS_WEIGHTS)),
    "seed + both": dict(augment=True, class_weights=dict(DEFAULT_CLASS_WEIGHTS)),
}


def train_models(limit: int | None, epochs: int | None, mnist) -> dict[str, Predictor]:
    from digits.training import train

    store = ModelStore(tempfile.mkdtemp(prefix="ablation-"))
    predictors = {}
    for i, (label, overrides) in enumerate(ABLATION.items()):
        config = preset("seed", limit=limit, **({"epochs": epochs} if epochs else {}), **overrides).validate()
        started = time.time()
        train(config, store, f"ablation-{i}", data=mnist)
        print(f"trained {label} in {time.time() - started:.0f} s", file=sys.stderr)
        predictors[label] = Predictor(store.load(f"ablation-{i}"))
    return predictors


def measure(predictors: dict[str, Predictor], images, labels) -> list[dict]:
    rows = []
    for preprocessing in PREPROCESSINGS:
        for variant in VARIANTS:
            inputs, empty = variant_inputs(variant, images, preprocessing)
            for label, predictor in predictors.items():
                rows.append({"model": label, "preprocessing": preprocessing, "variant": variant,
                             **variant_accuracy(predictor, inputs, empty, labels)})
    return rows


def markdown(rows: list[dict]) -> str:
    models = list(dict.fromkeys(r["model"] for r in rows))
    lines = []
    for preprocessing in PREPROCESSINGS:
        title = "project's MNIST-style preparation" if preprocessing == "prepared" else \
            "tutorial's plain preprocessing (grey, resize, scale)"
        lines += [f"\n**{title}** — accuracy (4→9 / 9→4 errors)\n",
                  "| model | " + " | ".join(VARIANTS) + " |", "|---" * (len(VARIANTS) + 1) + "|"]
        for model in models:
            cells = {r["variant"]: r for r in rows if r["model"] == model and r["preprocessing"] == preprocessing}
            lines.append(f"| {model} | " + " | ".join(
                f"{c['accuracy']:.2%} ({c['4->9']}/{c['9->4']})" for c in (cells[v] for v in VARIANTS)) + " |")
        if preprocessing == "prepared":  # the preparation's answer, the same for every model
            refused = {r["variant"]: r["no_digit"] for r in rows if r["model"] == models[0]
                       and r["preprocessing"] == preprocessing}
            lines.append("| \"no digit\" answers | " + " | ".join(str(refused[v]) for v in VARIANTS) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, help="train the seed variants on the first N images only")
    parser.add_argument("--epochs", type=int, help="epochs for the seed variants (default: the preset's 5)")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the Markdown table")
    parser.add_argument("--no-seed", action="store_true", help="skip training the seed variants")
    parser.add_argument("--versions", nargs="*", default=[],
                        help="also measure these versions of the store (DIGITS_STORE), e.g. a committee's members")
    args = parser.parse_args()
    mnist = load_mnist()
    predictors = {} if args.no_seed else train_models(args.limit, args.epochs, mnist)
    store = ModelStore()
    for version in args.versions:
        predictors[version] = Predictor(store.load(version))
    predictors["shipped default"] = Predictor(store.load(DEFAULT_VERSION))
    table = markdown(measure(predictors, mnist.test.images, mnist.test.labels))
    header = "Ablation on the 10,000 MNIST test images" + ("" if args.no_seed else (
        f" (seed variants trained on {args.limit or len(mnist.train)} images, {args.epochs or 5} epochs)")) + ".\n"
    print(header + table)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(header + table)


if __name__ == "__main__":
    main()
