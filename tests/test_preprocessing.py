"""MNIST-style preparation of arbitrary images."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from digits.preprocessing import (CENTRE, THICK_STROKE, THIN_STROKE, ImageError, fit_to_field, ink_map, load_image,
                                  plain_preprocess, prepare, stroke_width)


def centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    ys, xs = np.indices(image.shape)
    return (ys * image).sum() / image.sum(), (xs * image).sum() / image.sum()


def drawn_seven(size=280, ink=(255, 255, 255), paper=(0, 0, 0), offset=(0, 0)) -> Image.Image:
    """A '7' drawn off-centre with a thick pen, as a user would on the canvas."""
    image = Image.new("RGB", (size, size), paper)
    draw = ImageDraw.Draw(image)
    dx, dy = offset
    s = size / 280
    draw.line([(60 * s + dx, 50 * s + dy), (200 * s + dx, 50 * s + dy), (110 * s + dx, 230 * s + dy)],
              fill=ink, width=int(18 * s), joint="curve")
    return image


def test_output_is_float32_28x28_in_unit_range():
    prepared = prepare(drawn_seven())
    assert prepared.shape == (28, 28) and prepared.dtype == np.float32
    assert prepared.min() >= 0 and prepared.max() == pytest.approx(1.0, abs=0.05)


def test_centre_of_mass_lands_at_the_centre_for_an_off_centre_digit():
    image = Image.new("L", (280, 280))
    ImageDraw.Draw(image).ellipse([(20, 30), (120, 200)], outline=255, width=15)  # a '0', top left
    ImageDraw.Draw(image).line([(100, 60), (118, 60)], fill=255, width=10)  # lopsided on purpose
    cy, cx = centre_of_mass(prepare(image))
    assert abs(cy - CENTRE) < 0.3 and abs(cx - CENTRE) < 0.3


def test_a_top_heavy_digit_is_not_pushed_out_of_the_field():
    prepared = prepare(drawn_seven(offset=(50, -30)))
    assert prepared[0].max() < 0.05 and prepared[-1].max() < 0.05  # nothing cut at either edge
    assert prepared[:, 0].max() < 0.05 and prepared[:, -1].max() < 0.05


def test_digit_is_fitted_into_a_20x20_box_keeping_aspect_ratio():
    image = Image.new("L", (300, 300))
    ImageDraw.Draw(image).line([(150, 20), (150, 280)], fill=255, width=16)  # a tall '1'
    prepared = prepare(image)
    rows = np.flatnonzero(prepared.max(axis=1) > 0.05)
    cols = np.flatnonzero(prepared.max(axis=0) > 0.05)
    assert 19 <= rows[-1] - rows[0] + 1 <= 22  # the long side fills the 20-pixel box
    assert cols[-1] - cols[0] + 1 <= 5          # the short side stays thin


@pytest.mark.parametrize("pen", [1, 2, 4, 6])
def test_stroke_width_is_twice_the_area_over_the_outline(pen):
    field = np.zeros((28, 28), np.float32)
    field[4:24, 12:12 + pen] = 1  # a bar 20 long: area 20 * pen, outline 2 * (20 + pen)
    assert stroke_width(field) == pytest.approx(20 * pen / (20 + pen), rel=0.02)
    assert stroke_width(np.zeros((28, 28), np.float32)) == 0


def seven_with_pen(width: int) -> Image.Image:
    image = Image.new("L", (280, 280))
    ImageDraw.Draw(image).line([(60, 50), (200, 50), (110, 230)], fill=255, width=width, joint="curve")
    return image


@pytest.mark.parametrize("pen", [4, 60], ids=["fine liner", "felt marker"])
def test_a_fine_or_broad_pen_is_redrawn_with_strokes_nearer_mnists(pen):
    as_drawn = stroke_width(fit_to_field(ink_map(seven_with_pen(pen))))
    prepared = prepare(seven_with_pen(pen))
    assert not THIN_STROKE <= as_drawn <= THICK_STROKE, f"the {pen}-pixel pen draws {as_drawn:.2f}-pixel strokes"
    assert abs(stroke_width(prepared) - 2.4) < abs(as_drawn - 2.4) - 0.4  # MNIST's median is 2.4
    assert abs(stroke_width(prepared) - as_drawn) < 1.0  # one field pixel broader or finer, no more


def test_mnists_own_strokes_are_left_as_they_are(mnist):
    images = mnist.test.images[:300]
    widths = np.array([stroke_width(fit_to_field(ink_map(load_image(image)))) for image in images])
    typical = (widths >= THIN_STROKE) & (widths <= THICK_STROKE)
    assert typical.mean() > 0.7, "the band holds most of MNIST"
    for image in images[typical][:50]:
        np.testing.assert_array_equal(prepare(image), fit_to_field(ink_map(load_image(image))))


def test_inverted_image_gives_the_same_input_as_the_original(mnist):
    for image in mnist.test.images[:50]:
        np.testing.assert_allclose(prepare(255 - image), prepare(image), atol=1e-5)


def test_dark_ink_on_coloured_paper_matches_white_on_black():
    white_on_black = prepare(drawn_seven())
    on_yellow = prepare(drawn_seven(ink=(20, 30, 90), paper=(250, 220, 90)))
    assert np.abs(on_yellow - white_on_black).mean() < 0.03


def test_transparent_pixels_count_as_background():
    """A canvas layer: strokes opaque, the rest transparent (whatever colour it holds)."""
    rgba = np.zeros((280, 280, 4), np.uint8)
    rgba[..., :3] = 255  # transparent *white*: must still be background
    stroke = np.asarray(drawn_seven().convert("L")) > 0
    rgba[stroke] = (0, 0, 0, 255)  # black strokes
    np.testing.assert_allclose(prepare(rgba), prepare(drawn_seven()), atol=0.02)


def test_large_photo_like_image_is_handled():
    big = drawn_seven(size=2000, ink=(30, 30, 30), paper=(200, 200, 190))
    noisy = np.clip(np.asarray(big, np.int16) + np.random.default_rng(0).integers(-12, 12, (2000, 2000, 3)),
                    0, 255).astype(np.uint8)
    prepared = prepare(noisy)
    assert prepared is not None
    assert np.abs(prepared - prepare(drawn_seven())).mean() < 0.05


@pytest.mark.parametrize("blank", [
    np.zeros((280, 280, 4), np.uint8),                  # an empty canvas (all transparent)
    np.zeros((280, 280), np.uint8),                     # all black
    np.full((100, 100, 3), 255, np.uint8),              # all white
    np.full((64, 64, 3), (200, 30, 90), np.uint8),      # a flat colour
])
def test_blank_image_is_no_digit(blank):
    assert prepare(blank) is None


def test_a_tiny_speck_is_no_digit():
    image = np.zeros((280, 280), np.uint8)
    image[140:143, 140:143] = 255
    assert prepare(image) is None


def test_pure_noise_is_no_digit():
    noise = np.random.default_rng(1).integers(0, 256, (200, 200), dtype=np.uint8)
    assert prepare(noise) is None


def encoded(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "BMP", "GIF", "WEBP"])
def test_every_supported_format_gives_the_digit(fmt):
    prepared = prepare(encoded(drawn_seven(ink=(0, 0, 0), paper=(255, 255, 255)), fmt))
    assert np.abs(prepared - prepare(drawn_seven())).mean() < 0.05


@pytest.mark.parametrize("raw, message", [
    (b"", "not an image"),
    (b"\x00\x01garbage" * 50, "not an image"),
    (encoded(drawn_seven(), "PNG")[:300], "damaged or truncated"),
    (encoded(drawn_seven(), "JPEG")[:400], "damaged or truncated"),
])
def test_bad_files_raise_image_error(raw, message):
    with pytest.raises(ImageError, match=message):
        prepare(raw)


def test_a_decompression_bomb_is_refused_before_decoding():
    # A 20000x20000 PNG compresses to a few hundred KB; refusing it must not decode it.
    header_only = encoded(Image.new("1", (20000, 20000)), "PNG")
    with pytest.raises(ImageError, match="too (large|many pixels)"):
        load_image(header_only)


def test_missing_file_raises_image_error(tmp_path):
    with pytest.raises(ImageError, match="no such file"):
        prepare(tmp_path / "nope.png")


def test_plain_preprocessing_is_the_tutorials():
    plain = plain_preprocess(drawn_seven(ink=(0, 0, 0), paper=(255, 255, 255)))
    assert plain.shape == (28, 28) and plain.dtype == np.float32
    assert plain.mean() > 0.5  # no polarity handling: white paper stays white
