"""Predict: draw a digit (or, in Number mode, a whole number) or upload a photo, and see what the model makes of it."""

import numpy as np
import streamlit as st

from dashboard import charts
from dashboard.common import (CANVAS_SIDE, ENLARGED_SIDE, draw_canvas, enlarged, enlarged_rgb, load_predictor,
                              model_store, results_csv, upload_row, uploaded_image, version_picker)
from digits.store import StoreError

# Image preparation (scipy), explanations, samples and Number mode are imported where first used:
# a first visit shows the canvas without loading them (BENCHMARKS.md, issue 15).

UPLOAD_TYPES = ["png", "jpg", "jpeg", "bmp", "gif", "webp"]
UPLOAD_TAB = "Upload a photo or scan"
DOT_PEN_WIDTHS = 2  # a drawing spanning less than this many pen widths is a dot, not a digit
EXPLAIN, COMPARE = "Which pixels drove it", "A second version"  # the "Also show" choices


def show_prediction(predictor, ink, no_digit_message: str, min_ink_side: float = 0.0, narrow: bool = False):
    """Prepare an image's `ink` map the MNIST way, predict, and show the digit, its confidence, all
    ten probabilities and the 28x28 input the model received; the prediction, or None. A drawing
    narrower than `min_ink_side` (or the preparation's own minimum) is a dot, not a digit."""
    if ink is None:  # nothing drawn or uploaded yet
        st.info(no_digit_message)
        return None
    from digits.explain import TOP, article, heat_overlay, ink_digit_count, occlusion_map, top_choices
    from digits.preprocessing import MIN_INK_SIDE, prepare_ink

    model_input = prepare_ink(ink, max(MIN_INK_SIDE, min_ink_side))
    if model_input is None:
        st.info(no_digit_message)
        return None
    prediction = predictor.predict_prepared(model_input)
    if not np.isfinite(prediction.probabilities).all():
        st.error("This model answers with invalid numbers (NaN): its training probably diverged, for example "
                 "with a too high learning rate. Pick another version.")
        return None
    # Narrow (compare mode): one above the other, or "100.0%" would not fit. Side by side in one
    # horizontal container: one element, where two columns are three (a stroke sends each anew).
    digit_column = confidence_column = st.container() if narrow else st.container(horizontal=True)
    digit_column.metric("Prediction", prediction.digit)
    confidence_column.metric("Confidence", f"{prediction.confidence:.1%}")
    if prediction.unsure:
        choices = ", ".join(f"{article(digit)} ({p:.0%})" for digit, p in top_choices(prediction.probabilities))
        st.warning(f"Low confidence: the model is unsure. Its top {TOP} guesses: {choices}.")
    several = ink_digit_count(ink)
    if several > 1:
        st.info(f"This image seems to hold several digits (about {several} side by side); the model reads one "
                "digit at a time. Read it as a number instead: choose **Number** under Read at the top of this "
                "page (or use `digits read`).",
                icon=":material/pin:")
    st.html(charts.probability_bars(prediction.probabilities))
    images = [enlarged(prediction.model_input)]
    captions = ["What the model received: 28×28, MNIST-style"]
    if EXPLAIN in (st.session_state.get("also_show") or []):
        heat = occlusion_map(predictor.probabilities, prediction.model_input, prediction.digit)
        images.append(enlarged_rgb(heat_overlay(prediction.model_input, heat)))
        captions.append(f"Red: pixels that made it {article(prediction.digit)}; blue: against (occlusion)")
    st.image(images, width=ENLARGED_SIDE, caption=captions)
    return prediction


def show_results(predictors: dict, image, no_digit_message: str, min_ink_side: float = 0.0):
    """One version's prediction, or two side by side (compare mode); the first version's prediction."""
    ink = None
    if image is not None:
        from digits.preprocessing import ink_map, load_image

        ink = ink_map(load_image(image))  # [H, W]: read once, used for each version
    if len(predictors) == 1:
        return show_prediction(next(iter(predictors.values())), ink, no_digit_message, min_ink_side)
    shown = []
    for column, (compared, predictor) in zip(st.columns(len(predictors)), predictors.items()):
        with column:
            st.markdown(f"**{compared}**")
            shown.append(show_prediction(predictor, ink, no_digit_message, min_ink_side, narrow=True))
    return shown[0]


def correct_or_confirm(key: str, image, prediction, source: str) -> None:
    """The Right / Wrong, it is… controls under a shown prediction (nothing saved until pressed)."""
    if prediction is not None:
        from dashboard.samples_view import Reading, feedback_controls

        feedback_controls(key, Reading(image, prediction.model_input, str(prediction.digit), prediction.confidence,
                                       version, source))


def batch_results(predictor, uploads) -> None:
    """Several files: one row each (thumbnail, digit, confidence, top 3), and the table as CSV."""
    rows = [upload_row(predictor, upload) for upload in uploads]
    st.dataframe(rows, hide_index=True, row_height=60, column_config={
        "image": st.column_config.ImageColumn("image", width="small"),
        "confidence": st.column_config.NumberColumn(format="percent"),
    })
    table = [{key: value for key, value in row.items() if key != "image"} for row in rows]
    st.download_button("Download the results (CSV)", data=results_csv(table), file_name="predictions.csv",
                       mime="text/csv", icon=":material/download:", on_click="ignore")


def clear_canvas() -> None:
    st.session_state.canvas_generation += 1  # a new key gives a new, empty canvas


st.title("Predict")
if st.segmented_control("Read", ["Digit", "Number"], default="Digit", key="predict_mode",
                        help="one digit (0-9), or a whole number: a postcode, an amount, a meter reading") == "Number":
    from dashboard.number_view import number_mode

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

# Pills, not toggles: the page's Digit/Number switch already loaded their script, and a first visit
# that fetches one widget kind fewer draws the canvas sooner (BENCHMARKS.md, issue 15).
also_show = st.pills("Also show", [EXPLAIN, COMPARE], selection_mode="multi", key="also_show",
                     help=f"**{EXPLAIN}**: occlusion sensitivity; each patch of the 28×28 input is covered in turn, "
                          f"and the drop in the predicted digit's probability is painted over it. **{COMPARE}**: "
                          "the same drawing read by another version, side by side.")
compare = COMPARE in also_show
predictors = {version: predictor}
if compare:
    other = version_picker("Compare with", key="compare_version", store=store, exclude=version)
    if other is not None:
        try:
            predictors[other] = load_predictor(other)
        except StoreError as err:
            st.error(f"`{other}` cannot be used: {err}")

# Lazy tabs: only the open tab's code runs (switching tabs reruns the page), so the hidden upload
# and camera tabs cost a stroke nothing (and the browser asks for the camera only when it is used).
draw_tab, upload_tab, camera_tab = st.tabs(["Draw", UPLOAD_TAB, "Camera"], key="predict_tab", on_change="rerun")


@st.fragment
def drawing_area(predictors: dict) -> None:
    """The canvas and its prediction: a stroke reruns only this fragment, not the whole page
    (the canvas sends each stroke as the pen is released: `dashboard.common.SEND_ON_RELEASE_JS`)."""
    canvas_column, result_column = st.columns([1, 1], gap="large")
    with canvas_column:
        st.session_state.setdefault("canvas_generation", 0)
        st.session_state.setdefault("stroke_width", 20)
        drawing = draw_canvas(st.session_state.stroke_width, key=f"canvas-{st.session_state.canvas_generation}")
    with result_column:  # sent before the controls under the canvas: the prediction first
        prediction = show_results(
            predictors, drawing, "Draw a digit (0-9) on the black canvas; the prediction follows each stroke.",
            min_ink_side=DOT_PEN_WIDTHS * st.session_state.stroke_width / CANVAS_SIDE)
        correct_or_confirm("draw", drawing, prediction, "canvas")
    with canvas_column:
        st.slider("Stroke width", min_value=8, max_value=40, key="stroke_width", width=CANVAS_SIDE)
        st.button("Clear", icon=":material/ink_eraser:", on_click=clear_canvas)


def upload_area(predictors: dict) -> None:
    from digits.preprocessing import MAX_FILE_BYTES, preview

    uploads = st.file_uploader("Photos or scans of one digit each, any background", type=UPLOAD_TYPES,
                               accept_multiple_files=True,
                               help=f"PNG, JPEG, BMP, GIF or WebP, up to {MAX_FILE_BYTES / 2**20:g} MiB each; "
                               "several files give a table of results")
    if len(uploads) > 1:
        batch_results(predictors[version], uploads)
    elif uploads:
        upload = uploads[0]
        image = uploaded_image(upload, f"**{upload.name}**")
        if image is not None:
            image_column, result_column = st.columns([1, 1], gap="large")
            with result_column:
                prediction = show_results(predictors, image, "No digit found in this image: it looks blank, "
                                          "or the ink has too little contrast with the paper.")
                correct_or_confirm("upload", image, prediction, "upload")
            # What was read (upright, the first frame), as any browser shows it (not 16-bit, not CMYK).
            image_column.image(preview(image, 2 * CANVAS_SIDE), caption=upload.name, width=CANVAS_SIDE)


def camera_area(predictors: dict) -> None:
    # Off until asked for: the browser asks for the camera only then.
    if not st.toggle("Turn the camera on", key="camera_on"):
        return
    photo = st.camera_input("Take a photo of a digit written on paper", key="camera",
                            help="hold the paper flat, the digit filling about a third of the picture")
    image = None if photo is None else uploaded_image(photo, "The photo")
    if image is not None:
        prediction = show_results(predictors, image,
                                  "No digit found in the photo: write it darker or larger, on plain paper.")
        correct_or_confirm("camera", image, prediction, "upload")  # a photo, as an upload is


with draw_tab:  # the default tab; its canvas keeps its drawing while the other tabs are open
    drawing_area(predictors)

if upload_tab.open:
    with upload_tab:
        upload_area(predictors)

if camera_tab.open:
    with camera_tab:
        camera_area(predictors)
