"""What the pages share: the model store, models and test-set results cached per version, widgets.

Every cache of a version's results is keyed by the version's folder *and* the modification
times of its `model.keras` and `meta.json`, so a version that is retrained, re-exported, replaced
or deleted is never served stale, and the shipped default is loaded once whatever the store. The
server runs models on LiteRT only: TensorFlow is never imported here.
"""

from __future__ import annotations

import html

import numpy as np
import streamlit as st
from PIL import Image

from digits.gate import activation_concern
from digits.store import DIGIT_TASK, ModelStore, StoreError, VersionInfo

CANVAS_SIDE = 280              # pixels; 10x the model's 28x28 input
WIDE_CANVAS = (900, 250)       # width, height: the Number mode's canvas, room for a dozen digits
ENLARGED_SIDE = 196            # how big the 28x28 model input is shown (7x)
CANVAS_TOOLBAR_ROOM = 24       # pixels of room above the canvas for the component's floating toolbar
SEND_BUTTON = "Update the app with this drawing"  # the title of the canvas toolbar's send-now button

# streamlit-drawable-canvas sends a drawing 200 ms after its last change (a fixed debounce, so a
# drag in edit mode is not sent at every step). A finished pen stroke need not wait: when the
# mouse or pen that went down on a canvas is released, press that canvas's own "send now" button,
# which cancels the pending send and sends at once. A script-only component (the kind the canvas
# is: no iframe, no extra script to fetch); its listeners are installed once per browser tab.
SEND_ON_RELEASE_JS = """
export default function () {
  if (window.digitsSendOnRelease) return;
  window.digitsSendOnRelease = true;
  let sendButton = null;  // the send-now button of the canvas the pointer went down on
  document.addEventListener("pointerdown", (event) => {
    // The canvas lives in its component's shadow root: the event's path, not its target, reaches it.
    const path = event.composedPath();
    sendButton = null;
    if (!(path[0] instanceof Element && path[0].matches("canvas.upper-canvas"))) return;
    for (const node of path.slice(1)) {
      const found = node.querySelector?.('button[title="%s"]');
      if (found) { sendButton = found; return; }
    }
  }, true);
  document.addEventListener("pointerup", () => {
    const send = sendButton;
    sendButton = null;
    // After the canvas's own handler has added the stroke and scheduled its send.
    if (send) setTimeout(() => send.click(), 0);
  }, true);
}
""" % SEND_BUTTON


# -- the store and its versions --------------------------------------------------------------
def model_store() -> ModelStore:
    """The store (env DIGITS_STORE or ./model_store); cheap, so made afresh on every rerun."""
    return ModelStore()


def model_stamp(store: ModelStore, version: str, name: str = "model.keras") -> float:
    """A model file's modification time (0 when missing): part of every per-version cache key."""
    try:
        return (store.path(version) / name).stat().st_mtime
    except OSError:
        return 0.0


def usable_versions(store: ModelStore, task: str = DIGIT_TASK) -> list[VersionInfo]:
    """Versions of a task (digit or number) that can be loaded; broken ones are left out (the
    Models page shows them). From the store's index: a rerun costs the same with 1 version or 1,000."""
    return [info for info in store.catalog() if not info.broken and info.task == task]


def version_label(info: VersionInfo) -> str:
    accuracy = f" · {info.test_accuracy:.2%}" if info.test_accuracy is not None else ""
    return f"{info.id}{' (active)' if info.active else ''}{accuracy}"


def version_problem(store: ModelStore, version: str) -> str:
    """Why a version cannot be used: an invalid id, not (or no longer) in the store, or what is broken."""
    try:
        if not store.path(version).is_dir():
            return "it is not in the store (deleted?)"
        return store.info(version).error or "it cannot be loaded"
    except StoreError as err:  # an invalid id, or deleted just now
        return str(err)


def warn_unusable(store: ModelStore, versions, usable: list[str]) -> None:
    """Say why each of `versions` (this session's earlier choice, the active version) that is not
    among the `usable` ids cannot be used; the version widgets then fall back to a usable one."""
    for version in dict.fromkeys(versions):
        if isinstance(version, str) and version and version not in usable:
            st.warning(f"Version `{version}` cannot be used: {version_problem(store, version)}. "
                       "The Models page lists every version.")


def version_picker(label: str, key: str, store: ModelStore, task: str = DIGIT_TASK,
                   exclude: str | None = None) -> str | None:
    """A select box of the usable versions of a task (but `exclude`), the active one first chosen;
    None when there are none."""
    versions = [info for info in usable_versions(store, task) if info.id != exclude]
    if exclude is not None and not versions:
        st.info("There is no other usable version to compare with: train one on the Train page.")
        return None
    warn_unusable(store, [v for v in (st.session_state.get(key), store.active(task)) if v != exclude],
                  [info.id for info in versions])
    if not versions:
        st.error(f"No usable {task} model version: the shipped default `{store.path(store.active(task))}` is "
                 "missing or broken, and no other version is in the store. Train one on the Train page.")
        return None
    labels = {info.id: version_label(info) for info in versions}
    ids = list(labels)
    active = store.active(task)
    return st.selectbox(label, ids, index=ids.index(active) if active in ids else 0,
                        format_func=labels.__getitem__, key=key)


# -- cached models and results ---------------------------------------------------------------
# Each cached function takes the version's folder and its files' time stamps as the key, and the
# store itself as an unhashed argument (a leading underscore tells Streamlit not to hash it).
# Everything runs on LiteRT and NumPy: the server never imports TensorFlow.
def load_predictor(version: str):
    """A version's `digits.predict.LitePredictor` (its model.tflite), loaded once per export."""
    store = model_store()
    # meta.json is written after model.tflite (it holds the export's digests): its time stamp
    # changes whenever the export does.
    return _cached_predictor(str(store.path(version)), model_stamp(store, version),
                             model_stamp(store, version, "meta.json"), version, store)


@st.cache_resource(max_entries=4, show_spinner="Loading the model…")
def _cached_predictor(version_dir: str, stamp: float, meta_stamp: float, version: str, _store: ModelStore):
    from digits.predict import version_predictor

    return version_predictor(_store, version)


@st.cache_resource(show_spinner="Loading the MNIST test set…")
def test_set():
    """The 10,000 MNIST test images and labels (read-only arrays shared by every session)."""
    from digits.data import load_test

    split = load_test()
    split.images.setflags(write=False)
    split.labels.setflags(write=False)
    return split


@st.cache_data(show_spinner=False)
def variant_examples(count: int = 1) -> dict[str, list[np.ndarray]]:
    """The first `count` test images as each variant makes them (uint8 RGB, sizes vary)."""
    from digits.variants import VARIANTS, make_variant

    return {name: make_variant(name, test_set().images[:count]) for name in VARIANTS}


def version_results(version: str, variants: bool = True):
    """`digits.results.VersionResults` of a version: its test-set evaluation and variant
    accuracies, read from the cache beside it (computed and kept there the first time). With
    `variants` False, variant accuracies not kept yet are left out rather than computed (a fresh
    version's take minutes)."""
    store = model_store()
    return _cached_results(str(store.path(version)), model_stamp(store, version),
                           model_stamp(store, version, "meta.json"), version, variants, store)


@st.cache_resource(max_entries=8, show_spinner=False)
def _cached_results(version_dir: str, stamp: float, meta_stamp: float, version: str, variants: bool,
                    _store: ModelStore):
    from digits.results import version_results as results

    predictor = _cached_predictor(version_dir, stamp, meta_stamp, version, _store)
    return results(_store, version, test_set(), predictor, variants=variants)


def _version_key(store: ModelStore, version: str) -> tuple[str, float, float]:
    """A version's folder and the time stamps of its model and meta.json: a cache key."""
    return str(store.path(version)), model_stamp(store, version), model_stamp(store, version, "meta.json")


def load_number_reader(version: str):
    """The `digits.numbers.NumberReader` of a number version (its model.tflite through LiteRT),
    with the active digit version's second opinion."""
    store = model_store()
    return _cached_number_reader(*_number_reader_key(store, version), version, store)


def _number_reader_key(store: ModelStore, version: str) -> tuple:
    """The number version's cache key and the active digit version's: a new reader when either changes."""
    return _version_key(store, version) + _version_key(store, store.active())


@st.cache_resource(max_entries=4, show_spinner="Loading the number model…")
def _cached_number_reader(version_dir: str, stamp: float, meta_stamp: float, digit_dir: str, digit_stamp: float,
                          digit_meta_stamp: float, version: str, _store: ModelStore):
    from digits.numbers import number_reader

    return number_reader(_store, version)


@st.cache_resource(show_spinner="Writing the synthetic test numbers…")
def number_test_set(count: int) -> dict:
    """`count` synthetic numbers per category, from the MNIST test images (shared by every session)."""
    from digits.number_evaluation import test_set_by_category

    return test_set_by_category(count)


def number_results(version: str, count: int) -> dict:
    """{category: digits.number_evaluation.CategoryResult} of a number version on the test numbers."""
    store = model_store()
    return _cached_number_results(_number_reader_key(store, version), version, count, store)


@st.cache_data(max_entries=8, show_spinner=False)
def _cached_number_results(key: tuple, version: str, count: int, _store: ModelStore) -> dict:
    from digits.number_evaluation import read_categories

    reader = _cached_number_reader(*key, version, _store)
    return read_categories(reader.numbers, number_test_set(count))


# -- widgets and images ----------------------------------------------------------------------
def uploaded_image(upload, what: str) -> Image.Image | None:
    """A file from `st.file_uploader` or `st.camera_input`, decoded; None after saying why `what`
    cannot be used (an ImageError's message starts "image: " for bytes, which have no file name)."""
    from digits.preprocessing import ImageError, check_file_size, load_image

    try:
        check_file_size(upload.size)
        return load_image(upload.getvalue())
    except ImageError as err:
        st.error(f"{what} cannot be used: {str(err).removeprefix('image: ')}")
        return None


def draw_canvas(stroke_width: int, key: str) -> np.ndarray | None:
    """A black 280x280 drawing canvas with white ink, like MNIST; returns the drawing as an RGBA
    uint8 array (None before the first stroke).

    The component is imported here, not at the top: streamlit-drawable-canvas 0.13 can only be
    declared inside a running Streamlit server, and the page tests replace this function."""
    return _canvas(stroke_width, key, CANVAS_SIDE, CANVAS_SIDE)


def draw_wide_canvas(stroke_width: int, key: str) -> np.ndarray | None:
    """The Number mode's canvas: as `draw_canvas`, WIDE_CANVAS wide and high."""
    return _canvas(stroke_width, key, *WIDE_CANVAS)


def _canvas(stroke_width: int, key: str, width: int, height: int) -> np.ndarray | None:
    from streamlit_drawable_canvas import st_canvas

    st.space(CANVAS_TOOLBAR_ROOM)  # its toolbar floats above the canvas: it covered the tab labels
    result = st_canvas(stroke_width=stroke_width, stroke_color="#FFFFFF", background_color="#000000",
                       width=width, height=height, drawing_mode="freedraw",
                       return_image_data=True, key=key)
    st.components.v2.component("digits_send_on_release", js=SEND_ON_RELEASE_JS)(key="send_on_release", height=0)
    return result.image_data


# A script-only component: HTML whose elements with data-cell="a,b" report a click to Python.
CLICKABLE_CELLS_JS = """
export default function ({ parentElement, data, setTriggerValue }) {
  parentElement.innerHTML = data.html;
  parentElement.querySelectorAll("[data-cell]").forEach((cell) => cell.addEventListener("click", () =>
    setTriggerValue("cell", cell.dataset.cell.split(",").map(Number))));
}
"""


def clickable_cells(html_text: str, key: str, on_click) -> None:
    """Show `html_text` (its own shadow root: its styles stay inside); a click on an element with
    data-cell="a,b" runs `on_click` before the rerun, with st.session_state[key]["cell"] == [a, b]."""
    st.components.v2.component("digits_clickable_cells", js=CLICKABLE_CELLS_JS)(
        key=key, data={"html": html_text}, on_cell_change=on_click)


TABLE_STYLE = (  # borders that read on the light and the dark theme alike
    "<style>.digits-table{overflow-x:auto}.digits-table table{border-collapse:collapse;font-size:0.875rem;"
    "white-space:nowrap}.digits-table th,.digits-table td{padding:0.25rem 0.6rem;text-align:left;"
    "border-bottom:1px solid rgba(128,128,128,0.25)}.digits-table th{font-weight:600}"
    ".digits-table td.number{text-align:right;font-variant-numeric:tabular-nums}</style>")


def html_table(rows: list[dict], columns: list[str], formats: dict[str, str] | None = None) -> str:
    """`rows` as a plain HTML table of `columns` (for st.html): None shows as an empty cell, True and
    False as "yes" and "no", a number through its column's format string in `formats` ("{:,}" if none), every text
    escaped."""
    def cell(column: str, value) -> str:
        if value is None or value == "":
            return "<td></td>"
        if isinstance(value, bool):  # before the numbers: a bool is an int
            return f"<td>{'yes' if value else 'no'}</td>"
        if isinstance(value, (int, float)):
            return f'<td class="number">{html.escape((formats or {}).get(column, "{:,}").format(value))}</td>'
        return f"<td>{html.escape(str(value))}</td>"

    header = "".join(f"<th>{html.escape(column)}</th>" for column in columns)
    body = "".join("<tr>" + "".join(cell(column, row.get(column)) for column in columns) + "</tr>" for row in rows)
    return (f'{TABLE_STYLE}<div class="digits-table"><table><thead><tr>{header}</tr></thead>'
            f'<tbody>{body}</tbody></table></div>')


def enlarged(image: np.ndarray, side: int = ENLARGED_SIDE) -> Image.Image:
    """A small grey image (float in [0, 1] or uint8) blown up with visible pixels."""
    pixels = image if image.dtype == np.uint8 else (np.clip(image, 0, 1) * 255).round().astype(np.uint8)
    return Image.fromarray(pixels, "L").resize((side, side), Image.Resampling.NEAREST)


def enlarged_rgb(image: np.ndarray, side: int = ENLARGED_SIDE) -> Image.Image:
    """A small uint8 RGB image [h, w, 3] blown up with visible pixels."""
    return Image.fromarray(image, "RGB").resize((side, side), Image.Resampling.NEAREST)


THUMBNAIL_SIDE = 56


def upload_row(predictor, upload) -> dict:
    """One uploaded file's row in the results table: a thumbnail (a data URL), the digit, its
    confidence, the top 3, whether it seems to hold several digits, or why it cannot be read."""
    import base64
    import io

    from digits.explain import digit_count, top_choices
    from digits.preprocessing import ImageError, check_file_size, load_image, prepare, preview

    row = {"image": None, "file": upload.name, "digit": None, "confidence": None, "top 3": "",
           "several digits": False, "problem": ""}
    try:
        check_file_size(upload.size)
        image = load_image(upload.getvalue())
        buffer = io.BytesIO()
        preview(image, THUMBNAIL_SIDE).save(buffer, format="PNG")
        row["image"] = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
        prediction = predictor.predict_prepared(prepare(image))
        row["several digits"] = digit_count(image) > 1
    except ImageError as err:
        row["problem"] = str(err).removeprefix("image: ")
        return row
    if prediction.digit is None:
        row["problem"] = "no digit found"
    else:
        row.update(digit=prediction.digit, confidence=prediction.confidence,
                   **{"top 3": ", ".join(f"{d}: {p:.0%}" for d, p in top_choices(prediction.probabilities))})
    return row


def results_csv(rows: list[dict]) -> str:
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else [])
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def notify_after_rerun(message: str) -> None:
    """Show a success message on the next run (a message written just before st.rerun() is lost)."""
    st.session_state["notice"] = message


def show_notice() -> None:
    if message := st.session_state.pop("notice", None):
        st.success(message)


# -- making a version active, through the quality gate -----------------------------------------
def request_activation(store: ModelStore, version: str, confirmed: bool = False) -> None:
    """A button's on_click: make `version` active, unless the quality gate has a concern that is
    not confirmed yet; then `activation_prompt` asks, saying why."""
    st.session_state.pop("activation_pending", None)
    try:
        concern = None if confirmed else activation_concern(store, version)
        if concern:
            st.session_state.activation_pending = (version, concern)
            return
        store.activate(version)
    except StoreError as err:
        st.session_state.activation_error = str(err)
        return
    notify_after_rerun(f"`{version}` is now the active model.")


def activation_prompt(store: ModelStore, version: str) -> None:
    """Where a 'Make active' button is: its error, or the confirmation the quality gate asks for."""
    if error := st.session_state.pop("activation_error", None):
        st.error(error)
    pending = st.session_state.get("activation_pending")
    if not pending or pending[0] != version:
        return
    st.warning(f"{pending[1]}. Make it the active model anyway?", icon=":material/warning:")
    row = st.container(horizontal=True)
    row.button("Make it active anyway", type="primary", key="confirm_activation", on_click=request_activation,
               args=(store, version, True))
    row.button("Keep the current model", key="cancel_activation", on_click=st.session_state.pop,
               args=("activation_pending", None))


# -- notes and tags ----------------------------------------------------------------------------
def notes_editor(store: ModelStore, kind: str, item_id: str) -> None:
    """Edit the note and tags of a run or version (`digits.notes`); saved with the button."""
    from digits.notes import MAX_NOTE_CHARS, parse_tags, read_notes, write_notes

    notes = read_notes(store, kind, item_id)
    with st.form(f"notes-{kind}-{item_id}", border=False):
        note = st.text_area("Note", value=notes.note, max_chars=MAX_NOTE_CHARS, height=90,
                            placeholder="what this was for, what you saw")
        tags = st.text_input("Tags", value=" ".join(notes.tags), placeholder="e.g. baseline quick",
                             help="words separated by spaces or commas; the search box finds them")
        if st.form_submit_button("Save note and tags", icon=":material/save:"):
            try:
                write_notes(store, kind, item_id, note.strip(), parse_tags(tags))
            except StoreError as err:
                st.error(str(err))
            else:
                notify_after_rerun(f"Saved the note and tags of `{item_id}`.")
                st.rerun()
