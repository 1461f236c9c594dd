"""Models: every version in the store with its metrics and settings; activate, download, delete."""

from functools import partial

import streamlit as st

from dashboard import charts
from dashboard.common import (activation_prompt, html_table, model_store, notes_editor, notify_after_rerun,
                              request_activation, show_notice)
from dashboard.runs_view import format_duration, matches, settings_summary
from digits.notes import delete_notes, read_notes
from digits.store import SHIPPED, SHIPPED_FOR_TASK, StoreError, VersionInfo


PAGE_SIZE = 50
SORTS = {  # what the "Sort by" box offers: its column, descending
    "newest first": ("created", True),
    "oldest first": ("created", False),
    "highest test accuracy first": ("test accuracy", True),
    "lowest test accuracy first": ("test accuracy", False),
    "version, A to Z": ("version", False),
    "version, Z to A": ("version", True),
    "longest training first": ("training time s", True),
    "shortest training first": ("training time s", False),
}
DOWNLOADS = (
    ("Download .keras", "model.keras", "the Keras model, to train further or load with keras.saving.load_model"),
    ("Download .tflite", "model.tflite", "float32 LiteRT model: what this app serves (input float32 [1, 28, 28, 1] "
                                         "in [0, 1])"),
    ("Download int8 .tflite", "model_int8.tflite", "for a phone app: a quarter of the size, full-integer "
                                                   "(input uint8 [1, 28, 28, 1], pixels 0-255, ink 255); see README"),
)
VERSION_TABS = ["Summary", "Training curves", "Confusion matrix", "Everything recorded (meta.json)"]
SUMMARY_SETTINGS = ("preset", "epochs", "batch size", "learning rate", "augment", "class weights", "training images")
DEFAULT_COLUMNS = ("version", "task", "active", "status", "test accuracy", "4→9", "9→4", "preset", "epochs",
                   "training images", "created", "int8", "tags", "note")


def version_row(info: VersionInfo) -> dict:
    meta = info.meta or {}
    four_nine = (meta.get("test") or {}).get("confusion_4_9") or {}
    return {
        "version": info.id,
        "task": info.task,
        "active": info.active,
        "status": f"broken: {info.error}" if info.broken else "ok",
        "test accuracy": info.test_accuracy,
        "4→9": four_nine.get("4->9"),
        "9→4": four_nine.get("9->4"),
        **settings_summary(meta.get("config") or {}),
        "parameters": (meta.get("architecture") or {}).get("parameters"),
        "created": meta.get("created", ""),
        "training time": format_duration(meta["train_seconds"]) if "train_seconds" in meta else "",
        "training time s": meta.get("train_seconds"),
        "int8": "yes" if meta.get("int8") else "",
    }


def version_summary(row: dict) -> None:
    """The chosen version in a few figures (its row of the table): the first tab of its details."""
    figures = st.container(horizontal=True)
    accuracy = row["test accuracy"]
    figures.metric("Test accuracy", "—" if accuracy is None else f"{accuracy:.2%}")
    figures.metric("4 read as 9", "—" if row["4→9"] is None else str(row["4→9"]))
    figures.metric("9 read as 4", "—" if row["9→4"] is None else str(row["9→4"]))
    figures.metric("Parameters", f"{row['parameters']:,}" if isinstance(row["parameters"], int) else "—")
    figures.metric("Training time", row["training time"] or "—")
    settings = ", ".join(f"{name} {({True: 'on', False: 'off'}).get(row[name], row[name])}"
                         for name in SUMMARY_SETTINGS if row.get(name) not in (None, ""))
    st.caption(f"{row['task']} model · created {row['created'] or '—'}" + (f" · {settings}" if settings else ""))


def delete_version(info: VersionInfo) -> None:
    version = info.id
    was_active = version == store.active(info.task)   # a number version: the active number reader
    try:
        store.delete(version)
        delete_notes(store, "versions", version)
    except StoreError as err:
        st.error(str(err))
        return
    notify_after_rerun(f"Deleted `{version}`." + (f" The active model is now `{store.active(info.task)}`."
                                                  if was_active else ""))
    st.rerun()


def version_actions(info: VersionInfo) -> None:
    buttons = st.container(horizontal=True)
    buttons.button("Make active", icon=":material/check_circle:", disabled=info.active or info.broken,
                   help="already active" if info.active else None, on_click=request_activation,
                   args=(store, info.id))
    for label, name, help_text in DOWNLOADS:  # read when clicked, from the version folder only (no links)
        missing = not (info.path / name).is_file()
        buttons.download_button(
            label, data=partial(store.model_bytes, info.id, name),
            file_name=f"digits-{info.id}{name.removeprefix('model')}", mime="application/octet-stream",
            icon=":material/download:", disabled=missing or info.broken, on_click="ignore",
            help=f"broken: {info.error}" if info.broken else
            f"not exported yet: `python -m digits export --model {info.id}{' --int8' if 'int8' in name else ''}`"
            if missing else help_text)
    is_default = info.id in SHIPPED
    with buttons.popover("Delete…", icon=":material/delete:", disabled=is_default,
                         help="the shipped default cannot be deleted" if is_default else None):
        takes_over = f" It is the active model: the shipped default `{SHIPPED_FOR_TASK[info.task]}` takes over." \
            if info.active else ""
        st.write(f"Delete **{info.id}** for good? Its model file and metrics are removed; this cannot be "
                 f"undone.{takes_over}")
        if st.button("Delete for good", type="primary", icon=":material/delete:", key="confirm_delete"):
            delete_version(info)


def sorted_page(rows: list[dict], options) -> list[dict]:
    """The rows in the chosen order, one page of them (the whole table's order, not the page's);
    the choices are select boxes in `options` (one widget kind: each kind's script is fetched on a
    first visit)."""
    key, descending = SORTS[options.selectbox("Sort by", list(SORTS), key="models_sort", width=260)]
    present = [row for row in rows if row[key] is not None]
    rows = sorted(present, key=lambda row: row[key], reverse=descending) + \
        [row for row in rows if row[key] is None]  # versions without the value come last either way
    pages = max(1, -(-len(rows) // PAGE_SIZE))
    page = options.selectbox("Page", range(1, pages + 1), format_func=lambda page: f"{page} of {pages}",
                             key="models_page", width=140)
    return rows[(page - 1) * PAGE_SIZE:page * PAGE_SIZE]


st.title("Models")
store = model_store()
show_notice()
versions = store.catalog()  # the store's index: the page costs the same with 1 version or 1,000
if not versions:
    st.warning("The store holds no version, and the shipped default `model_store/default` is missing.")
    st.stop()
query = st.text_input("Search versions", placeholder="a version id, preset, note or tag", key="version_search")
notes = {info.id: read_notes(store, "versions", info.id) for info in versions}
rows = [{**version_row(info), "tags": " ".join(notes[info.id].tags), "note": notes[info.id].note} for info in versions]
table_options = st.container(horizontal=True, vertical_alignment="bottom")
shown = sorted_page([row for row in rows if matches(query, *row.values())], table_options)
with table_options.popover("Columns", icon=":material/view_column:"):  # the browser draws it when opened
    columns = st.multiselect("Columns", list(rows[0]), default=[c for c in DEFAULT_COLUMNS if c in rows[0]],
                             key="version_columns", help="the table shows these; every setting is one click away")
# A plain HTML table, not st.dataframe: the same page of rows, without the data grid's megabyte of
# scripts to fetch and start on a first visit (nor a Markdown parse of 50 rows): BENCHMARKS.md.
st.html(html_table(shown, columns, formats={"test accuracy": "{:.2%}", "learning rate": "{:.4g}"}))
by_id = {info.id: info for info in versions}
for row in shown:
    if by_id[row["version"]].broken:
        info = by_id[row["version"]]
        st.warning(f"`{info.id}` is broken ({info.error}): it cannot be loaded or made active, only deleted.")

chosen = st.selectbox("Version", list(by_id), index=list(by_id).index(store.active()) if store.active() in by_id
                      else 0, format_func=lambda version: version + (" (active)" if by_id[version].active else ""),
                      key="models_version")
version_actions(by_id[chosen])
activation_prompt(store, chosen)
notes_expander = st.expander("Note and tags", key="version_notes_open", on_change="rerun")
if notes_expander.open:  # lazy: the form is built only when opened
    with notes_expander:
        notes_editor(store, "versions", chosen)
try:
    meta = store.info(chosen).meta or {}  # the one version shown in full: its whole meta.json
except StoreError:  # deleted since the list was read
    meta = {}
# Lazy tabs: only the open one is built and sent. The first is light, so the page opens without
# Plotly's charts, whose script is the costliest part of a first visit (BENCHMARKS.md).
summary_tab, curves_tab, confusion_tab, meta_tab = st.tabs(VERSION_TABS, key="version_details", on_change="rerun")
if summary_tab.open:
    with summary_tab:
        version_summary(next(row for row in rows if row["version"] == chosen))
if curves_tab.open:
    with curves_tab:
        # A committee trained nothing itself: its members' curves, one chart each.
        histories = [("", meta["history"])] if meta.get("history") else \
            [(member["version"], member["history"]) for member in meta.get("members") or [] if member.get("history")]
        for number, (member, history) in enumerate(histories):
            if member:
                st.markdown(f"**Member `{member}`**")
            st.plotly_chart(charts.training_curves(history), key=f"version_curves-{number}")
        if not histories:
            st.info("No training curves were recorded for this version.")
if confusion_tab.open:
    with confusion_tab:
        if (meta.get("test") or {}).get("confusion"):
            view = st.segmented_control("Confusion matrix on the test set", ["counts", "% of each true digit"],
                                        default="counts", key="confusion_view")
            st.plotly_chart(charts.confusion_heatmap(meta["test"]["confusion"], percent=view != "counts"),
                            key="version_confusion", config={"displayModeBar": False})
        else:
            st.info("This version has no test-set confusion matrix recorded.")
if meta_tab.open:
    with meta_tab:
        if meta:
            st.json({key: value for key, value in meta.items() if key != "test"} |
                    {"test": {key: value for key, value in (meta.get("test") or {}).items()
                              if key != "misclassified"}}, expanded=1)
        else:
            st.info("Nothing readable is recorded for this version (its meta.json is missing or broken).")
