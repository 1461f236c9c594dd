"""Test-set variants for robustness: what MNIST digits look like when they are not MNIST.

Each variant turns the uint8 [N, 28, 28] test images (white on black) into RGB images
[N, 28, 28, 3] as a camera or another app might deliver them. Then either preprocessing is
applied: the tutorial's plain one (grey, resize, scale) or the project's MNIST-style `prepare`.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from PIL import Image

from digits.preprocessing import LUMA, grey_morphology, prepare


def _rgb(grey: np.ndarray) -> np.ndarray:
    return np.repeat(grey[..., None], 3, axis=-1)


def original(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
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


VARIANTS: dict[str, Callable[[np.ndarray, np.random.Generator], np.ndarray]] = {
    "original": original, "inverted": inverted, "coloured background": coloured,
    "thick strokes": thick, "thin strokes": thin, "rotated ±15°": rotated,
}


def make_variant(name: str, images: np.ndarray, seed: int = 0) -> np.ndarray:
    """uint8 [N, 28, 28] -> uint8 RGB [N, 28, 28, 3]; the same seed gives the same images."""
    return VARIANTS[name](images, np.random.default_rng(seed))


def plain_batch(rgb: np.ndarray) -> np.ndarray:
    """The tutorial's preprocessing for 28x28 inputs: grey and scale (the resize is the identity)."""
    grey = rgb.astype(np.float32) @ LUMA
    return grey / 255.0


def prepared_batch(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The project's preparation for each image -> (float32 [N, 28, 28], bool [N] 'no digit')."""
    out = np.zeros(rgb.shape[:3], np.float32)
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
