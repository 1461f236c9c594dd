"""The dashboard under bad input and a damaged store, through Streamlit's AppTest: difficult
uploads, odd drawings, bad training settings, broken, unknown and vanishing versions. The real
app script, the real shipped model; only the drawing canvas is replaced (it needs a browser)."""

from __future__ import annotations

import io
import re
import shutil
import zipfile

import pytest
from PIL import ImageFile

from dashboard_helpers import (DIGIT_STROKES, NO_DIGIT, difficult_uploads, drawn_rgba, line, photo_png, popover,
                               stop_training, versions_table)
from digits.runs import pid_alive, read_lock
from digits.store import DEFAULT_VERSION, SHIPPED_DIR
from test_training import wait_for
from test_dashboard import (canvas, first_image_of, image_captions, metric_values,  # noqa: F401
                            open_page, submit_training_form, test_split, texts)

DRAW_A_DIGIT = "Draw a digit"


# -- Predict: uploads -----------------------------------------------------------------------------
def test_every_difficult_upload_gets_a_message_a_prediction_or_no_digit_and_the_page_keeps_working(
        open_page, canvas, test_split, monkeypatch):
    decoded_sizes = []
    real_load = ImageFile.ImageFile.load

    def recording_load(image):
        decoded_sizes.append(image.size)
        return real_load(image)

    monkeypatch.setattr(ImageFile.ImageFile, "load", recording_load)
    app = open_page(predict_tab="Upload a photo or scan")
    for upload, expected in difficult_uploads():
        name = upload["name"]
        app.tabs[1].file_uploader[0].set_value((name, upload["buffer"], upload["mimeType"]))
        app.run()
        tab = app.tabs[1]
        assert not app.exception, (name, [e.value for e in app.exception])
        predictions, errors, infos = metric_values(tab, "Prediction"), texts(tab.error), texts(tab.info)
        if isinstance(expected, str) and expected != NO_DIGIT:
            assert errors.startswith(f"**{name}** cannot be used: "), (name, errors)
            assert re.search(expected, errors), (name, errors)
            assert not predictions and not image_captions(tab), name
        else:
            assert not errors, (name, errors)
            assert predictions == ([] if expected == NO_DIGIT else [str(expected)]), (name, predictions)
            assert ("No digit found" in infos) == (expected == NO_DIGIT), (name, infos)
            assert name in image_captions(tab), f"{name}: the uploaded image is not shown"
    assert (20000, 20000) not in decoded_sizes, "the 400-megapixel PNG was decoded"

    app.tabs[1].file_uploader[0].set_value(("seven.png", photo_png(first_image_of(test_split, 7)), "image/png"))
    app.run()
    assert metric_values(app.tabs[1], "Prediction") == ["7"]


# -- Predict: the canvas --------------------------------------------------------------------------
def draw(app, canvas, strokes, pen: int):
    """Set the pen width, and let the canvas return `strokes` drawn with it."""
    canvas.image = drawn_rgba(strokes, pen)
    app.slider(key="stroke_width").set_value(pen).run()
    assert not app.exception, [e.value for e in app.exception]
    assert canvas.calls[-1]["stroke_width"] == pen
    return app.tabs[0]


@pytest.mark.parametrize("pen", [8, 20, 40])
@pytest.mark.parametrize("strokes", [[[(0.5, 0.5)]], [[(0.5, 0.5), (0.52, 0.51)]], [[(0.06, 0.94)]]],
                         ids=["a click", "a click with a jiggle", "a click in a corner"])
def test_a_single_dot_asks_for_a_digit(open_page, canvas, strokes, pen):
    tab = draw(open_page(), canvas, strokes, pen)
    assert not metric_values(tab, "Prediction")
    assert DRAW_A_DIGIT in texts(tab.info)


@pytest.mark.parametrize("digit, strokes, pen", [
    (7, [[(0.0, 0.03), (0.97, 0.03), (0.45, 1.0)]], 20),   # touches the top, right and bottom edges
    (1, [line((0.02, 0.0), (0.02, 1.0))], 20),              # along the left edge, from top to bottom
    (1, DIGIT_STROKES[1], 40),                              # the thickest pen: still a digit, not a dot
    (7, DIGIT_STROKES[7], 40),
    (0, DIGIT_STROKES[0], 8),                               # the thinnest pen
], ids=["7 touching three edges", "1 along the left edge", "1 thick pen", "7 thick pen", "0 thin pen"])
def test_strokes_touching_the_border_or_drawn_with_any_pen_are_predicted(open_page, canvas, digit, strokes, pen):
    tab = draw(open_page(), canvas, strokes, pen)
    assert metric_values(tab, "Prediction") == [str(digit)]


@pytest.mark.parametrize("seed, pen", [(0, 40), (1, 20), (2, 8)])
def test_a_huge_scribble_gets_a_prediction_or_no_digit_never_an_error(open_page, canvas, seed, pen):
    import numpy as np

    zigzag = [tuple(point) for point in np.random.default_rng(seed).uniform(0, 1, (60, 2))]
    tab = draw(open_page(), canvas, [zigzag], pen)
    assert not tab.error
    assert bool(metric_values(tab, "Prediction")) != (DRAW_A_DIGIT in texts(tab.info))


# -- Train: bad settings ----------------------------------------------------------------------------
def store_contents(store) -> list[str]:
    return sorted(str(path.relative_to(store.root)) for path in store.root.rglob("*")) if store.root.exists() else []


@pytest.mark.parametrize("fields, named", [
    ({"class_weights": "12=2"}, ["class weight for 12", "the class must be a digit 0-9"]),
    ({"class_weights": "9=-1"}, ["class weight 9=-1.0", "the weight must be a finite number >= 0"]),
    ({"class_weights": "4=1.5 9=-0.5 11=1"}, ["class weight 9=-0.5", "class weight for 11"]),
    ({"subset_size": 500, "batch_size": 501}, ["batch size = 501", "larger than the 500 training images"]),
    ({"learning_rate": 0.0}, ["learning rate = 0.0", "must be a finite number above 0"]),
    ({"name": "../escape"}, ["name: invalid version id '../escape'", "no '..' or path separators"]),
    ({"name": "a/b"}, ["name: invalid version id 'a/b'"]),
], ids=["unknown class", "negative weight", "both at once", "batch larger than the data", "rate 0", "name ..",
        "name /"])
def test_bad_settings_the_form_lets_through_are_refused_by_name_and_nothing_starts(open_page, store, fields, named):
    try:
        app = submit_training_form(open_page("train"), preset="seed", **fields)
        message = texts(app.error)
        assert message.startswith("Not started: ")
        for words in named:
            assert words in message, (words, message)
        assert store_contents(store) == [], "a run folder or lock was created"
    finally:
        stop_training(store)


def test_the_form_widgets_keep_out_what_they_can(open_page, store):
    widgets = {widget.label: widget for widget in open_page("train").number_input}
    assert widgets["Epochs"].min == 1 and widgets["Batch size"].min == 1
    assert widgets["Learning rate"].min == 0  # 0 itself gets through: refused by the check above
    assert widgets["Training subset size"].min == 1 and widgets["Training subset size"].value is None  # = all


@pytest.mark.parametrize("values, named", [
    ({"epochs": 0}, "epochs = 0: must be a whole number of at least 1"),
    ({"epochs": -3}, "epochs = -3: must be a whole number of at least 1"),
    ({"batch_size": 0}, "batch size = 0: must be a whole number of at least 1"),
    ({"learning_rate": -0.01}, "learning rate = -0.01: must be a finite number above 0"),
    ({"learning_rate": float("nan")}, "learning rate = nan: must be a finite number above 0"),
    ({"subset_size": 0}, "subset size = 0: must be at least 1 image"),
    ({"subset_size": -5}, "subset size = -5: must be at least 1 image"),
    ({"batch_size": 300, "subset_size": 200}, "batch size = 300: larger than the 200 training images"),
    ({"class_weights": "10=1"}, "class weight for 10: the class must be a digit 0-9"),
    ({"class_weights": "3=inf"}, "class weight 3=inf: the weight must be a finite number >= 0"),
])
def test_the_form_conversion_refuses_each_bad_value_by_name(values, named):
    """Values the widgets already keep out are refused again where the form's values become a config."""
    from dashboard.runs_view import config_from_form
    from digits.config import ConfigError

    form = dict(epochs=1, batch_size=32, learning_rate=1e-3, schedule="constant", augment=False, class_weights="",
                subset_size=None, name="", activate=False) | values
    with pytest.raises(ConfigError, match=re.escape(named)):
        config_from_form("seed", **form)


def test_a_stop_that_ends_the_training_process_before_it_can_answer_shows_the_run_cancelled(open_page, store):
    """Stop pressed right after Start reaches train.py before it has set up its signal handler, and
    the signal ends it without a word: the run is cancelled (nothing saved), not 'interrupted'."""
    from digits.config import preset
    from digits.runs import read_events, start_run, stop_run

    run_id = start_run(preset("seed", limit=1000, epochs=1, name="early"), store)
    holder = read_lock(store)
    assert stop_run(store) == "early"  # at once: the process is still starting Python
    wait_for(lambda: not pid_alive(holder["pid"]), 30, "train.py to end")
    assert "start" not in [event["event"] for event in read_events(store.runs_dir / run_id)], \
        "train.py got as far as training: the stop came too late to test this"
    app = open_page("train")
    assert "Run `early`: cancelled" in texts(app.subheader)
    assert "nothing was saved" in texts(app.warning)
    assert "early" not in store.ids()


# -- the store: broken, unknown and vanishing versions --------------------------------------------
def damage(folder, how: str) -> str:
    """Damage a version folder; returns the reason the app must give."""
    if how == "garbage model.keras":
        (folder / "model.keras").write_bytes(b"\0garbage" * 100)
    elif how == "truncated model.keras":
        (folder / "model.keras").write_bytes((folder / "model.keras").read_bytes()[:100_000])
    elif how == "no meta.json":
        (folder / "meta.json").unlink()
        return "meta.json is missing"
    elif how == "malformed meta.json":
        (folder / "meta.json").write_text('{"test": {"accuracy": 0.9')
        return "meta.json is malformed"
    return "model.keras is damaged or truncated"


@pytest.mark.slow
@pytest.mark.parametrize("how", ["garbage model.keras", "truncated model.keras", "no meta.json", "malformed meta.json"])
def test_a_broken_active_version_is_named_and_every_page_works_with_the_others(open_page, canvas, store, how):
    shutil.copytree(SHIPPED_DIR, store.root / "bad")
    reason = damage(store.root / "bad", how)
    (store.root / "ACTIVE").write_text("bad\n")  # it was active when it broke (activate refuses a broken one)
    canvas.image = drawn_rgba(DIGIT_STROKES[7])

    predict = open_page()
    assert f"Version `bad` cannot be used: {reason}" in texts(predict.warning)
    assert predict.selectbox(key="predict_version").value == DEFAULT_VERSION
    assert not any(option.startswith("bad") for option in predict.selectbox(key="predict_version").options)
    assert metric_values(predict.tabs[0], "Prediction") == ["7"]

    evaluate = open_page("evaluate")
    assert f"Version `bad` cannot be used: {reason}" in texts(evaluate.warning)
    assert evaluate.multiselect(key="evaluate_versions").value == [DEFAULT_VERSION]
    assert not any(option.startswith("bad") for option in evaluate.multiselect(key="evaluate_versions").options)
    assert len(metric_values(evaluate, "Test accuracy")) == 1

    models = open_page("models")
    rows = {row["version"]: row for row in versions_table(models)}
    assert rows["bad"]["status"].startswith(f"broken: {reason}") and rows[DEFAULT_VERSION]["status"] == "ok"
    assert f"`bad` is broken ({reason}" in texts(models.warning)
    models.selectbox(key="models_version").set_value("bad").run()
    assert next(button for button in models.button if button.label == "Make active").disabled
    popover(models, "Delete…").button(key="confirm_delete").click().run()
    assert not models.exception and "bad" not in store.ids() and store.active() == DEFAULT_VERSION
    assert "Deleted `bad`." in texts(models.success)


def unloadable_version(store, name: str = "unloadable") -> str:
    """A version that looks whole (a zip archive and a meta.json) but whose model cannot be loaded."""
    shutil.copytree(SHIPPED_DIR, store.root / name)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as model:
        model.writestr("config.json", '{"class_name": "NoSuchLayer"}')
    (store.root / name / "model.keras").write_bytes(archive.getvalue())
    return name


def test_a_version_whose_model_cannot_be_loaded_is_reported_and_the_others_still_predict(open_page, canvas, store):
    version = unloadable_version(store)
    canvas.image = drawn_rgba(DIGIT_STROKES[7])
    app = open_page()
    app.selectbox(key="predict_version").set_value(version).run()
    assert not app.exception
    assert f"This version cannot be used: version '{version}': model.keras cannot be loaded" in texts(app.error)
    app.selectbox(key="predict_version").set_value(DEFAULT_VERSION).run()
    assert not app.error and metric_values(app.tabs[0], "Prediction") == ["7"]


@pytest.mark.slow
def test_evaluate_reports_a_version_that_cannot_be_loaded_and_still_shows_the_other(open_page, store):
    version = unloadable_version(store)
    app = open_page("evaluate", evaluate_section="Robustness")  # its table: one column per version shown
    app.multiselect(key="evaluate_versions").set_value([DEFAULT_VERSION, version]).run()
    assert not app.exception, [e.value for e in app.exception]
    assert f"Cannot evaluate `{version}`: version '{version}': model.keras cannot be loaded" in texts(app.error)
    assert len(metric_values(app, "Test accuracy")) == 1
    assert [column for column in app.dataframe[-1].value.columns if column.endswith("accuracy")] == \
        [f"{DEFAULT_VERSION} accuracy"]


@pytest.mark.parametrize("version, reason", [
    ("gone", "it is not in the store (deleted?)"),
    ("../../etc/passwd", "invalid version id '../../etc/passwd'"),
    ("a/b", "invalid version id 'a/b'"),
    ("..", "invalid version id '..'"),
])
def test_an_unknown_or_invalid_version_in_the_session_is_named_and_the_active_one_used(open_page, canvas, version,
                                                                                       reason):
    canvas.image = drawn_rgba(DIGIT_STROKES[7])
    predict = open_page(predict_version=version)
    assert f"Version `{version}` cannot be used: {reason}" in texts(predict.warning)
    assert predict.selectbox(key="predict_version").value == DEFAULT_VERSION
    assert metric_values(predict.tabs[0], "Prediction") == ["7"]

    evaluate = open_page("evaluate", evaluate_versions=[version])
    assert not evaluate.exception, [e.value for e in evaluate.exception]
    assert f"Version `{version}` cannot be used: {reason}" in texts(evaluate.warning)
    assert evaluate.multiselect(key="evaluate_versions").value == [DEFAULT_VERSION]


def test_a_version_id_in_the_url_reaches_nothing(open_page, canvas, store):
    """The app takes no version from the URL: a crafted query changes nothing and breaks nothing."""
    canvas.image = drawn_rgba(DIGIT_STROKES[7])
    query = {"predict_version": "../../etc/passwd", "version": "..", "model": "gone"}
    predict = open_page(query=query)
    assert predict.selectbox(key="predict_version").value == DEFAULT_VERSION
    assert metric_values(predict.tabs[0], "Prediction") == ["7"] and not predict.warning
    assert not open_page("models", query=query).exception


@pytest.mark.slow
@pytest.mark.parametrize("moment", ["before its export is read", "while its kept results are read"])
def test_deleting_a_version_while_it_is_evaluated(open_page, store, copied_default, monkeypatch, moment):
    """Another session deletes the version at that moment: the page shows what it could compute
    (from the model it had loaded) or says the version is gone, keeps the other version, and the
    next run says it is gone."""
    import digits.results
    import digits.store

    app = open_page("evaluate", evaluate_section="Robustness")  # the default's results are now cached: only the
    # copy is read below; the Robustness tab's table has a column per version shown
    module, name = (digits.store.ModelStore, "tflite") if moment.startswith("before") \
        else (digits.results, "read_results")
    real = getattr(module, name)

    def deleting_first(*args, **kwargs):
        if copied_default in store.ids():
            store.delete(copied_default)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, deleting_first)
    app.multiselect(key="evaluate_versions").set_value([DEFAULT_VERSION, copied_default]).run()
    assert not app.exception, [e.value for e in app.exception]
    assert copied_default not in store.ids()
    accuracies = metric_values(app, "Test accuracy")
    if moment.startswith("before"):
        assert f"Cannot evaluate `{copied_default}`: unknown version '{copied_default}'" in texts(app.error)
        assert len(accuracies) == 1
    else:  # its model was loaded: its results are computed from it and shown (there is nowhere to keep them)
        assert len(accuracies) == 2 and accuracies[0] == accuracies[1]
        assert f"{copied_default} accuracy" in app.dataframe[-1].value.columns
    assert f"{DEFAULT_VERSION} accuracy" in app.dataframe[-1].value.columns

    app.run()
    assert not app.exception
    assert f"Version `{copied_default}` cannot be used: it is not in the store (deleted?)" in texts(app.warning)
    assert app.multiselect(key="evaluate_versions").value == [DEFAULT_VERSION]
    assert len(metric_values(app, "Test accuracy")) == 1
