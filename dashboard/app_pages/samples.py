"""Samples: your handwriting, kept from the Predict page or imported; browse, relabel, delete, export."""

import streamlit as st

from dashboard import charts
from dashboard.common import notify_after_rerun, show_notice
from dashboard.samples_view import THUMBNAIL_SIDE, sample_store
from digits.sample_archive import MAX_ZIP_BYTES, export_zip, import_zip
from digits.samples import SampleError

PAGE_SIZE = 24
ALL = "all"


def show_counts(counts: list[dict]) -> None:
    total = sum(row["samples"] for row in counts)
    writers = sorted({row["writer"] for row in counts})
    misread = sum(row["misread"] for row in counts)
    for column, (label, value) in zip(st.columns(3), (("Samples", total), ("Writers", len(writers)),
                                                      ("Mis-read when saved", misread))):
        column.metric(label, f"{value:,}")
    st.html(charts.sample_counts(counts))


def gallery(label, writer, misread: bool) -> list:
    """One page of the matching samples, newest first, as a grid; the samples shown."""
    matching = samples.count(writer, label, misread)
    if not matching:
        st.info("No sample matches these filters.")
        return []
    pages = -(-matching // PAGE_SIZE)
    page = st.number_input(f"Page (of {pages})", min_value=1, max_value=pages, value=1, key="samples_page", width=200)
    shown = samples.find(label, writer, misread, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    st.caption(f"{matching:,} matching samples; showing {len(shown)} (newest first).")
    images = samples.images(sample.id for sample in shown)
    # One image element for the whole page of samples (it wraps into rows): a grid of columns
    # would send the browser a container and an element per sample.
    st.image([images[sample.id] for sample in shown], width=THUMBNAIL_SIDE,
             caption=[f"#{sample.id} · {sample.label}{' · read as ' + str(sample.predicted) if sample.misread else ''}"
                      f" · {sample.writer}" for sample in shown])
    return shown


def change(action, done: str) -> None:
    """Run a change to the database; say `done` after the rerun that shows it, or why it failed."""
    try:
        action()
    except SampleError as err:
        st.error(str(err))
    else:
        notify_after_rerun(done)
        st.rerun()


def edit(shown: list) -> None:
    """Relabel or delete one of the samples on this page."""
    by_id = {sample.id: sample for sample in shown}
    chosen = st.selectbox("Sample", list(by_id), key="samples_chosen",
                          format_func=lambda i: f"#{i}: {by_id[i].label} by {by_id[i].writer}")
    sample = by_id[chosen]
    relabel_column, delete_column = st.columns([3, 1], vertical_alignment="bottom")
    with relabel_column.form("relabel", border=False):
        new_label = st.text_input("New label", value=sample.label, max_chars=40, key="samples_new_label")
        if st.form_submit_button("Relabel", icon=":material/edit:"):
            change(lambda: samples.relabel(sample.id, new_label),
                   f"Sample #{sample.id} is now labelled {new_label.strip()}.")
    with delete_column.popover("Delete…", icon=":material/delete:"):
        st.write(f"Delete sample **#{sample.id}** ({sample.label} by {sample.writer}) for good?")
        if st.button("Delete for good", type="primary", key="confirm_delete_sample"):
            change(lambda: samples.delete(sample.id), f"Deleted sample #{sample.id}.")


def import_form() -> None:
    with st.form("import_samples"):
        upload = st.file_uploader("A zip of PNG/JPEG images and labels.csv (columns file,label,writer; writer "
                                  "optional)", type=["zip"])
        writer = st.text_input("Writer of every sample (optional: overrides the file's column)")
        if not st.form_submit_button("Import", icon=":material/upload:") or upload is None:
            return
    raw = upload.getvalue()
    try:
        report = import_zip(samples, raw, writer.strip() or None)
    except SampleError as err:
        st.error(f"**{upload.name}** was not imported: {err}")
        return
    (st.success if report.added else st.warning)(f"**{upload.name}**: {report.summary()}.")
    if report.problems:
        with st.expander(f"Skipped rows ({len(report.problems)})", expanded=True):
            st.code("\n".join(report.problems), language=None)


st.title("Samples")
show_notice()
samples = sample_store()
try:
    counts = samples.counts()
except SampleError as err:
    st.error(f"The samples database cannot be used: {err}")
    st.stop()
if not counts:
    st.info("No samples yet. On the Predict page, press **Right** or **Wrong, it is…** under a prediction to keep "
            "it, or import a zip below.")
else:
    show_counts(counts)
    st.subheader("Gallery")
    label_column, writer_column, misread_column = st.columns([1, 1, 1], vertical_alignment="bottom")
    labels = sorted({row["label"] for row in counts}, key=lambda label: (len(label), label))
    label = label_column.selectbox("Digit", [ALL, *labels], key="samples_label")
    writer = writer_column.selectbox("Writer", [ALL, *sorted({row["writer"] for row in counts})],
                                     key="samples_writer_filter")
    misread = misread_column.toggle("Only mis-read ones", key="samples_misread")
    label, writer = None if label == ALL else label, None if writer == ALL else writer
    shown = gallery(label, writer, misread)
    editing = st.expander("Relabel or delete a sample", key="samples_edit_open", on_change="rerun")
    if shown and editing.open:  # lazy: the form is built only when opened
        with editing:
            edit(shown)
    st.download_button(f"Export {'all samples' if writer is None else writer + '’s samples'} (zip)",
                       data=lambda: export_zip(samples, writer), file_name=f"samples-{writer or 'all'}.zip",
                       mime="application/zip", icon=":material/download:", on_click="ignore")
importing = st.expander("Import a zip of samples", key="samples_import_open", on_change="rerun",
                        expanded=not counts)
if importing.open:  # lazy: the upload form is built only when opened
    with importing:
        st.caption(f"Up to {MAX_ZIP_BYTES // 1_000_000} MB; labels 0-9; bad rows are listed by line and skipped, "
                   "the good ones imported together (all or none).")
        import_form()
