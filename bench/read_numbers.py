"""Reading whole numbers: the number reader against the naive reader, in the same run.

    python bench/read_numbers.py                   # 2,000 numbers of 5 digits per category, timings
    python bench/read_numbers.py --count 200       # a quicker look
    python bench/read_numbers.py --split validation --count 500   # numbers from MNIST *training* images:
                                                   # compare readers here, never on the test numbers
    python bench/read_numbers.py --split validation --count 200 --turn 10   # written uphill by 10 degrees

Accuracy: sequence accuracy (the whole number exactly) on synthetic 5-digit test numbers written
from MNIST *test* digits (digits.synth_numbers), per category: apart, touching/overlapping,
separators, patterned paper with separators and an underline, and long numbers (9-12 digits), by
the reader as served (the number network with the digit model's second opinion on digits written
apart) and by the network alone.
`--split validation` writes them from the validation slice of MNIST's training images instead
(the figures to choose between readers by). The naive reader: threshold the
ink, label connected blobs, drop specks, classify each blob left to right with the shipped digit
model (the "segment and classify" approach). Time: reading one 5-digit number drawn on a 900x250
canvas (RGBA, light on dark), p50 over many calls. `--turn` turns every picture first (a number
written on a slant). Results go to
bench/results/read_numbers.json (read_numbers_validation.json for `--split validation`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))   # dashboard_helpers.turned
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402
from scipy import ndimage  # noqa: E402

from dashboard_helpers import turned  # noqa: E402
from digits.number_evaluation import numbers_for_test, numbers_for_validation  # noqa: E402
from digits.numbers import ink_and_factor, number_reader  # noqa: E402
from digits.predict import version_predictor  # noqa: E402
from digits.preprocessing import load_image, prepare  # noqa: E402
from digits.store import NUMBER_TASK, ModelStore  # noqa: E402

CATEGORIES = ("apart", "touching", "separators", "patterned", "long")
RESULTS = Path(__file__).resolve().parent / "results"


def naive_read(image, predictor) -> str:
    """Threshold, connected components, classify each blob (left to right) with the digit model.
    The ink is the number reader's own (the whole image's: the single-digit `ink_map` keeps only
    the main digit's blob)."""
    found = ink_and_factor(load_image(image))
    if found is None:
        return ""
    ink = found[0]
    labels, count = ndimage.label(ink > 0.5, structure=np.ones((3, 3)))
    boxes = [box for box in ndimage.find_objects(labels) if box is not None]
    tallest = max((b[0].stop - b[0].start for b in boxes), default=0)
    digits = []
    for index, box in sorted(enumerate(boxes, 1), key=lambda item: item[1][1].start):
        if box[0].stop - box[0].start < 0.3 * tallest:
            continue  # a speck, a dot, a comma
        blob = np.where(labels[box] == index, ink[box], 0)
        field = prepare(np.pad(blob, 4), min_ink_side=0)
        if field is not None:
            digits.append(str(predictor.predict_prepared(field).digit))
    return "".join(digits)


def canvas_number(numbers) -> np.ndarray:
    """A synthetic 5-digit number as the wide canvas returns it: RGBA 900x250, white on black."""
    ink = 255 - np.asarray(Image.fromarray(numbers.images[0]).convert("L"))
    ink = np.asarray(Image.fromarray(ink).resize((600, 600 * ink.shape[0] // ink.shape[1])))
    canvas = np.zeros((250, 900, 4), np.uint8)
    canvas[..., 3] = 255
    h = min(250, ink.shape[0])
    canvas[(250 - h) // 2:(250 - h) // 2 + h, 150:750, :3] = ink[:h, :, None]
    return canvas


def median_ms(function, calls: int) -> float:
    for _ in range(10):
        function()
    seconds = []
    for _ in range(calls):
        start = time.perf_counter()
        function()
        seconds.append(time.perf_counter() - start)
    return float(np.median(seconds) * 1000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=2000, help="numbers per category")
    parser.add_argument("--calls", type=int, default=300, help="timed reads of one canvas")
    parser.add_argument("--model", help="number version (default: the active number version)")
    parser.add_argument("--turn", type=float, default=0.0,
                        help="turn every picture by this many degrees before reading it (a number written uphill; "
                             "negative: downhill)")
    parser.add_argument("--split", choices=("test", "validation"), default="test",
                        help="write the numbers from MNIST's test images (the reported figures) or from the "
                             "validation slice of its training images (for choosing between readers)")
    args = parser.parse_args()
    numbers_for = numbers_for_test if args.split == "test" else numbers_for_validation
    store = ModelStore()
    reader, predictor = number_reader(store, args.model), version_predictor(store)
    network = number_reader(store, args.model, second_opinion=False)
    results = {"split": args.split, "turn": args.turn, "model": args.model or store.active(NUMBER_TASK),
               "second_opinion": reader.digit_version, "count_per_category": args.count, "categories": {}}
    for category in CATEGORIES:
        numbers = numbers_for(category, args.count)
        images = [turned(image, args.turn) for image in numbers.images] if args.turn else numbers.images
        reads = {"reader": reader.numbers(images), "network_alone": network.numbers(images),
                 "naive": [naive_read(image, predictor) for image in images]}
        results["categories"][category] = {name: float(np.mean([r == t for r, t in zip(read, numbers.labels)]))
                                           for name, read in reads.items()}
        print(f"{category:>11}: " + "  ".join(f"{name} {accuracy:.2%}" for name, accuracy
                                              in results["categories"][category].items()), flush=True)
    canvas = canvas_number(numbers_for_test("apart", 1))
    results["read_ms_p50"] = {"reader": median_ms(lambda: reader.read(canvas), args.calls),
                              "network_alone": median_ms(lambda: network.read(canvas), args.calls),
                              "naive": median_ms(lambda: naive_read(canvas, predictor), args.calls)}
    print("read one 900x250 canvas, p50: " + ", ".join(f"{name} {ms:.1f} ms"
                                                        for name, ms in results["read_ms_p50"].items()))
    name = "read_numbers" + ("" if args.split == "test" else "_validation") + \
        (f"_turned_{args.turn:g}" if args.turn else "") + ".json"
    (RESULTS / name).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
