"""Read a whole number (a postcode, a cheque amount, a meter reading) from any image.

How: the number is cut out and scaled to a strip STRIP_HEIGHT pixels high (`number_strip`), a
CNN reads the strip as a sequence of FRAMES columns, each a distribution over the ten digits and
CTC's blank (`digits.model.build_number`, trained on synthetic numbers by `digits.number_training`),
and greedy CTC decoding turns the frames into digits. Touching and overlapping digits, broken
strokes, separators, underlines and textured paper are all the network's to sort out: it has seen
each of them in training (`digits.synth_numbers`). Each digit's box comes from where CTC emitted
it: the strip's inked columns are split between neighbouring digits at the emptiest column, and
the box is the ink in that stretch, mapped back to the input's pixels.

The digit model checks the network's reading in two places. A second opinion (`_second_opinion`):
where the number also falls apart into one blob of ink per digit, in the places CTC put them
(digits written apart), a digit CTC is unsure of is read by the digit model as well, and the two
beliefs are combined; where the blobs and CTC disagree (touching digits, a separator touching a
digit) CTC's reading stands. And a skipped 1 (`_skipped_ones`): a straight upright stroke as
tall as the digits with no digit read on it, a 1 to the digit model, is read as a 1.
Before the strip is cut, the upright sides of a printed box around the number are taken out, and
a number written on a slant (uphill or downhill) is turned level (`_levelled`).

Serving runs the version's `model.tflite` through LiteRT: reading a number imports no TensorFlow.
Errors: an unusable image raises `digits.preprocessing.ImageError`, as `prepare` does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from PIL import Image
from scipy import ndimage

from digits.data import NUM_CLASSES
from digits.predict import LOW_CONFIDENCE  # digits below it are flagged as unsure, as single digits are
from digits.preprocessing import load_image, prepare_ink, preview

STRIP_HEIGHT, STRIP_WIDTH = 32, 256   # the network's input, float32 [32, 256], ink = 1
FRAME_STRIDE = 4                      # strip columns per output frame
FRAMES = STRIP_WIDTH // FRAME_STRIDE  # 64 frames: room for 12 digits and their separators
BLANK = NUM_CLASSES                   # CTC's "no digit here" class, after the ten digits
WORK_SIDE = 448                       # analysis resolution: larger images are reduced first
MIN_CONTRAST = 0.15                   # ink must differ from the paper by this much (of full range)
SOLID = 0.5                           # of the ink's peak: where the pen clearly was
MARGIN = 0.15                         # of the number's height, kept around it in the strip
CONTEXT = 1.2                         # of its height: paper kept either side where the strip has room
MIN_PART = 0.3                        # a blob lower than this fraction of the tallest is a mark, not a digit
FAINT = 0.2                           # of the ink's peak: faint ink, part of a digit only if digit-shaped
TRACE = 0.1                           # of the ink's peak: a trace of ink, what a digit found nowhere else is boxed by
FAINT_HEIGHT = 0.6                    # a faint blob this tall (of the tallest solid blob) may be a faint digit
MAX_WIDTH = 1.5                       # ... if at most this wide (of the tallest): wider is a pattern or a line
BOX_SIDE = 0.8                        # a straight upright line this tall (of the image) ...
BOX_RISE = 1.25                       # ... and this much taller than any digit is a printed box's side
CELL_WALL = 0.5                       # ... or this tall, joining level lines at both ends: a wall between boxes
BOX_SPECK = 0.1                       # (of a side's height) blobs no taller are specks, not digits in the box
UPRIGHT = 10.0                        # degrees: a lone stroke the network skipped, leaning less than this, ...
ONE_HEIGHT = 0.8                      # ... at least this tall (of the digits' median height) ...
SURE_ONE = 0.9                        # ... and a 1 to the digit model with at least this probability is a 1
SECOND_OPINION = 0.9                  # a digit CTC gives less than this is also read by the digit model
MAX_TURN = 12.0                       # degrees: a line of digits turned by up to this much either way ...
MIN_TURN = 4.0                        # ... and by at least this much is put level before the strip is cut
LINE_SPREAD = 3.0                     # ink spread this much more along its long axis than across is a row of digits

Affine = tuple[tuple[float, float, float], tuple[float, float, float]]   # 2x3: (x, y, 1) -> (x', y')
UNTURNED: Affine = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0))                   # the turn of a number written level


@dataclass(frozen=True)
class Strip:
    """The strip the network reads, and how its pixels map back to the input image's."""
    ink: np.ndarray        # float32 [STRIP_HEIGHT, STRIP_WIDTH] in [0, 1], ink = 1
    parts: np.ndarray      # bool [STRIP_HEIGHT, STRIP_WIDTH]: the digit-sized blobs (for the boxes)
    origin: tuple[float, float]  # input pixel (x, y) of the strip's top-left corner, in the levelled input
    scale: float           # input pixels per strip pixel
    turn: Affine = UNTURNED  # levelled input pixel -> input pixel (a number written on a slant was turned level)

    def to_input(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Strip pixel coordinates -> the input image's."""
        (ox, oy), s, ((a, b, c), (d, e, f)) = self.origin, self.scale, self.turn
        x, y = ox + np.asarray(x, float) * s, oy + np.asarray(y, float) * s
        return a * x + b * y + c, d * x + e * y + f


@dataclass(frozen=True)
class DigitReading:
    digit: int
    confidence: float
    box: tuple[int, int, int, int]   # x, y, w, h in the input image's pixels

    @property
    def unsure(self) -> bool:
        return self.confidence < LOW_CONFIDENCE


@dataclass(frozen=True)
class NumberReading:
    number: str                       # the digits left to right; "" when there are none
    confidence: float                 # probability of the whole reading (CTC's best path)
    digits: list[DigitReading] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"number": self.number, "confidence": round(self.confidence, 6),
                "digits": [{"digit": d.digit, "confidence": round(d.confidence, 6), "box": list(d.box)}
                           for d in self.digits]}


# -- the strip ---------------------------------------------------------------------------------
def ink_and_factor(image: Image.Image) -> tuple[np.ndarray, float] | None:
    """float32 [H, W] ink (1 = ink) at analysis resolution, and input pixels per analysis pixel;
    None when the image shows no ink. Transparent paper (a drawing layer) makes the opaque pixels
    ink; on opaque paper the ink is dark or light, whichever side of the paper's level the grey
    levels' long tail is on, and the paper's shading (uneven light) is taken out by a grey opening
    wider than any stroke."""
    small = preview(image, WORK_SIDE)
    factor = image.width / small.width
    if small.mode in ("LA", "RGBA") and np.median(_border(np.asarray(small.getchannel("A")))) < 128:
        ink = np.asarray(small.getchannel("A"), np.float32) / 255  # transparent paper: opaque = ink
    else:
        if small.mode in ("LA", "RGBA"):  # transparent pixels count as paper
            alpha = np.asarray(small.getchannel("A"), np.float32) / 255
            grey = np.asarray(small.convert("L"), np.float32) / 255
            paper = float(np.median(_border(grey)))
            grey = grey * alpha + paper * (1 - alpha)
        else:
            grey = np.asarray(small.convert("L"), np.float32) / 255
        # Ink is on the side of the paper's level where the grey levels have a long tail. The
        # border's level alone misleads under dim light (grey paper taken for dark, its ink for light).
        low, level, high = np.percentile(grey, [1, 50, 99])
        light = high - level > level - low              # dark paper: the ink is light
        value = grey if light else 1 - grey             # ink high, paper low
        # Strokes are far narrower than a quarter of the image's height; the light is not.
        window = max(3, min(value.shape) // 4) | 1
        ink = value - ndimage.grey_opening(value, size=(window, window))
    peak = float(np.percentile(ink, 99.9)) if ink.size > 1000 else float(ink.max(initial=0))
    if peak < MIN_CONTRAST:
        return None
    noise = float(np.median(ink))
    floor = min(0.5, 3 * noise / peak)
    return np.clip((ink / peak - floor) / (1 - floor), 0, 1).astype(np.float32), factor


def _border(array: np.ndarray) -> np.ndarray:
    return np.concatenate([array[0], array[-1], array[1:-1, 0], array[1:-1, -1]])


def _digit_parts(ink: np.ndarray) -> np.ndarray | None:
    """bool [H, W]: the solid blobs at least MIN_PART as tall as the tallest (digits, not dots,
    commas, dashes or flat underlines); None when there is nothing solid at all."""
    solid = ink > SOLID
    labels, count = ndimage.label(solid, structure=np.ones((3, 3)))
    if count == 0:
        return None
    boxes = ndimage.find_objects(labels)
    heights = np.array([b[0].stop - b[0].start for b in boxes])
    sizes = np.bincount(labels.ravel(), minlength=count + 1)[1:]
    tall = (heights >= MIN_PART * heights.max()) & (sizes >= 4)
    parts = np.isin(labels, np.flatnonzero(tall) + 1)
    return parts | _faint_digits(ink, parts, int(heights.max())) if parts.any() else None


def _without_box_sides(ink: np.ndarray) -> np.ndarray:
    """The ink without the upright sides of a printed box around the number (an amount's box on a
    cheque or a form, cut out with it, or a box per digit): straight upright lines, printed dark
    or light, at least BOX_SIDE of the image tall (or a wall between boxes) and BOX_RISE taller
    than any solid blob. Left in, a side was read
    as a 1 and made the strip the box's height. A 1 as tall as its neighbours (a number cropped
    tight), or with nothing but specks beside it, stays."""
    solid, inked = ink > SOLID, ink > TRACE
    sides = _runs(inked, BOX_SIDE * ink.shape[0], axis=0) | _cell_walls(inked)
    if not sides.any():
        return ink
    rows = np.flatnonzero(sides.any(axis=1))
    labels, count = ndimage.label(solid, structure=np.ones((3, 3)))
    apart = np.ones(count + 1, bool)
    apart[np.unique(labels[sides])] = False                  # blobs with a side in them are not compared
    tallest = max((box[0].stop - box[0].start for label, box in enumerate(ndimage.find_objects(labels), 1)
                   if apart[label]), default=0)
    side = rows[-1] + 1 - rows[0]
    if not BOX_SPECK * side < tallest <= side / BOX_RISE:   # nothing besides but specks, or as tall as a digit
        return ink
    around = ndimage.binary_dilation(sides, structure=np.ones((3, 3)), iterations=2)   # the sides' soft edges
    return np.where(around, 0, ink).astype(np.float32)


def _runs(mask: np.ndarray, length: float, axis: int) -> np.ndarray:
    """bool: the pixels of `mask` in straight runs at least `length` long along `axis` (0: upright,
    1: level); an opening by a line, as two 1-D passes."""
    n = max(3, int(length))
    return ndimage.maximum_filter1d(ndimage.minimum_filter1d(mask.view(np.uint8), n, axis=axis), n, axis=axis).view(bool)


def _cell_walls(inked: np.ndarray) -> np.ndarray:
    """bool: the inner walls of a printed row of boxes, one per digit (a comb field on a form):
    upright runs at least CELL_WALL of the image tall that meet a level line a third of the image
    wide at both ends. A digit's stroke may stand on an underline, but not also hang from a line."""
    walls = _runs(inked, CELL_WALL * inked.shape[0], axis=0)
    if not walls.any():
        return walls
    lines = ndimage.binary_dilation(_runs(inked, inked.shape[1] / 3, axis=1), iterations=3)
    labels, count = ndimage.label(walls)
    keep = np.zeros(count + 1, bool)
    for label, (rows, cols) in enumerate(ndimage.find_objects(labels), 1):
        keep[label] = lines[rows.start, cols].any() and lines[rows.stop - 1, cols].any()
    return keep[labels]


def _faint_digits(ink: np.ndarray, parts: np.ndarray, tallest: int) -> np.ndarray:
    """bool [H, W]: digits written fainter than SOLID (a light pen, a pen running dry) beside the
    solid ones: blobs of faint ink as tall as a digit, no wider than one, level with the solid
    digits and holding none of them. Without these a faint first or last digit fell outside the
    strip. A printed pattern is as faint but spreads into blobs far wider than a digit."""
    faint = ink > FAINT
    # An underline a faint digit touches would make the two one blob far wider than a digit:
    # horizontal runs as long as a digit is tall are lines, and are not searched for digits.
    lines = ndimage.binary_dilation(_runs(faint, tallest, axis=1))
    labels, count = ndimage.label(faint & ~lines & ~ndimage.binary_dilation(parts, iterations=2),
                                  structure=np.ones((3, 3)))
    rows = np.flatnonzero(parts.any(axis=1))
    top, bottom = rows[0], rows[-1] + 1
    keep = np.zeros(count + 1, bool)
    for blob, (blob_rows, blob_cols) in enumerate(ndimage.find_objects(labels), 1):
        height, width = blob_rows.stop - blob_rows.start, blob_cols.stop - blob_cols.start
        level = min(bottom, blob_rows.stop) - max(top, blob_rows.start) >= 0.5 * height
        keep[blob] = height >= FAINT_HEIGHT * tallest and width <= MAX_WIDTH * tallest and level
    return keep[labels]


def number_strip(source) -> Strip | None:
    """Any image `prepare` accepts -> the strip the network reads; None when it shows no ink."""
    image = load_image(source)
    found = ink_and_factor(image)
    if found is None:
        return None
    ink, factor = found
    ink = _without_box_sides(ink)
    parts = _digit_parts(ink)
    if parts is None:
        return None
    ink, parts, turn = _levelled(ink, parts, factor)
    rows, cols = np.flatnonzero(parts.any(axis=1)), np.flatnonzero(parts.any(axis=0))
    height = rows[-1] + 1 - rows[0]
    margin = MARGIN * height
    top, bottom = rows[0] - margin, rows[-1] + 1 + margin
    left, right = cols[0] - margin, cols[-1] + 1 + margin
    # A number shorter than the strip leaves room: up to CONTEXT digit heights of the paper either
    # side go in, so a first or last digit too faint to be found as one is still there to be read.
    spare = (bottom - top) / STRIP_HEIGHT * STRIP_WIDTH - (right - left)
    extra = float(np.clip(spare / 2, 0, CONTEXT * height))
    left, right = left - extra, right + extra
    # Scale so the number's height (with its margins) fills the strip, narrower when too long.
    scale = max((bottom - top) / STRIP_HEIGHT, (right - left) / STRIP_WIDTH)   # analysis px per strip px
    width = min(STRIP_WIDTH, max(1, round((right - left) / scale)))
    tall = min(STRIP_HEIGHT, max(1, round((bottom - top) / scale)))
    offset = (STRIP_HEIGHT - tall) // 2                 # a long number is centred vertically
    box = (left, top, left + width * scale, top + tall * scale)
    strip = np.zeros((STRIP_HEIGHT, STRIP_WIDTH), np.float32)
    strip[offset:offset + tall, :width] = _resample(ink, box, (width, tall))
    mask = np.zeros((STRIP_HEIGHT, STRIP_WIDTH), bool)
    mask[offset:offset + tall, :width] = _resample(parts.astype(np.float32), box, (width, tall)) > 0.25
    origin = (left * factor, (top - offset * scale) * factor)
    return Strip(np.clip(strip, 0, 1), mask, origin, scale * factor, turn)


def _line_turn(parts: np.ndarray) -> float:
    """Degrees the line of digits is turned from level (positive: written uphill), from the long
    axis of the digits' ink (its second moments), at most MAX_TURN either way. 0 where the ink is
    not a row of digits (spread less than LINE_SPREAD times more along its long axis than across,
    as one or two digits are, or a long axis turned more than twice MAX_TURN, as a lone 1 is): no
    line is to be seen."""
    rows, cols = np.nonzero(parts)
    x, y = cols - cols.mean(), rows - rows.mean()
    xx, yy, xy = (x * x).mean(), (y * y).mean(), (x * y).mean()
    spread = np.linalg.eigvalsh(np.array([[xx, xy], [xy, yy]]))            # ascending: across, along
    if spread[1] < LINE_SPREAD ** 2 * spread[0]:
        return 0.0
    # Image rows grow downwards: a line written uphill has y falling as x grows, a negative covariance.
    degrees = float(np.degrees(0.5 * np.arctan2(-2 * xy, xx - yy)))
    return float(np.clip(degrees, -MAX_TURN, MAX_TURN)) if abs(degrees) <= 2 * MAX_TURN else 0.0


def _levelled(ink: np.ndarray, parts: np.ndarray, factor: float) -> tuple[np.ndarray, np.ndarray, Affine]:
    """The ink and its digit parts turned level when the number was written on a slant (by
    MIN_TURN to MAX_TURN degrees either way; the network saw up to 4 degrees in training), and
    the map from the levelled image's pixels to the input's. Left turned, a long number fills a
    band so tall that the strip, fitted to the band's height, shrinks its digits."""
    degrees = _line_turn(parts)
    if abs(degrees) < MIN_TURN:
        return ink, parts, UNTURNED
    c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    h, w = ink.shape
    out_h, out_w = int(np.ceil(h * c + w * abs(s))), int(np.ceil(w * c + h * abs(s)))
    # Levelled pixel q -> analysis pixel p = A (q - centre_out) + centre_in: A turns the level line
    # back up by `degrees` (levelled rows are `_line_turn`'s cos * y + sin * x).
    a = np.array([[c, s], [-s, c]])                                # (x, y)
    centre_in, centre_out = np.array([(w - 1) / 2, (h - 1) / 2]), np.array([(out_w - 1) / 2, (out_h - 1) / 2])
    shift = centre_in - a @ centre_out
    matrix = a[::-1, ::-1]                                         # (row, col) order for ndimage
    turned = ndimage.affine_transform(ink, matrix, offset=shift[::-1], output_shape=(out_h, out_w), order=1)
    levelled = np.clip(turned, 0, 1).astype(np.float32)
    levelled_parts = _digit_parts(levelled)
    if levelled_parts is None:
        return ink, parts, UNTURNED
    # In input pixels: p_in = factor * p, q_in = factor * q.
    turn = ((a[0, 0], a[0, 1], factor * shift[0]), (a[1, 0], a[1, 1], factor * shift[1]))
    return levelled, levelled_parts, tuple(tuple(float(v) for v in row) for row in turn)


def _resample(array: np.ndarray, box: tuple[float, float, float, float], size: tuple[int, int]) -> np.ndarray:
    """The `box` (left, top, right, bottom; may reach outside: zeros there) of a float image, resized."""
    image = Image.fromarray(array, "F")
    pad = int(np.ceil(max(0.0, -box[0], -box[1], box[2] - array.shape[1], box[3] - array.shape[0]))) + 1
    if pad > 1:
        image = Image.fromarray(np.pad(array, pad), "F")
        box = (box[0] + pad, box[1] + pad, box[2] + pad, box[3] + pad)
    return np.asarray(image.resize(size, Image.Resampling.BILINEAR, box=box, reducing_gap=2.0), np.float32)


def strips(images) -> np.ndarray:
    """float32 [N, STRIP_HEIGHT, STRIP_WIDTH] of many images (all zeros for one without ink)."""
    out = np.zeros((len(images), STRIP_HEIGHT, STRIP_WIDTH), np.float32)
    for i, image in enumerate(images):
        strip = number_strip(image)
        if strip is not None:
            out[i] = strip.ink
    return out


# -- decoding -----------------------------------------------------------------------------------
def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def greedy_decode(probabilities: np.ndarray) -> list[tuple[int, int, int]]:
    """[FRAMES, 11] -> the digits of CTC's best path as (digit, first frame, last frame): the most
    likely class per frame, repeats merged, blanks dropped."""
    best = probabilities.argmax(axis=-1)                   # [T]
    starts = np.flatnonzero(np.diff(best, prepend=-1))     # where a run of one class begins
    ends = np.append(starts[1:], len(best)) - 1
    return [(int(best[s]), int(s), int(e)) for s, e in zip(starts, ends) if best[s] != BLANK]


def decode_batch(logits: np.ndarray) -> list[str]:
    """[N, FRAMES, 11] logits -> the N numbers read."""
    return ["".join(str(d) for d, _, _ in greedy_decode(row)) for row in logits]


DigitModel = Callable[[np.ndarray], np.ndarray]   # fields float32 [N, 28, 28] -> probabilities [N, 10]
Blob = tuple[np.ndarray, float]                   # a blob of the strip: bool mask [H, W], centre column


def reading(strip: Strip, logits: np.ndarray, digit_model: DigitModel | None = None) -> NumberReading:
    """The number, its confidence, and each digit's confidence and box from one strip's logits
    [FRAMES, 11]; with a `digit_model`, its second opinion on the digits CTC is unsure of.
    The number's confidence is CTC's best path's probability, a re-read digit counted at the
    joint belief in what was read instead of CTC's, and at most its least sure digit's."""
    probabilities = softmax(logits.astype(np.float64))
    path = greedy_decode(probabilities)
    confidence = float(np.prod(probabilities.max(axis=-1)))      # the best path's probability
    centres = _on_ink(strip, [(first + last + 1) / 2 * FRAME_STRIDE for _, first, last in path])  # strip columns
    bounds = _bounds(strip, centres)
    read = [(digit, float(probabilities[first:last + 1, digit].max())) for digit, first, last in path]
    if digit_model is not None:
        blobs = _blobs(strip)                                     # the number segmented the classic way
        for i, (digit, belief) in _second_opinion(blobs, strip, probabilities, path, bounds, digit_model).items():
            confidence *= belief[digit] / _ctc_belief(probabilities, path[i])[path[i][0]]
            read[i] = (digit, float(belief[digit]))
        for centre, sure in _skipped_ones(blobs, strip, centres, digit_model):
            i = int(np.searchsorted(centres, centre))
            centres.insert(i, centre)
            read.insert(i, (1, sure))
            confidence *= sure
        bounds = _bounds(strip, centres)
    digits = [DigitReading(digit, sure, _box(strip, bounds[i], bounds[i + 1], centres[i]))
              for i, (digit, sure) in enumerate(read)]
    # A number is no surer than its least sure digit (a re-read digit's belief can be the lower).
    return NumberReading("".join(str(d.digit) for d in digits), min([1.0, confidence] + [d.confidence for d in digits]),
                         digits)


def _ctc_belief(probabilities: np.ndarray, emitted: tuple[int, int, int]) -> np.ndarray:
    """float64 [10]: what CTC believes a digit it emitted is, from the frames it was emitted in."""
    _, first, last = emitted
    belief = probabilities[first:last + 1, :BLANK].sum(axis=0)
    return belief / belief.sum()


def _second_opinion(blobs: list[Blob], strip: Strip, probabilities: np.ndarray, path: list[tuple[int, int, int]],
                    bounds: list[int], digit_model: DigitModel) -> dict[int, tuple[int, np.ndarray]]:
    """{index in path: (digit, joint belief [10])} for each digit CTC gives less than SECOND_OPINION,
    read again by the digit model and the two beliefs combined (their geometric mean). Only where
    the ink's blobs agree with CTC: one blob per digit, each in its digit's stretch of the strip
    (`bounds`). Elsewhere a blob is part of two digits or of none, and the digit model would be
    shown half a digit or a digit and a half: it is not asked."""
    unsure = [i for i, emitted in enumerate(path) if _ctc_belief(probabilities, emitted).max() < SECOND_OPINION]
    if not unsure or len(blobs) != len(path) or \
            not all(bounds[i] <= centre < bounds[i + 1] for i, (_, centre) in enumerate(blobs)):
        return {}
    fields = [_field(strip, blobs[i][0]) for i in unsure]
    if any(field is None for field in fields):
        return {}
    opinions = digit_model(np.stack(fields))               # [U, 10]
    joint = {}
    for i, opinion in zip(unsure, opinions):
        belief = np.sqrt(_ctc_belief(probabilities, path[i]) * opinion.astype(np.float64))
        belief /= belief.sum()
        joint[i] = (int(belief.argmax()), belief)
    return joint


def _skipped_ones(blobs: list[Blob], strip: Strip, centres: list[float],
                  digit_model: DigitModel) -> list[tuple[float, float]]:
    """(centre column, probability) of each 1 the network skipped: a blob of the number's ink with
    no digit read on it that is a straight stroke, within UPRIGHT degrees of upright, as tall as
    the digits, and a 1 to the digit model. The network learnt from synthetic cheques that a
    thin straight stroke after a number is a slash ('/' or '/-'), and skipped a last 1 drawn with
    one straight stroke of a thin pen; a slash leans far more than a 1 written upright."""
    heights = [np.ptp(np.flatnonzero(mask.any(axis=1))) + 1 for mask, _ in blobs]
    typical = float(np.median(heights)) if heights else 0.0
    # Blobs as tall as the digits: not marks (a comma, an apostrophe), nor a slash (taller).
    blobs = [blob for blob, height in zip(blobs, heights) if ONE_HEIGHT * typical <= height <= typical / ONE_HEIGHT]
    if len(blobs) <= len(centres):
        return []
    read = _read_blobs(blobs, centres)
    candidates = [(mask, centre) for index, (mask, centre) in enumerate(blobs)
                  if index not in read and _upright_stroke(np.where(mask, strip.ink, 0))]
    if not candidates:
        return []
    fields = [_field(strip, mask) for mask, _ in candidates]
    found = [(centre, field) for (_, centre), field in zip(candidates, fields) if field is not None]
    if not found:
        return []
    ones = digit_model(np.stack([field for _, field in found]))[:, 1]   # [C]
    return [(centre, float(one)) for (centre, _), one in zip(found, ones) if one >= SURE_ONE]


def _field(strip: Strip, mask: np.ndarray) -> np.ndarray | None:
    """A blob's ink as the digit model takes it: float32 [28, 28], MNIST-style, as a single digit."""
    return prepare_ink(np.where(ndimage.binary_dilation(mask), strip.ink, 0), min_ink_side=0)


def _read_blobs(blobs: list[Blob], centres: list[float]) -> set[int]:
    """The blobs a digit was read on: left to right, each digit read takes the blob whose centre
    is nearest among those right of the last one taken (CTC places a digit to a frame, 4 columns,
    and `_on_ink` may have moved a 1's centre onto its neighbour's ink)."""
    taken: list[int] = []
    for centre in sorted(centres):
        free = range(taken[-1] + 1 if taken else 0, len(blobs))
        if not free:
            break
        taken.append(min(free, key=lambda b: abs(blobs[b][1] - centre)))
    return set(taken)


def _upright_stroke(ink: np.ndarray) -> bool:
    """Whether the ink is one straight stroke (four times longer than broad) within UPRIGHT
    degrees of upright, by the ink's second moments."""
    rows, cols = np.nonzero(ink)
    weights = ink[rows, cols]
    if len(weights) < 3:
        return False
    y, x = rows - np.average(rows, weights=weights), cols - np.average(cols, weights=weights)
    cov = np.cov(np.stack([x, y]), aweights=weights)                   # [2, 2]: x, y
    spread, axes = np.linalg.eigh(cov)                                 # ascending: [broad, long]
    if spread[0] <= 0 or spread[1] < 16 * spread[0]:                   # length over breadth, squared
        return False
    long_x, long_y = axes[:, 1]
    return np.degrees(np.arctan2(abs(long_x), abs(long_y))) < UPRIGHT


def _blobs(strip: Strip) -> list[Blob]:
    """The number segmented the classic way, left to right, as (bool mask [H, W], centre column):
    blobs of ink holding solid digit ink and at least MIN_PART as tall as the tallest, each with
    the smaller blobs lying over or under it (a 5's cap, a piece of a broken stroke). Smaller blobs
    beside every digit (a comma, an apostrophe) belong to none."""
    inked = strip.ink > FAINT
    labels, count = ndimage.label(inked, structure=np.ones((3, 3)))
    held = np.zeros(count + 1, bool)
    held[np.unique(labels[strip.parts & inked])] = True    # blobs of the digits' ink, not the paper's
    held[0] = False
    boxes = {label: box for label, box in enumerate(ndimage.find_objects(labels), 1) if held[label]}
    if not boxes:
        return []
    tallest = max(rows.stop - rows.start for rows, _ in boxes.values())
    digits = {label: [label] for label, (rows, _) in boxes.items() if rows.stop - rows.start >= MIN_PART * tallest}
    for label, (_, cols) in boxes.items():
        if label in digits:
            continue
        overlap, owner = max((min(cols.stop, boxes[d][1].stop) - max(cols.start, boxes[d][1].start), d) for d in digits)
        if overlap > 0:
            digits[owner].append(label)
    centre = {label: (boxes[label][1].start + boxes[label][1].stop) / 2 for label in digits}
    return [(np.isin(labels, digits[label]), centre[label]) for label in sorted(digits, key=centre.get)]


def _on_ink(strip: Strip, centres: list[float]) -> list[float]:
    """CTC may emit a digit a frame or two beside its ink (a 1 read in the strip's first frame,
    left of its stroke): each centre moved to the nearest column of ink, order kept. Traces of ink
    count, or a digit too faint to be found as one would be moved onto its neighbour."""
    has_ink = strip.parts.any(axis=0) | (strip.ink > TRACE).any(axis=0)   # [STRIP_WIDTH]
    inked = np.flatnonzero(has_ink)
    if not len(inked) or not centres:
        return centres
    snapped = [c if has_ink[min(int(c), STRIP_WIDTH - 1)] else float(inked[np.abs(inked - c).argmin()])
               for c in centres]
    return [float(c) for c in np.maximum.accumulate(snapped)]


def _bounds(strip: Strip, centres: list[float]) -> list[int]:
    """Each digit's stretch of the strip: bounds[i]:bounds[i + 1] are digit i's columns, split
    between neighbouring digits at the emptiest column between their centres."""
    columns = strip.parts.sum(axis=0).astype(np.float32) + 0.01 * strip.ink.sum(axis=0)   # [W]

    def cut(a: float, b: float) -> int:
        a, b = int(a), max(int(a) + 1, int(np.ceil(b)))
        return a + int(np.argmin(columns[a:b]))

    return [0] + [cut(a, b) for a, b in zip(centres, centres[1:])] + [STRIP_WIDTH]


def _box(strip: Strip, left: int, right: int, centre: float) -> tuple[int, int, int, int]:
    """The ink of the digit emitted at `centre` in its stretch `left:right` of the strip, in input pixels."""
    for source in (strip.parts, strip.ink > SOLID, strip.ink > TRACE):  # its blobs; failing those, any ink
        region = source[:, left:right]
        rows, cols = np.flatnonzero(region.any(axis=1)), np.flatnonzero(region.any(axis=0))
        if len(cols):
            x0, x1, y0, y1 = left + cols[0], left + cols[-1] + 1, rows[0], rows[-1] + 1
            break
    else:  # CTC saw a digit where nothing is solid: the frame's own columns
        x0, x1, y0, y1 = max(0, centre - FRAME_STRIDE), min(STRIP_WIDTH, centre + FRAME_STRIDE), 0, STRIP_HEIGHT
    xs, ys = strip.to_input([x0, x1, x1, x0], [y0, y0, y1, y1])      # the corners (turned if the line was)
    x, y = round(xs.min()), round(ys.min())
    return x, y, max(1, round(xs.max()) - x), max(1, round(ys.max()) - y)


# -- serving --------------------------------------------------------------------------------------
class NumberReader:
    """A number version's `model.tflite` run by LiteRT, one strip per call (no TensorFlow), with a
    digit model's second opinion on digits written apart when one is given (`digit_version`)."""

    def __init__(self, flatbuffer: bytes, digit_model: DigitModel | None = None, digit_version: str | None = None):
        from digits.predict import LiteInterpreter
        from digits.store import NUMBER_TASK

        self._interpreter = LiteInterpreter(flatbuffer, task=NUMBER_TASK)  # checks [N, 32, 256, 1] -> [N, 64, 11]
        self._digit_model = digit_model
        self.digit_version = digit_version if digit_model is not None else None

    def logits(self, strip: np.ndarray) -> np.ndarray:
        """float32 [STRIP_HEIGHT, STRIP_WIDTH] -> float32 [FRAMES, 11]."""
        return self._interpreter(strip[None, :, :, None].astype(np.float32))[0]

    def logits_batch(self, batch: np.ndarray) -> np.ndarray:
        """float32 [N, STRIP_HEIGHT, STRIP_WIDTH] -> float32 [N, FRAMES, 11], one strip at a time."""
        return np.stack([self.logits(strip) for strip in batch]) if len(batch) \
            else np.zeros((0, FRAMES, BLANK + 1), np.float32)

    def read(self, source) -> NumberReading:
        """Any image -> its NumberReading ("" when it shows no ink). Raises ImageError for a bad file."""
        strip = number_strip(source)
        if strip is None:
            return NumberReading("", 1.0, [])
        return reading(strip, self.logits(strip.ink), self._digit_model)

    def numbers(self, images) -> list[str]:
        """The numbers many images show, read as `read` reads them."""
        return [self.read(image).number for image in images]


def number_reader(store, version: str | None = None, second_opinion: bool = True) -> NumberReader:
    """The reader of a number version (the active number version by default), with the active
    digit version's second opinion (none when `second_opinion` is False, or that version is not
    usable). Raises StoreError for a number version that is unknown, broken, not a number model,
    or has no usable model.tflite."""
    from digits.store import NUMBER_TASK, StoreError

    version = store.active(NUMBER_TASK) if version is None else version
    info = store.usable(version)
    if info.task != NUMBER_TASK:
        raise StoreError(f"version {version!r} reads single digits, not numbers; "
                         "`python -m digits models` lists the number versions")
    flatbuffer = store.tflite(version)
    if flatbuffer is None:
        raise StoreError(f"version {version!r} has no usable model.tflite; "
                         f"`python -m digits export --model {version}` writes it")
    return NumberReader(flatbuffer, *(_digit_model(store) if second_opinion else (None, None)))


def _digit_model(store) -> tuple[DigitModel | None, str | None]:
    """The active digit version's probabilities and its name; (None, None) when it is not usable."""
    import warnings

    from digits.predict import version_predictor
    from digits.store import StoreError

    version = store.active()
    try:
        return version_predictor(store, version).probabilities, version
    except StoreError as err:
        warnings.warn(f"numbers are read without the digit model's second opinion: {err}", stacklevel=3)
        return None, None


def read_number(image, store=None, version: str | None = None) -> NumberReading:
    """Any image `prepare` accepts (a path, bytes, a PIL image, an array, a canvas's RGBA) -> the
    number it shows. Loads the reader each call: keep a `number_reader` to read many."""
    from digits.store import ModelStore

    return number_reader(store or ModelStore(), version).read(image)
