"""Predict: draw a digit or upload a photo, and see what the model makes of it."""

import numpy as np
import streamlit as st

from dashboard import charts
from dashboard.common import (CANVAS_SIDE, ENLARGED_SIDE, draw_canvas, enlarged, load_predictor, model_store,
                              version_picker)
from digits.preprocessing import ImageError, prepare
from digits.store import StoreError

UPLOAD_TYPES = ["png", "jpg", "jpeg", "bmp", "gif", "webp"]


def show_prediction(predictor, image, no_digit_message: str, key: str) -> None:
    """Prepare `image` the MNIST way, predict, and show the digit, its confidence, all ten
    probabilities and the 28x28 input the model received."""
    model_input = None if image is None else prepare(image)
    if model_input is None:
        st.info(no_digit_message)
        return
    prediction = predictor.predict_prepared(model_input)
    if not np.isfinite(prediction.probabilities).all():
        st.error("This model answers with invalid numbers (NaN): its training probably diverged, for example "
                 "with a too high learning rate. Pick another version.")
        return
    digit_column, confidence_column = st.columns(2)
    digit_column.metric("Prediction", prediction.digit)
    confidence_column.metric("Confidence", f"{prediction.confidence:.1%}")
    if prediction.unsure:
        runner_up = int(prediction.probabilities.argsort()[-2])
        st.warning(f"Low confidence: the model is unsure. It could also be a {runner_up} "
                   f"({prediction.probabilities[runner_up]:.0%}).")
    st.plotly_chart(charts.probability_bars(prediction.probabilities), key=f"{key}-probabilities",
                    config={"displayModeBar": False})
    st.image(enlarged(prediction.model_input), width=ENLARGED_SIDE,
             caption="What the model received: 28×28, MNIST-style")


def clear_canvas() -> None:
    st.session_state.canvas_generation += 1  # a new key gives a new, empty canvas


st.title("Predict")
store = model_store()
version = version_picker("Model", key="predict_version", store=store)
if version is None:
    st.stop()
try:
    predictor = load_predictor(version)
except StoreError as err:
    st.error(f"This version cannot be used: {err}")
    st.stop()

draw_tab, upload_tab = st.tabs(["Draw", "Upload a photo or scan"])

with draw_tab:
    canvas_column, result_column = st.columns([1, 1], gap="large")
    with canvas_column:
        st.session_state.setdefault("canvas_generation", 0)
        st.session_state.setdefault("stroke_width", 20)
        drawing = draw_canvas(st.session_state.stroke_width, key=f"canvas-{st.session_state.canvas_generation}")
        st.slider("Stroke width", min_value=8, max_value=40, key="stroke_width", width=CANVAS_SIDE)
        st.button("Clear", icon=":material/ink_eraser:", on_click=clear_canvas)
    with result_column:
        show_prediction(predictor, drawing, "Draw a digit (0-9) on the black canvas; the prediction follows "
                                            "each stroke.", key="drawing")

with upload_tab:
    upload = st.file_uploader("A photo or scan of one digit, any background", type=UPLOAD_TYPES,
                              help="PNG, JPEG, BMP, GIF or WebP, up to 5 MB")
    if upload is not None:
        image_column, result_column = st.columns([1, 1], gap="large")
        try:
            with result_column:
                show_prediction(predictor, upload.getvalue(), "No digit found in this image: it looks blank, "
                                "or the ink has too little contrast with the paper.", key="upload")
            image_column.image(upload.getvalue(), caption=upload.name, width=CANVAS_SIDE)
        except ImageError as err:  # its message starts "image: " for bytes, which have no file name
            st.error(f"**{upload.name}** cannot be used: {str(err).removeprefix('image: ')}")
