"""Why the model said what it said: its top choices, the pixels that drove a prediction, and
whether an image holds several digits rather than one.

Occlusion sensitivity needs nothing but the model's probabilities, so it works with LiteRT
(the Predict page never imports TensorFlow): cover one patch of the 28x28 input at a time and
see how far the predicted digit's probability falls. All the covered copies go to the model as
one batch.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from digits.preprocessing import SOLID_INK, ink_map, load_image

PATCH, STRIDE = 6, 2           # occluding patch side and step, in model pixels: 12 x 12 = 144 copies
TOP = 3                        # how many digits "unsure" lists
MIN_PART_HEIGHT = 0.4          # a side-by-side part must span this much of the ink's height to be a digit
WIDE_INK = 1.8                 # ink this many times wider than tall is several digits even if they touch


def top_choices(probabilities: np.ndarray, k: int = TOP) -> list[tuple[int, float]]:
    """The k most likely digits, most likely first: [(digit, probability), ...]."""
    order = np.argsort(probabilities)[::-1][:k]
    return [(int(digit), float(probabilities[digit])) for digit in order]


def article(digit: int) -> str:
    """'an 8', 'a 7': the article English uses before the digit's name."""
    return f"an {digit}" if digit == 8 else f"a {digit}"


def occlusion_map(probabilities: Callable[[np.ndarray], np.ndarray], model_input: np.ndarray, digit: int,
                  patch: int = PATCH, stride: int = STRIDE) -> np.ndarray:
    """float32 [28, 28]: how much covering each pixel (with background, 0) lowers the probability
    of `digit`, averaged over the patches that cover it. Positive: evidence for the digit;
    negative: covering it makes the digit more likely (evidence against).
    `probabilities`: images float32 [N, 28, 28] -> [N, 10], e.g. a predictor's."""
    side = model_input.shape[0]
    corners = [(y, x) for y in range(0, side - patch + 1, stride) for x in range(0, side - patch + 1, stride)]
    copies = np.repeat(model_input[None].astype(np.float32), len(corners) + 1, axis=0)  # [P + 1, 28, 28]
    for index, (y, x) in enumerate(corners, 1):
        copies[index, y:y + patch, x:x + patch] = 0.0
    scores = probabilities(copies)[:, digit]          # [P + 1]; copy 0 is the input itself
    heat = np.zeros((side, side), np.float32)
    covered = np.zeros((side, side), np.float32)
    for (y, x), score in zip(corners, scores[1:]):
        heat[y:y + patch, x:x + patch] += scores[0] - score
        covered[y:y + patch, x:x + patch] += 1
    return heat / np.maximum(covered, 1)


def heat_overlay(model_input: np.ndarray, heat: np.ndarray) -> np.ndarray:
    """uint8 RGB [28, 28, 3]: the model input in grey, red where pixels drove the prediction,
    blue where they spoke against it, each scaled to the strongest."""
    grey = np.clip(model_input, 0, 1) * 0.55                     # [28, 28]
    peak = float(np.abs(heat).max()) or 1.0
    towards, against = np.clip(heat / peak, 0, 1), np.clip(-heat / peak, 0, 1)
    rgb = np.stack([grey + towards * (1 - grey), grey * (1 - towards), grey + against * (1 - grey)], axis=-1)
    rgb[..., :2] *= (1 - against[..., None] * 0.6)
    return (np.clip(rgb, 0, 1) * 255).round().astype(np.uint8)


def digit_count(source) -> int:
    """About how many digits an image holds side by side: 1 for a single digit (or no ink), more
    when its ink falls into several column groups of digit height, or is far wider than tall.
    Raises ImageError like `load_image`."""
    return ink_digit_count(ink_map(load_image(source)))


def ink_digit_count(ink: np.ndarray | None) -> int:
    """`digit_count` from an image's `ink_map` (float [H, W], 1 = ink), when the caller has it already."""
    if ink is None:
        return 1
    solid = ink > SOLID_INK
    rows, columns = np.flatnonzero(solid.any(axis=1)), np.flatnonzero(solid.any(axis=0))
    if not len(rows):
        return 1
    height = rows[-1] - rows[0] + 1
    width = columns[-1] - columns[0] + 1
    # Runs of inked columns, separated by at least one empty column.
    breaks = np.flatnonzero(np.diff(columns) > 1)
    starts, ends = np.r_[columns[0], columns[breaks + 1]], np.r_[columns[breaks], columns[-1]]
    parts = 0
    for start, end in zip(starts, ends):
        part_rows = np.flatnonzero(solid[:, start:end + 1].any(axis=1))
        parts += part_rows[-1] - part_rows[0] + 1 >= MIN_PART_HEIGHT * height
    return int(max(parts, round(width / height / (WIDE_INK / 2)) if width >= WIDE_INK * height else 1, 1))
