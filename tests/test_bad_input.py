"""Every kind of image input gets a 28x28 array, "no digit", or ImageError, and nothing else."""

from __future__ import annotations


import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

from digits.preprocessing import ImageError, prepare
from test_preprocessing import drawn_seven, encoded


def check_contract(result):
    if result is not None:
        assert isinstance(result, np.ndarray) and result.shape == (28, 28) and result.dtype == np.float32
        assert np.isfinite(result).all() and result.min() >= 0 and result.max() <= 1


def prepare_or_error(source):
    try:
        result = prepare(source)
    except ImageError as err:
        assert str(err)  # a message the user can read
        return "error"
    check_contract(result)
    return result


def seven_as(mode: str) -> Image.Image:
    return drawn_seven(ink=(10, 10, 10), paper=(240, 240, 240)).convert(mode)


UNREADABLE_FILES = [  # (name, bytes)
    ("random bytes", np.random.default_rng(0).bytes(5000)),
    ("empty file", b""),
    ("truncated PNG", encoded(drawn_seven(), "PNG")[:500]),
    ("truncated JPEG", encoded(drawn_seven(), "JPEG")[:500]),
    ("PNG header only", b"\x89PNG\r\n\x1a\n"),
]


@pytest.mark.parametrize("name, raw", UNREADABLE_FILES)
def test_unreadable_files_raise_image_error(name, raw):
    assert prepare_or_error(raw) == "error"


def test_huge_image_is_refused_without_decoding():
    raw = encoded(Image.new("L", (20000, 20000)), "PNG")
    with pytest.raises(ImageError, match="too"):
        prepare(raw)


UNUSUAL_SEVENS = [  # (name, a function making the file's bytes): each shows a 7
    ("16-bit grey PNG", lambda: encoded(Image.fromarray(
        (np.asarray(seven_as("L"), np.uint16) * 257)), "PNG")),
    ("CMYK JPEG", lambda: encoded(seven_as("CMYK"), "JPEG")),
    ("palette PNG with transparency", lambda: encoded(
        seven_as("P"), "PNG", transparency=0)),
    ("1-bit BMP", lambda: encoded(seven_as("1"), "BMP")),
    ("animated GIF", lambda: encoded(seven_as("P"), "GIF", save_all=True,
                                     append_images=[Image.new("P", (280, 280))], duration=100, loop=0)),
    ("grey+alpha PNG", lambda: encoded(seven_as("LA"), "PNG")),
]


@pytest.mark.parametrize("name, make", UNUSUAL_SEVENS)
def test_unusual_but_valid_formats_are_read_and_recognised(name, make, shipped_predictor):
    result = prepare_or_error(make())
    assert isinstance(result, np.ndarray), f"{name}: {result!r}"
    assert shipped_predictor.predict_prepared(result).digit == 7


NO_DIGIT_IMAGES = [  # (name, array)
    ("1x1 black", np.zeros((1, 1), np.uint8)),
    ("1x1 white", np.full((1, 1, 3), 255, np.uint8)),
    ("all white", np.full((300, 200, 3), 255, np.uint8)),
    ("all black", np.zeros((300, 200), np.uint8)),
    ("pure noise", np.random.default_rng(3).integers(0, 256, (128, 128, 3), dtype=np.uint8)),
    ("tiny dot", np.pad(np.full((2, 2), 255, np.uint8), 140)),
]


@pytest.mark.parametrize("name, image", NO_DIGIT_IMAGES)
def test_degenerate_images_are_no_digit(name, image):
    assert prepare(image) is None


@pytest.mark.parametrize("bad", [
    np.zeros((5, 5, 7), np.uint8), np.zeros((0, 10), np.uint8), np.zeros(10, np.uint8),
    np.full((5, 5), np.nan, np.float32), np.zeros((5, 5), np.complex64),
])
def test_bad_arrays_raise_image_error(bad):
    with pytest.raises(ImageError):
        prepare(bad)


images = st.one_of(
    arrays(np.uint8, st.tuples(st.integers(1, 64), st.integers(1, 64)), elements=st.integers(0, 255)),
    arrays(np.uint8, st.tuples(st.integers(1, 48), st.integers(1, 48), st.sampled_from([1, 2, 3, 4]))),
    arrays(np.float32, st.tuples(st.integers(1, 40), st.integers(1, 40)),
           elements=st.floats(-2, 2, width=32, allow_nan=False)),
    arrays(np.uint16, st.tuples(st.integers(1, 40), st.integers(1, 40))),
    arrays(np.bool_, st.tuples(st.integers(1, 40), st.integers(1, 40))),
)


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(images)
def test_property_any_array_gives_28x28_or_no_digit_or_image_error(image):
    prepare_or_error(image)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000))
def test_property_any_bytes_give_28x28_or_no_digit_or_image_error(raw):
    prepare_or_error(raw)
