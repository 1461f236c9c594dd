"""Training-time augmentation, on whole batches inside the tf.data pipeline.

It teaches the model what real inputs look like when they are *not* MNIST-prepared: dark ink on
light paper, grey or coloured backgrounds (a colour is just a grey level once converted), thicker
and thinner strokes, the small rotations, shifts and zooms of handwriting, digits stretched out of
their aspect ratio (forms and postal scans fill a box), and the wobble of other people's hands
(elastic distortion, Simard et al. 2003). Given the labels, it also writes some 7s with a
crossbar and some 1s with a long up-stroke flag, as much of Europe writes them (MNIST has few).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import tensorflow as tf

from digits.config import TINY_RUN_IMAGES

SIDE = 28  # MNIST's field; the augmentation works on it only


@dataclass(frozen=True)
class AugmentSettings:
    invert_prob: float = 0.2        # dark ink on light paper
    background_prob: float = 0.2    # background and ink at random grey levels (coloured paper)
    stroke_prob: float = 0.4        # thicker or thinner strokes
    max_rotation_deg: float = 12.0
    max_shift_px: float = 2.5
    max_zoom: float = 0.12          # scale in [1 - z, 1 + z]
    aspect_prob: float = 0.5        # one axis (x or y) stretched ...
    max_aspect: float = 0.3         # ... by a factor in [1 - a, 1 + a]
    elastic_prob: float = 0.5       # a smooth random displacement field (Simard et al. 2003) ...
    elastic_alpha: float = 34.0     # ... of uniform [-1, 1] noise scaled by alpha ...
    elastic_sigma: float = 4.0      # ... after a Gaussian blur of this sigma, in pixels
    european_prob: float = 0.25     # a 7 gets a crossbar, a 1 a long flag (needs the labels)


# Elastic distortion, aspect jitter and European strokes pay off only over many steps: a
# 2,000-image, 1-epoch run lost several points with them (tests/test_training.py). A run that
# sees fewer images than this in all gets the lighter set.
SHORT_RUN_IMAGES = 20_000
SHORT_RUN_SETTINGS = replace(AugmentSettings(), aspect_prob=0.0, elastic_prob=0.0, european_prob=0.0)
# A tiny run (TINY_RUN_IMAGES in all at most) gets the lighter set at half strength: at full
# strength a 2,000-image, 1-epoch 'strong' run scored ~3 points lower on the validation split
# (bench/quick_sweep.py, BENCHMARKS.md).
TINY_RUN_SETTINGS = replace(SHORT_RUN_SETTINGS, invert_prob=0.1, background_prob=0.1, stroke_prob=0.2,
                            max_rotation_deg=6.0, max_shift_px=1.25, max_zoom=0.06)


def settings_for_run(images_seen: int) -> AugmentSettings:
    """The augmentation for a run that trains on `images_seen` images (subset size x epochs)."""
    if images_seen <= TINY_RUN_IMAGES:
        return TINY_RUN_SETTINGS
    return SHORT_RUN_SETTINGS if images_seen < SHORT_RUN_IMAGES else AugmentSettings()


def augment_batch(images: tf.Tensor, settings: AugmentSettings = AugmentSettings(),
                  labels: tf.Tensor | None = None) -> tf.Tensor:
    """images: float32 [B, 28, 28, 1] in [0, 1], ink = 1 -> the same shape, augmented.
    labels: int [B] digits, when given: some 7s and 1s are written the European way."""
    if labels is not None:
        images = _european_strokes(images, labels, settings.european_prob)
    images = _geometry(images, settings)
    images = _stroke_thickness(images, settings.stroke_prob)
    return _polarity_and_background(images, settings)


def _per_image(batch: int, prob: float) -> tf.Tensor:
    """A [B, 1, 1, 1] mask that is True for about `prob` of the images."""
    return tf.random.uniform([batch, 1, 1, 1]) < prob


def _geometry(images: tf.Tensor, s: AugmentSettings) -> tf.Tensor:
    """One random rotation + zoom + aspect stretch + shift about the image centre, plus an elastic
    displacement, per image, in a single bilinear resampling (no blur added twice)."""
    batch = tf.shape(images)[0]
    angle = tf.random.uniform([batch], -1.0, 1.0) * s.max_rotation_deg * math.pi / 180
    scale = tf.random.uniform([batch], 1 - s.max_zoom, 1 + s.max_zoom)
    stretch = 1 + tf.random.uniform([batch], -s.max_aspect, s.max_aspect) \
        * tf.cast(tf.random.uniform([batch]) < s.aspect_prob, tf.float32)
    on_x = tf.random.uniform([batch]) < 0.5  # which axis the stretch applies to
    scale_x = scale * tf.where(on_x, stretch, 1.0)
    scale_y = scale * tf.where(on_x, 1.0, stretch)
    shift = tf.random.uniform([batch, 2], -s.max_shift_px, s.max_shift_px)
    # Each *output* pixel samples the input at centre + S^-1 R^-1 (p - centre - shift) + elastic.
    centre = (SIDE - 1) / 2
    grid = tf.range(SIDE, dtype=tf.float32) - centre
    ys, xs = tf.meshgrid(grid, grid, indexing="ij")                        # [28, 28] each
    ys = ys[None] - shift[:, 1, None, None]                               # [B, 28, 28]
    xs = xs[None] - shift[:, 0, None, None]
    cos, sin = tf.cos(angle)[:, None, None], tf.sin(angle)[:, None, None]
    source_x = (cos * xs + sin * ys) / scale_x[:, None, None] + centre
    source_y = (-sin * xs + cos * ys) / scale_y[:, None, None] + centre
    displacement = _elastic_field(batch, s) * tf.cast(_per_image(batch, s.elastic_prob), tf.float32)  # [B, 28, 28, 2]
    return _bilinear(images, source_y + displacement[..., 0], source_x + displacement[..., 1])


def _elastic_field(batch: tf.Tensor, s: AugmentSettings) -> tf.Tensor:
    """[B, 28, 28, 2] displacements in pixels: uniform [-1, 1] noise blurred by a Gaussian of
    `elastic_sigma`, times `elastic_alpha` (Simard et al. 2003). The noise is drawn with a
    margin and blurred without padding, so the field is as strong at the edges as in the middle."""
    radius = int(math.ceil(3 * s.elastic_sigma))
    taps = tf.range(-radius, radius + 1, dtype=tf.float32)
    kernel = tf.exp(-0.5 * (taps / s.elastic_sigma) ** 2)
    kernel /= tf.reduce_sum(kernel)
    noise = tf.random.uniform([batch, SIDE + 2 * radius, SIDE + 2 * radius, 2], -1.0, 1.0)
    along_y = tf.tile(tf.reshape(kernel, [-1, 1, 1, 1]), [1, 1, 2, 1])   # [taps, 1, 2 channels, 1]
    along_x = tf.reshape(along_y, [1, -1, 2, 1])
    field = tf.nn.depthwise_conv2d(noise, along_y, [1, 1, 1, 1], "VALID")
    field = tf.nn.depthwise_conv2d(field, along_x, [1, 1, 1, 1], "VALID")  # [B, 28, 28, 2]
    return s.elastic_alpha * field


def _bilinear(images: tf.Tensor, ys: tf.Tensor, xs: tf.Tensor) -> tf.Tensor:
    """images [B, H, W, 1] sampled at (ys, xs) [B, H, W] (pixel centres at integers), bilinearly;
    outside the image is background (0)."""
    shape = tf.shape(images)
    batch, height, width = shape[0], shape[1], shape[2]
    flat = tf.reshape(tf.pad(images[..., 0], [[0, 0], [1, 1], [1, 1]]), [batch, -1])  # a ring of zeros
    y0, x0 = tf.floor(ys), tf.floor(xs)
    wy, wx = (ys - y0)[..., None], (xs - x0)[..., None]                    # [B, H, W, 1]
    y0, x0 = tf.cast(y0, tf.int32), tf.cast(x0, tf.int32)

    def at(y, x):  # the padded image's value at (y, x), clipped into the ring of zeros
        y = tf.clip_by_value(y, -1, height) + 1
        x = tf.clip_by_value(x, -1, width) + 1
        return tf.gather(flat, y * (width + 2) + x, batch_dims=1)[..., None]  # [B, H, W, 1]

    top = at(y0, x0) * (1 - wx) + at(y0, x0 + 1) * wx
    bottom = at(y0 + 1, x0) * (1 - wx) + at(y0 + 1, x0 + 1) * wx
    return top * (1 - wy) + bottom * wy


def _european_strokes(images: tf.Tensor, labels: tf.Tensor, prob: float) -> tf.Tensor:
    """A crossbar through the stem of about `prob` of the 7s, at 45-65% of the digit's height, and
    a flag from the top of about `prob` of the 1s, down to the left by 20-40% of the height at 30-57°: pen
    strokes 1.8-2.6 pixels wide drawn over the digit before any other augmentation."""
    batch = tf.shape(images)[0]
    grey = images[..., 0]                                                   # [B, 28, 28]
    rows = tf.reduce_max(grey, axis=2) > 0.3                                # [B, 28] rows with ink
    top = tf.cast(tf.argmax(tf.cast(rows, tf.int32), axis=1), tf.float32)   # [B]
    bottom = SIDE - 1 - tf.cast(tf.argmax(tf.cast(rows[:, ::-1], tf.int32), axis=1), tf.float32)
    height = tf.maximum(bottom - top, 1.0)

    def ink_centre(row: tf.Tensor) -> tf.Tensor:  # [B] the ink's mean column on that row
        values = tf.gather(grey, tf.cast(tf.round(row), tf.int32), axis=1, batch_dims=1)  # [B, 28]
        columns = tf.range(SIDE, dtype=tf.float32)
        return tf.reduce_sum(values * columns, 1) / tf.maximum(tf.reduce_sum(values, 1), 1e-6)

    uniform = lambda low, high: tf.random.uniform([batch], low, high)  # noqa: E731
    bar_y = top + height * uniform(0.45, 0.65)
    bar_x, half = ink_centre(bar_y), uniform(3.0, 5.0)
    tilt = uniform(-1.0, 1.0)                                               # pixels of rise
    flag_length = height * uniform(0.2, 0.4)
    angle = uniform(0.5, 1.0)                                               # radians below horizontal
    flag_x, flag_y = ink_centre(top), top
    is_seven = tf.equal(tf.cast(labels, tf.int32), 7)
    start = tf.where(is_seven[:, None], tf.stack([bar_x - half, bar_y + tilt], 1), tf.stack([flag_x, flag_y], 1))
    end = tf.where(is_seven[:, None], tf.stack([bar_x + half, bar_y - tilt], 1),
                   tf.stack([flag_x - flag_length * tf.cos(angle), flag_y + flag_length * tf.sin(angle)], 1))
    stroke = _pen_stroke(start, end, uniform(1.8, 2.6))                    # [B, 28, 28]
    wanted = (is_seven | tf.equal(tf.cast(labels, tf.int32), 1)) & (tf.random.uniform([batch]) < prob)
    return tf.where(wanted[:, None, None, None], tf.maximum(images, stroke[..., None]), images)


def _pen_stroke(start: tf.Tensor, end: tf.Tensor, width: tf.Tensor) -> tf.Tensor:
    """Antialiased straight strokes [B, 28, 28] from start to end ([B, 2] as x, y) of `width` [B]."""
    ys, xs = tf.meshgrid(tf.range(SIDE, dtype=tf.float32), tf.range(SIDE, dtype=tf.float32), indexing="ij")
    points = tf.stack([xs, ys], -1)[None]                                   # [1, 28, 28, 2]
    a, direction = start[:, None, None], (end - start)[:, None, None]       # [B, 1, 1, 2]
    along = tf.reduce_sum((points - a) * direction, -1, keepdims=True) \
        / tf.maximum(tf.reduce_sum(direction * direction, -1, keepdims=True), 1e-6)
    nearest = a + tf.clip_by_value(along, 0.0, 1.0) * direction
    distance = tf.norm(points - nearest, axis=-1)                           # [B, 28, 28]
    return tf.clip_by_value(width[:, None, None] / 2 + 0.5 - distance, 0.0, 1.0)


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
