"""Synthetic handwritten numbers made of MNIST digits, for training and testing the number reader.

`make_numbers(images, labels, count, seed, category)` writes `count` numbers, each a row of 1-12
MNIST digits, as RGB pictures of a number on paper, with its digits as the label. Training
numbers come from training images, test numbers from test images only (the caller passes the
split). The same arguments always give the same pictures.

The options, one line each (`Style`; a category fixes some of them, see CATEGORIES):
  digits          how many digits: 1-12
  gap             space between neighbours in digit widths: -1/3 (overlapping by a third) to 0.6
  size            each digit's height varies by this factor either way
  baseline        each digit moves up or down by up to this fraction of the digit height
  slant           the writing leans by up to this many degrees either way (a shear)
  tilt            the whole line is turned by up to this many degrees (written on a slant)
  broken          chance a digit has a stroke interrupted (a gap wiped across it) or is faint
  separators      chance of thousands separators ('.', ',', "'", a space) or a dash between groups
  currency        chance of a leading currency sign ($, #) or a tick mark
  signs           which signs: $, # and the tick; training adds printed R$, EUR, US$, Rs., stars, pen-drawn € and £
  fills           chance of printed stars or '=' after the number (a cheque's protection against additions)
  slash           chance of a trailing slash ('/' or '/-', as on cheques)
  underline       chance of a line under the number
  strike          chance of a line through the number (a strike-through)
  paper           plain, coloured, ruled, patterned (guilloché-like wavy lines, fine dots or hatching)
  dark_paper      chance of light ink on dark paper (the drawing canvas)
  uneven_light    chance of a photo's uneven lighting (a gradient and a shadow)
  noise/blur/jpeg sensor noise, defocus and JPEG compression of the final picture
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from io import BytesIO

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

DIGIT_SIDE = 28                    # MNIST's field; digits are drawn about this tall before scaling
SEPARATORS = (".", ",", "'", " ", "-")
CURRENCY = ("$", "#", "tick")
PEN_SIGNS = ("tick", "euro", "pound")   # drawn as pen strokes (Pillow's built-in font has no euro or pound)
PRINTED_SIGNS = CURRENCY + ("R$", "EUR", "US$", "Rs.", "*", "**", "***")   # letters and stars are not digits
FILLS = ("**", "***", "=", "*")
PAPERS = ("plain", "coloured", "ruled", "guilloche", "dots", "hatching")


@dataclass(frozen=True)
class Style:
    digits: tuple[int, int] = (1, 12)
    gap: tuple[float, float] = (-1 / 3, 0.6)
    size: float = 0.15
    baseline: float = 0.1
    slant: float = 10.0
    tilt: float = 4.0
    broken: float = 0.05
    separators: float = 0.3
    currency: float = 0.15
    signs: tuple[str, ...] = CURRENCY
    fills: float = 0.0
    slash: float = 0.1
    underline: float = 0.2
    strike: float = 0.05
    papers: tuple[str, ...] = PAPERS
    dark_paper: float = 0.15
    uneven_light: float = 0.2
    noise: float = 0.5              # chance of noise (sigma up to 10 grey levels)
    blur: float = 0.3               # chance of a blur (radius up to 1 pixel of a 28-pixel digit)
    jpeg: float = 0.3               # chance of JPEG at quality 30-90


PLAIN = Style(gap=(0.15, 0.6), separators=0, currency=0, slash=0, underline=0, strike=0, papers=("plain",),
              dark_paper=0, uneven_light=0, noise=0.3, blur=0.2, jpeg=0.2, broken=0)
CATEGORIES: dict[str, Style] = {
    "mixed": Style(),                                                        # training: everything
    "apart": replace(PLAIN, digits=(5, 5)),                                  # clearly apart, plain paper
    "touching": replace(PLAIN, digits=(5, 5), gap=(-1 / 3, 0.0)),            # touching or overlapping
    "separators": replace(PLAIN, digits=(5, 5), separators=1.0, currency=0.5, slash=0.3),
    "patterned": replace(Style(), digits=(5, 5), separators=1.0, underline=1.0, strike=0,  # a cheque's box
                         papers=("guilloche", "dots", "hatching"), dark_paper=0),
    "long": replace(PLAIN, digits=(9, 12)),                                  # long numbers, 9-12 digits
    # What number versions train on: everything, and printed signs and fills no test category has.
    "training": replace(Style(), currency=0.3, signs=PRINTED_SIGNS + ("euro", "pound"), fills=0.15),
}


@dataclass(frozen=True)
class Numbers:
    images: list[np.ndarray]   # uint8 RGB [H, W, 3] each, sizes vary
    labels: list[str]          # the digits, left to right


def make_numbers(images: np.ndarray, labels: np.ndarray, count: int, seed: int | tuple[int, ...] = 0,
                 category: str = "mixed", style: Style | None = None) -> Numbers:
    """`count` numbers drawn from MNIST `images` uint8 [N, 28, 28] and their `labels` [N]. The seed
    may be a tuple (a training batch's (seed, epoch, batch)), each category has its own stream;
    `style` replaces the category's options."""
    style = style or CATEGORIES[category]
    rng = np.random.default_rng([*np.atleast_1d(seed).tolist(), sorted(CATEGORIES).index(category)])
    crops = _digit_crops(images)
    pictures, texts = [], []
    for _ in range(count):
        n = int(rng.integers(style.digits[0], style.digits[1] + 1))
        chosen = rng.integers(0, len(images), size=n)
        pictures.append(_render(style, [crops[i] for i in chosen], rng))
        texts.append("".join(str(int(labels[i])) for i in chosen))
    return Numbers(pictures, texts)


def _digit_crops(images: np.ndarray) -> list[np.ndarray]:
    """Each digit cut to its inked columns (MNIST centres digits in a 28-wide field): [28, w]."""
    inked = images.max(axis=1) > 0                                  # [N, 28]
    first = inked.argmax(axis=1)
    last = DIGIT_SIDE - inked[:, ::-1].argmax(axis=1)
    return [image[:, a:b] if b > a else image for image, a, b in zip(images, first, last)]


def _render(style: Style, digits: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    sign = rng.random() < style.currency
    ink, line = _write(style, digits, sign, rng)                    # float32 [H, W] in [0, 1], baseline row
    ink = _marks(style, ink, line, sign, rng)
    ink = _lean(style, ink, rng)
    return _on_paper(style, ink, rng)


def _write(style: Style, digits: list[np.ndarray], sign: bool, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """The digits side by side on a transparent strip, separators between the groups of three."""
    pad = DIGIT_SIDE
    sep = rng.random() < style.separators
    sep_kind = SEPARATORS[rng.integers(len(SEPARATORS))] if sep else None
    width = sum(d.shape[1] for d in digits) * 2 + 4 * pad
    ink = np.zeros((3 * DIGIT_SIDE, width), np.float32)
    top = DIGIT_SIDE
    x = pad + (DIGIT_SIDE if sign else 0)                           # room for a sign
    previous_width = None
    for index, digit in enumerate(digits):
        scale = 1 + rng.uniform(-style.size, style.size)
        h = max(8, round(DIGIT_SIDE * scale))
        w = max(2, round(digit.shape[1] * scale))
        glyph = np.asarray(Image.fromarray(digit).resize((w, h), Image.Resampling.BILINEAR), np.float32) / 255
        glyph = _maybe_broken(glyph, style.broken, rng)
        if previous_width is not None:
            remaining = len(digits) - index
            if sep_kind and remaining % 3 == 0:
                x = _separator(ink, sep_kind, x, top, rng)
            unit = min(previous_width, w)
            x += round(rng.uniform(*style.gap) * unit)
        y = top + round((DIGIT_SIDE - h) * 0.5 + rng.uniform(-style.baseline, style.baseline) * DIGIT_SIDE)
        x = max(0, min(x, width - w))
        ink[y:y + h, x:x + w] = np.maximum(ink[y:y + h, x:x + w], glyph)
        x += w
        previous_width = w
    return ink[:, :min(width, x + 2 * pad)], top + DIGIT_SIDE


def _maybe_broken(glyph: np.ndarray, chance: float, rng: np.random.Generator) -> np.ndarray:
    """An interrupted stroke (a thin band wiped across the digit) or a faint one."""
    if rng.random() >= chance:
        return glyph
    if rng.random() < 0.5:
        return glyph * rng.uniform(0.35, 0.7)
    h, w = glyph.shape
    out = glyph.copy()
    band = max(1, h // 12)
    if rng.random() < 0.5:
        row = int(rng.integers(h // 4, 3 * h // 4))
        out[row:row + band] = 0
    else:
        col = int(rng.integers(w // 4, max(w // 4 + 1, 3 * w // 4)))
        out[:, col:col + band] = 0
    return out


def _separator(ink: np.ndarray, kind: str, x: int, top: int, rng: np.random.Generator) -> int:
    """Draws one separator at x; returns where the next digit may start."""
    d = DIGIT_SIDE
    pen = max(2, round(d * rng.uniform(0.08, 0.14)))
    canvas = Image.fromarray((ink * 255).astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
    gap = round(d * rng.uniform(0.1, 0.3))
    cx = x + gap
    if kind == ".":
        y = top + d - 4
        draw.ellipse([cx, y - pen, cx + pen, y], fill=255)
    elif kind == ",":
        y = top + d - 5
        draw.line([(cx + pen, y - pen), (cx, y + pen * 2)], fill=255, width=pen)
    elif kind == "'":
        draw.line([(cx + pen, top + 2), (cx, top + d // 3)], fill=255, width=pen)
    elif kind == "-":
        y = top + d // 2 + int(rng.integers(-3, 4))
        draw.line([(cx, y), (cx + d // 3, y)], fill=255, width=pen)
        cx += d // 3
    else:  # a space
        cx += d // 3
    ink[:] = np.maximum(ink, np.asarray(canvas, np.float32) / 255)
    return cx + pen + gap


def _marks(style: Style, ink: np.ndarray, baseline: int, sign: bool, rng: np.random.Generator) -> np.ndarray:
    """A currency sign or tick before the number, a slash after it, an underline or strike-through."""
    cols = np.flatnonzero(ink.max(axis=0) > 0.3)
    if len(cols) == 0:
        return ink
    left, right = int(cols[0]), int(cols[-1])
    d = DIGIT_SIDE
    canvas = Image.fromarray((ink * 255).astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
    pen = max(2, round(d * rng.uniform(0.08, 0.14)))
    if sign:
        kind = style.signs[rng.integers(len(style.signs))]
        x = left - round(d * rng.uniform(0.8, 1.0))
        if kind in PEN_SIGNS:
            _pen_sign(draw, kind, x, baseline, pen, rng)
        else:
            font = ImageFont.load_default(size=round(d * rng.uniform(0.8, 1.05)))
            if len(kind) > 1:      # a longer sign ends where a one-letter sign would
                x = max(0, x + d // 2 - round(font.getlength(kind)))
            draw.text((x, baseline - d - 2), kind, font=font, fill=255, stroke_width=max(0, pen // 3))
    if rng.random() < style.slash:
        x = right + round(d * rng.uniform(0.15, 0.4))
        draw.line([(x + d // 3, baseline - d), (x, baseline)], fill=255, width=pen)
        if rng.random() < 0.5:
            draw.line([(x + d // 3, baseline - d // 2), (x + 2 * d // 3, baseline - d // 2)], fill=255, width=pen)
        right = x + d // 2
    if style.fills and rng.random() < style.fills:
        fill = FILLS[rng.integers(len(FILLS))]
        font = ImageFont.load_default(size=round(d * rng.uniform(0.6, 0.9)))
        x = min(right + round(d * rng.uniform(0.1, 0.4)), ink.shape[1] - round(font.getlength(fill)))
        draw.text((x, baseline - d + d // 4), fill, font=font, fill=255)
        right = x + round(font.getlength(fill))
    strike = rng.random() < style.strike
    if strike or rng.random() < style.underline:
        y = baseline - d // 2 if strike else baseline + round(d * rng.uniform(0.08, 0.3))
        lo, hi = left - round(d * rng.uniform(0, 0.5)), right + round(d * rng.uniform(0, 0.5))
        xs = np.linspace(lo, hi, 12)
        ys = y + np.cumsum(rng.normal(0, 0.6, size=12))
        draw.line(list(zip(xs, ys)), fill=255, width=max(1, pen - 1))
    return np.asarray(canvas, np.float32) / 255


def _pen_sign(draw: ImageDraw.ImageDraw, kind: str, x: int, baseline: int, pen: int,
              rng: np.random.Generator) -> None:
    """A tick, euro or pound sign written with the pen, about a digit tall, starting at x."""
    d = DIGIT_SIDE
    if kind == "tick":
        draw.line([(x, baseline - d // 2), (x + d // 4, baseline - 2), (x + d // 2, baseline - d)], fill=255, width=pen)
        return
    wobble = lambda: rng.uniform(-0.04, 0.04) * d  # noqa: E731  (a hand is never quite on the line)
    if kind == "euro":  # a C open to the right, two bars through it
        r = d * rng.uniform(0.3, 0.4)
        cx, cy = x + r + d * 0.1, baseline - d / 2
        draw.arc([cx - r, cy - r, cx + r, cy + r], rng.uniform(35, 55), rng.uniform(305, 325), fill=255, width=pen)
        for y in (cy - r * 0.25, cy + r * 0.25):
            draw.line([(cx - r * 1.4, y + wobble()), (cx + r * 0.3, y + wobble())], fill=255, width=max(1, pen - 1))
        return
    # A pound sign: a hooked stem, a crossbar and a foot.
    stem = [(0.6, 0.85), (0.45, 1.0), (0.25, 0.9), (0.2, 0.6), (0.2, 0.2), (0.05, 0.0), (0.65, 0.0)]
    draw.line([(x + a * d + wobble(), baseline - b * d + wobble()) for a, b in stem], fill=255, width=pen)
    draw.line([(x, baseline - 0.5 * d + wobble()), (x + 0.45 * d, baseline - 0.5 * d + wobble())], fill=255, width=pen)


def _lean(style: Style, ink: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Shear (slanted writing) and turn (a slanted line), then crop to the ink with a margin."""
    h, w = ink.shape
    shear = np.tan(np.radians(rng.uniform(-style.slant, style.slant)))
    image = Image.fromarray(ink, "F")
    # x_in = x_out + shear * (y - h/2): a positive shear leans the tops to the right.
    image = image.transform((w, h), Image.Transform.AFFINE, (1, shear, -shear * h / 2, 0, 1, 0),
                            resample=Image.Resampling.BILINEAR)
    tilt = rng.uniform(-style.tilt, style.tilt)
    if abs(tilt) > 0.2:
        image = image.rotate(tilt, resample=Image.Resampling.BILINEAR, expand=True)
    out = np.asarray(image, np.float32)
    rows, cols = np.flatnonzero(out.max(axis=1) > 0.05), np.flatnonzero(out.max(axis=0) > 0.05)
    if len(rows) == 0:
        return out
    margin = [int(m) for m in rng.integers(3, DIGIT_SIDE, size=4)]
    out = out[max(0, rows[0] - margin[0]):rows[-1] + margin[1], max(0, cols[0] - margin[2]):cols[-1] + margin[3]]
    return np.pad(out, 2)


def _paper_texture(kind: str, shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """float32 [H, W] in [0, 1]: where the paper's printed pattern is (1 = full pattern colour)."""
    h, w = shape
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    if kind == "ruled":
        period = rng.uniform(10, 30)
        return (np.abs(((y + rng.uniform(0, period)) % period) - period / 2) > period / 2 - 0.8).astype(np.float32)
    if kind == "guilloche":
        period = rng.uniform(3, 7)
        amplitude, wavelength = rng.uniform(2, 8), rng.uniform(20, 60)
        phase = y + amplitude * np.sin(2 * np.pi * x / wavelength + rng.uniform(0, 6.3))
        lines = np.cos(2 * np.pi * phase / period) ** 8
        crossing = np.cos(2 * np.pi * (y - amplitude * np.sin(2 * np.pi * x / wavelength)) / period) ** 8
        return np.maximum(lines, crossing * rng.uniform(0, 1)).astype(np.float32)
    if kind == "dots":
        period = rng.uniform(2.5, 5)
        return ((np.cos(2 * np.pi * x / period) * np.cos(2 * np.pi * y / period)) > 0.6).astype(np.float32)
    if kind == "hatching":
        period, angle = rng.uniform(3, 6), rng.uniform(0, np.pi)
        return (np.cos(2 * np.pi * (x * np.cos(angle) + y * np.sin(angle)) / period) ** 6).astype(np.float32)
    return np.zeros(shape, np.float32)


def _on_paper(style: Style, ink: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Ink on paper as a photo or scan delivers it: uint8 RGB [H', W', 3]."""
    shape = ink.shape
    if rng.random() < style.dark_paper:
        paper = np.full(3, rng.uniform(0, 50), np.float32)
        colour = np.full(3, rng.uniform(200, 255), np.float32)
        pattern = np.zeros(shape, np.float32)
        pattern_colour = paper
    else:
        kind = style.papers[rng.integers(len(style.papers))]
        paper = rng.uniform(225, 255, 3) if kind == "plain" else rng.uniform(150, 255, 3)
        colour = rng.uniform(0, 70, 3) * rng.uniform(0.3, 1, 3)      # blue, black, dark green... inks
        pattern = _paper_texture(kind, shape, rng)
        # The print is fainter than the pen: between 15% and 45% of the ink's contrast.
        pattern_colour = paper + (rng.uniform(0, 90, 3) - paper) * rng.uniform(0.15, 0.45)
    pixels = paper * (1 - pattern[..., None]) + pattern_colour * pattern[..., None]
    pixels = pixels * (1 - ink[..., None]) + colour * ink[..., None]              # [H, W, 3]
    if rng.random() < style.uneven_light:
        h, w = shape
        y, x = np.mgrid[0:h, 0:w].astype(np.float32)
        angle = rng.uniform(0, 2 * np.pi)
        ramp = (x * np.cos(angle) + y * np.sin(angle)) / max(h, w)
        light = 1 - rng.uniform(0.2, 0.5) * (ramp - ramp.min()) / max(1e-6, np.ptp(ramp))
        pixels = pixels * light[..., None]
    if rng.random() < style.noise:
        pixels = pixels + rng.normal(0, rng.uniform(2, 10), pixels.shape)
    image = Image.fromarray(np.clip(pixels, 0, 255).round().astype(np.uint8), "RGB")
    scale = rng.uniform(0.8, 2.0)                         # the picture's resolution: 22-56 px a digit
    image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                         Image.Resampling.BILINEAR)
    if rng.random() < style.blur:
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.0) * scale))
    if rng.random() < style.jpeg:
        buffer = BytesIO()
        image.save(buffer, format="JPEG", quality=int(rng.integers(30, 91)))
        image = Image.open(BytesIO(buffer.getvalue())).convert("RGB")
    return np.asarray(image)
