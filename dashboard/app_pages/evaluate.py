"""Evaluate: one version, or two side by side, on the 10,000 MNIST test images and on variants of them."""

from functools import partial

import streamlit as st
from PIL import Image

from dashboard import charts
from dashboard.number_view import numbers_section
from dashboard.common import (clickable_cells, enlarged, model_store, test_set, usable_versions, variant_examples,
                              version_label, version_results, warn_unusable)
from dashboard.samples_view import show_writer_results
from digits.data import DataError
from digits.explain import article
from digits.results import ROBUSTNESS_IMAGES
from digits.store import StoreError
from digits.variants import VARIANTS

GALLERY_SIZE = 24
GALLERY_IMAGE_SIDE = 96
THUMBNAIL_SIDE = 84
ROBUSTNESS_SECTION = "Robustness"
SECTIONS = ["Misclassified images", "Per digit", ROBUSTNESS_SECTION, "Your handwriting"]


def select_cell(version: str) -> None:
    """A click on a confusion-matrix cell picks that (true, predicted) pair for the gallery."""
    cell = (st.session_state[f"confusion-{version}"] or {}).get("cell")
    if cell:
        st.session_state.gallery_true, st.session_state.gallery_predicted = int(cell[0]), int(cell[1])
        st.session_state.evaluate_section = SECTIONS[0]  # its images are in the first tab


def show_summary(version: str, evaluation, baseline: tuple[str, object] | None) -> None:
    confusion = evaluation.confusion
    delta = None
    if baseline:
        delta = f"{(evaluation.accuracy - baseline[1].accuracy) * 100:+.2f} points vs {baseline[0]}"
    st.metric("Test accuracy", f"{evaluation.accuracy:.2%}", delta=delta)
    fours_and_nines = confusion[4].sum() + confusion[9].sum()
    st.info(f"**4/9 confusion: {confusion[4, 9] + confusion[9, 4]}** of {fours_and_nines:,} fours and nines: "
            f"{confusion[4, 9]} fours read as 9, {confusion[9, 4]} nines read as 4.")
    clickable_cells(charts.confusion_grid(confusion), key=f"confusion-{version}",
                    on_click=partial(select_cell, version))
    st.caption("Click a cell to see its images below.")


def show_per_digit(version: str, evaluation) -> None:
    st.markdown(f"**{version}**: precision, recall and F1 of each digit")
    st.dataframe(evaluation.per_class(), hide_index=True, column_config={
        "digit": st.column_config.NumberColumn(width="small"),
        **{name: st.column_config.NumberColumn(format="%.3f") for name in ("precision", "recall", "f1")},
    })
    st.markdown("**Most confused pairs**")
    st.dataframe([{"true": pair["true"], "predicted as": pair["predicted"], "images": pair["count"]}
                  for pair in evaluation.top_confused(5)], hide_index=True)


def misclassified_section(chosen: list[str], evaluations: dict) -> None:
    """The (true, predicted) pair's misclassified images of each version, side by side."""
    st.session_state.setdefault("gallery_true", 4)
    st.session_state.setdefault("gallery_predicted", 9)
    true_column, predicted_column = st.columns(2)
    true = true_column.selectbox("True digit", range(10), key="gallery_true")
    predicted = predicted_column.selectbox("Predicted as", range(10), key="gallery_predicted")
    if true == predicted:
        st.info("That cell holds the correct predictions; pick two different digits (or an off-diagonal cell).")
        return
    for column, version in zip(st.columns(len(chosen), gap="large"), chosen):
        with column:
            show_gallery(version, evaluations[version], true, predicted)


def show_gallery(version: str, evaluation, true: int, predicted: int) -> None:
    indices = evaluation.misclassified(true, predicted)
    st.markdown(f"**{version}**: {len(indices)} test images of {article(true)} predicted as {predicted}"
                + (f" (the first {GALLERY_SIZE})" if len(indices) > GALLERY_SIZE else ""))
    if not len(indices):
        return
    images = test_set().images
    probabilities = evaluation.probabilities
    shown = indices[:GALLERY_SIZE]
    st.image([enlarged(images[i], GALLERY_IMAGE_SIDE) for i in shown], width=GALLERY_IMAGE_SIDE,
             caption=[f"#{i} · {predicted}: {probabilities[i, predicted]:.0%} · {true}: {probabilities[i, true]:.0%}"
                      for i in shown])


def show_variant_examples() -> None:
    """One test image as each variant makes it, at one size (a 16x16 scan blown up, a 200x200 photo shrunk)."""
    examples = variant_examples()
    st.image([Image.fromarray(images[0]).resize((THUMBNAIL_SIDE, THUMBNAIL_SIDE), Image.Resampling.NEAREST)
              for images in examples.values()], caption=list(examples), width=THUMBNAIL_SIDE)


def show_robustness(results: dict[str, dict[str, dict]]) -> None:
    """results: version -> variant -> {accuracy, no_digit, 4->9, 9->4} (each version's cached results)."""
    versions = list(results)
    accuracies = {version: {variant: result["accuracy"] for variant, result in by_variant.items()}
                  for version, by_variant in results.items()}
    st.plotly_chart(charts.robustness_bars(accuracies), key="robustness")
    columns = ("accuracy", "no_digit", "4->9", "9->4")
    st.dataframe([{"variant": variant, "what it is": VARIANTS[variant].__doc__,
                   **{f"{version} {column}": results[version][variant][column]
                      for version in versions for column in columns}}
                  for variant in results[versions[0]]], hide_index=True,
                 column_config={f"{version} accuracy": st.column_config.NumberColumn(format="percent")
                                for version in versions})


st.title("Evaluate")
if st.segmented_control("Evaluate", ["Digits", "Numbers"], default="Digits", key="evaluate_mode",
                        help="digit versions on the MNIST test set, or number versions on synthetic test "
                             "numbers") == "Numbers":
    st.header("Numbers")
    numbers_section()
    st.stop()
store = model_store()
labels = {info.id: version_label(info) for info in usable_versions(store)}
active = store.active()
previous = st.session_state.get("evaluate_versions") or []
warn_unusable(store, [*previous, active], list(labels))
if previous and not set(previous) & set(labels):
    del st.session_state["evaluate_versions"]  # every version chosen is gone: start again from the default
chosen = st.multiselect("Versions: one, or two to compare side by side", list(labels), max_selections=2,
                        default=[active] if active in labels else list(labels)[:1], format_func=labels.get,
                        key="evaluate_versions")
if not chosen:
    st.info("Pick a version to evaluate (for example the `seed` preset against the shipped default).")
    st.stop()

# The variants (minutes for a fresh version) only when their tab, built below, is the open one.
robustness_open = st.session_state.get("evaluate_section") == ROBUSTNESS_SECTION
evaluations, robustness = {}, {}
for version in chosen:
    try:
        with st.spinner(f"Evaluating {version} on the test set{' and its variants' if robustness_open else ''} "
                        "(once per version; then kept beside it)…"):
            results = version_results(version, variants=robustness_open)
        evaluations[version], robustness[version] = results.evaluation, results.variants
    except StoreError as err:  # this version only: the others are still shown
        st.error(f"Cannot evaluate `{version}`: {err}")
    except DataError as err:
        st.error(f"Cannot evaluate: {err}")
        st.stop()
if not evaluations:
    st.stop()
chosen = list(evaluations)

for column, version in zip(st.columns(len(chosen), gap="large"), chosen):
    with column:
        st.subheader(version)
        others = [(other, evaluations[other]) for other in chosen if other != version]
        show_summary(version, evaluations[version], others[0] if others else None)

for key in ("gallery_true", "gallery_predicted"):  # the chosen pair outlives its widgets while another tab is open
    if key in st.session_state:
        st.session_state[key] = st.session_state[key]
# Lazy tabs: only the open one is built and sent, so the page opens with the figures above and the
# gallery; the robustness charts and the writers' tables come when their tab is opened.
gallery_tab, per_digit_tab, robustness_tab, writers_tab = st.tabs(SECTIONS, key="evaluate_section",
                                                                  on_change="rerun")
if gallery_tab.open:
    with gallery_tab:
        misclassified_section(chosen, evaluations)
if per_digit_tab.open:
    with per_digit_tab:
        for column, version in zip(st.columns(len(chosen), gap="large"), chosen):
            with column:
                show_per_digit(version, evaluations[version])
if robustness_tab.open:
    with robustness_tab:
        st.warning(f"Computed on a subset: the first {ROBUSTNESS_IMAGES:,} of the 10,000 test images (a page view "
                   "stays quick), so these figures differ from README's, which are on all 10,000 (`python "
                   "bench/ablation.py`). Each variant is prepared the way the Predict page prepares a photo; a 'no "
                   "digit' answer counts as wrong.", icon=":material/info:")
        show_variant_examples()
        show_robustness({version: robustness[version] for version in chosen})
if writers_tab.open:
    with writers_tab:
        st.caption("Accuracy on each writer's held-out samples (one in five, fixed by id; never trained on), beside "
                   "the MNIST test accuracy; for a fine-tuned version, what it fixed and broke against the version "
                   "it started from.")
        show_writer_results(chosen, {version: evaluations[version].accuracy for version in chosen},
                            len(test_set().labels))
