"""Test-set variants for robustness: what MNIST digits look like when they are not MNIST.

Each variant turns the uint8 [N, 28, 28] test images (white on black) into N uint8 RGB images
[H, W, 3] as a camera, a scanner or another app might deliver them: 28x28 for most, but a tight
crop is as large as the digit's own box, a scan 16x16, a photo or ruled paper larger. Then either
preprocessing is applied: the tutorial's plain one (grey, resize to 28x28, scale) or the
project's MNIST-style `prepare`. Every variant is seeded: the same seed gives the same images.
"""

from __future__ import annotations

import io
from typing import Callable

import numpy as np
from PIL import Image, ImageFilter

from digits.preprocessing import FIELD, LUMA, grey_morphology, plain_preprocess, prepare

SCAN_SIDE = 16                  # the 16x16 scan's frame
PHOTO_SCALE, RULED_SCALE = 3, 2  # a phone photo and ruled paper hold more pixels than the digit's strokes
FRAME_SIDE = 200                # the small-in-frame image


def _rgb(grey: np.ndarray) -> np.ndarray:
    return np.repeat(grey[..., None], 3, axis=-1)


def original(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The test images as they are: light ink on black."""
    return _rgb(images)


def inverted(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Dark ink on white paper."""
    return _rgb(255 - images)


def coloured(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Dark ink on a random light colour (sticky notes, tinted paper)."""
    paper = rng.uniform(120, 255, size=(len(images), 1, 1, 3))
    ink = rng.uniform(0, 60, size=(len(images), 1, 1, 3))
    alpha = images[..., None].astype(np.float32) / 255.0
    return (paper * (1 - alpha) + ink * alpha).round().astype(np.uint8)


def thick(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Strokes about two pixels thicker (a felt pen)."""
    return _rgb(grey_morphology(images, 3, grow=True))


def thin(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Strokes about one pixel thinner (a fine pen)."""
    return _rgb(grey_morphology(images, 2, grow=False))


def rotated(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random rotation of up to 15 degrees either way."""
    angles = rng.uniform(-15, 15, size=len(images))
    return _rgb(np.stack([np.asarray(Image.fromarray(img).rotate(a, resample=Image.Resampling.BILINEAR))
                          for img, a in zip(images, angles)]))


# -- real-world variants: crops, scans, photos, paper ----------------------------------------
def _ink_box(image: np.ndarray) -> np.ndarray:
    """The digit cropped to its ink (every non-zero pixel): uint8 [h, w], white on black."""
    rows, cols = np.flatnonzero(image.any(axis=1)), np.flatnonzero(image.any(axis=0))
    return image[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]


def _resized(grey: np.ndarray, width: int, height: int) -> np.ndarray:
    return np.asarray(Image.fromarray(grey).resize((width, height), Image.Resampling.LANCZOS))


def _ink_on_paper(ink: np.ndarray, paper: np.ndarray, pen: np.ndarray) -> np.ndarray:
    """Composite: ink (uint8 [H, W], 255 = full) of colour `pen` [3] over `paper` (float [H, W, 3])."""
    alpha = ink[..., None].astype(np.float32) / 255.0
    return paper * (1 - alpha) + pen * alpha


def tight_crop(images: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    """Dark on white, cropped exactly to the ink's box: the digit touches all four edges."""
    return [_rgb(255 - _ink_box(image)) for image in images]


def scan_16(images: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    """Fills a 16x16 frame edge to edge, the shorter side stretched 0-30% more (aspect not kept)."""
    out = []
    for image, stretch in zip(images, rng.uniform(1.0, 1.3, len(images))):
        crop = _ink_box(image)
        scale = SCAN_SIDE / max(crop.shape)
        height, width = (min(SCAN_SIDE, max(1, round(side * scale * (stretch if side < max(crop.shape) else 1))))
                         for side in crop.shape)
        frame = np.zeros((SCAN_SIDE, SCAN_SIDE), np.uint8)
        top, left = (SCAN_SIDE - height) // 2, (SCAN_SIDE - width) // 2
        frame[top:top + height, left:left + width] = _resized(crop, width, height)
        out.append(_rgb(frame))
    return out


def one_bit(images: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    """Thresholded to pure black and white, then dark-on-light or light-on-dark at random."""
    binary = np.where(images >= 128, 255, 0).astype(np.uint8)
    flip = rng.random(len(images)) < 0.5
    return list(_rgb(np.where(flip[:, None, None], 255 - binary, binary)))


def phone_photo(images: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    """Dark ink on light paper at 3x, lit by a gradient and often a shadow; noise, blur, JPEG 60-90."""
    side = FIELD * PHOTO_SCALE
    ys, xs = np.mgrid[0:side, 0:side].astype(np.float32) / (side - 1) - 0.5   # [84, 84] each, -0.5..0.5
    out = []
    for image in images:
        ink = _resized(image, side, side)
        paper = rng.uniform(0.75, 0.95) * np.array([1.0, rng.uniform(0.95, 1.0), rng.uniform(0.85, 1.0)])
        pen = rng.uniform(0.05, 0.25) * np.ones(3)
        reflectance = _ink_on_paper(ink, np.broadcast_to(paper, (side, side, 3)), pen)
        angle = rng.uniform(0, 2 * np.pi)
        along = np.cos(angle) * xs + np.sin(angle) * ys                        # -0.7..0.7
        light = 1 - rng.uniform(0.2, 0.5) * (along + 0.71) / 1.42               # a gradient across
        if rng.random() < 0.5:  # a soft-edged shadow over part of the image (a hand, a phone)
            angle, offset = rng.uniform(0, 2 * np.pi), rng.uniform(-0.3, 0.3)
            edge = np.cos(angle) * xs + np.sin(angle) * ys - offset
            light *= 1 - rng.uniform(0.2, 0.4) / (1 + np.exp(-edge / 0.03))
        photo = 255 * reflectance * light[..., None] + rng.normal(0, rng.uniform(2, 6), (side, side, 3))
        blurred = Image.fromarray(np.clip(photo, 0, 255).astype(np.uint8)).filter(
            ImageFilter.GaussianBlur(rng.uniform(0.4, 1.0)))
        buffer = io.BytesIO()
        blurred.save(buffer, "JPEG", quality=int(rng.integers(60, 91)))
        out.append(np.asarray(Image.open(buffer).convert("RGB")))
    return out


def ruled_paper(images: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    """Dark on light at 2x over light ruling lines 1-2 pixels wide, horizontal or (a third) squared."""
    side = FIELD * RULED_SCALE
    out = []
    for image in images:
        line_colour = np.array([rng.uniform(140, 200), rng.uniform(160, 210), rng.uniform(200, 245)])
        paper = np.full((side, side, 3), rng.uniform(225, 255), np.float32)
        spacing, width = rng.uniform(12, 22), int(rng.integers(1, 3))
        ruled = (np.arange(side) + rng.uniform(0, spacing)) % spacing < width   # [56] rows on a line
        paper[ruled] = line_colour
        if rng.random() < 1 / 3:
            paper[:, (np.arange(side) + rng.uniform(0, spacing)) % spacing < width] = line_colour
        pen = rng.uniform(0, 60, 3)
        out.append(_ink_on_paper(_resized(image, side, side), paper, pen).round().astype(np.uint8))
    return out


def small_in_frame(images: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    """The digit 15-30% of a 200x200 light image tall, at a random place, and a stray mark nearby."""
    out = []
    for image in images:
        crop = _ink_box(image)
        scale = rng.uniform(0.15, 0.30) * FRAME_SIDE / max(crop.shape)
        height, width = (max(1, round(side * scale)) for side in crop.shape)
        top, left = rng.integers(0, FRAME_SIDE - height + 1), rng.integers(0, FRAME_SIDE - width + 1)
        ink = np.zeros((FRAME_SIDE, FRAME_SIDE), np.uint8)
        ink[top:top + height, left:left + width] = _resized(crop, width, height)
        clear = max(height, width) // 2
        while True:  # a dot or short dash, 2-6 pixels, at least half the digit's size away from it
            mark_h, mark_w = rng.integers(2, 7, 2)
            y, x = rng.integers(0, FRAME_SIDE - 6, 2)
            if y + mark_h < top - clear or y > top + height + clear or x + mark_w < left - clear \
                    or x > left + width + clear:
                break
        ink[y:y + mark_h, x:x + mark_w] = 255
        paper = np.broadcast_to(np.float32(rng.uniform(200, 255)), (FRAME_SIDE, FRAME_SIDE, 3))
        out.append(_ink_on_paper(ink, paper, rng.uniform(0, 60, 3)).round().astype(np.uint8))
    return out


VariantMaker = Callable[[np.ndarray, np.random.Generator], "np.ndarray | list[np.ndarray]"]
VARIANTS: dict[str, VariantMaker] = {
    "original": original, "inverted": inverted, "coloured background": coloured,
    "thick strokes": thick, "thin strokes": thin, "rotated ±15°": rotated,
    "tight crop": tight_crop, "16x16 scan": scan_16, "1-bit": one_bit,
    "phone photo": phone_photo, "ruled paper": ruled_paper, "small in frame": small_in_frame,
}


def make_variant(name: str, images: np.ndarray, seed: int = 0) -> list[np.ndarray]:
    """uint8 [N, 28, 28] MNIST images -> a list of N uint8 RGB images [H, W, 3], whose size
    depends on the variant (and, for a tight crop, on the digit). The same seed, the same images."""
    return list(VARIANTS[name](images, np.random.default_rng(seed)))


def plain_batch(rgb: list[np.ndarray]) -> np.ndarray:
    """The tutorial's preprocessing: grey, resized to 28x28 (the identity for 28x28 inputs), scaled."""
    if all(image.shape[:2] == (FIELD, FIELD) for image in rgb):
        return np.stack(rgb).astype(np.float32) @ LUMA / 255.0
    return np.stack([plain_preprocess(image) for image in rgb])


def prepared_batch(rgb: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The project's preparation for each image -> (float32 [N, 28, 28], bool [N] 'no digit')."""
    out = np.zeros((len(rgb), FIELD, FIELD), np.float32)
    empty = np.zeros(len(rgb), bool)
    for i, image in enumerate(rgb):
        prepared = prepare(image)
        if prepared is None:
            empty[i] = True
        else:
            out[i] = prepared
    return out, empty


PREPROCESSINGS = ("prepared", "plain")


def variant_inputs(name: str, images: np.ndarray, preprocessing: str = "prepared",
                   seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Model inputs float32 [N, 28, 28] for one variant, and the 'no digit' mask (always False for
    plain preprocessing, which has no such notion). A 'no digit' answer counts as wrong."""
    rgb = make_variant(name, images, seed)
    if preprocessing == "plain":
        return plain_batch(rgb), np.zeros(len(rgb), bool)
    return prepared_batch(rgb)


def variant_accuracy(predictor, inputs: np.ndarray, empty: np.ndarray, labels: np.ndarray) -> dict:
    """Accuracy and the 4<->9 counts of a predictor on prepared variant inputs."""
    predictions = predictor.probabilities(inputs).argmax(axis=1)
    correct = (predictions == labels) & ~empty
    return {"accuracy": float(correct.mean()), "no_digit": int(empty.sum()),
            "4->9": int(((labels == 4) & (predictions == 9) & ~empty).sum()),
            "9->4": int(((labels == 9) & (predictions == 4) & ~empty).sum())}
