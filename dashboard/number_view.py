"""The Number mode of the Predict page and the Numbers section of the Evaluate page."""

from __future__ import annotations

import numpy as np
import streamlit as st
from PIL import Image, ImageDraw, ImageFont

from dashboard.common import (WIDE_CANVAS, draw_wide_canvas, load_number_reader, model_store, number_results,
                              number_test_set, uploaded_image, version_picker)
from dashboard.samples_view import Reading, feedback_controls
from digits.number_evaluation import CATEGORY_LABELS
from digits.numbers import NumberReading
from digits.preprocessing import load_image, preview
from digits.store import NUMBER_TASK, StoreError

SURE, UNSURE = "#2ca02c", "#e4572e"   # box colours: a confident digit, a low-confidence one
PREVIEW_SIDE = 900
NUMBERS_PER_CATEGORY = 200            # Evaluate: synthetic test numbers read per category
GALLERY_SIZE = 12


def annotated(image: Image.Image, reading: NumberReading, side: int = PREVIEW_SIDE) -> Image.Image:
    """The input with each digit's box, and the digit and its confidence above it (unsure ones in
    the warning colour, with a '?')."""
    shown = preview(image, side).convert("RGB")
    factor = shown.width / image.width
    draw = ImageDraw.Draw(shown)
    font = ImageFont.load_default(size=max(12, shown.height // 12))
    for digit in reading.digits:
        x, y, w, h = (round(v * factor) for v in digit.box)
        colour = UNSURE if digit.unsure else SURE
        draw.rectangle([x, y, x + w, y + h], outline=colour, width=max(2, shown.height // 120))
        label = f"{digit.digit} {digit.confidence:.0%}" + ("?" if digit.unsure else "")
        draw.text((x, max(0, y - font.size - 4)), label, fill=colour, font=font,
                  stroke_width=2, stroke_fill="white")
    return shown


def show_reading(reader, image: Image.Image | np.ndarray | None, empty_message: str, key: str, version: str,
                 source: str) -> None:
    """Read the number and show it large, its confidence, the input with the digits' boxes, and
    the Right / Wrong controls that keep it as a sample (`source`: canvas or upload)."""
    if image is None:
        st.info(empty_message)
        return
    picture = load_image(image)
    reading = reader.read(picture)
    if not reading.number:
        st.info(empty_message)
        return
    number_column, confidence_column = st.columns([3, 1])
    number_column.markdown(f'<div style="font-size:4rem;font-weight:700;letter-spacing:0.2rem" '
                           f'data-testid="number-read">{reading.number}</div>', unsafe_allow_html=True)
    confidence_column.metric("Confidence", f"{reading.confidence:.1%}")
    unsure = [f"{d.digit} (position {i + 1}, {d.confidence:.0%})" for i, d in enumerate(reading.digits) if d.unsure]
    if unsure:
        st.warning("Low confidence for " + ", ".join(unsure) + ": check these digits (boxed in orange).")
    st.image(annotated(picture, reading), caption=f"{len(reading.digits)} digits read; each box with its digit "
             "and confidence" + second_opinion_note(reader))
    feedback_controls(key, Reading(image, None, reading.number, reading.confidence, version, source), number=True)


def second_opinion_note(reader) -> str:
    if reader.digit_version is None:
        return ". Read by the number model alone (the active digit model is not usable)."
    return (f". The digit model `{reader.digit_version}` also reads the digits standing apart that the number "
            "model is unsure of, and an upright stroke it skipped (a 1 taken for a slash).")


def clear_wide_canvas() -> None:
    st.session_state.number_canvas_generation += 1


@st.fragment
def number_drawing_area(reader, version: str) -> None:
    """The wide canvas and the number read: a stroke reruns only this fragment, not the whole page
    (as the Digit mode's drawing area)."""
    st.session_state.setdefault("number_canvas_generation", 0)
    st.session_state.setdefault("number_stroke_width", 16)
    drawing = draw_wide_canvas(st.session_state.number_stroke_width,
                               key=f"number-canvas-{st.session_state.number_canvas_generation}")
    controls = st.container(horizontal=True)
    controls.slider("Stroke width", min_value=6, max_value=40, key="number_stroke_width", width=WIDE_CANVAS[1])
    controls.button("Clear", icon=":material/ink_eraser:", on_click=clear_wide_canvas, key="number_clear")
    show_reading(reader, drawing, "Write a number (up to 12 digits) on the black canvas; it is read after "
                                  "each stroke.", "number-canvas", version, "canvas")


def number_mode() -> None:
    """Predict, Number mode: a wide canvas or an upload; the number read after each stroke."""
    version = version_picker("Number model", key="number_version", store=model_store(), task=NUMBER_TASK)
    if version is None:
        return
    try:
        reader = load_number_reader(version)
    except StoreError as err:
        st.error(f"This version cannot be used: {err}")
        return
    draw_tab, upload_tab = st.tabs(["Draw a number", "Upload a photo or scan"])
    with draw_tab:
        number_drawing_area(reader, version)
    with upload_tab:
        upload = st.file_uploader("A photo or scan of a number: a postcode, an amount, a meter reading",
                                  type=["png", "jpg", "jpeg", "bmp", "gif", "webp"], key="number_upload")
        image = None if upload is None else uploaded_image(upload, f"**{upload.name}**")
        if image is not None:
            show_reading(reader, image, "No digits found in this image: it looks blank, or the ink has "
                                        "too little contrast with the paper.", "number-upload", version, "upload")


def numbers_section() -> None:
    """Evaluate: a number version on synthetic test numbers by category, and its misreadings."""
    version = version_picker("Number model", key="evaluate_number_version", store=model_store(), task=NUMBER_TASK)
    if version is None:
        return
    try:
        with st.spinner(f"Reading {NUMBERS_PER_CATEGORY} synthetic test numbers per category (once per version)…"):
            results = number_results(version, NUMBERS_PER_CATEGORY)
    except StoreError as err:
        st.error(f"Cannot evaluate `{version}`: {err}")
        return
    st.caption(f"{NUMBERS_PER_CATEGORY} numbers per category, written from MNIST *test* digits only, read as the "
               "Predict page reads them. Sequence accuracy: the whole number read exactly. Per-digit accuracy: "
               "1 - edit distance / digits" + second_opinion_note(load_number_reader(version)))
    st.dataframe([{"category": CATEGORY_LABELS[c], "sequence accuracy": r.sequence_accuracy,
                   "per-digit accuracy": 1 - r.digit_error_rate, "misread": len(r.misread())}
                  for c, r in results.items()], hide_index=True,
                 column_config={name: st.column_config.NumberColumn(format="percent")
                                for name in ("sequence accuracy", "per-digit accuracy")})
    category = st.selectbox("Misread numbers of", list(results), format_func=CATEGORY_LABELS.get,
                            key="number_gallery_category")
    misread = results[category].misread()[:GALLERY_SIZE]
    if not misread:
        st.success("Every number of this category was read exactly.")
        return
    pictures = number_test_set(NUMBERS_PER_CATEGORY)[category].images
    for row in range(0, len(misread), 3):
        for column, index in zip(st.columns(3), misread[row:row + 3]):
            truth, read = results[category].truths[index], results[category].reads[index]
            column.image(pictures[index], caption=f"true {truth} · read {read or '(nothing)'}")

