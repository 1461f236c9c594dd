"""Train: start a run of train.py in its own process, follow it live, stop it, keep the result."""

import streamlit as st

from dashboard import charts
from dashboard.common import model_store, usable_versions
from dashboard.samples_view import sample_store
from dashboard.runs_view import (STATE_LABELS, config_from_form, current_numbers, format_class_weights,
                                 preset_label, run_progress, run_rows)
from digits import runs
from digits.config import PRESETS, SCHEDULES, TRAIN_SIZE, ConfigError, TrainConfig
from digits.personal import check_start, samples_for
from digits.samples import SampleError
from digits.store import StoreError

LIVE_REFRESH_SECONDS = 1.0   # while a run is in progress
IDLE_REFRESH_SECONDS = 3.0   # otherwise: notices a run started from another session or a terminal
NUMBER_LABELS = {"loss": "Loss", "accuracy": "Accuracy", "val_loss": "Validation loss",
                 "val_accuracy": "Validation accuracy",   # a number run: whole numbers read exactly
                 "val_digit_error": "Validation digit error rate"}


def start_training(config) -> None:
    try:
        check_start(config, store)  # a missing version or no samples: said here, not by a failed run
        samples_for(config, sample_store())
        run_id = runs.start_run(config, store)
    except runs.RunBusy as busy:
        st.info(f"Run `{busy.run_id}` is already in progress, from this or another session: "
                "it is shown beside the form. One run at a time.")
    except (ConfigError, StoreError, SampleError) as err:
        st.error(f"Not started: {err}")
    else:
        st.toast(f"Started run `{run_id}`.")  # the live view, drawn after this form, shows it


def show_run(status: runs.RunStatus) -> None:
    """The newest run: live progress while it runs, its outcome once it has ended."""
    st.subheader(f"Run `{status.run_id}`: {STATE_LABELS[status.state]}")
    if status.active:
        progress = run_progress(status)
        st.progress(progress.fraction, text=progress.caption)
    for column, (key, value) in zip(st.columns(4), current_numbers(status).items()):
        column.metric(NUMBER_LABELS[key], f"{value:.2%}" if "accuracy" in key or "error" in key else f"{value:.4f}")
    if status.active:
        if st.button("Stop", icon=":material/stop_circle:", key="stop_run"):
            runs.stop_run(store)
            st.toast("Stopping after the current batch; nothing will be saved.")
    elif status.state == "done":
        st.success(f"Version `{status.version}` is saved. Test accuracy: **{status.test_accuracy:.2%}**")
        if status.version and status.version != store.active():
            if st.button(f"Make `{status.version}` the active model", key="activate_run_version", type="primary"):
                try:
                    store.activate(status.version)
                    st.toast(f"`{status.version}` is now the active model.")
                except StoreError as err:
                    st.error(str(err))
    elif status.state == "failed":
        st.error(f"The run failed: {status.error}. See `{store.runs_dir / status.run_id / 'output.log'}`.")
    elif status.state == "cancelled":
        st.warning("The run was stopped; nothing was saved.")
    else:
        st.warning("The training process ended without finishing (the app or the machine was restarted, or the "
                   "process was killed). Nothing was saved; a new run can start.")
    if status.epochs:
        st.plotly_chart(charts.training_curves(status.epochs, status.total_epochs), key="live_curves")


def rerun_page_when_a_run_starts_or_ends() -> None:
    """Whether here, in another session or in a terminal: then the whole page is redrawn, so the
    live view, the run list and the versions follow."""
    if runs.current_run(store) != st.session_state.running_run:
        st.rerun(scope="app")


def follow_running_run() -> None:
    rerun_page_when_a_run_starts_or_ends()
    show_run(runs.run_status(store, st.session_state.running_run))


def show_newest_run() -> None:
    newest = next(iter(runs.list_runs(store)), None)
    if newest is None:
        st.info("No training run yet. Choose the settings and press Start.")
    else:
        show_run(newest)


def fine_tune_fields(defaults: TrainConfig) -> tuple[str | None, list[str]]:
    """"Start from" (a version, or random weights) and "Include samples from" (writers): a
    fine-tune on your handwriting. The 'personal' preset starts from the active version with
    every writer's samples."""
    versions = [info.id for info in usable_versions(store)]
    fine_tune = defaults.from_version is not None or defaults.preset == "personal"
    active = store.active()
    start = st.selectbox("Start from", [None, *versions], format_func=lambda v: "random weights (a new model)"
                         if v is None else v, index=1 + versions.index(active) if fine_tune and active in versions
                         else 0)  # (no help tooltip: its "Help for Start from" would be a second "Start" button)
    try:
        writers = sample_store().writers()
    except SampleError as err:
        st.warning(f"Samples cannot be included: {err}")
        writers = []
    chosen = st.multiselect("Include samples from", writers, default=writers if defaults.samples else [],
                            placeholder="no samples" if writers else "no samples yet (Predict page, Samples page)",
                            help="these writers' samples (their 80% training split), oversampled into the MNIST images")
    return start, chosen


def training_form() -> None:
    preset_name = st.selectbox("Preset", list(PRESETS), index=list(PRESETS).index(TrainConfig().preset),
                               key="preset", format_func=preset_label,
                               help="the model and recipe; the fields below start from it")
    defaults = PRESETS[preset_name]
    with st.form(f"train_form_{preset_name}"):  # a new form per preset: its defaults apply
        epochs = st.number_input("Epochs", min_value=1, max_value=500, value=defaults.epochs)
        batch_size = st.number_input("Batch size", min_value=1, value=defaults.batch_size)
        learning_rate = st.number_input("Learning rate", min_value=0.0, value=defaults.learning_rate,
                                        step=1e-4, format="%.5f")
        schedule = st.selectbox("Learning-rate schedule", SCHEDULES, index=SCHEDULES.index(defaults.schedule))
        augment = st.toggle("Augmentation", value=defaults.augment,
                            help="random polarity, background, stroke thickness, rotation, shift and zoom")
        class_weights = st.text_input("Class weights", value=format_class_weights(defaults.class_weights),
                                      help="DIGIT=WEIGHT pairs, e.g. `9=2.0 4=1.5`; empty: every class weighs 1")
        subset_size = st.number_input("Training subset size", min_value=1, max_value=TRAIN_SIZE, value=defaults.limit,
                                      step=1000, placeholder=f"all {TRAIN_SIZE:,}",
                                      help=f"the first N training images; empty = all {TRAIN_SIZE:,}")
        from_version, writers = fine_tune_fields(defaults)
        name = st.text_input("Version name (optional)", help="letters, digits, '.', '_', '-'; default: a time stamp")
        activate = st.checkbox("Make it the active model when it finishes")
        if not st.form_submit_button("Start", type="primary", icon=":material/play_arrow:"):
            return
    try:
        config = config_from_form(preset_name, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
                                  schedule=schedule, augment=augment, class_weights=class_weights,
                                  subset_size=subset_size, name=name, activate=activate,
                                  from_version=from_version, writers=writers)
    except ConfigError as err:
        st.error(f"Not started: {err}")
        return
    start_training(config)


def past_runs() -> None:
    statuses = runs.list_runs(store)
    if not statuses:
        st.caption("No past runs.")
        return
    st.dataframe(run_rows(statuses), hide_index=True, column_config={
        "run": st.column_config.TextColumn(width="medium", pinned=True),
        "test accuracy": st.column_config.NumberColumn(format="percent"),
        "learning rate": st.column_config.NumberColumn(format="%.4g"),
    })
    by_id = {status.run_id: status for status in statuses}
    chosen = st.selectbox("Curves of run", list(by_id), key="past_run")
    if by_id[chosen].epochs:
        st.plotly_chart(charts.training_curves(by_id[chosen].epochs, by_id[chosen].total_epochs),
                        key="past_curves")
    else:
        st.caption("This run did not finish an epoch.")


st.title("Train")
store = model_store()
form_column, live_column = st.columns([1, 2], gap="large")
with form_column:
    training_form()
with live_column:
    st.session_state.running_run = runs.current_run(store)
    if st.session_state.running_run:
        st.fragment(follow_running_run, run_every=LIVE_REFRESH_SECONDS)()
    else:
        show_newest_run()
        st.fragment(rerun_page_when_a_run_starts_or_ends, run_every=IDLE_REFRESH_SECONDS)()
st.divider()
st.subheader("Past runs")
past_runs()
