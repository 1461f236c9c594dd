"""Your handwriting on the pages: the correct/confirm controls under a prediction, and the
per-writer results of a version (Evaluate). The Samples page itself is app_pages/samples.py.

The controls are one function so that any prediction can carry them: a digit (one row of
pills, the other nine digits) or a whole number (a text field for its digits)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import streamlit as st

from dashboard.common import enlarged, load_predictor, model_store
from digits.data import NUM_CLASSES
from digits.personal import compare, training_samples, writer_accuracy
from digits.samples import DB_NAME, DEFAULT_WRITER, SampleError, SampleStore, check_label, check_writer

WRITER_KEY = "samples_writer"      # the writer's name, remembered for the whole session
THUMBNAIL_SIDE = 96


def sample_store() -> SampleStore:
    """The samples database beside the model store (env DIGITS_STORE moves both), one open
    connection per file for the whole server."""
    return _cached_sample_store(str(model_store().root / DB_NAME))


@st.cache_resource(show_spinner=False)
def _cached_sample_store(path: str) -> SampleStore:
    return SampleStore(path)


@dataclass(frozen=True)
class Reading:
    """One prediction as the controls save it."""
    image: object                      # the original: an RGBA canvas array, a PIL image or bytes
    model_input: np.ndarray | None     # float32 [28, 28] (None for a whole number)
    predicted: str                     # the digit or number the model read
    confidence: float | None
    version: str
    source: str                        # canvas | upload

    def fingerprint(self) -> str:
        data = self.model_input if self.model_input is not None else np.asarray(self.image)
        return hashlib.sha1(np.ascontiguousarray(data).tobytes()).hexdigest()


def writer_field(key: str) -> str:
    """'Whose hand is it?': one name for the whole session, whichever field last changed it."""
    st.session_state.setdefault(WRITER_KEY, DEFAULT_WRITER)

    def remember() -> None:
        st.session_state[WRITER_KEY] = st.session_state[f"{key}-writer"].strip() or DEFAULT_WRITER

    st.text_input("Whose hand is it?", value=st.session_state[WRITER_KEY], key=f"{key}-writer", on_change=remember,
                  max_chars=60, help="samples are kept per writer; fine-tune on one writer's or everyone's")
    return st.session_state[WRITER_KEY]


def save(key: str, reading: Reading, label: str) -> None:
    """A button's callback: keep the sample, then say so with the writer's count (next run's toast)."""
    writer = st.session_state.get(WRITER_KEY, DEFAULT_WRITER)
    try:
        label = check_label(label, digit_only=reading.model_input is not None)
        writer = check_writer(writer)
        samples = sample_store()
        sample_id = samples.add(reading.image, label, reading.model_input, predicted=reading.predicted,
                                confidence=reading.confidence, model_version=reading.version, source=reading.source,
                                writer=writer)
        count = samples.count(writer)
    except SampleError as err:
        st.session_state[f"{key}-error"] = str(err)
        return
    st.session_state[f"{key}-saved"] = {"fingerprint": reading.fingerprint(), "id": sample_id, "label": label}
    st.session_state["samples_toast"] = (f"Saved a {label} for {writer}: {count} sample{'s' * (count != 1)} "
                                         f"of {writer}'s hand so far.")


def correct(key: str, reading: Reading) -> None:
    """The 'Wrong, it is…' pills' callback: save the chosen digit, and clear the choice so that the
    next drawing's pills start empty (a choice is a press, not a setting)."""
    label = st.session_state.get(f"{key}-wrong")
    st.session_state[f"{key}-wrong"] = None
    if label is not None:  # un-selecting a pill asks for nothing
        save(key, reading, label)


def feedback_controls(key: str, reading: Reading, number: bool = False) -> None:
    """'Right' and 'Wrong, it is…' under a prediction: one pills widget of the nine other digits
    (one element where a caption and a row of ten buttons were twelve: each stroke sends and draws
    every element anew), or for a whole number (`number`) a field for its digits. Nothing is saved
    until one of them is pressed, and a reading is saved once."""
    if message := st.session_state.pop("samples_toast", None):
        st.toast(message, icon=":material/check_circle:")
    if error := st.session_state.pop(f"{key}-error", None):
        st.error(f"Not saved: {error}")
    saved = st.session_state.get(f"{key}-saved")
    if saved and saved["fingerprint"] == reading.fingerprint():
        st.caption(f"Saved as sample #{saved['id']} with the label {saved['label']} (the Samples page lists it).")
        return
    with st.container(border=True):
        writer_field(key)
        st.button("Right", key=f"{key}-right", icon=":material/thumb_up:", on_click=save,
                  args=(key, reading, reading.predicted), help="keep it as a sample with this label")
        if number:
            with st.form(f"{key}-number-form", border=False):
                typed = st.text_input("Wrong, it is…", key=f"{key}-number", placeholder="the number's digits")
                if st.form_submit_button("Save with this number"):
                    save(key, reading, typed)
                    st.rerun()
            return
        st.pills("Wrong, it is…", [str(digit) for digit in range(NUM_CLASSES) if str(digit) != reading.predicted],
                 key=f"{key}-wrong", on_change=correct, args=(key, reading),
                 help=f"keep it as a sample with the digit it really is (not {reading.predicted}: that is Right)")


# -- Evaluate: per-writer results ------------------------------------------------------------
def show_writer_results(versions: list[str], mnist_accuracy: dict[str, float], mnist_images: int) -> None:
    """Each writer's held-out accuracy beside the MNIST test accuracy, per version; and for a
    fine-tuned version, what it fixed and broke against its parent."""
    try:
        held_out = training_samples(sample_store()).part(held=True)
    except SampleError as err:
        st.error(str(err))
        return
    if not len(held_out):
        st.info("No held-out samples yet: one sample in five (fixed by its id) is held out from fine-tuning. "
                "Correct or confirm predictions on the Predict page, or import a zip on the Samples page.")
        return
    rows = {}
    for version in versions:
        for row in writer_accuracy(load_predictor(version), held_out):
            rows.setdefault(row["writer"], {"writer": row["writer"], "images": row["samples"]})
            rows[row["writer"]][f"{version}"] = row["accuracy"]
    st.dataframe([{"writer": "MNIST test set", "images": mnist_images, **mnist_accuracy}, *rows.values()],
                 hide_index=True, column_config={version: st.column_config.NumberColumn(format="percent")
                                                 for version in versions})
    for version in versions:
        parent = ((model_store().meta(version).get("fine_tune") or {}).get("parent"))
        if parent:
            show_parent_comparison(version, parent, held_out)


def show_parent_comparison(version: str, parent: str, held_out) -> None:
    try:
        result = compare(load_predictor(parent), load_predictor(version), held_out)
    except Exception as err:  # noqa: BLE001 - the parent may be deleted or broken: say so, keep the page
        st.warning(f"`{version}` was fine-tuned from `{parent}`, which cannot be loaded now: {err}")
        return
    st.markdown(f"**`{parent}` → `{version}`** on the {result['samples']} held-out samples: "
                f"{result['parent_correct']} → {result['child_correct']} read right; "
                f"**{len(result['fixed'])} fixed**, **{len(result['broken'])} broken**.")
    by_id = dict(zip(held_out.ids.tolist(), range(len(held_out))))
    for title, ids in (("Fixed (now read right)", result["fixed"]), ("Broken (read right before)", result["broken"])):
        if ids:
            st.caption(title)
            st.image([enlarged(held_out.images[by_id[i]], THUMBNAIL_SIDE) for i in ids[:24]], width=THUMBNAIL_SIDE,
                     caption=[f"#{i} · {held_out.labels[by_id[i]]} · {held_out.writers[by_id[i]]}" for i in ids[:24]])
