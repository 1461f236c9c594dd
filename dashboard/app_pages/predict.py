"""Predict: draw a digit (or, in Number mode, a whole number) or upload a photo, and see what the model makes of it."""

import numpy as np
import streamlit as st

from dashboard import charts
from dashboard.number_view import number_mode
from dashboard.common import (CANVAS_SIDE, ENLARGED_SIDE, draw_canvas, enlarged, load_predictor,
                              model_store, version_picker)
from dashboard.samples_view import Reading, feedback_controls
from digits.preprocessing import MIN_INK_SIDE, ImageError, load_image, prepare, preview
from digits.store import StoreError

UPLOAD_TYPES = ["png", "jpg", "jpeg", "bmp", "gif", "webp"]
UPLOAD_TAB = "Upload a photo or scan"
DOT_PEN_WIDTHS = 2  # a drawing spanning less than this many pen widths is a dot, not a digit


def show_prediction(predictor, image, no_digit_message: str, min_ink_side: float = MIN_INK_SIDE):
    """Prepare `image` the MNIST way, predict, and show the digit, its confidence, all ten
    probabilities and the 28x28 input the model received; the prediction, or None."""
    model_input = None if image is None else prepare(image, min_ink_side)
    if model_input is None:
        st.info(no_digit_message)
        return None
    prediction = predictor.predict_prepared(model_input)
    if not np.isfinite(prediction.probabilities).all():
        st.error("This model answers with invalid numbers (NaN): its training probably diverged, for example "
                 "with a too high learning rate. Pick another version.")
        return None
    digit_column, confidence_column = st.columns(2)
    digit_column.metric("Prediction", prediction.digit)
    confidence_column.metric("Confidence", f"{prediction.confidence:.1%}")
    if prediction.unsure:
        runner_up = int(prediction.probabilities.argsort()[-2])
        st.warning(f"Low confidence: the model is unsure. It could also be a {runner_up} "
                   f"({prediction.probabilities[runner_up]:.0%}).")
    st.html(charts.probability_bars(prediction.probabilities))
    st.image(enlarged(prediction.model_input), width=ENLARGED_SIDE,
             caption="What the model received: 28×28, MNIST-style")
    return prediction


def correct_or_confirm(key: str, image, prediction, source: str) -> None:
    """The Right / Wrong, it is… controls under a shown prediction (nothing saved until pressed)."""
    if prediction is not None:
        feedback_controls(key, Reading(image, prediction.model_input, str(prediction.digit), prediction.confidence,
                                       version, source))


def clear_canvas() -> None:
    st.session_state.canvas_generation += 1  # a new key gives a new, empty canvas


st.title("Predict")
if st.segmented_control("Read", ["Digit", "Number"], default="Digit", key="predict_mode",
                        help="one digit (0-9), or a whole number: a postcode, an amount, a meter reading") == "Number":
    number_mode()
    st.stop()
store = model_store()
version = version_picker("Model", key="predict_version", store=store)
if version is None:
    st.stop()
try:
    predictor = load_predictor(version)
except StoreError as err:
    st.error(f"This version cannot be used: {err}")
    st.stop()

# Lazy tabs: only the open tab's code runs (switching tabs reruns the page), so the hidden upload
# tab costs a stroke nothing.
draw_tab, upload_tab = st.tabs(["Draw", UPLOAD_TAB], key="predict_tab", on_change="rerun")


@st.fragment
def drawing_area(predictor) -> None:
    """The canvas and its prediction: a stroke reruns only this fragment, not the whole page
    (the canvas already waits 200 ms after the mouse is released before it sends)."""
    canvas_column, result_column = st.columns([1, 1], gap="large")
    with canvas_column:
        st.session_state.setdefault("canvas_generation", 0)
        st.session_state.setdefault("stroke_width", 20)
        drawing = draw_canvas(st.session_state.stroke_width, key=f"canvas-{st.session_state.canvas_generation}")
        st.slider("Stroke width", min_value=8, max_value=40, key="stroke_width", width=CANVAS_SIDE)
        st.button("Clear", icon=":material/ink_eraser:", on_click=clear_canvas)
    with result_column:
        prediction = show_prediction(
            predictor, drawing, "Draw a digit (0-9) on the black canvas; the prediction follows each stroke.",
            min_ink_side=max(MIN_INK_SIDE, DOT_PEN_WIDTHS * st.session_state.stroke_width / CANVAS_SIDE))
        correct_or_confirm("draw", drawing, prediction, "canvas")


def upload_area(predictor) -> None:
    upload = st.file_uploader("A photo or scan of one digit, any background", type=UPLOAD_TYPES,
                              help="PNG, JPEG, BMP, GIF or WebP, up to 5 MB")
    if upload is not None:
        try:
            image = load_image(upload.getvalue())
        except ImageError as err:  # its message starts "image: " for bytes, which have no file name
            st.error(f"**{upload.name}** cannot be used: {str(err).removeprefix('image: ')}")
        else:
            image_column, result_column = st.columns([1, 1], gap="large")
            with result_column:
                prediction = show_prediction(predictor, image, "No digit found in this image: it looks blank, "
                                             "or the ink has too little contrast with the paper.")
                correct_or_confirm("upload", image, prediction, "upload")
            # What was read (upright, the first frame), as any browser shows it (not 16-bit, not CMYK).
            image_column.image(preview(image, 2 * CANVAS_SIDE), caption=upload.name, width=CANVAS_SIDE)


with draw_tab:  # the default tab; its canvas keeps its drawing while the other tab is open
    drawing_area(predictor)

if upload_tab.open:
    with upload_tab:
        upload_area(predictor)
