"""The dashboard's pages through Streamlit's AppTest: the real app script, the real shipped model,
real training runs in an isolated store. Only the drawing canvas is replaced (it needs a browser)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from conftest import ROOT
from dashboard_helpers import (FakeCanvas, blank_canvas, canvas_rgba, drawn_seven_rgba, photo_png, popover,
                               stop_training, versions_table, wait_for_run_end)
from digits.store import DEFAULT_VERSION, SHIPPED_DIR
from digits.variants import VARIANTS

APP = str(ROOT / "dashboard" / "app.py")
# Seconds a page run may take before the test fails as hung. The slowest run evaluates a whole
# version on the test images and their variants (about 65 s alone on this machine, more beside the
# other worker); on a shared, noisy machine that doubles: 120 s was too little for a CI run that
# shared the machine with another job.
PAGE_TIMEOUT = 300


@pytest.fixture(scope="module")
def test_split():
    from digits.data import load_test

    return load_test()


def first_image_of(split, digit: int) -> np.ndarray:
    return split.images[int(np.flatnonzero(split.labels == digit)[0])]


@pytest.fixture
def canvas(monkeypatch):
    """Replace the drawing canvas: `canvas.image` is what the next run of the page 'draws'."""
    import dashboard.common

    fake = FakeCanvas()
    monkeypatch.setattr(dashboard.common, "draw_canvas", fake)
    return fake


@pytest.fixture
def open_page(store):
    """Open a page of the app (None: the default page) in a fresh session, on the isolated store;
    `query`: the URL's query parameters, `session_state`: what the session holds already."""
    def open_(page: str | None = None, query: dict | None = None, **session_state) -> AppTest:
        app = AppTest.from_file(APP, default_timeout=PAGE_TIMEOUT)
        app.query_params.update(query or {})
        for key, value in session_state.items():
            app.session_state[key] = value
        if page:
            app.switch_page(f"app_pages/{page}.py")
        app.run()
        assert not app.exception, [e.value for e in app.exception]
        return app
    return open_


def metric_values(block, label: str) -> list[str]:
    return [metric.value for metric in block.metric if metric.label == label]


def image_captions(block) -> list[str]:
    return [caption for element in block.get("image") for caption in element.captions]


def texts(elements) -> str:
    return "\n".join(str(element.value) for element in elements)


def plotly_figures(app: AppTest) -> dict[str, dict]:
    """The Plotly figures on the page, by their widget key."""
    return {chart.key: json.loads(chart.proto.spec) for chart in app.get("plotly_chart")}


def confusion_grids(app: AppTest) -> dict[str, str]:
    """The Evaluate page's confusion matrices (HTML in a clickable-cells component), by version."""
    return {element.proto.id.rsplit("-confusion-", 1)[-1]: json.loads(element.proto.json)["html"]
            for element in app.get("bidi_component") if element.proto.component_name.endswith("clickable_cells")}


def grid_counts(grid: str) -> list[list[int]]:
    """A confusion grid's 10x10 counts, read from its cells (data-cell="true,predicted")."""
    counts = [[None] * 10 for _ in range(10)]
    for true, predicted, count in re.findall(r'data-cell="(\d),(\d)"[^>]*>(\d+)</td>', grid):
        counts[int(true)][int(predicted)] = int(count)
    return counts


def shown_probabilities(block) -> np.ndarray:
    """The ten probabilities of the block's probability chart, read from its columns' hover texts."""
    [chart] = [html.proto.body for html in block.get("html") if "Probabilities" in html.proto.body]
    values = dict(re.findall(r'title="digit (\d): ([\d.]+)%"', chart))
    return np.array([float(values[str(digit)]) / 100 for digit in range(10)])


# -- Predict --------------------------------------------------------------------------------------
@pytest.mark.parametrize("digit", [0, 1, 7, 4, 9])
def test_predict_shows_the_drawn_digit_its_probabilities_and_the_model_input(open_page, canvas, test_split, digit):
    canvas.image = canvas_rgba(first_image_of(test_split, digit))
    app = open_page()
    assert app.title[0].value == "Predict"
    draw_tab = app.tabs[0]
    assert metric_values(draw_tab, "Prediction") == [str(digit)]
    confidence = float(metric_values(draw_tab, "Confidence")[0].rstrip("%")) / 100
    probabilities = shown_probabilities(draw_tab)
    assert len(probabilities) == 10 and int(np.argmax(probabilities)) == digit
    assert confidence == pytest.approx(max(probabilities), abs=1e-3)
    assert image_captions(draw_tab) == ["What the model received: 28×28, MNIST-style"]
    assert canvas.calls[-1]["stroke_width"] == 20  # the slider's default reaches the canvas


def test_predict_on_a_hand_drawn_seven(open_page, canvas):
    canvas.image = drawn_seven_rgba()
    assert metric_values(open_page().tabs[0], "Prediction") == ["7"]


@pytest.mark.parametrize("image", [None, blank_canvas()], ids=["before any stroke", "blank canvas"])
def test_an_empty_canvas_asks_for_a_digit_instead_of_guessing(open_page, canvas, image):
    canvas.image = image
    app = open_page()
    assert not metric_values(app.tabs[0], "Prediction")
    assert "Draw a digit" in texts(app.tabs[0].info)


def test_low_confidence_is_said_out_loud(open_page, canvas, test_split, shipped_predictor):
    from digits.preprocessing import prepare

    misclassified = json.loads((SHIPPED_DIR / "meta.json").read_text())["test"]["misclassified"]
    unsure = next((canvas_rgba(test_split.images[i]) for i in misclassified
                   if shipped_predictor.predict(canvas_rgba(test_split.images[i])).unsure), None)
    if unsure is None:  # the shipped model is sure even of its mistakes: blend a 4 and a 9
        blend = ((first_image_of(test_split, 4).astype(np.float32) + first_image_of(test_split, 9)) / 2)
        unsure = canvas_rgba(blend.astype(np.uint8))
        assert shipped_predictor.predict_prepared(prepare(unsure)).unsure, "no unsure example found"
    canvas.image = unsure
    app = open_page()
    assert metric_values(app.tabs[0], "Prediction")
    assert "Low confidence" in texts(app.tabs[0].warning)


def test_clear_gives_a_new_empty_canvas(open_page, canvas, test_split):
    canvas.image = canvas_rgba(first_image_of(test_split, 3))
    app = open_page()
    first_key = canvas.calls[-1]["key"]
    next(button for button in app.button if button.label == "Clear").click().run()
    assert canvas.calls[-1]["key"] != first_key


def test_upload_predicts_a_photo_and_explains_a_bad_file(open_page, canvas, test_split):
    assert not open_page().get("file_uploader"), "the hidden upload tab did work"
    app = open_page(predict_tab="Upload a photo or scan")
    upload_tab = app.tabs[1]
    upload_tab.file_uploader[0].set_value(("seven.png", photo_png(first_image_of(test_split, 7)), "image/png"))
    app.run()
    assert not app.exception
    assert metric_values(app.tabs[1], "Prediction") == ["7"]

    app.tabs[1].file_uploader[0].set_value(("broken.png", b"\x89PNG\r\n\x1a\n not really", "image/png"))
    app.run()
    assert not app.exception
    assert texts(app.tabs[1].error).startswith("**broken.png** cannot be used: ")
    assert not metric_values(app.tabs[1], "Prediction")

    app.tabs[1].file_uploader[0].set_value(("blank.png", photo_png(np.zeros((28, 28), np.uint8)), "image/png"))
    app.run()
    assert "No digit found" in texts(app.tabs[1].info)


def test_the_model_selector_starts_on_the_active_version_and_hides_broken_ones(open_page, canvas, store,
                                                                               copied_default):
    (store.root / "broken").mkdir()
    (store.root / "broken" / "model.keras").write_bytes(b"not a model")
    store.activate(copied_default)
    selector = open_page().selectbox(key="predict_version")
    assert selector.value == copied_default
    assert [option.split(" ")[0] for option in selector.options] == [DEFAULT_VERSION, copied_default]
    assert "(active)" in selector.options[1]


def test_a_diverged_model_is_reported_instead_of_trusted(open_page, canvas, store, test_split):
    import keras

    model = keras.saving.load_model(SHIPPED_DIR / "model.keras", compile=False)
    weights = model.get_weights()
    weights[0] = np.full_like(weights[0], np.nan)  # what a far too high learning rate leaves behind
    model.set_weights(weights)
    (store.root / "diverged").mkdir(parents=True)
    model.save(store.root / "diverged" / "model.keras")
    shutil.copy(SHIPPED_DIR / "meta.json", store.root / "diverged" / "meta.json")
    store.activate("diverged")
    canvas.image = canvas_rgba(first_image_of(test_split, 3))
    app = open_page()
    assert "invalid numbers (NaN)" in texts(app.tabs[0].error)
    assert not metric_values(app.tabs[0], "Prediction")


# -- Train ----------------------------------------------------------------------------------------
def submit_training_form(app: AppTest, preset: str = "seed", **fields) -> AppTest:
    app.selectbox(key="preset").set_value(preset).run()
    labels = {"epochs": "Epochs", "batch_size": "Batch size", "subset_size": "Training subset size",
              "learning_rate": "Learning rate", "class_weights": "Class weights", "name": "Version name (optional)"}
    for field, value in fields.items():
        widgets = [w for w in [*app.number_input, *app.text_input] if w.label == labels[field]]
        widgets[0].set_value(value)
    next(button for button in app.button if button.label == "Start").click()
    return app.run()


def test_the_train_form_shows_config_errors_and_starts_nothing(open_page, store):
    from digits.runs import list_runs

    app = submit_training_form(open_page("train"), preset="strong", subset_size=100, batch_size=128,
                               learning_rate=0.0)
    message = texts(app.error)
    assert "Not started" in message and "batch size = 128" in message and "learning rate = 0.0" in message
    app = submit_training_form(app, class_weights="9=two")
    assert "class weights" in texts(app.error)
    assert list_runs(store) == [] and not (store.runs_dir / "LOCK").exists()


@pytest.mark.slow
def test_a_run_goes_live_is_shared_and_its_version_can_be_made_active(open_page, store):
    from digits.runs import current_run, run_status

    app = open_page("train")
    try:
        app = submit_training_form(app, epochs=1, subset_size=500, name="tiny")
        assert current_run(store) == "tiny"
        assert "Run `tiny`: running" in texts(app.subheader)
        assert app.get("progress"), "no progress bar"

        # Another session: the same run is shown, and a second Start does not start another.
        other = submit_training_form(open_page("train"), epochs=1, subset_size=500, name="second")
        assert "already in progress" in texts(other.info)
        assert "Run `tiny`: running" in texts(other.subheader)
        assert current_run(store) == "tiny" and not (store.runs_dir / "second").exists()

        status = wait_for_run_end(store, "tiny")
        assert status.state == "done", run_status(store, "tiny")
    finally:
        stop_training(store)
    app.run()
    assert "Run `tiny`: finished" in texts(app.subheader)
    assert f"{status.test_accuracy:.2%}" in texts(app.success)
    assert "live_curves" in plotly_figures(app)
    assert [row for row in app.dataframe[0].value.to_dict("records") if row["run"] == "tiny"][0]["state"] == "done"
    next(button for button in app.button if button.label == "Make `tiny` the active model").click().run()
    # 500 images: far below the shipped default, so the quality gate asks first.
    assert store.active() == DEFAULT_VERSION and "points below the active `default`" in texts(app.warning)
    app.button(key="confirm_activation").click().run()
    assert store.active() == "tiny"


@pytest.mark.slow
def test_stop_cancels_the_run_cleanly(open_page, store):
    from digits.runs import run_status

    app = open_page("train")
    try:
        app = submit_training_form(app, epochs=3, subset_size=2000, batch_size=32, name="stopped")
        for _ in range(240):  # wait until it trains, so the stop lands in the middle of an epoch
            status = run_status(store, "stopped")
            if status.phase in ("batch", "epoch") or not status.active:
                break
            time.sleep(0.5)
        app.run()
        app.button(key="stop_run").click().run()
        assert wait_for_run_end(store, "stopped").state == "cancelled"
    finally:
        stop_training(store)
    app.run()
    assert "Run `stopped`: cancelled" in texts(app.subheader)
    assert "nothing was saved" in texts(app.warning)
    assert "stopped" not in store.ids()


def test_a_run_whose_process_died_shows_as_interrupted_and_a_new_run_may_start(open_page, store):
    from digits.config import preset
    from digits.runs import EventLog, current_run, prepare_run_dir

    run_dir = prepare_run_dir(store, "crashed", preset("seed", name="crashed"))
    EventLog(run_dir).emit("queued")
    EventLog(run_dir).emit("start", pid=2 ** 22 + 1)
    app = open_page("train")
    assert "Run `crashed`: interrupted" in texts(app.subheader)
    assert "a new run can start" in texts(app.warning)
    assert current_run(store) is None
    assert [button for button in app.button if button.label == "Start"]


# -- Evaluate ---------------------------------------------------------------------------------------
@pytest.mark.slow
def test_evaluate_compares_two_versions_with_highlighted_4_9_cells_gallery_and_robustness(
        open_page, copied_default):
    meta = json.loads((SHIPPED_DIR / "meta.json").read_text())["test"]
    app = open_page("evaluate")
    app.multiselect[0].set_value([DEFAULT_VERSION, copied_default]).run()
    assert not app.exception
    assert metric_values(app, "Test accuracy")[0] == f"{meta['accuracy']:.2%}"
    assert len(metric_values(app, "Test accuracy")) == 2
    four_nine = meta["confusion_4_9"]["4->9"] + meta["confusion_4_9"]["9->4"]
    assert f"4/9 confusion: {four_nine}**" in texts(app.info)

    grids = confusion_grids(app)
    assert set(grids) == {DEFAULT_VERSION, copied_default}
    grid = grids[DEFAULT_VERSION]
    assert grid_counts(grid) == meta["confusion"]
    outlined = {(int(t), int(p)) for t, p in re.findall(r'data-cell="(\d),(\d)"[^>]*box-shadow', grid)}
    assert outlined == {(4, 9), (9, 4)}
    assert f"4→9: {meta['confusion_4_9']['4->9']}" in grid and f"9→4: {meta['confusion_4_9']['9->4']}" in grid

    # Choosing a (true, predicted) pair shows those misclassified images, with probabilities.
    true, predicted = meta["top_confused"][0]["true"], meta["top_confused"][0]["predicted"]
    app.selectbox(key="gallery_true").set_value(true).run()
    app.selectbox(key="gallery_predicted").set_value(predicted).run()
    count = meta["confusion"][true][predicted]
    assert f"{count} test images of a {true} predicted as {predicted}" in texts(app.markdown)
    gallery_captions = [caption for caption in image_captions(app) if caption.startswith("#")]
    assert len(gallery_captions) == 2 * min(count, 24)
    assert all(f"· {predicted}: " in caption and f"· {true}: " in caption for caption in gallery_captions)

    app.session_state["evaluate_section"] = "Robustness"  # a lazy tab: built when opened
    robustness = app.run().dataframe[-1].value
    # The robustness section says it uses a subset (README's figures are on all 10,000 images).
    assert "first 2,000 of the 10,000 test images" in texts(app.warning)
    assert list(robustness["variant"]) == list(VARIANTS)
    assert all(robustness["what it is"])  # each variant says in one line how it is made
    assert [caption for caption in image_captions(app) if caption in VARIANTS] == list(VARIANTS)  # thumbnails
    original = robustness.set_index("variant").loc["original"]
    assert original[f"{DEFAULT_VERSION} accuracy"] == original[f"{copied_default} accuracy"] > 0.98

    app.session_state["evaluate_section"] = "Per digit"
    per_digit = [frame.value for frame in app.run().dataframe]
    assert len(per_digit) == 4 and list(per_digit[0]["digit"]) == list(range(10))  # and the top pairs, per version


def test_evaluate_opens_a_fresh_version_without_computing_its_variants(open_page, store, copied_default):
    """A fresh version keeps its test-set results only: the first view shows them at once, and the
    variants (minutes of work) wait until the Robustness tab is opened."""
    from digits.results import RESULTS_FILE, VersionResults, encode, read_results

    kept = read_results(store, copied_default)
    (store.path(copied_default) / RESULTS_FILE).write_bytes(encode(VersionResults(kept.model_sha256,
                                                                                   kept.evaluation, {})))
    app = open_page("evaluate", evaluate_versions=[copied_default])
    assert not app.exception and metric_values(app, "Test accuracy") == [f"{kept.evaluation.accuracy:.2%}"]
    assert copied_default in confusion_grids(app) and "robustness" not in plotly_figures(app)
    assert read_results(store, copied_default).variants == {}, "the variants were computed for the first view"


# -- Models ---------------------------------------------------------------------------------------
def test_models_lists_versions_shows_broken_ones_activates_and_deletes_with_confirmation(open_page, store,
                                                                                       copied_default):
    (store.root / "broken").mkdir()
    (store.root / "broken" / "meta.json").write_text("{not json")
    app = open_page("models")
    rows = {row["version"]: row for row in versions_table(app)}
    assert set(rows) == {DEFAULT_VERSION, "default-number", copied_default, "broken"}
    assert rows["default-number"]["task"] == "number" and rows[DEFAULT_VERSION]["task"] == "digit"
    assert rows["broken"]["status"].startswith("broken: meta.json is malformed")
    assert rows[DEFAULT_VERSION]["active"] == "yes" and float(rows[DEFAULT_VERSION]["test accuracy"].rstrip("%")) > 99
    assert "`broken` is broken" in texts(app.warning)

    # The shipped default cannot be deleted.
    assert popover(app, "Delete…").proto.popover.disabled
    assert any(button.label == "Download .keras" for button in app.get("download_button"))

    app.selectbox(key="models_version").set_value(copied_default).run()
    next(b for b in app.button if b.label == "Make active").click().run()
    assert store.active() == copied_default
    assert f"`{copied_default}` is now the active model." in texts(app.success)

    delete = popover(app, "Delete…")
    assert delete.proto.popover.label == "Delete…" and not delete.proto.popover.disabled
    assert copied_default in texts(delete.markdown) and "cannot be undone" in texts(delete.markdown)
    assert copied_default in store.ids(), "deleted without confirmation"
    delete.button(key="confirm_delete").click().run()
    assert copied_default not in store.ids() and store.active() == DEFAULT_VERSION
    assert f"Deleted `{copied_default}`." in texts(app.success)

    app.selectbox(key="models_version").set_value("broken").run()
    assert next(b for b in app.button if b.label == "Make active").disabled


def test_making_a_clearly_worse_version_active_asks_for_confirmation_saying_why(open_page, store):
    from test_store import fake_version

    fake_version(store, "quick", meta={"preset": "strong", "test": {"accuracy": 0.28}})
    app = open_page("models")
    app.selectbox(key="models_version").set_value("quick").run()
    next(b for b in app.button if b.label == "Make active").click().run()
    assert store.active() == DEFAULT_VERSION, "activated without confirmation"
    assert "28.00% test accuracy" in texts(app.warning) and "points below the active `default`" in texts(app.warning)
    app.button(key="cancel_activation").click().run()
    assert store.active() == DEFAULT_VERSION and "points below" not in texts(app.warning)
    next(b for b in app.button if b.label == "Make active").click().run()
    app.button(key="confirm_activation").click().run()
    assert store.active() == "quick" and "`quick` is now the active model." in texts(app.success)

def test_models_sorts_the_whole_store_and_shows_it_a_page_at_a_time(open_page, store):
    meta = json.loads((SHIPPED_DIR / "meta.json").read_text())
    for i in range(60):  # hard links: 60 versions cost no disk
        folder = store.root / f"v{i:02d}"
        folder.mkdir(parents=True)
        for name in ("model.keras", "model.tflite"):
            os.link(SHIPPED_DIR / name, folder / name)
        (folder / "meta.json").write_text(json.dumps({**meta, "test": {**meta["test"], "accuracy": i / 100}}))
    app = open_page("models")
    shown = [row["version"] for row in versions_table(app)]
    assert len(shown) == 50
    app.selectbox(key="models_sort").set_value("lowest test accuracy first").run()
    shown = [row["version"] for row in versions_table(app)]
    assert shown[:3] == ["v00", "v01", "v02"] and len(shown) == 50
    assert app.selectbox(key="models_page").options == ["1 of 2", "2 of 2"]
    app.selectbox(key="models_page").set_value(2).run()
    shown = [row["version"] for row in versions_table(app)]
    assert shown == [f"v{i}" for i in range(50, 60)] + ["default-number", DEFAULT_VERSION]  # 85% (numbers), 99.6%


# -- what a page costs ------------------------------------------------------------------------------
NO_TENSORFLOW = """
import sys
from streamlit.testing.v1 import AppTest
for page in ("predict", "train", "evaluate", "models"):
    app = AppTest.from_file(sys.argv[1], default_timeout=60)
    app.switch_page(f"app_pages/{page}.py").run()
    assert not app.exception, app.exception
    assert app.title[0].value == page.title(), app.title
print("tensorflow" in sys.modules)
"""


def test_no_page_imports_tensorflow(store):
    result = subprocess.run([sys.executable, "-c", NO_TENSORFLOW, APP], cwd=ROOT, capture_output=True, text=True,
                            env={**os.environ, "DIGITS_STORE": str(store.root)}, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "False"


def test_cached_models_follow_the_model_file(store, copied_default):
    from dashboard.common import load_predictor

    first = load_predictor(copied_default)
    assert load_predictor(copied_default) is first, "loaded twice"
    model_file = store.path(copied_default) / "model.keras"
    os.utime(model_file, (model_file.stat().st_atime, model_file.stat().st_mtime + 5))
    assert load_predictor(copied_default) is not first, "a replaced model file was served from the cache"


# -- the pure parts: the form, the progress line, the confusion figure -------------------------------
def test_class_weights_are_parsed_and_bad_entries_named():
    from dashboard.runs_view import parse_class_weights
    from digits.config import ConfigError

    assert parse_class_weights(" 9=2.0, 4=1.5 ") == {9: 2.0, 4: 1.5}
    assert parse_class_weights("") == {}
    with pytest.raises(ConfigError, match="'nine=2'"):
        parse_class_weights("nine=2")


def test_the_form_makes_the_same_config_as_train_py():
    from dashboard.runs_view import config_from_form
    from digits.config import config_from_args, preset
    from train import parse_args

    config = config_from_form("seed", epochs=3, batch_size=32, learning_rate=0.002, schedule="onecycle",
                              augment=True, class_weights="9=2", subset_size=None, name=" ", activate=False)
    assert config == preset("seed", epochs=3, batch_size=32, learning_rate=0.002, schedule="onecycle",
                            augment=True, class_weights={9: 2.0})
    assert config_from_args(parse_args(config.to_argv())) == config
    # A tiny run with the preset's values left as shown: the quick-run batch and rate, as train.py.
    tiny = config_from_form("seed", epochs=1, batch_size=None, learning_rate=1e-3, schedule="constant",
                            augment=False, class_weights="", subset_size=2000, name="q", activate=False)
    assert tiny == config_from_args(parse_args(["--preset", "seed", "--limit", "2000", "--epochs", "1", "--name", "q"]))
    assert (tiny.batch_size, tiny.learning_rate) == (20, 3e-3)


def test_the_progress_line_has_the_epoch_step_and_time_left():
    from dashboard.runs_view import run_progress
    from digits.runs import RunStatus

    starting = RunStatus("r", "running", {"epochs": 3}, phase="start")
    assert run_progress(starting).caption == "Loading TensorFlow…" and run_progress(starting).fraction == 0
    compiling = RunStatus("r", "running", {"epochs": 3}, phase="batch",
                          progress={"epoch": 1, "step": 0, "steps": 100, "time": 990.0})
    assert run_progress(compiling, now=999).caption == "Epoch 1/3 · compiling the training step…"
    # The first report came after compiling (10 steps in 8 s); the pace is measured from it on:
    # 50 steps in 10 s = 5 steps/s, not the 60 steps in 18 s the epoch's own clock would say.
    steps = [{"epoch": 1, "step": 10, "steps": 100, "seconds": 8.0, "time": 1000.0, "loss": 0.9},
             {"epoch": 1, "step": 60, "steps": 100, "seconds": 18.0, "time": 1010.0, "loss": 0.5}]
    status = RunStatus("r", "running", {"epochs": 3}, phase="batch", progress=steps[-1], steps=steps)
    progress = run_progress(status, now=1010.0)
    assert progress.fraction == 0.6
    assert progress.caption == "Epoch 1/3 · step 60/100 · about 8 s left in this epoch, 48 s in all"


def test_progress_moves_every_second_between_reports_and_stop_says_stopping_until_the_end():
    """The process reports once per compiled call (16 steps, which can take seconds), so the bar
    sat still, then jumped; and after Stop the next report flipped the caption back to the epoch."""
    from dashboard.runs_view import run_progress
    from digits.runs import RunStatus

    steps = [{"epoch": 1, "step": 16, "steps": 400, "seconds": 6.0, "time": 1000.0},
             {"epoch": 1, "step": 32, "steps": 400, "seconds": 10.0, "time": 1004.0}]  # 4 steps/s
    status = RunStatus("r", "running", {"epochs": 1}, phase="batch", progress=steps[-1], steps=steps)
    shown = [run_progress(status, now=1004.0 + second).caption.split(" · ")[1] for second in range(4)]
    assert shown == ["step 32/400", "step 36/400", "step 40/400", "step 44/400"]
    status.stop_requested = 1004.5
    status.progress = status.steps[-1] = {**steps[-1], "step": 48, "time": 1005.0}  # reported after Stop
    assert run_progress(status, now=1006.0).caption.startswith("Stopping")


def test_the_confusion_heatmap_outlines_and_annotates_the_4_9_cells():
    from dashboard.charts import confusion_heatmap

    confusion = np.diag(np.full(10, 100))
    confusion[4, 9], confusion[9, 4], confusion[3, 5] = 7, 3, 11
    figure = confusion_heatmap(confusion)
    outlined = sorted((shape.y0 + 0.5, shape.x0 + 0.5) for shape in figure.layout.shapes)
    assert outlined == [(4, 9), (9, 4)]
    assert sorted(note.text for note in figure.layout.annotations if "→" in note.text) == ["4→9: 7", "9→4: 3"]
    assert figure.data[0].text.tolist() == confusion.tolist()
