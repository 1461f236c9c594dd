"""A synthetic writer whose hand MNIST reads poorly, for the personal fine-tune benchmark and tests.

Each digit is drawn with PIL from stroke definitions in a consistent personal style: a European 1
(a long flag), a crossed 7 with a hook, an open 4, a slashed 0, a 9 with a curled tail, a 2 with a
loop, a flat-topped 3, a small-looped 6, a snowman 8; all stretched to fill a wide, low box and
slanted backwards, drawn with a dotting pen (each stroke a row of round dots with gaps between,
unlike MNIST's continuous pens). Every sample jitters the points, the slant, the pen and the
stretch, as a real hand does.
"""

from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image, ImageDraw

SIDE = 200


def _arc(cx, cy, rx, ry, start_deg, end_deg, steps=24):
    return [(cx + rx * math.cos(math.radians(a)), cy + ry * math.sin(math.radians(a)))
            for a in np.linspace(start_deg, end_deg, steps)]


# Strokes in a unit box (x right, y down), each a list of points; the box is filled edge to edge.
STROKES = {
    0: [_arc(0.5, 0.5, 0.48, 0.48, -90, 275, 40), [(0.9, 0.05), (0.1, 0.95)]],               # slashed zero
    1: [[(0.0, 0.8), (0.7, 0.0), (0.7, 1.0)]],                                               # long flag
    2: [_arc(0.5, 0.26, 0.42, 0.26, 200, 370, 20) + [(0.3, 0.7), (0.1, 0.95)]
        + _arc(0.2, 0.85, 0.12, 0.12, 90, -190, 14) + [(0.35, 1.0), (1.0, 0.95)]],             # looped base
    3: [[(0.05, 0.02), (0.95, 0.02), (0.35, 0.42)] + _arc(0.5, 0.7, 0.48, 0.3, -100, 160, 24)],  # flat-topped 3
    4: [[(0.3, 0.0), (0.0, 0.62), (1.0, 0.62)], [(0.75, 0.2), (0.75, 1.0)]],                 # open 4
    5: [[(0.15, 0.0), (0.1, 0.42)] + _arc(0.5, 0.68, 0.45, 0.32, -150, 150, 24), [(0.2, 0.0), (1.0, 0.02)]],
    6: [[(0.95, 0.0), (0.1, 0.45)] + _arc(0.5, 0.78, 0.42, 0.22, 180, 540, 36)],              # small loop
    7: [[(0.0, 0.25), (0.02, 0.0), (1.0, 0.0), (0.3, 1.0)], [(0.15, 0.5), (0.95, 0.5)]],        # crossed, hooked
    8: [_arc(0.5, 0.22, 0.3, 0.22, 0, 360, 30), _arc(0.5, 0.72, 0.5, 0.28, -90, 270, 30)],      # snowman
    9: [_arc(0.5, 0.28, 0.45, 0.28, 0, 360, 32), [(0.95, 0.28), (0.9, 0.85)]
        + _arc(0.55, 0.82, 0.35, 0.18, 10, 160, 12)],                                         # curled tail
}


def _along(points, spacing):
    """Points every `spacing` pixels along a polyline."""
    out, carry = [], 0.0
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        length = math.hypot(x1 - x0, y1 - y0)
        t = carry
        while t <= length:
            out.append((x0 + (x1 - x0) * t / length, y0 + (y1 - y0) * t / length))
            t += spacing
        carry = t - length
    return out


def draw_digit(digit: int, rng: np.random.Generator, side: int = SIDE) -> Image.Image:
    """One sample of the writer's `digit`: dark ink on light paper, RGB, side x side pixels."""
    slant = rng.normal(-0.8, 0.06)                 # backward slant: x shifts left going up
    stretch_x, stretch_y = rng.uniform(0.95, 1.0), rng.uniform(0.5, 0.6)   # a wide, low box
    dot = rng.uniform(0.03, 0.036) * side          # the pen's dot radius
    spacing = dot * rng.uniform(2.6, 3.0)          # centre to centre
    margin = 0.12 * side
    image = Image.new("RGB", (side, side), tuple(int(v) for v in rng.integers(225, 256, 3)))
    draw = ImageDraw.Draw(image)
    ink = tuple(int(v) for v in rng.integers(10, 70, 3))
    box = side - 2 * margin

    def place(point):
        x, y = point
        x, y = x + rng.normal(0, 0.015), y + rng.normal(0, 0.015)
        x = (x - 0.5) * stretch_x + 0.5 + slant * (0.5 - y) * 0.5
        y = (y - 0.5) * stretch_y + 0.5
        return margin + x * box, margin + y * box

    for stroke in STROKES[digit]:
        for x, y in _along([place(p) for p in stroke], spacing):  # a dotting pen: round dots, gaps between
            draw.ellipse([x - dot, y - dot, x + dot, y + dot], fill=ink)
    return image


def samples(per_digit: int, seed: int) -> list[tuple[int, Image.Image]]:
    """`per_digit` samples of each digit, digits in a cycle (0, 1, ..., 9, 0, ...)."""
    rng = np.random.default_rng(seed)
    return [(digit, draw_digit(digit, rng)) for _ in range(per_digit) for digit in range(10)]


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def labelled_zip(per_digit: int, seed: int, writer: str) -> bytes:
    """The writer's samples as an import archive: PNGs + labels.csv (file,label,writer)."""
    import zipfile

    buffer = io.BytesIO()
    rows = ["file,label,writer"]
    with zipfile.ZipFile(buffer, "w") as archive:
        for number, (digit, image) in enumerate(samples(per_digit, seed)):
            name = f"{writer}-{number:04d}.png"
            archive.writestr(name, png(image))
            rows.append(f"{name},{digit},{writer}")
        archive.writestr("labels.csv", "\n".join(rows) + "\n")
    return buffer.getvalue()
