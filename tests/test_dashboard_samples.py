"""Your handwriting in the dashboard, through Streamlit's AppTest: the Right / Wrong, it is…
controls on the Predict page, the Samples page, the Train form's fine-tune fields and the
Evaluate page's per-writer results. Real app scripts, the real shipped model, a real database."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest

from dashboard_helpers import drawn_rgba, drawn_seven_rgba, photo_png, stop_training
from digits.preprocessing import prepare
from digits.sample_archive import export_zip
from digits.samples import DB_NAME, SampleStore, held_out
from test_dashboard import canvas, open_page, texts  # noqa: F401 - fixtures


@pytest.fixture
def samples(store):
    return SampleStore(store.root / DB_NAME)


def buttons(block, label: str):
    return [button for button in block.button if button.label == label]


def test_nothing_is_saved_until_asked_then_right_and_wrong_keep_the_sample(open_page, canvas, samples):
    canvas.image = drawn_seven_rgba()
    app = open_page()
    draw_tab = app.tabs[0]
    assert texts(draw_tab.metric) and buttons(draw_tab, "Right")
    [wrong] = draw_tab.button_group
    assert wrong.label == "Wrong, it is…" and wrong.value is None
    assert wrong.options == [str(d) for d in range(10) if d != 7]  # the digit it read: that is "Right"
    assert [field.value for field in draw_tab.text_input if field.label == "Whose hand is it?"] == ["me"]
    assert not samples.exists() and samples.count() == 0, "saved without being asked"

    # "Wrong, it is… 1", in Ann's hand.
    next(f for f in draw_tab.text_input if f.label == "Whose hand is it?").set_value("Ann").run()
    app.button_group(key="draw-wrong").set_value("1").run()
    [sample] = samples.find()
    assert (sample.label, sample.predicted, sample.writer, sample.source, sample.model_version) == \
        ("1", "7", "Ann", "canvas", "default")
    assert sample.confidence > 0.5 and sample.model_input.shape == (28, 28)
    assert [toast.value for toast in app.toast] == ["Saved a 1 for Ann: 1 sample of Ann's hand so far."]
    assert "Saved as sample #1 with the label 1" in texts(app.tabs[0].caption)
    assert not buttons(app.tabs[0], "Right") and not app.tabs[0].button_group, "the same drawing can be saved twice"
    app.run()
    assert samples.count() == 1  # a rerun saves nothing

    # A new drawing: the controls are back, the writer is remembered; "Right" keeps its reading.
    canvas.image = drawn_rgba([[(0.5, 0.15), (0.5, 0.85)]])
    app.run()
    assert [f.value for f in app.tabs[0].text_input if f.label == "Whose hand is it?"] == ["Ann"]
    assert app.tabs[0].button_group[0].value is None  # the last choice does not carry over
    buttons(app.tabs[0], "Right")[0].click().run()
    assert [(s.label, s.predicted, s.writer) for s in samples.find()] == [("1", "1", "Ann"), ("1", "7", "Ann")]
    assert "2 samples of Ann's hand" in app.toast[0].value


def test_an_uploaded_photo_can_be_kept_with_its_label(open_page, canvas, samples, mnist):
    app = open_page(predict_tab="Upload a photo or scan")
    seven = mnist.test.images[int(np.flatnonzero(mnist.test.labels == 7)[0])]
    app.tabs[1].file_uploader[0].set_value(("seven.png", photo_png(seven), "image/png")).run()
    buttons(app.tabs[1], "Right")[0].click().run()
    [sample] = samples.find()
    assert (sample.label, sample.source, sample.writer) == ("7", "upload", "me")


def seed_samples(samples: SampleStore, count: int = 30) -> None:
    seven, one = drawn_seven_rgba(), drawn_rgba([[(0.5, 0.15), (0.5, 0.85)]])
    rows = [dict(image=seven if i % 3 else one, label="7" if i % 3 else "1",
                 model_input=prepare(seven if i % 3 else one), predicted="7",
                 writer="ann" if i % 2 else "bob", source="canvas") for i in range(count)]
    samples.add_many(rows)


def test_the_samples_page_counts_filters_pages_relabels_and_deletes(open_page, samples):
    seed_samples(samples)
    app = open_page("samples")
    assert app.title[0].value == "Samples"
    assert {m.label: m.value for m in app.metric} == {"Samples": "30", "Writers": "2", "Mis-read when saved": "10"}
    [chart] = [html.proto.body for html in app.get("html") if "Samples per label" in html.proto.body]
    assert 'title="ann · 7: 10"' in chart and 'title="bob · 1: 5"' in chart and "1: 10; 7: 20" in chart
    assert len(app.get("image")[0].proto.imgs) + sum(len(i.proto.imgs) for i in app.get("image")[1:]) == 24

    app.number_input(key="samples_page").set_value(2).run()
    assert sum(len(i.proto.imgs) for i in app.get("image")) == 6
    app.selectbox(key="samples_label").set_value("1").run()
    app.selectbox(key="samples_writer_filter").set_value("ann").run()
    app.toggle(key="samples_misread").set_value(True).run()
    captions = [c for i in app.get("image") for c in (img.caption for img in i.proto.imgs)]
    assert captions and all(" · 1 · read as 7 · ann" in caption for caption in captions)
    assert len(captions) == samples.count(writer="ann", label="1", misread=True) == 5

    # Relabel the chosen one; it then leaves the mis-read filter. The form is built when its
    # expander is opened (the page opens quicker without it).
    assert not any(b.label == "Relabel" for b in app.button)
    app.session_state["samples_edit_open"] = True
    app.run()
    chosen = app.selectbox(key="samples_chosen").value
    app.text_input(key="samples_new_label").set_value("7")
    next(b for b in app.button if b.label == "Relabel").click().run()
    assert samples.get(chosen).label == "7" and f"Sample #{chosen} is now labelled 7." in texts(app.success)
    app.text_input(key="samples_new_label").set_value("seven")
    next(b for b in app.button if b.label == "Relabel").click().run()
    assert "must be a digit" in texts(app.error)

    # Delete with confirmation.
    chosen = app.selectbox(key="samples_chosen").value
    app.button(key="confirm_delete_sample").click().run()
    assert samples.count() == 29 and f"Deleted sample #{chosen}." in texts(app.success)
    with pytest.raises(Exception):
        samples.get(chosen)
    assert any("Export" in b.label for b in app.get("download_button"))


def test_the_samples_page_imports_a_zip_and_lists_its_bad_rows(open_page, samples, store):
    other = SampleStore(store.root / "elsewhere.db")
    seed_samples(other, 4)
    raw = export_zip(other)
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(raw)) as source, zipfile.ZipFile(buffer, "w") as target:
        for info in source.infolist():
            data = source.read(info)
            target.writestr(info, data + b"000001.png,12,ann\n" if info.filename == "labels.csv" else data)
    app = open_page("samples")
    assert "No samples yet" in texts(app.info)
    app.file_uploader[0].set_value(("mine.zip", buffer.getvalue(), "application/zip"))
    app.text_input[0].set_value("carol")
    next(b for b in app.button if b.label == "Import").click().run()
    assert "mine.zip: imported 4 samples; skipped 1 bad row" in texts(app.success).replace("**", "")
    assert "line 6: label '12'" in app.code[0].value
    assert samples.count("carol") == 4


def test_a_damaged_database_is_reported_and_left_alone(open_page, samples, canvas):
    samples.path.parent.mkdir(parents=True)
    samples.path.write_bytes(b"not a database" * 10)
    app = open_page("samples")
    assert "not a samples database" in texts(app.error)
    canvas.image = drawn_seven_rgba()
    app = open_page()
    app.button(key="draw-right").click().run()
    assert "Not saved:" in texts(app.tabs[0].error)
    assert samples.path.read_bytes() == b"not a database" * 10


def test_the_train_form_offers_a_start_version_and_writers_and_refuses_a_fine_tune_without_samples(
        open_page, samples, store):
    from digits.runs import list_runs

    seed_samples(samples, 20)
    for sample in samples.find(writer="bob"):  # bob keeps only held-out samples: none to train on
        if not held_out(sample.id):
            samples.delete(sample.id)
    assert samples.count("bob") > 0
    app = open_page("train")
    app.selectbox(key="preset").set_value("personal").run()
    start = next(box for box in app.selectbox if box.label == "Start from")
    assert start.value == "default" and start.options[0] == "random weights (a new model)"
    include = next(box for box in app.multiselect if box.label == "Include samples from")
    assert include.options == ["ann", "bob"] and include.value == ["ann", "bob"]
    assert next(box for box in app.number_input if box.label == "Training subset size").value == 15_000
    include.set_value(["bob"])
    try:
        next(b for b in app.button if b.label == "Start").click().run()
        assert "Not started:" in texts(app.error) and "held-out 20%" in texts(app.error)
        assert list_runs(store) == []
    finally:
        stop_training(store)


def test_the_form_s_fine_tune_fields_make_the_same_config_as_train_py():
    from dashboard.runs_view import config_from_form
    from digits.config import config_from_args, preset
    from train import parse_args

    config = config_from_form("personal", epochs=1, batch_size=64, learning_rate=1e-4, schedule="constant",
                              augment=True, class_weights="", subset_size=500, name="mine", activate=False,
                              from_version="default", writers=["ann", "bob"])
    assert config == preset("personal", epochs=1, batch_size=64, learning_rate=1e-4, schedule="constant",
                            class_weights={}, limit=500, name="mine", from_version="default",
                            writers=("ann", "bob"))
    assert config_from_args(parse_args(config.to_argv())) == config
    assert config_from_args(parse_args(["--preset", "strong", "--from", "default", "--samples",
                                        "--writer", "ann"])).writers == ("ann",)


@pytest.mark.slow
def test_evaluate_shows_each_writer_s_held_out_accuracy_and_the_parent_comparison(open_page, samples, store,
                                                                                   copied_default):
    seed_samples(samples, 40)
    meta_path = store.root / copied_default / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["fine_tune"] = {"parent": "default", "writers": ["ann", "bob"]}
    meta_path.write_text(json.dumps(meta))
    app = open_page("evaluate", evaluate_versions=[copied_default], evaluate_section="Your handwriting")
    table = next(frame.value for frame in app.dataframe if "writer" in frame.value.columns)
    rows = {row["writer"]: row for row in table.to_dict("records")}
    held = [s for s in samples.find() if s.held_out]
    assert set(rows) == {"MNIST test set", *{s.writer for s in held}}
    assert rows["MNIST test set"][copied_default] == pytest.approx(meta["test"]["accuracy"], abs=1e-4)
    for writer in {s.writer for s in held}:
        mine = [s for s in held if s.writer == writer]
        assert rows[writer]["images"] == len(mine)
    assert f"`default` → `{copied_default}`** on the {len(held)} held-out samples" in texts(app.markdown)
    assert "0 fixed" in texts(app.markdown) and "0 broken" in texts(app.markdown)  # the same weights


def number_reading_page():
    """A page with only the controls, under a whole number's reading (Number mode places them so)."""
    import numpy as np

    from dashboard.samples_view import Reading, feedback_controls

    image = np.zeros((60, 200, 4), np.uint8)
    image[..., 3] = 255
    image[20:40, 20:180, :3] = 255
    feedback_controls("number", Reading(image, None, "2025", 0.71, "numbers-v1", "canvas"), number=True)


def test_the_controls_under_a_number_reading_take_its_digits_as_the_label(store, samples):
    from streamlit.testing.v1 import AppTest

    app = AppTest.from_function(number_reading_page, default_timeout=60).run()
    assert not app.button_group, "a number has no digit pills"
    app.text_input(key="number-number").set_value("20x6")
    next(b for b in app.button if b.label == "Save with this number").click().run()
    assert "Not saved: label '20x6'" in texts(app.error) and samples.count() == 0
    app.text_input(key="number-number").set_value("2026")
    next(b for b in app.button if b.label == "Save with this number").click().run()
    [sample] = samples.find()
    assert (sample.label, sample.predicted, sample.model_input, sample.model_version) == \
        ("2026", "2025", None, "numbers-v1")
    assert "Saved a 2026 for me" in app.toast[0].value
    app = AppTest.from_function(number_reading_page, default_timeout=60).run()
    next(b for b in app.button if b.label == "Right").click().run()
    assert [s.label for s in samples.find()] == ["2025", "2026"]
