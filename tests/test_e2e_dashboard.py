"""End to end in a real browser: `streamlit run dashboard/app.py` on a free loopback port, driven by
Playwright through Debian's chromium. Draw digits with the mouse, upload a photo, train a tiny
model, evaluate. A failing test leaves a screenshot in test-artifacts/ (the server log is there too)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from dashboard_helpers import (CHROMIUM, CHROMIUM_ARGS, DIGIT_STROKES, draw_strokes, fill_training_form,
                               number_strokes, photo_png, save_screenshot, settled_box, start_dashboard,
                               stop_process_group, stop_training, wait_until_app_idle)

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"needs {CHROMIUM}")]

WAIT_MS = 60_000  # generous: the first prediction loads TensorFlow on a 2-core machine
expect.set_options(timeout=WAIT_MS)


@pytest.fixture(scope="module")
def e2e_store(tmp_path_factory):
    from digits.store import ModelStore

    return ModelStore(tmp_path_factory.mktemp("e2e-store"))


@pytest.fixture(scope="module")
def dashboard(e2e_store, request):
    """A real dashboard server on its own port and store: (its URL, its process); stopped, with
    any run it started, at the end."""
    url, server = start_dashboard(e2e_store, f"{request.module.__name__}-streamlit.log")
    try:
        yield url, server
    finally:
        stop_training(e2e_store)
        stop_process_group(server)


@pytest.fixture(scope="module")
def app_url(dashboard):
    return dashboard[0]


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser, request):
    """A fresh browser page; when the test fails, its screenshot goes to test-artifacts/."""
    context = browser.new_context(viewport={"width": 1400, "height": 1100})
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    failures_before = request.session.testsfailed
    yield page
    try:
        if request.session.testsfailed > failures_before:  # the test's call phase has been reported
            save_screenshot(page, request.node.name)
    finally:
        context.close()


def metric_value(scope, label: str):
    return scope.locator('[data-testid="stMetric"]').filter(has_text=label).locator('[data-testid="stMetricValue"]')


def test_drawing_a_digit_shows_its_prediction(app_url, page):
    page.goto(app_url)
    canvas = page.locator("canvas.upper-canvas")
    for digit, strokes in DIGIT_STROKES.items():
        expect(page.get_by_text("Draw a digit")).to_be_visible()
        wait_until_app_idle(page)
        drawn_on = canvas.element_handle()
        draw_strokes(page, canvas, strokes)
        expect(metric_value(page, "Prediction")).to_have_text(str(digit), timeout=WAIT_MS)
        expect(metric_value(page, "Confidence")).to_have_text(re.compile(r"\d+\.\d%"))
        expect(page.get_by_text("What the model received")).to_be_visible()
        page.get_by_role("button", name="Clear").click()
        # Clear mounts a new, empty canvas: wait until the one drawn on is gone.
        page.wait_for_function("canvas => !canvas.isConnected", arg=drawn_on)
        expect(metric_value(page, "Prediction")).to_have_count(0)


def test_drawing_a_three_digit_number_on_the_wide_canvas_reads_it(app_url, page):
    page.goto(app_url)
    page.get_by_text("Number", exact=True).first.click()  # the "Read: Digit | Number" switch
    expect(page.get_by_text("Write a number")).to_be_visible()
    wait_until_app_idle(page)
    canvas = page.locator("canvas.upper-canvas")
    assert settled_box(page, canvas)["width"] == 900
    draw_strokes(page, canvas, number_strokes("170"))
    expect(page.locator('[data-testid="number-read"]')).to_have_text("170", timeout=WAIT_MS)
    expect(metric_value(page, "Confidence")).to_have_text(re.compile(r"\d+\.\d%"))
    expect(page.get_by_text("3 digits read")).to_be_visible()
    # Clear (inside the canvas's fragment) empties the canvas and the reading; the next number
    # is read on the new canvas.
    drawn_on = canvas.element_handle()
    page.get_by_role("button", name="Clear").click()
    page.wait_for_function("canvas => !canvas.isConnected", arg=drawn_on)
    expect(page.locator('[data-testid="number-read"]')).to_have_count(0)
    draw_strokes(page, canvas, number_strokes("07"))
    expect(page.locator('[data-testid="number-read"]')).to_have_text("07", timeout=WAIT_MS)


COUNT_SEND_CLICKS_JS = """title => {
  window.sendClicks = 0;  // the canvas and its toolbar live in the component's shadow root
  const buttons = [...document.querySelectorAll('*')].filter(host => host.shadowRoot)
    .flatMap(host => [...host.shadowRoot.querySelectorAll(`button[title="${title}"]`)]);
  buttons.forEach(button => button.addEventListener('click', () => window.sendClicks++));
  return buttons.length;
}"""


@pytest.mark.parametrize("mode", ["Digit", "Number"])
def test_a_finished_stroke_is_sent_at_once_by_the_canvas_s_send_button(app_url, page, mode):
    """The component sends a drawing 200 ms after its last change; releasing the pen presses its
    own send-now button instead (dashboard.common.SEND_ON_RELEASE_JS), once per stroke. Fails if
    the component's toolbar changes so the button is no longer found."""
    from dashboard.common import SEND_BUTTON

    page.goto(app_url)
    page.get_by_text(mode, exact=True).first.click()
    canvas = page.locator("canvas.upper-canvas")
    canvas.wait_for()
    wait_until_app_idle(page)
    assert page.evaluate(COUNT_SEND_CLICKS_JS, SEND_BUTTON) == 1
    strokes = DIGIT_STROKES[1] if mode == "Digit" else number_strokes("10")
    draw_strokes(page, canvas, strokes)
    if mode == "Digit":
        expect(metric_value(page, "Prediction")).to_have_text("1")
    else:
        expect(page.locator('[data-testid="number-read"]')).to_have_text("10")
    assert page.evaluate("window.sendClicks") == len(strokes)


def test_uploading_a_photo_shows_its_prediction_and_a_bad_file_a_message(app_url, page, tmp_path):
    from digits.data import load_test

    split = load_test()
    seven = tmp_path / "seven-on-yellow-paper.png"
    seven.write_bytes(photo_png(split.images[int((split.labels == 7).argmax())]))
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)

    page.goto(app_url)
    page.get_by_role("tab", name="Upload a photo or scan").click()
    upload_panel = page.get_by_role("tabpanel").filter(has=page.locator('[data-testid="stFileUploader"]'))
    upload_panel.locator('input[type="file"]').set_input_files(seven)
    expect(metric_value(upload_panel, "Prediction")).to_have_text("7")

    # Several files make a table: remove the photo first, so the broken file is the only one.
    upload_panel.get_by_role("button", name=f"Remove {seven.name}").click()
    expect(metric_value(upload_panel, "Prediction")).to_have_count(0)
    wait_until_app_idle(page)
    upload_panel.locator('input[type="file"]').set_input_files(broken)
    expect(upload_panel.get_by_text("broken.png cannot be used:")).to_be_visible()
    expect(metric_value(upload_panel, "Prediction")).to_have_count(0)


def test_a_tiny_training_run_goes_live_and_its_version_is_listed(app_url, page, e2e_store):
    page.goto(f"{app_url}/train")
    page.get_by_text("No training run yet").wait_for()
    fill_training_form(page, epochs=1, subset=1000, name="e2e-tiny")
    page.get_by_role("button", name="Start", exact=True).click()

    expect(page.get_by_text("Run e2e-tiny: running")).to_be_visible()
    expect(page.locator('[data-testid="stProgress"]')).to_be_visible()
    expect(metric_value(page, "Validation accuracy")).to_have_text(re.compile(r"\d+\.\d\d%"), timeout=120_000)
    expect(page.get_by_text("Run e2e-tiny: finished")).to_be_visible(timeout=120_000)
    expect(page.get_by_text("Test accuracy:")).to_be_visible()
    assert "e2e-tiny" in e2e_store.ids()

    page.get_by_role("link", name="Models").click()
    page.get_by_text("Version", exact=True).wait_for()
    page.locator('[data-testid="stSelectbox"]').filter(has_text="Version").click()
    expect(page.get_by_role("option", name="e2e-tiny")).to_be_visible()


def test_evaluate_shows_the_confusion_matrix_and_a_clicked_cell_s_images(app_url, page):
    page.goto(f"{app_url}/evaluate")
    matrix = page.locator('[role="figure"][aria-label="Confusion matrix"]').first
    expect(matrix).to_be_visible()
    expect(page.get_by_text("4/9 confusion:").first).to_be_visible()
    expect(matrix).to_contain_text("4→9")
    expect(page.get_by_text("test images of a 4 predicted as 9")).to_be_visible()

    wait_until_app_idle(page)
    page.get_by_role("tab", name="Robustness").click()  # a lazy tab: its charts are built when opened
    expect(page.locator(".js-plotly-plot").filter(has_text="thick strokes").first).to_be_visible()
    wait_until_app_idle(page)
    true, predicted = 9, 4  # a click on a cell brings the images' tab back
    cell = settled_box(page, matrix.locator(f'[data-cell="{true},{predicted}"]'))
    page.mouse.click(cell["x"] + cell["width"] / 2, cell["y"] + cell["height"] / 2)
    expect(page.get_by_text(f"test images of a {true} predicted as {predicted}")).to_be_visible()


def test_the_server_never_imports_tensorflow_whatever_is_visited(dashboard, page, e2e_store, tmp_path):
    """Last in this module: after every page and feature above (drawing, uploading, a training run,
    evaluation, the Models page) and, again here, the Evaluate page of the freshly trained version
    beside the default and every download, TensorFlow's libraries were never loaded into the
    server process: it serves everything through LiteRT."""
    url, server = dashboard
    page.goto(url)
    canvas = page.locator("canvas.upper-canvas")
    draw_strokes(page, canvas, DIGIT_STROKES[1])
    expect(metric_value(page, "Prediction")).to_have_text("1")
    page.get_by_role("tab", name="Upload a photo or scan").click()
    photo = tmp_path / "seven.png"
    from digits.data import load_test

    split = load_test()
    photo.write_bytes(photo_png(split.images[int((split.labels == 7).argmax())]))
    upload_panel = page.get_by_role("tabpanel").filter(has=page.locator('[data-testid="stFileUploader"]'))
    upload_panel.locator('input[type="file"]').set_input_files(photo)
    expect(metric_value(upload_panel, "Prediction")).to_have_text("7")

    page.goto(f"{url}/train")
    expect(page.get_by_role("button", name="Start")).to_be_visible()
    page.goto(f"{url}/evaluate")
    expect(page.locator('[role="figure"][aria-label="Confusion matrix"]').first).to_be_visible()
    fresh = [version for version in e2e_store.ids() if version not in ("default", "default-number")]
    if fresh:  # the training test's version, evaluated beside the default (its results were kept at save time)
        page.locator('[data-testid="stMultiSelect"]').click()
        page.get_by_role("option", name=re.compile(re.escape(fresh[0]))).click()
        page.keyboard.press("Escape")
        expect(page.locator('[role="figure"][aria-label="Confusion matrix"]')).to_have_count(2)
    for tab, shown in (("Robustness", page.locator(".js-plotly-plot").filter(has_text="thick strokes")),
                       ("Your handwriting", page.get_by_text("Accuracy on each writer's held-out samples")),
                       ("Per digit", page.get_by_text("precision, recall and F1 of each digit"))):
        page.get_by_role("tab", name=tab).click()  # lazy tabs: each built when opened
        # A fresh version's variants are computed when Robustness is first opened: over a minute
        # while the other test worker (pytest.ini) and other jobs share the two cores.
        expect(shown.first).to_be_visible(timeout=240_000)

    page.goto(f"{url}/models")
    for label in ("Download .keras", "Download .tflite"):
        with page.expect_download() as download:
            page.get_by_role("button", name=label).click()
        assert download.value.suggested_filename.startswith("digits-")
    for tab, shown in (("Training curves", page.locator(".js-plotly-plot")),
                       ("Confusion matrix", page.locator(".js-plotly-plot").filter(has_text="4→9")),
                       ("Everything recorded (meta.json)", page.locator('[data-testid="stJson"]'))):
        page.get_by_role("tab", name=tab).click()
        expect(shown.first).to_be_visible()
    wait_until_app_idle(page)

    maps = (Path("/proc") / str(server.pid) / "maps").read_text()
    loaded = sorted({line.split()[-1] for line in maps.splitlines() if "/tensorflow/" in line or "/keras/" in line})
    assert not loaded, f"the dashboard server loaded TensorFlow: {loaded[:5]}"
    assert "ai_edge_litert" in maps, "the server never ran a model (LiteRT not loaded), so this proves nothing"
