"""Train: start a run of train.py in its own process, follow it live, stop it, keep the result."""

import streamlit as st

from dashboard import charts
from dashboard.common import (activation_prompt, model_store, notes_editor, notify_after_rerun, request_activation,
                              show_notice, usable_versions)
from dashboard.runs_view import (STATE_LABELS, config_from_form, current_numbers, diff_rows, format_class_weights,
                                 matches, preset_label, run_curve_data, run_progress, run_rows, settings_text)
from dashboard.samples_view import sample_store
from digits import runs
from digits.config import (PRESETS, QUICK_LEARNING_RATES, QUICK_MIN_STEPS, QUICK_STEPS_PER_EPOCH, SCHEDULES,
                           TINY_RUN_IMAGES, TRAIN_SIZE, ConfigError, TrainConfig)
from digits.notes import delete_notes, read_notes
from digits.personal import check_start, samples_for
from digits.samples import SampleError
from digits.store import NUMBER_TASK, StoreError

LIVE_REFRESH_SECONDS = 1.0   # while a run is in progress
RUN_COLUMNS = ("run", "state", "test accuracy", "epochs done", "preset", "epochs", "batch size", "learning rate",
               "training images", "started", "duration", "tags", "note")
LOG_TAIL_LINES = 200         # of a run's output log shown in the page (the whole log downloads)
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
    else:  # say what it runs with: the browser turns a number it cannot read ("1e309") back into the preset's
        st.success(f"Started run `{run_id}` with {settings_text(config)}.")  # the live view beside shows it


def show_run(status: runs.RunStatus) -> None:
    """The newest run: live progress while it runs, its outcome once it has ended."""
    state = "stopping" if status.active and status.stop_requested else STATE_LABELS[status.state]
    st.subheader(f"Run `{status.run_id}`: {state}")
    if status.active:
        progress = run_progress(status)
        st.progress(progress.fraction, text=progress.caption)
    for column, (key, value) in zip(st.columns(4), current_numbers(status).items()):
        column.metric(NUMBER_LABELS[key], f"{value:.2%}" if "accuracy" in key or "error" in key else f"{value:.4f}")
    if status.active:
        if status.stop_requested:  # until the process has ended: it finishes its batch first
            st.button("Stopping…", icon=":material/hourglass_top:", key="stop_run", disabled=True)
        elif st.button("Stop", icon=":material/stop_circle:", key="stop_run"):
            try:
                runs.stop_run(store)
                st.toast("Stopping after the current batch; nothing will be saved.")
            except StoreError as err:
                st.error(str(err))
    elif status.state == "done":
        accuracy = "?" if status.test_accuracy is None else f"{status.test_accuracy:.2%}"  # a log edited by hand
        st.success(f"Version `{status.version}` is saved. Test accuracy: **{accuracy}**")
        if status.not_activated:
            st.warning(f"It was not made the active model: {status.not_activated}.")
        if status.version and status.version != store.active():
            st.button(f"Make `{status.version}` the active model", key="activate_run_version", type="primary",
                      on_click=request_activation, args=(store, status.version))
            activation_prompt(store, status.version)
    elif status.state == "failed":
        st.error(f"The run failed: {status.error}. Its log is below.")
        show_log(status.run_id, key="newest")
    elif status.state == "cancelled":
        st.warning("The run was stopped; nothing was saved.")
    else:
        st.warning("The training process ended without finishing (the app or the machine was restarted, or the "
                   "process was killed). Nothing was saved; a new run can start.")
    if status.steps or status.epochs:
        st.plotly_chart(charts.run_curves({status.run_id: run_curve_data(status)}, status.total_epochs),
                        key="live_curves")


def show_log(run_id: str, key: str) -> None:
    """The last lines of a run's output log, and the whole of it as a download."""
    log_file = runs.output_log(store, run_id)
    try:
        text = log_file.read_text(errors="replace")
    except OSError:
        st.caption("This run has no output log.")
        return
    lines = text.splitlines()
    st.caption(f"The last {min(len(lines), LOG_TAIL_LINES)} of {len(lines)} lines of `{log_file.name}`")
    st.code("\n".join(lines[-LOG_TAIL_LINES:]) or "(empty)", language=None, height=260)
    st.download_button("Download the whole log", data=text, file_name=f"{run_id}-output.log", mime="text/plain",
                       icon=":material/download:", key=f"log-{key}-{run_id}", on_click="ignore")


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
    # The select box shows the name only (a full description would be cut off in this column);
    # the description follows below it, wrapped.
    preset_name = st.selectbox("Preset", list(PRESETS), index=list(PRESETS).index(TrainConfig().preset),
                               key="preset", help="the model and recipe; the fields below start from it")
    st.caption(preset_label(preset_name))
    defaults = PRESETS[preset_name]
    with st.form(f"train_form_{preset_name}"):  # a new form per preset: its defaults apply
        epochs = st.number_input("Epochs", min_value=1, max_value=500, value=defaults.epochs)
        batch_size = st.number_input("Batch size", min_value=1, value=None,
                                     placeholder=f"{defaults.batch_size}, fewer for a small subset",
                                     help=f"empty: the preset's {defaults.batch_size}, made smaller for a small "
                                          f"subset so an epoch still has about {QUICK_STEPS_PER_EPOCH} steps "
                                          f"and the run {QUICK_MIN_STEPS} at least")
        quick_rate = QUICK_LEARNING_RATES.get(preset_name)
        learning_rate = st.number_input("Learning rate", min_value=0.0, value=defaults.learning_rate,
                                        step=1e-4, format="%.5f",
                                        help=None if quick_rate is None else
                                        f"left at {defaults.learning_rate:g}, a tiny run ({TINY_RUN_IMAGES:,} "
                                        f"images in all at most) takes {quick_rate:g}")
        schedule = st.selectbox("Learning-rate schedule", SCHEDULES, index=SCHEDULES.index(defaults.schedule))
        augment = st.toggle("Augmentation", value=defaults.augment,
                            help="warps the MNIST digits the numbers are written with: elastic wobble, stroke "
                                 "width, aspect, European 7s and 1s" if defaults.task == NUMBER_TASK else
                                 "random polarity, background, stroke thickness, rotation, shift and zoom")
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
    follow_newest_run(statuses[0].run_id)
    query = st.text_input("Search runs", placeholder="a run id, preset, state, note or tag", key="run_search")
    notes = {status.run_id: read_notes(store, "runs", status.run_id) for status in statuses}
    rows = [{**row, "tags": " ".join(notes[row["run"]].tags), "note": notes[row["run"]].note}
            for row in run_rows(statuses)]
    rows = [row for row in rows if matches(query, *row.values())]
    columns = st.multiselect("Columns", list(run_rows(statuses[:1])[0]) + ["tags", "note"], key="run_columns",
                             default=list(RUN_COLUMNS),
                             help="the table shows these; every setting is one click away")
    st.dataframe(rows, hide_index=True, column_order=columns, column_config={
        "run": st.column_config.TextColumn(width="medium", pinned=True),
        "learning rate": st.column_config.NumberColumn(format="%.4g"),
        "note": st.column_config.TextColumn(width="large"),
    })
    by_id = {status.run_id: status for status in statuses}
    chosen = st.selectbox("Curves of run", list(by_id), key="past_run")
    others = st.multiselect("Overlay other runs on the same chart", [run for run in by_id if run != chosen],
                            key="overlay_runs")
    shown = [by_id[chosen], *(by_id[run] for run in others if run in by_id)]
    if any(status.steps or status.epochs for status in shown):
        st.plotly_chart(charts.run_curves({status.run_id: run_curve_data(status) for status in shown},
                                          max(status.total_epochs for status in shown)), key="past_curves")
    else:
        st.caption("This run did not report a training step.")
    log_tab, notes_tab, compare_tab = st.tabs(["Log", "Note and tags", "Compare with another run"])
    with log_tab:
        show_log(chosen, key="past")
    with notes_tab:
        notes_editor(store, "runs", chosen)
    with compare_tab:
        other = st.selectbox("Compare with", [run for run in by_id if run != chosen], key="compare_run",
                             index=None, placeholder="another run")
        if other:
            st.dataframe(diff_rows(by_id[chosen], by_id[other]), hide_index=True,
                         column_config={"differs": st.column_config.CheckboxColumn(width="small")})
    delete_run_popover(by_id[chosen])


def follow_newest_run(newest: str) -> None:
    """'Curves of run' moves to a run that is newer than any this session has seen."""
    if st.session_state.get("newest_run_seen") != newest:
        st.session_state.newest_run_seen = newest
        st.session_state.past_run = newest


def delete_run_popover(status: runs.RunStatus) -> None:
    with st.popover("Delete run…", icon=":material/delete:", disabled=status.active,
                    help="a run in progress cannot be deleted: stop it first" if status.active else None):
        saved = f" The version `{status.version}` it saved stays in the store." if status.version else ""
        st.write(f"Delete run **{status.run_id}**, its settings, event log and output log, for good?{saved}")
        if st.button("Delete run for good", type="primary", icon=":material/delete:", key="confirm_delete_run"):
            try:
                runs.delete_run(store, status.run_id)
                delete_notes(store, "runs", status.run_id)
            except StoreError as err:
                st.error(str(err))
            else:
                notify_after_rerun(f"Deleted run `{status.run_id}`.")
                st.rerun()


st.title("Train")
store = model_store()
show_notice()
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
