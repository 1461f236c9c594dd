"""The Predict page's Number mode and the Evaluate page's Numbers section, through AppTest (the real
app script and the shipped number model; only the wide canvas is replaced: it needs a browser)."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
from PIL import Image

from dashboard_helpers import FakeCanvas, drawn_number
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


def test_number_mode_flags_low_confidence_digits(open_page, wide_canvas):
    """A smudge between two digits: whatever is read there is not trusted."""
    drawing = drawn_number("73").copy()
    drawing[80:200, 200:215, :3] = 255  # a stroke that is neither a 7 nor a 3
    wide_canvas.image = drawing
    app = open_page(predict_mode="Number")
    from digits.numbers import read_number

    reading = read_number(drawing)
    if any(d.unsure for d in reading.digits):
        assert any("Low confidence" in w.value for w in app.warning)
    else:
        assert not any("Low confidence" in w.value for w in app.warning)


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
    table = [frame.value for frame in app.dataframe][-1]
    assert list(table["category"])[:5] == ["5 digits, apart", "5 digits, touching or overlapping",
                                           "5 digits, separators, sign, slash",
                                           "5 digits, patterned paper, separators, underline", "9-12 digits"]
    assert (table["sequence accuracy"] > 0.5).all()  # a working reader (its figures: bench/read_numbers.py)
    assert (table["per-digit accuracy"] >= table["sequence accuracy"]).all()
    # The gallery: the misread numbers of the chosen category, each with the truth and what was read.
    worst = int(table["misread"].to_numpy().argmax())
    assert table["misread"].iloc[worst] > 0
    app.selectbox(key="number_gallery_category").set_value(app.selectbox(key="number_gallery_category")
                                                            .options[worst]).run()
    captions = [c for c in image_captions(app) if c.startswith("true ")]
    assert len(captions) == min(12, table["misread"].iloc[worst])
    assert all(truth != read for truth, read in (re.match(r"true (\d+) · read (.*)", c).groups() for c in captions))
