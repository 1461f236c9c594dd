"""The Models and Train pages' downloads, views and wording (AppTest, the real pages): the LiteRT
exports as downloads, the confusion matrix in percent, a column choice so wide tables fit, '—'
instead of 'None', the preset's description not cut off, and deleting the active version saying
that the shipped default takes over."""

from __future__ import annotations

import json

from dashboard_helpers import popover, versions_table
from test_dashboard import open_page, plotly_figures, texts  # noqa: F401 - open_page is a fixture
from test_run_tracking import fake_run


def download_labels(app) -> list[str]:
    return [button.proto.label for button in app.get("download_button")]


def test_models_offers_the_tflite_exports_and_a_percentage_confusion_matrix(open_page, store, copied_default):
    app = open_page("models")
    assert {"Download .keras", "Download .tflite", "Download int8 .tflite"} <= set(download_labels(app))
    app.selectbox(key="models_version").set_value(copied_default).run()
    # The version's details are lazy tabs: a summary first, each chart built only when its tab is opened.
    assert [metric.label for metric in app.metric][:1] == ["Test accuracy"] and not app.get("plotly_chart")
    app.session_state["version_details"] = "Training curves"
    assert "version_curves-0" in plotly_figures(app.run())
    # The shipped default is a committee: each member's curves, as it trained nothing itself.
    app.selectbox(key="models_version").set_value("default").run()
    assert {"version_curves-0", "version_curves-1"} <= set(plotly_figures(app))
    assert "**Member `previous`**" in [m.value for m in app.markdown]
    app.selectbox(key="models_version").set_value(copied_default).run()
    app.session_state["version_details"] = "Everything recorded (meta.json)"
    assert app.run().get("json") and not app.get("plotly_chart")
    app.session_state["version_details"] = "Confusion matrix"
    counts = plotly_figures(app.run())["version_confusion"]["data"][0]["text"]
    assert "%" not in json.dumps(counts)  # image counts
    app.get("segmented_control")[0].set_value("% of each true digit").run()
    shares = plotly_figures(app)["version_confusion"]["data"][0]["text"]
    assert shares[4][4].endswith("%") and 99 < float(shares[4][4].rstrip("%")) <= 100


def test_wide_tables_fit_a_column_choice_and_no_none(open_page, store):
    app = open_page("models")
    shown = list(versions_table(app)[0])
    assert shown[:5] == ["version", "task", "active", "status", "test accuracy"] and "learning rate" not in shown
    popover(app, "Columns").multiselect(key="version_columns").select("learning rate").run()
    assert "learning rate" in versions_table(app)[0]

    fake_run(store, "broke", state="failed")
    app = open_page("train")
    [row] = app.dataframe[0].value.to_dict("records")
    assert row["test accuracy"] == "—", "a failed run's test accuracy read 'None'"
    assert "schedule" not in app.dataframe[0].proto.column_order
    app.multiselect(key="run_columns").select("schedule").run()
    assert "schedule" in app.dataframe[0].proto.column_order


def test_the_preset_box_shows_the_name_and_the_description_below_it(open_page, store):
    app = open_page("train")
    assert app.selectbox(key="preset").value == "strong"
    assert "strong: 20 epochs, batch 128, augmentation, class weights 9=2" in texts(app.caption)
    app.selectbox(key="preset").set_value("seed").run()
    assert "seed: 5 epochs, batch 64" in texts(app.caption)


def test_deleting_the_active_version_says_the_default_takes_over(open_page, store, copied_default):
    store.activate(copied_default)
    app = open_page("models")
    delete = popover(app, "Delete…")
    assert "the shipped default `default` takes over" in texts(delete.markdown)
    delete.button(key="confirm_delete").click().run()
    assert store.active() == "default"
    assert "The active model is now `default`." in texts(app.success)


def test_the_versions_table_escapes_what_a_user_wrote_and_formats_numbers():
    from dashboard.common import html_table

    table = html_table([{"version": "v1", "note": '<img src=x onerror="alert(1)"> & co', "test accuracy": 0.99621,
                         "training images": 55000, "active": True, "epochs": None, "augment": False}],
                       ["version", "note", "test accuracy", "training images", "active", "epochs", "augment"],
                       formats={"test accuracy": "{:.2%}"})
    assert "<img" not in table and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt; &amp; co" in table
    assert '<td class="number">99.62%</td>' in table and '<td class="number">55,000</td>' in table
    assert "<td>yes</td><td></td><td>no</td></tr>" in table  # no epochs recorded: empty, not "None"
