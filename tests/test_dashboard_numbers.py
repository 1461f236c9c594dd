"""The Predict page's Number mode and the Evaluate page's Numbers section, through AppTest (the real
app script and the shipped number model; only the wide canvas is replaced: it needs a browser)."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
from PIL import Image

from dashboard_helpers import FakeCanvas, drawn_number
from digits.number_evaluation import CATEGORY_LABELS
from digits.store import DEFAULT_NUMBER_VERSION
from test_dashboard import image_captions, open_page  # noqa: F401 - open_page: a page of the app in a fresh session


@pytest.fixture
def wide_canvas(monkeypatch):
    """Replace the wide canvas: `wide_canvas.image` is what the next run of the page 'draws'."""
    import dashboard.number_view

    fake = FakeCanvas()
    monkeypatch.setattr(dashboard.number_view, "draw_wide_canvas", fake)
    return fake


def shown_number(app) -> str | None:
    for markdown in app.markdown:
        if 'data-testid="number-read"' in markdown.value:
            return markdown.value.split(">")[1].split("<")[0]
    return None


def test_number_mode_reads_the_drawn_number_with_boxes_and_confidence(open_page, wide_canvas):
    wide_canvas.image = drawn_number("4500")
    app = open_page(predict_mode="Number")
    assert shown_number(app) == "4500"
    assert app.selectbox(key="number_version").value == DEFAULT_NUMBER_VERSION
    assert [m.label for m in app.metric] == ["Confidence"]
    assert any("4 digits read" in caption for caption in image_captions(app))
    assert wide_canvas.calls[-1]["stroke_width"] == 16


def test_number_mode_on_an_empty_canvas_asks_for_a_number(open_page, wide_canvas):
    wide_canvas.image = np.zeros((250, 900, 4), np.uint8)
    app = open_page(predict_mode="Number")
    assert shown_number(app) is None
    assert any("Write a number" in info.value for info in app.info)


def test_number_mode_flags_low_confidence_digits(open_page, wide_canvas, monkeypatch):
    """The page's part: a digit read below 60% confidence is named in a warning (whether a digit is
    unsure is the reader's part, tested in test_numbers.py). The reader here answers a fixed reading."""
    import dashboard.number_view
    from digits.numbers import DigitReading, NumberReading

    class FixedReader:
        digit_version = "default"

        def read(self, image):
            return NumberReading("73", 0.3, [DigitReading(7, 0.97, (100, 60, 80, 150)),
                                             DigitReading(3, 0.41, (220, 60, 80, 150))])

    monkeypatch.setattr(dashboard.number_view, "load_number_reader", lambda version: FixedReader())
    wide_canvas.image = drawn_number("73")
    app = open_page(predict_mode="Number")
    assert shown_number(app) == "73"
    [warning] = [w.value for w in app.warning if "Low confidence" in w.value]
    assert "3 (position 2, 41%)" in warning and "7 (" not in warning


def test_number_mode_upload_reads_a_photo_and_explains_a_bad_file(open_page, wide_canvas):
    buffer = io.BytesIO()
    Image.fromarray(drawn_number("170", ink=(30, 30, 90), paper=(240, 230, 190))[..., :3]).save(buffer, "PNG")
    app = open_page(predict_mode="Number")
    upload_tab = app.tabs[1]
    upload_tab.file_uploader(key="number_upload").set_value(("amount.png", buffer.getvalue(), "image/png"))
    app.run()
    assert not app.exception
    assert shown_number(app.tabs[1]) == "170"

    app.tabs[1].file_uploader(key="number_upload").set_value(("broken.png", b"\x89PNG\r\n\x1a\n nope", "image/png"))
    app.run()
    assert app.tabs[1].error[0].value.startswith("**broken.png** cannot be used: ")
    assert shown_number(app.tabs[1]) is None


def test_evaluate_has_a_numbers_section_by_category_with_misread_gallery(open_page):
    app = open_page("evaluate", evaluate_mode="Numbers")
    assert any(h.value == "Numbers" for h in app.header)
    assert any("read as the Predict page reads them" in c.value and "digit model `default`" in c.value
               for c in app.caption)   # the figures are the served reader's, second opinion included
    table = [frame.value for frame in app.dataframe][-1]
    assert list(table["category"])[:5] == ["5 digits, apart", "5 digits, touching or overlapping",
                                           "5 digits, separators, sign, slash",
                                           "5 digits, patterned paper, separators, underline", "9-12 digits"]
    assert (table["sequence accuracy"] > 0.5).all()  # a working reader (its figures: bench/read_numbers.py)
    assert (table["per-digit accuracy"] >= table["sequence accuracy"]).all()
    # The gallery: the misread numbers of the chosen category, each with the truth and what was read.
    worst = int(table["misread"].to_numpy().argmax())
    assert table["misread"].iloc[worst] > 0
    app.selectbox(key="number_gallery_category").set_value(list(CATEGORY_LABELS)[worst]).run()
    captions = [c for c in image_captions(app) if c.startswith("true ")]
    assert len(captions) == min(12, table["misread"].iloc[worst])
    assert all(truth != read for truth, read in (re.match(r"true (\d+) · read (.*)", c).groups() for c in captions))


def test_the_annotated_input_boxes_each_digit_in_its_colour():
    from dashboard.number_view import SURE, UNSURE, annotated
    from digits.numbers import DigitReading, NumberReading

    image = Image.fromarray(drawn_number("73"))
    reading = NumberReading("73", 0.3, [DigitReading(7, 0.97, (100, 60, 80, 150)),
                                        DigitReading(3, 0.41, (220, 60, 80, 150))])
    shown = np.asarray(annotated(image, reading))                     # [250, 900, 3]

    def colour(hex_colour):
        return np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)])

    assert (shown[60:211, 100] == colour(SURE)).all(axis=1).mean() > 0.9     # the 7's left edge
    assert (shown[60:211, 220] == colour(UNSURE)).all(axis=1).mean() > 0.9   # the unsure 3's left edge
