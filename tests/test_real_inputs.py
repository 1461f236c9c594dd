"""Issue 11's "done when": digits as people crop, scan and photograph them are read, not refused.

Each case takes clear digits drawn with a pen (a 0, a 1 with a long flag, a 4, a 7 with a
crossbar, as much of Europe writes them) and turns them into one kind of real input; the shipped
default must name every digit (never "no digit"). Images without a digit still give "no digit".
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from digits.preprocessing import prepare

PEN = 24
STROKES = {  # on a 280x280 page, the digit in the middle ~200 pixels
    0: [("ellipse", (85, 40, 195, 240))],
    1: [("line", [(105, 95), (160, 40), (160, 240)])],
    4: [("line", [(170, 240), (170, 40), (70, 170), (215, 170)])],
    7: [("line", [(70, 50), (210, 50), (125, 240)]), ("line", [(115, 145), (200, 145)])],
}
DIGITS = sorted(STROKES)


def ink(digit: int) -> np.ndarray:
    """uint8 [280, 280], 255 = ink: the digit as a pen draws it."""
    page = Image.new("L", (280, 280))
    draw = ImageDraw.Draw(page)
    for kind, points in STROKES[digit]:
        if kind == "ellipse":
            draw.ellipse(points, outline=255, width=PEN)
        else:
            draw.line(points, fill=255, width=PEN, joint="curve")
    return np.asarray(page)


def dark_on_light(ink_levels: np.ndarray, paper: float = 245, pen: float = 25) -> np.ndarray:
    alpha = ink_levels.astype(np.float32) / 255
    return (paper * (1 - alpha) + pen * alpha).round().astype(np.uint8)


def cropped(levels: np.ndarray, top=True, bottom=True, left=True, right=True) -> np.ndarray:
    """The ink's box, with a margin kept on the sides not asked to touch the edge."""
    rows, cols = np.flatnonzero(levels.any(axis=1)), np.flatnonzero(levels.any(axis=0))
    margin = 30
    return levels[rows[0] if top else max(0, rows[0] - margin):rows[-1] + 1 if bottom else rows[-1] + margin,
                  cols[0] if left else max(0, cols[0] - margin):cols[-1] + 1 if right else cols[-1] + margin]


def resized(levels: np.ndarray, width: int, height: int) -> np.ndarray:
    return np.asarray(Image.fromarray(levels).resize((width, height), Image.Resampling.LANCZOS))


def fitted(levels: np.ndarray, side: int, stretch: float = 1.3) -> np.ndarray:
    """The ink's box scaled so its longer side is `side`, the shorter one stretched by `stretch`
    (at most to `side`), centred in a side x side frame: how forms and postal scans fill a box."""
    crop = cropped(levels)
    height, width = crop.shape
    scale = side / max(height, width)
    new_h = side if height >= width else min(side, round(height * scale * stretch))
    new_w = side if width > height else min(side, round(width * scale * stretch))
    frame = np.zeros((side, side), np.uint8)
    top, left = (side - new_h) // 2, (side - new_w) // 2
    frame[top:top + new_h, left:left + new_w] = resized(crop, new_w, new_h)
    return frame


def jpeg(rgb: np.ndarray, quality: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def touching(edge: str):
    return lambda digit: dark_on_light(cropped(ink(digit), **{edge: True, **{
        side: False for side in ("top", "bottom", "left", "right") if side != edge}}))


def filling_the_frame(digit):  # edge to edge in a 120x120 frame, the shorter side stretched by 30%
    return dark_on_light(fitted(ink(digit), 120))


def scan(side: int):
    return lambda digit: fitted(ink(digit), side)  # light on dark, edge to edge


def one_bit_scan(digit):
    return np.where(fitted(ink(digit), 64) >= 128, 0, 255).astype(np.uint8)  # pure black on white


def ruled_paper(digit):
    page = np.full((280, 280, 3), 250, np.uint8)
    page[20::36] = (160, 190, 235)  # light blue lines, 3 pixels thick, every 36 pixels
    page[21::36] = (160, 190, 235)
    page[22::36] = (160, 190, 235)
    alpha = ink(digit)[..., None].astype(np.float32) / 255
    return (page * (1 - alpha) + np.array([20, 20, 60]) * alpha).round().astype(np.uint8)


def shadowed_light() -> np.ndarray:
    """[280, 280] illumination: 35% darker to the right, a soft-edged shadow over one corner."""
    ys, xs = np.mgrid[0:280, 0:280].astype(np.float32) / 279
    return (1 - 0.35 * xs) * (1 - 0.35 / (1 + np.exp(-(xs + ys - 1.3) / 0.03)))


def phone_photo(digit):
    """Ink on paper under uneven light: a gradient, a shadow across a corner, noise, blur, JPEG."""
    light = shadowed_light()                                                  # [280, 280]
    reflectance = 0.85 - 0.7 * ink(digit).astype(np.float32) / 255
    rgb = 255 * reflectance[..., None] * light[..., None] * np.array([1.0, 0.97, 0.9])
    noisy = rgb + np.random.default_rng(digit).normal(0, 5, rgb.shape)
    blurred = Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(1.2))
    return jpeg(np.asarray(blurred), 70)


def small_with_stray_mark(digit):
    page = np.zeros((600, 800), np.uint8)
    crop = cropped(ink(digit))
    width = round(crop.shape[1] * 120 / crop.shape[0])
    page[380:500, 500:500 + width] = resized(crop, width, 120)          # 20% of the photo's height
    page[90:100, 120:128] = 255                                        # a stray dot far from it
    return dark_on_light(page, paper=230)


CASES = {
    "touching the top": touching("top"), "touching the bottom": touching("bottom"),
    "touching the left": touching("left"), "touching the right": touching("right"),
    "filling the frame": filling_the_frame, "12x12": scan(12), "16x16": scan(16), "1-bit scan": one_bit_scan,
    "ruled paper": ruled_paper, "phone photo": phone_photo, "small, with a stray mark": small_with_stray_mark,
}


@pytest.mark.parametrize("case", CASES)
def test_real_inputs_give_the_right_digit(case, shipped_predictor):
    answers = {digit: shipped_predictor.predict(CASES[case](digit)).digit for digit in DIGITS}
    assert answers == {digit: digit for digit in DIGITS}, f"{case}: {answers}"


def blank_ruled_paper():
    page = np.full((280, 280, 3), 250, np.uint8)
    page[20::36] = (160, 190, 235)
    return page


def shadowed_blank_page():
    noisy = 215 * shadowed_light() + np.random.default_rng(0).normal(0, 5, (280, 280))
    return np.clip(noisy, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("image", [
    np.full((200, 200, 3), 240, np.uint8),                                        # blank paper
    np.random.default_rng(5).integers(0, 256, (200, 200), dtype=np.uint8),       # noise
    np.pad(np.full((4, 4), 20, np.uint8), 98, constant_values=240),               # a speck on paper
    blank_ruled_paper(),                                                           # lines, no digit
    shadowed_blank_page(),                                                         # a shadow, no digit
], ids=["blank", "noise", "speck", "ruled paper, no digit", "shadowed blank page"])
def test_images_without_a_digit_are_still_no_digit(image):
    assert prepare(image) is None
