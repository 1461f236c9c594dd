"""Training-time augmentation, on whole batches inside the tf.data pipeline.

It teaches the model what real inputs look like when they are *not* MNIST-prepared: dark ink on
light paper, grey or coloured backgrounds (a colour is just a grey level once converted), thicker
and thinner strokes, and the small rotations, shifts and zooms of handwriting.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import tensorflow as tf


@dataclass(frozen=True)
class AugmentSettings:
    invert_prob: float = 0.2        # dark ink on light paper
    background_prob: float = 0.2    # background and ink at random grey levels (coloured paper)
    stroke_prob: float = 0.4        # thicker or thinner strokes
    max_rotation_deg: float = 12.0
    max_shift_px: float = 2.5
    max_zoom: float = 0.12          # scale in [1 - z, 1 + z]


def augment_batch(images: tf.Tensor, settings: AugmentSettings = AugmentSettings()) -> tf.Tensor:
    """images: float32 [B, 28, 28, 1] in [0, 1], ink = 1 -> the same shape, augmented."""
    images = _geometry(images, settings)
    images = _stroke_thickness(images, settings.stroke_prob)
    return _polarity_and_background(images, settings)


def _per_image(batch: int, prob: float) -> tf.Tensor:
    """A [B, 1, 1, 1] mask that is True for about `prob` of the images."""
    return tf.random.uniform([batch, 1, 1, 1]) < prob


def _geometry(images: tf.Tensor, s: AugmentSettings) -> tf.Tensor:
    """One random rotation + zoom + shift per image about the image centre, in a single resampling."""
    batch = tf.shape(images)[0]
    angle = tf.random.uniform([batch], -1.0, 1.0) * s.max_rotation_deg * math.pi / 180
    scale = tf.random.uniform([batch], 1 - s.max_zoom, 1 + s.max_zoom)
    shift = tf.random.uniform([batch, 2], -s.max_shift_px, s.max_shift_px)
    # The transform maps *output* pixel (x, y) to the input pixel it samples from.
    cos, sin = tf.cos(angle) / scale, tf.sin(angle) / scale
    centre = 13.5
    tx = centre - cos * centre + sin * centre - shift[:, 0]
    ty = centre - sin * centre - cos * centre - shift[:, 1]
    zeros = tf.zeros_like(cos)
    transforms = tf.stack([cos, -sin, tx, sin, cos, ty, zeros, zeros], axis=1)  # [B, 8]
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images, transforms=transforms, output_shape=tf.constant([28, 28]),
        fill_value=0.0, interpolation="BILINEAR", fill_mode="CONSTANT")


def _stroke_thickness(images: tf.Tensor, prob: float) -> tf.Tensor:
    """Grey-level dilation (thicker: 2x2 or 3x3 window) or erosion (thinner: 2x2), each with
    a third of `prob`: pens range from fine liners to felt markers."""
    batch = tf.shape(images)[0]
    variants = [tf.nn.max_pool2d(images, 2, 1, "SAME"), tf.nn.max_pool2d(images, 3, 1, "SAME"),
                -tf.nn.max_pool2d(-images, 2, 1, "SAME")]
    choose = tf.random.uniform([batch, 1, 1, 1])
    out = images
    for i, variant in enumerate(variants):
        picked = (choose >= prob * i / len(variants)) & (choose < prob * (i + 1) / len(variants))
        out = tf.where(picked, variant, out)
    return out


def _polarity_and_background(images: tf.Tensor, s: AugmentSettings) -> tf.Tensor:
    """Remap the ink level 0..1 to background..ink grey levels, possibly swapped."""
    batch = tf.shape(images)[0]
    images = tf.where(_per_image(batch, s.invert_prob), 1.0 - images, images)
    low = tf.random.uniform([batch, 1, 1, 1], 0.0, 0.35)
    high = tf.random.uniform([batch, 1, 1, 1], 0.65, 1.0)
    remapped = low + (high - low) * images
    return tf.where(_per_image(batch, s.background_prob), remapped, images)
