"""Run tracking on the Train page (AppTest, the real page on an isolated store): per-step curves
with the validation points, overlays, a diff of two runs, notes and tags, search, a run's log,
deleting a run, "stopping" until the end, and "Curves of run" following the newest run."""

from __future__ import annotations

import os
import time

import pytest

from dashboard_helpers import versions_table
from test_dashboard import open_page, plotly_figures, texts  # noqa: F401 - open_page is a fixture


def fake_run(store, run_id: str, state: str = "done", epochs: int = 2, learning_rate: float = 1e-3, **config):
    """A run's folder as train.py leaves it: settings, per-step and per-epoch events, an output log."""
    from digits.config import preset
    from digits.runs import EventLog, prepare_run_dir

    run_dir = prepare_run_dir(store, run_id, preset("seed", name=run_id, epochs=epochs, limit=2000,
                                                     learning_rate=learning_rate, **config))
    log = EventLog(run_dir)
    log.emit("start", pid=1)
    for epoch in range(1, epochs + 1):
        log.emit("batch", epoch=epoch, step=0, steps=100)
        for step in (25, 50, 75, 100):
            log.emit("batch", epoch=epoch, step=step, steps=100, seconds=step / 10, loss=1.0 / (epoch + step / 100),
                     accuracy=0.5 + 0.2 * epoch, learning_rate=learning_rate * step / 100)
        log.emit("epoch", epoch=epoch, loss=0.5, accuracy=0.9, val_loss=0.4 / epoch, val_accuracy=0.9 + epoch / 100,
                 learning_rate=learning_rate, seconds=10.0)
    (run_dir / "output.log").write_text("".join(f"line {n}\n" for n in range(1, 301)) +
                                        ("Traceback (most recent call last):\nValueError: boom\n"
                                         if state == "failed" else ""))
    if state == "failed":
        log.emit("failed", error="ValueError: boom")
    else:
        log.emit("done", version=run_id, test_accuracy=0.95)
    os.utime(run_dir / "config.json")  # list_runs orders by it: the run made last is the newest
    time.sleep(0.02)
    return run_dir


def test_per_step_curves_with_validation_points_and_an_overlay_of_runs(open_page, store):
    fake_run(store, "first", learning_rate=1e-3)
    fake_run(store, "second", learning_rate=5e-3)
    app = open_page("train")
    live = plotly_figures(app)["live_curves"]
    titles = [note["text"] for note in live["layout"]["annotations"]]
    assert titles == ["Loss", "Accuracy", "Learning rate"]
    training_loss, validation_loss = live["data"][0], live["data"][1]
    assert training_loss["x"] == [0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0]  # per step, in epochs
    assert validation_loss["x"] == [1, 2] and validation_loss["y"] == [0.4, 0.2]  # the same axes
    learning_rates = next(trace for trace in live["data"] if trace["xaxis"] == "x3")["y"]
    assert learning_rates[:4] == pytest.approx([1.25e-3, 2.5e-3, 3.75e-3, 5e-3])
    # The interval's mean loss, from Keras' running means: steps 26-50 of epoch 1.
    assert training_loss["y"][1] == pytest.approx((1 / 1.5 * 50 - 1 / 1.25 * 25) / 25)

    app.selectbox(key="past_run").set_value("second").run()
    app.multiselect(key="overlay_runs").select("first").run()
    names = {trace["name"] for trace in plotly_figures(app)["past_curves"]["data"]}
    assert {"first", "second", "first (validation)", "second (validation)"} <= names


def test_curves_of_run_follow_the_newest_run(open_page, store):
    fake_run(store, "old-failed", state="failed")
    app = open_page("train")
    assert app.selectbox(key="past_run").value == "old-failed"
    fake_run(store, "new-done")
    app.run()
    assert app.selectbox(key="past_run").value == "new-done", "kept showing the old run"
    app.selectbox(key="past_run").set_value("old-failed").run()
    assert app.selectbox(key="past_run").value == "old-failed", "a choice is kept while no newer run comes"


def test_a_failed_run_shows_its_log_and_can_be_deleted_with_confirmation(open_page, store):
    run_dir = fake_run(store, "broke", state="failed")
    app = open_page("train")
    assert "The run failed: ValueError: boom" in texts(app.error)
    [log] = [code.value for code in app.code if "ValueError: boom" in code.value][:1]
    assert log.splitlines()[-1] == "ValueError: boom" and "line 300" in log and "line 50\n" not in log  # the tail
    assert any(button.label == "Download the whole log" for button in app.get("download_button"))

    delete = next(popover for popover in app.get("popover") if popover.proto.popover.label == "Delete run…")
    assert "broke" in texts(delete.markdown) and run_dir.exists(), "deleted without confirmation"
    delete.button(key="confirm_delete_run").click().run()
    assert not run_dir.exists() and "Deleted run `broke`." in texts(app.success)
    assert "No training run yet" in texts(app.info)


def test_two_runs_side_by_side_notes_tags_and_search(open_page, store):
    fake_run(store, "slow", learning_rate=1e-3)
    fake_run(store, "quick", learning_rate=5e-3, epochs=1)
    app = open_page("train")
    app.selectbox(key="compare_run").set_value("slow").run()
    rows = {row[""]: row for row in app.dataframe[1].value.to_dict("records")}
    assert rows["learning rate"]["differs"] and rows["learning rate"]["quick"] == "0.005"
    assert rows["learning rate"]["slow"] == "0.001" and rows["epochs"]["differs"]
    assert not rows["preset"]["differs"]

    [note] = [area for area in app.text_area if area.label == "Note"]
    note.set_value("lr sweep, the high one")
    [tags] = [box for box in app.text_input if box.label == "Tags"]
    tags.set_value("sweep, Keep")
    next(button for button in app.button if button.label == "Save note and tags").click().run()
    assert "Saved the note and tags of `quick`." in texts(app.success)
    table = {row["run"]: row for row in app.dataframe[0].value.to_dict("records")}
    assert table["quick"]["tags"] == "sweep keep" and table["quick"]["note"] == "lr sweep, the high one"

    app.text_input(key="run_search").set_value("keep sweep").run()
    assert [row["run"] for row in app.dataframe[0].value.to_dict("records")] == ["quick"]
    app.text_input(key="run_search").set_value("nothing-like-it").run()
    assert app.dataframe[0].value.empty


def test_stop_shows_stopping_until_the_run_has_ended(open_page, store):
    """After Stop the training process still finishes its batch and reports it: the page went
    back to 'Epoch 1/2 · step 32/430 · 3 min 17 s left' until the run ended."""
    from digits.runs import EventLog, acquire_lock, prepare_run_dir, release_lock
    from digits.config import preset

    run_dir = prepare_run_dir(store, "going", preset("seed", name="going"))
    log = EventLog(run_dir)
    log.emit("start", pid=1)
    log.emit("batch", epoch=1, step=16, steps=430, seconds=2.0, loss=1.0, accuracy=0.5)
    log.emit("stop")
    log.emit("batch", epoch=1, step=32, steps=430, seconds=3.0, loss=0.9, accuracy=0.6)  # after Stop
    lock = acquire_lock(store, "going")  # this process holds the run lock, as train.py would
    try:
        app = open_page("train")
        assert "Run `going`: stopping" in texts(app.subheader)
        assert "Stopping after the current batch" in app.get("progress")[0].proto.text
        assert app.button(key="stop_run").label == "Stopping…" and app.button(key="stop_run").disabled
    finally:
        release_lock(store, lock)


def test_versions_carry_notes_and_tags_and_are_searchable(open_page, store, copied_default):
    app = open_page("models")
    assert not app.text_area, "the note's form is built only when its expander is opened"
    app.session_state["version_notes_open"] = True
    app.selectbox(key="models_version").set_value(copied_default).run()
    [note] = [area for area in app.text_area if area.label == "Note"]
    note.set_value("the default, copied for a fine-tune")
    [tags] = [box for box in app.text_input if box.label == "Tags"]
    tags.set_value("baseline")
    next(button for button in app.button if button.label == "Save note and tags").click().run()
    rows = {row["version"]: row for row in versions_table(app)}
    assert rows[copied_default]["tags"] == "baseline" and "fine-tune" in rows[copied_default]["note"]
    app.text_input(key="version_search").set_value("BASELINE").run()
    assert [row["version"] for row in versions_table(app)] == [copied_default]
