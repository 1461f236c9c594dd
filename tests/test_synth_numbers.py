"""The synthetic numbers (digits.synth_numbers) and the strip the number reader sees (digits.numbers)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from dashboard_helpers import digits_on_paper, turned
from digits.data import load_test
from digits.number_evaluation import (TEST_SEED, VALIDATION_SEED, digit_errors, edit_distance, numbers_for_test,
                                      numbers_for_validation)
from digits.numbers import STRIP_HEIGHT, STRIP_WIDTH, number_strip
from digits.synth_numbers import CATEGORIES, make_numbers


@pytest.fixture(scope="module")
def test_split():
    return load_test()


def test_the_same_seed_gives_the_same_numbers_and_another_seed_others(test_split):
    first = make_numbers(test_split.images, test_split.labels, 20, seed=3)
    again = make_numbers(test_split.images, test_split.labels, 20, seed=3)
    other = make_numbers(test_split.images, test_split.labels, 20, seed=4)
    assert first.labels == again.labels
    assert all(np.array_equal(a, b) for a, b in zip(first.images, again.images))
    assert first.labels != other.labels


def test_numbers_use_only_the_digits_they_are_given(test_split):
    """Training numbers come from training images, test numbers from test images: the generator
    draws only from the images (and labels) passed to it."""
    ones_and_sevens = np.isin(test_split.labels, (1, 7))
    made = make_numbers(test_split.images[ones_and_sevens], test_split.labels[ones_and_sevens], 30, seed=1)
    assert set("".join(made.labels)) <= {"1", "7"}
    # The evaluation's test numbers are exactly those of the MNIST test images.
    assert numbers_for_test("apart", 5).labels == make_numbers(test_split.images, test_split.labels, 5, TEST_SEED,
                                                           "apart").labels


def test_validation_numbers_come_from_the_training_file_s_validation_slice_only():
    """The numbers readers are compared on (`bench/read_numbers.py --split validation`) are written
    from the validation slice of MNIST's training images: never the test images, never the images
    the reader trains on."""
    from digits.data import load_mnist

    mnist = load_mnist()
    made = numbers_for_validation("touching", 5)
    assert made.labels == make_numbers(mnist.validation.images, mnist.validation.labels, 5, VALIDATION_SEED,
                                       "touching").labels
    assert made.labels != numbers_for_test("touching", 5).labels
    assert all(np.array_equal(a, b) for a, b in
               zip(made.images, make_numbers(mnist.validation.images, mnist.validation.labels, 5,
                                             VALIDATION_SEED, "touching").images))


@pytest.mark.parametrize("category, lengths", [("apart", {5}), ("touching", {5}), ("patterned", {5}),
                                               ("long", set(range(9, 13))), ("mixed", set(range(1, 13)))])
def test_each_category_writes_numbers_of_its_length_as_rgb_pictures(test_split, category, lengths):
    made = make_numbers(test_split.images, test_split.labels, 60, seed=0, category=category)
    assert {len(label) for label in made.labels} <= lengths
    assert all(label.isdigit() for label in made.labels)
    for image in made.images:
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
        assert min(image.shape[:2]) >= 20
    if category == "mixed":
        assert len({len(label) for label in made.labels}) >= 8  # lengths are spread, not fixed


def test_every_category_is_documented():
    import digits.synth_numbers as module

    for option in ("digits", "gap", "slant", "separators", "currency", "slash", "underline", "paper", "noise"):
        assert f"\n  {option}" in module.__doc__
    assert set(CATEGORIES) >= {"mixed", "apart", "touching", "separators", "patterned", "long"}


@pytest.mark.parametrize("sign", ["euro", "pound"])
def test_training_numbers_carry_pen_drawn_euro_and_pound_signs_that_are_not_in_the_label(test_split, sign):
    """Pillow's font has no euro or pound sign, so the generator writes them with the pen, about a
    digit tall, before the number (training numbers have them); the label is the digits only."""
    from dataclasses import replace

    from PIL import ImageDraw

    from digits.synth_numbers import DIGIT_SIDE, _pen_sign

    assert sign in CATEGORIES["training"].signs
    canvas = Image.new("L", (3 * DIGIT_SIDE, 3 * DIGIT_SIDE))
    _pen_sign(ImageDraw.Draw(canvas), sign, DIGIT_SIDE, 2 * DIGIT_SIDE, 3, np.random.default_rng(0))
    rows, cols = (np.flatnonzero(np.asarray(canvas).max(axis=a) > 128) for a in (1, 0))
    assert 0.6 * DIGIT_SIDE <= np.ptp(rows) <= 1.2 * DIGIT_SIDE and 0.4 * DIGIT_SIDE <= np.ptp(cols) <= DIGIT_SIDE
    style = replace(CATEGORIES["apart"], currency=1.0, signs=(sign,))
    for seed in range(12):   # one number a seed: its digits are drawn before the sign's random choices
        made, bare = (make_numbers(test_split.images, test_split.labels, 1, seed, "apart", style=s)
                      for s in (style, replace(style, currency=0.0)))
        assert made.labels == bare.labels and made.labels[0].isdigit() and len(made.labels[0]) == 5


def test_number_training_warps_the_digits_and_keeps_the_labels(test_split):
    """With augmentation (`--augment`) a number training batch is written from warped
    digits (the digit model's augmentation, NUMBER_GLYPHS): the same numbers, other pictures."""
    from digits.data import Split
    from digits.number_training import NUMBER_GLYPHS, NumberBatches

    assert NUMBER_GLYPHS.elastic_prob > 0 and NUMBER_GLYPHS.european_prob > 0
    split = Split(test_split.images[:2000], test_split.labels[:2000])
    warped_x, warped_y = NumberBatches(split, 64, 16, seed=5, glyphs=NUMBER_GLYPHS)[0]
    plain_x, plain_y = NumberBatches(split, 64, 16, seed=5, glyphs=None)[0]
    assert warped_x.shape == plain_x.shape == (16, STRIP_HEIGHT, STRIP_WIDTH, 1)
    # Both draw the same digits from the same pool; where the numbers coincide, the pictures do not.
    same = [i for i in range(16) if np.array_equal(warped_y[i], plain_y[i])]
    assert 0 in same and all(not np.allclose(warped_x[i], plain_x[i], atol=0.05) for i in same)


def test_the_strip_is_the_same_for_dark_ink_on_light_paper_and_light_ink_on_dark(test_split):
    made = make_numbers(test_split.images, test_split.labels, 1, seed=2, category="apart")
    picture = made.images[0]
    light_on_dark = 255 - picture
    a, b = number_strip(picture), number_strip(light_on_dark)
    assert a.ink.shape == (STRIP_HEIGHT, STRIP_WIDTH)
    assert np.corrcoef(a.ink.ravel(), b.ink.ravel())[0, 1] > 0.9


def test_the_strip_of_a_blank_or_flat_image_is_none():
    assert number_strip(np.full((100, 300), 255, np.uint8)) is None
    assert number_strip(np.zeros((100, 300, 4), np.uint8)) is None  # an empty transparent canvas


def test_the_strip_takes_uneven_light_out(test_split):
    """A photo darker on one side: the paper's shading is not ink."""
    made = make_numbers(test_split.images, test_split.labels, 1, seed=5, category="apart")
    picture = made.images[0].astype(np.float32)
    shade = np.linspace(1.0, 0.45, picture.shape[1])[None, :, None]
    even, shaded = number_strip(made.images[0]), number_strip((picture * shade).astype(np.uint8))
    assert np.corrcoef(even.ink.ravel(), shaded.ink.ravel())[0, 1] > 0.85
    assert shaded.ink[:, -40:].max() < 0.3  # the empty end of the strip stays empty


def test_edit_distance_and_digit_error_rate():
    assert edit_distance("12345", "12345") == 0
    assert edit_distance("12345", "1245") == 1 and edit_distance("12", "312") == 1
    assert edit_distance("12345", "12845") == 1
    assert digit_errors(["123", "45"], ["123", ""]) == pytest.approx(2 / 5)


def test_a_faint_first_or_last_digit_stays_in_the_strip(test_split):
    """A digit written fainter than the rest (a light pen, a pen running dry) is in the strip the
    network reads, at either end; a faint printed pattern under the number does not widen it."""
    for strengths, faint in (([1, 1, 1, 0.4], 3), ([0.4, 1, 1, 1], 0)):
        picture, rights = digits_on_paper(test_split, strengths)
        strip = number_strip(picture)
        columns = np.flatnonzero(strip.parts.any(axis=0))          # the digits the strip's boxes see
        right_edge = strip.origin[0] + (columns[-1] + 1) * strip.scale
        left_edge = strip.origin[0] + columns[0] * strip.scale
        if faint == 3:
            assert right_edge >= rights[3] - 2
        else:
            assert left_edge <= rights[0] - 10
        assert strip.ink[:, columns[-1] - 2:columns[-1] + 1].max() > 0.3
    y, x = np.mgrid[0:60, 0:400]
    waves = (np.cos(2 * np.pi * (y + 3 * np.sin(x / 6)) / 4) ** 8 * 90).astype(np.float32)  # guilloché-like
    solid, _ = digits_on_paper(test_split, [1, 1, 1])
    patterned, _ = digits_on_paper(test_split, [1, 1, 1], waves)
    assert abs(number_strip(patterned).scale - number_strip(solid).scale) < 0.1 * number_strip(solid).scale


def test_a_number_written_on_a_slant_is_put_level_in_the_strip(test_split):
    """Turned by 10 degrees either way, a 9-digit number fills the strip as it does written level
    (its digits as tall), and is not turned back when level."""
    from digits.numbers import UNTURNED

    level, _ = digits_on_paper(test_split, [1] * 9)
    assert number_strip(level).turn == UNTURNED
    for degrees in (-10, 10):
        strip = number_strip(turned(level, degrees))
        assert strip.turn != UNTURNED
        assert strip.scale == pytest.approx(number_strip(level).scale, rel=0.1)
        rows = np.flatnonzero(strip.parts.any(axis=1))
        assert np.ptp(rows) + 1 < 0.8 * STRIP_HEIGHT                    # the digits' band, not the line's


def test_one_or_two_digits_written_level_are_not_turned(test_split):
    """One or two digits show no line to level: their ink's long axis is the digits' own shape
    (upright for a 1, or along a sign or a slash beside a digit). Turned by it, "2" was read as
    "02" and "49" as "229". Level 1-2-digit numbers with everything else mixed in: hardly any turned."""
    from dataclasses import replace

    from digits.numbers import MIN_TURN, _digit_parts, _line_turn, _without_box_sides, ink_and_factor

    made = make_numbers(test_split.images, test_split.labels, 100, 7,
                        style=replace(CATEGORIES["mixed"], digits=(1, 2), tilt=0))
    turns = []
    for picture in made.images:
        ink, _ = ink_and_factor(Image.fromarray(picture))
        parts = _digit_parts(_without_box_sides(ink))
        turns.append(0.0 if parts is None else _line_turn(parts))
    assert sum(abs(turn) >= MIN_TURN for turn in turns) <= 5


def test_a_digit_too_faint_to_be_found_is_still_in_the_strip(test_split):
    """A first or last digit at a fifth of the pen's contrast is not found as a digit, but a short
    number's strip keeps some paper either side, so the network still sees it."""
    for strengths, faint in (([1, 1, 1, 0.2], 3), ([0.2, 1, 1, 1], 0)):
        picture, rights = digits_on_paper(test_split, strengths)
        strip = number_strip(picture)
        column = int((rights[faint] - 8 - strip.origin[0]) / strip.scale)   # inside the faint digit
        assert 0 <= column < STRIP_WIDTH
        assert strip.ink[:, max(0, column - 4):column + 1].max() > 0.1


def test_the_paper_either_side_never_makes_the_digits_smaller(test_split):
    """The paper kept either side takes only the strip's spare room: one digit and six of the
    same digit are scaled alike."""
    one, _ = digits_on_paper(test_split, [1])
    six = np.hstack([one[:, :20]] + [one[:, 20:50]] * 6 + [one[:, 50:]])
    assert number_strip(six).scale == pytest.approx(number_strip(one).scale, rel=0.02)


def test_a_faint_last_digit_touching_a_faint_underline_stays_in_the_strip(test_split):
    """A line is not a digit, and a faint digit that touches one (a light pen's digit on a pencil
    underline) is still a digit: the two together are far wider than one, so the line is left out
    of the search for faint digits."""
    picture, rights = digits_on_paper(test_split, [1, 1, 1, 0.4])
    bottom = 16 + int(np.flatnonzero(test_split.images[3].max(axis=1) > 0.3 * 255)[-1])  # the faint digit's foot
    underline = picture[bottom - 2:bottom + 1, 10:rights[3] + 30]
    picture[bottom - 2:bottom + 1, 10:rights[3] + 30] = np.minimum(underline, 255 - 0.4 * 255)
    strip = number_strip(picture)
    columns = np.flatnonzero(strip.parts.any(axis=0))
    assert strip.origin[0] + (columns[-1] + 1) * strip.scale >= rights[3] - 2
