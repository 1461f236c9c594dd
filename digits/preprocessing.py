"""Any image -> the 28x28 input the model expects, made the way MNIST itself was made.

MNIST digits are white ink on black, fitted into a 20x20 box (aspect ratio kept) and placed in
a 28x28 field with their centre of mass at the centre. `prepare` does the same to a canvas
drawing, a photo or a scan: grey levels, transparent pixels as background, polarity detected
(dark ink on light or coloured paper becomes white on black), contrast stretched, cropped to
the ink, fitted, centred. An image with no ink gives None ("no digit") instead of a guess.

Errors: every unusable input raises `ImageError` (a ValueError), and nothing else.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
from scipy import ndimage

MAX_PIXELS = 40_000_000     # larger images are refused before decoding (decompression bombs)
MAX_FILE_BYTES = 5 * 2**20  # the upload cap (5 MiB), as the Predict page states it
IMAGE_FORMATS = ("PNG", "JPEG", "BMP", "GIF", "WEBP")  # what README documents; Pillow reads ~40 more
WORK_SIDE = 160             # analysis resolution: larger images are reduced first (speed, noise)
MIN_CONTRAST = 0.15         # ink must differ from the background by this much (of full range)
SOLID_INK = 0.25            # a digit needs ink at least this strong
FAINT_INK = 0.05            # the digit's extent: everything at least this inked
NOISE_LEVELS = 4             # ink fainter than this many paper-noise levels is paper texture
MIN_INK_SIDE = 0.06         # a blob smaller than this fraction of the image is a speck, not a digit
BOX, FIELD = 20, 28         # MNIST: fit into 20x20, place in 28x28
CENTRE = (FIELD - 1) / 2    # 13.5 in pixel-index coordinates
MARGIN = 1                  # centring may not push the digit closer than this to an edge
MAX_NOISE = 0.05            # an image this noisy (median deviation from the 3x3 median) shows no digit
EVEN_PAPER = 0.1            # paper whose level varies more than this (10-90% range) is lit unevenly
SHADE = 0.45                # under uneven light, dark ink takes more than this share of the paper's light
RULING_SPAN = 0.9           # a straight line across this much of the image is ruling, not ink, ...
RULING_WIDTH = 0.6          # ... when it is thinner than this many stroke widths and fainter than this much ink
NEAR_BLOB = 0.25            # a blob within this many digit sizes of the digit is part of it, ...
BIG_BLOB = 0.2              # ... and one with this share of the digit's ink within half a digit size
MIN_DIGIT_SHARE = 0.6       # the digit holds at least this share of all the ink, or it is not one digit
# MNIST's strokes are 1.7-3.6 pixels wide in the 28x28 field (5th-95th percentile of its test
# digits as prepared here, median 2.4).
# Outside this band a stroke is grown or shrunk by one field pixel. The band was chosen on the
# validation split's thick and thin variants (bench/stroke_band.py), not on the test set.
THIN_STROKE, THICK_STROKE = 1.8, 3.4
LUMA = np.array([0.299, 0.587, 0.114], np.float32)  # ITU-R 601, as PIL's "L" conversion


class ImageError(ValueError):
    """The input is not a usable image (unreadable, truncated, too large, wrong shape...)."""


# -- loading --------------------------------------------------------------------------------
def load_image(source) -> Image.Image:
    """A PIL image from a path, bytes, a file object, a PIL image or an array (H, W[, C])."""
    if isinstance(source, Image.Image):
        return source
    if isinstance(source, np.ndarray):
        return _from_array(source)
    name = str(source) if isinstance(source, (str, Path)) else "image"
    if isinstance(source, (bytes, bytearray, memoryview)):
        source = io.BytesIO(bytes(source))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(source, formats=IMAGE_FORMATS)  # a TIFF or PSD renamed .png is refused
            if image.width * image.height > MAX_PIXELS:
                raise ImageError(f"{name}: {image.width}x{image.height} pixels is too large "
                                 f"(at most {MAX_PIXELS // 1_000_000} megapixels)")
            image.seek(0)  # animated GIF/WebP: the first frame
            image.load()
    except ImageError:
        raise
    except FileNotFoundError:
        raise ImageError(f"{name}: no such file") from None
    except UnidentifiedImageError:
        raise ImageError(f"{name}: not an image, or a format that is not supported "
                         "(PNG, JPEG, BMP, GIF, WebP)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(f"{name}: too many pixels (refused as a possible decompression bomb)") from None
    except Exception as err:  # noqa: BLE001 - Pillow raises OSError, SyntaxError, struct.error...
        raise ImageError(f"{name}: the image data is damaged or truncated ({err})") from None
    if image.width < 1 or image.height < 1:
        raise ImageError(f"{name}: the image has no pixels")
    return ImageOps.exif_transpose(image)  # phone photos: upright as the camera saw them


def check_file_size(size: int) -> None:
    """ImageError for a file over the upload cap (MAX_FILE_BYTES)."""
    if size > MAX_FILE_BYTES:
        raise ImageError(f"{size:,} bytes is over the {MAX_FILE_BYTES / 2**20:g} MiB ({MAX_FILE_BYTES:,} bytes) limit")


def _from_array(array: np.ndarray) -> Image.Image:
    """uint8/uint16/bool/float (in [0, 1]) arrays of shape (H, W), (H, W, 1..4)."""
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (2, 3, 4)) \
            or array.shape[0] < 1 or array.shape[1] < 1:
        raise ImageError(f"an image array must be (H, W) or (H, W, 1-4 channels), not {array.shape}")
    if array.shape[0] * array.shape[1] > MAX_PIXELS:  # before any copy or conversion, whatever the dtype
        raise ImageError(f"{array.shape[1]}x{array.shape[0]} pixels is too large "
                         f"(at most {MAX_PIXELS // 1_000_000} megapixels)")
    if array.dtype == np.uint8:  # the common case (a canvas, a decoded image): no conversion
        return Image.fromarray(np.ascontiguousarray(array), _array_mode(array))
    if array.dtype == bool:
        array = array.astype(np.float32)
    if np.issubdtype(array.dtype, np.integer):
        scale = 65535.0 if array.max(initial=0) > 255 else 255.0
        array = array.astype(np.float32) / scale
    elif np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all():
            raise ImageError("the image array holds NaN or infinite values")
        array = array.astype(np.float32)
    else:
        raise ImageError(f"an image array of dtype {array.dtype} is not supported")
    pixels = (np.clip(array, 0, 1) * 255 + 0.5).astype(np.uint8)
    return Image.fromarray(pixels, _array_mode(array))


def _array_mode(array: np.ndarray) -> str:
    return "L" if array.ndim == 2 else {2: "LA", 3: "RGB", 4: "RGBA"}[array.shape[2]]


# -- from pixels to ink ---------------------------------------------------------------------
def _standard_mode(image: Image.Image) -> Image.Image:
    """Any mode -> L, LA, RGB or RGBA (8 bits), or I/F (16-bit and float grey) left as they are."""
    if image.mode in ("P", "PA"):
        return image.convert("RGBA")  # keeps palette transparency
    if image.mode == "1":
        return image.convert("L")
    if image.mode in ("La", "RGBa"):
        return image.convert(image.mode.upper())
    if image.mode.startswith("I;16"):
        return image.convert("I")  # 16-bit grey; "I" can be reduced
    if image.mode in ("L", "LA", "RGB", "RGBA") or image.mode.startswith(("I", "F")):
        return image
    return image.convert("RGB")  # CMYK, YCbCr, LAB, HSV, RGBX


def _grey(array: np.ndarray, mode: str) -> np.ndarray:
    """float32 grey [H, W] in [0, 1] from the image's pixel array."""
    if mode.startswith(("I", "F")):  # 16-bit or float grey
        grey = array.astype(np.float32)
        peak = float(grey.max(initial=0))
        scale = 65535.0 if mode.startswith("I") and peak > 255 else 255.0 if mode.startswith("I") else max(1.0, peak)
        return np.clip(grey / scale, 0, 1)
    if array.ndim == 2:
        return array.astype(np.float32) / 255.0
    colour = array[..., :3] if mode == "RGBA" else array[..., :1] if mode == "LA" else array
    return (colour[..., 0] if colour.shape[-1] == 1 else colour @ LUMA).astype(np.float32) / 255.0


def _border(array: np.ndarray) -> np.ndarray:
    return np.concatenate([array[0], array[-1], array[1:-1, 0], array[1:-1, -1]])


def _reduced(image: Image.Image, side: int = WORK_SIDE) -> Image.Image:
    """A box-filtered copy at most `side` pixels wide and tall: the digit ends up 20 pixels
    tall, so more detail only costs time (and lets more noise through)."""
    factor = -(-max(image.size) // side)
    return image.reduce(factor) if factor > 1 else image


def ink_map(image: Image.Image) -> np.ndarray | None:
    """float32 [H, W] in [0, 1]: 1 = ink, 0 = background; None when there is no visible ink."""
    image = _standard_mode(image)
    alpha = image.getchannel("A") if image.mode in ("LA", "RGBA") else None
    if alpha is not None and np.median(_border(np.asarray(alpha))) < 128:
        # A transparent background (a canvas layer, a sticker): whatever is opaque is ink.
        ink = np.asarray(_reduced(alpha), np.float32) / 255.0
        noise, on_paper = 0.0, False
    else:
        image = _reduced(image)
        array = np.asarray(image)
        found = _ink_on_paper(_grey(array, image.mode))
        if found is None:
            return None
        (ink, noise), on_paper = found, True
        if alpha is not None:
            ink *= array[..., -1] / np.float32(255)  # transparent pixels count as background
    peak = float(ink.max(initial=0))
    if peak < MIN_CONTRAST:
        return None
    # Stretch the contrast; where the paper is grainy (a photo, a JPEG), drop ink fainter than a
    # few noise levels. A clean image keeps every grey level: thin strokes live in them.
    floor = min(0.5, NOISE_LEVELS * noise / peak)
    ink = np.clip((ink * (1 / peak) - floor) * (1 / (1 - floor)), 0, 1, dtype=np.float32)
    # Paper (not a drawing layer) may carry ruling lines and stray marks besides the digit.
    return _digit_only(_without_ruling(ink)) if on_paper else ink


def _otsu(grey: np.ndarray) -> float:
    """The grey level that best splits the image into two classes (Otsu 1979: the largest
    between-class variance), over 256 levels."""
    counts = np.bincount(np.minimum((grey * 256).astype(np.int32), 255).ravel(), minlength=256)
    levels = np.arange(256) + 0.5
    below = np.cumsum(counts)[:-1]                       # pixels at or below level i, i = 0..254
    mass_below = np.cumsum(counts * levels)[:-1]
    above = grey.size - below
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_below = mass_below / below
        mean_above = ((counts * levels).sum() - mass_below) / above
        between = below * above * (mean_below - mean_above) ** 2
    return (int(np.nanargmax(between)) + 1) / 256


def _thickness(mask: np.ndarray) -> float:
    """How far into a class one can go from the other: the 90th percentile of its distance map.
    Outside the image counts as the class itself, so a digit cut by the edge is not thinned."""
    return float(np.percentile(ndimage.distance_transform_edt(mask)[mask], 90))


def _stroke_width(strokes: np.ndarray) -> float:
    """The typical stroke width in a mask, in pixels: twice the median of the distance map
    along the strokes' middle (its ridge)."""
    distance = ndimage.distance_transform_edt(strokes)
    return 2 * float(np.median(distance[strokes & (distance >= ndimage.maximum_filter(distance, 3))]))


def _ink_on_paper(grey: np.ndarray) -> tuple[np.ndarray, float] | None:
    """Ink (float32 [H, W], high = ink, not yet stretched) and the image's noise level from a
    grey image; None when there is no paper with strokes on it.

    Paper and ink are decided from the whole image, not its border (a digit may touch or fill
    it): Otsu's threshold splits the grey levels in two, and ink is the class that forms strokes,
    the thinner one (paper around, between and inside strokes is wider than the strokes). Light
    ink needs even dark paper: uneven darkness (away from the soft edges of strokes) is a shadow
    on light paper, and the ink is dark. Where either class is uneven (shadows, uneven light),
    the paper's level is followed locally: a grey
    opening a third of the image wide removes the strokes and leaves the paper; ink is what
    rises above it, for dark ink as a fraction of the local paper brightness, as reflectance is
    (a shadow dims ink and paper alike)."""
    if float(grey.max() - grey.min()) < MIN_CONTRAST:
        return None  # blank: one level all over
    dark = grey < _otsu(grey)
    if dark.all() or not dark.any() or grey[~dark].mean() - grey[dark].mean() < MIN_CONTRAST:
        return None
    uneven_dark, uneven_light = _uneven(grey, dark), _uneven(grey, ~dark)
    ink_is_dark = _thickness(dark) <= _thickness(~dark) or uneven_dark
    strokes = dark if ink_is_dark else ~dark
    inkness = 1 - grey if ink_is_dark else grey                       # [H, W], ink high
    paper = float(np.median(inkness[~strokes]))
    window = 2 * (max(grey.shape) // 6) + 1                           # odd, a third of the image
    # Outside the image is paper: a stroke cut by the edge stays ink up to the edge.
    background = np.float32(paper)  # even light: one paper level, so broad strokes stay whole
    if uneven_dark or uneven_light:
        background = ndimage.grey_opening(inkness, size=window, mode="constant", cval=paper)
    ink = inkness - background
    if ink_is_dark:
        ink /= np.maximum(1 - background, MIN_CONTRAST)
        if uneven_dark or uneven_light:
            # What a square window cannot follow (a shadow's slanted edge) is left as faint
            # "ink"; ink on paper absorbs far more of the light than that.
            ink = np.clip((ink - SHADE) / (1 - SHADE), 0, None)
    # Noise: how far a pixel typically strays from its 3x3 neighbourhood's median. Paper and the
    # inside of strokes are flat, so a clean image scores ~0 whatever its ink covers.
    noise = float(np.median(np.abs(ink - ndimage.median_filter(ink, 3))))
    if noise > MAX_NOISE:
        return None  # noise all over: no plain paper for a digit to stand on
    return ink.astype(np.float32), noise


def _uneven(grey: np.ndarray, mask: np.ndarray) -> bool:
    """Whether a class of pixels varies in level more than EVEN_PAPER (the range of its middle
    80%) away from its soft edges: ink and shadowed paper in one class, or a lighting gradient."""
    core = ndimage.binary_erosion(mask, iterations=2)
    if not core.any():
        return False
    low, high = np.percentile(grey[core], [10, 90])
    return bool(high - low > EVEN_PAPER)


def _without_ruling(ink: np.ndarray) -> np.ndarray:
    """Ink without the lines of ruled or squared paper: a band of rows (or columns) inked along
    RULING_SPAN of the image, thinner than the strokes, fainter than the ink and not at the
    image's edge (where a digit cropped tight touches it along a stroke), is paper.
    Where a stroke crosses such a line, the line's level is taken off the stroke."""
    solid = ink[ink > SOLID_INK]
    strong = float(np.percentile(solid, 90)) if solid.size else 1.0
    width = _stroke_width(ink > RULING_WIDTH * strong)  # of the strokes, not of fainter lines
    for axis in (1, 0):  # rows (horizontal lines), then columns (vertical lines)
        inked = ink > FAINT_INK
        across = inked.mean(axis=axis) >= RULING_SPAN                  # [H] rows or [W] columns
        bands, _ = ndimage.label(across)
        for (band,) in ndimage.find_objects(bands):
            line = np.zeros_like(inked)
            if axis == 1:
                line[band] = inked[band]
            else:
                line[:, band] = inked[:, band]
            level = float(np.median(ink[line]))
            inside = band.start > 0 and band.stop < len(across)  # a digit may touch the edge along a stroke
            if inside and band.stop - band.start < RULING_WIDTH * width and level < RULING_WIDTH * strong:
                ink = np.where(line, np.clip((ink - level) / max(1 - level, 1e-3), 0, 1), ink)
    return ink.astype(np.float32)


def _digit_only(ink: np.ndarray) -> np.ndarray | None:
    """The digit alone: the blob of solid ink with the most ink, and the blobs beside it (a
    broken stroke, a 5's flag); specks and marks further away are dropped. None when the digit
    holds less than MIN_DIGIT_SHARE of the ink (marks all over: a busy photo, not a digit)."""
    # Solid ink, grown by a pixel so that a stroke broken by a pixel or two stays one blob.
    blobs, count = ndimage.label(ndimage.binary_dilation(ink > SOLID_INK), structure=np.ones((3, 3)))
    if count <= 1:
        return ink
    mass = ndimage.sum_labels(ink, blobs, np.arange(1, count + 1))       # [count]
    boxes = ndimage.find_objects(blobs)
    main = int(np.argmax(mass))
    top, bottom, left, right = boxes[main][0].start, boxes[main][0].stop, boxes[main][1].start, boxes[main][1].stop
    size = max(bottom - top, right - left)
    keep = np.zeros(count + 1, bool)                                     # [count + 1], 0 = paper
    for i, (rows, cols) in enumerate(boxes):
        gap = max(0, top - rows.stop, rows.start - bottom, left - cols.stop, cols.start - right)
        keep[i + 1] = gap <= NEAR_BLOB * size or (mass[i] >= BIG_BLOB * mass[main] and gap <= size / 2)
    if mass[keep[1:]].sum() < MIN_DIGIT_SHARE * mass.sum():
        return None
    near = ndimage.binary_dilation(keep[blobs], iterations=2)  # the blobs with their soft edges
    return np.where(near, ink, np.float32(0))


# -- into the 28x28 field -------------------------------------------------------------------
def _ink_box(ink: np.ndarray) -> tuple[slice, slice]:
    """The box around everything at least faintly inked: the digit's extent includes its soft
    edges, as MNIST's box does. Only for ink that has some."""
    inked = ink > FAINT_INK
    rows, cols = np.flatnonzero(inked.any(axis=1)), np.flatnonzero(inked.any(axis=0))
    return slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)


def fit_to_field(ink: np.ndarray, min_ink_side: float = MIN_INK_SIDE) -> np.ndarray | None:
    """Crop to the ink, fit into 20x20 keeping the aspect ratio, centre of mass at the centre.
    None when the ink spans less than `min_ink_side` of the image's longer side (a speck)."""
    solid = ink > SOLID_INK  # where the pen clearly was: decides whether this is a digit at all
    if not solid.any():
        return None
    crop = ink[_ink_box(ink)]  # [h, w]
    height, width = crop.shape
    if max(height, width) < min_ink_side * max(ink.shape):
        return None  # a speck, not a digit
    # One antialiased resampling maps the crop into the field: scaled so its longer side is 20
    # pixels, its centre of mass at the field's centre, but never pushed closer than MARGIN to
    # an edge (a '7' is top-heavy). Resampling once keeps thin strokes sharp.
    scale = BOX / max(height, width)                       # field pixels per crop pixel
    mass = crop.sum()
    com_y = (crop.sum(axis=1) @ np.arange(height)) / mass + 0.5   # in pixel-edge coordinates
    com_x = (crop.sum(axis=0) @ np.arange(width)) / mass + 0.5
    reach = (FIELD / 2 - MARGIN) / scale                   # crop pixels from the centre to the margin
    com_y = min(max(com_y, height - reach), reach)
    com_x = min(max(com_x, width - reach), reach)
    half = FIELD / 2 / scale                               # the field's half side, in crop pixels
    pad = int(np.ceil(half)) + 1
    padded = np.pad(crop, pad)  # the source box must lie inside the image
    box = (com_x + pad - half, com_y + pad - half, com_x + pad + half, com_y + pad + half)
    field = Image.fromarray(padded, "F").resize((FIELD, FIELD), Image.Resampling.LANCZOS, box=box)
    return np.clip(np.asarray(field, np.float32), 0, 1)


def stroke_width(field: np.ndarray) -> float:
    """The mean stroke width of a fitted digit, in field pixels: twice the ink's area over the
    length of its outline (a stroke w wide and L long has area wL and outline 2L). The outline
    is the ink's total variation, so a soft edge counts by its contrast."""
    dy, dx = np.diff(field, axis=0)[:, :-1], np.diff(field, axis=1)[:-1, :]  # [27, 27] each
    outline = float(np.sqrt(dx * dx + dy * dy).sum())
    return 2 * float(field.sum()) / outline if outline > 0 else 0.0


def grey_morphology(images: np.ndarray, window: int, grow: bool) -> np.ndarray:
    """window x window grey dilation (grow) or erosion of images [..., H, W], ink high, outside
    the image is paper: a window of n pixels makes strokes n - 1 pixels broader or finer."""
    reduce = np.maximum.reduce if grow else np.minimum.reduce
    height, width = images.shape[-2:]
    pad = [(0, 0)] * (images.ndim - 2) + [(window // 2, (window - 1) // 2)] * 2
    padded = np.pad(images, pad)
    rows = reduce([padded[..., i:i + height, :] for i in range(window)])      # [..., H, W + window - 1]
    return reduce([rows[..., i:i + width] for i in range(window)])            # [..., H, W]


def even_strokes(ink: np.ndarray, field: np.ndarray) -> np.ndarray:
    """A fitted digit drawn with a much finer or broader pen than MNIST's, redrawn one field
    pixel broader or finer: the model reads a fine liner's broken strokes and a marker's filled
    loops better this way than as they are. Other digits are returned unchanged."""
    width = stroke_width(field)
    if THIN_STROKE <= width <= THICK_STROKE:
        return field
    # One field pixel is extent / BOX ink pixels; a window of n pixels grows a stroke by n - 1.
    window = 1 + max(1, round(max(ink[_ink_box(ink)].shape) / BOX))
    redrawn = fit_to_field(grey_morphology(ink, window, grow=width < THIN_STROKE), min_ink_side=0)
    return field if redrawn is None else redrawn  # a stroke thinned away: keep what was drawn


def prepare(source, min_ink_side: float = MIN_INK_SIDE) -> np.ndarray | None:
    """Any image -> float32 [28, 28] in [0, 1], ink = 1, MNIST-style; None when it shows no digit.
    Ink spanning less than `min_ink_side` of the image's longer side is a speck, not a digit (a
    drawing canvas raises it to two pen widths: one press of the pen leaves a dot, not a digit).
    Strokes far finer or broader than MNIST's are evened out (`even_strokes`).
    Raises ImageError for anything that is not a usable image."""
    return prepare_ink(ink_map(load_image(source)), min_ink_side)


def prepare_ink(ink: np.ndarray | None, min_ink_side: float = MIN_INK_SIDE) -> np.ndarray | None:
    """`prepare` from an image's `ink_map`, for a caller that also reads the ink map itself (the
    Predict page counts digits in it: one ink map per stroke, not two)."""
    field = None if ink is None else fit_to_field(ink, min_ink_side)
    return None if field is None else even_strokes(ink, field)


def preview(image: Image.Image, side: int) -> Image.Image:
    """A copy of a loaded image that any browser shows: at most about `side` pixels wide and tall,
    8-bit (16-bit and float grey scaled as `prepare` scales them; CMYK and palettes converted)."""
    image = _reduced(_standard_mode(image), side)
    if image.mode.startswith(("I", "F")):
        grey = _grey(np.asarray(image), image.mode)
        return Image.fromarray((grey * 255).round().astype(np.uint8), "L")
    return image


def plain_preprocess(source) -> np.ndarray:
    """The tutorial's preprocessing, for comparison: grey, resize to 28x28, scale to [0, 1]."""
    image = load_image(source).convert("L").resize((FIELD, FIELD))
    return np.asarray(image, np.float32) / 255.0
