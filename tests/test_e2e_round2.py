"""Issue 10 in a real browser: two servers on one store start one run, an upload of exactly 5 MiB
is read (one byte more is refused by name), and a number field the browser cannot read never
starts a run with a value the user did not see. Real `streamlit run` servers, Debian's chromium."""

from __future__ import annotations

import os
import re

import pytest

from dashboard_helpers import (CHROMIUM, photo_png, processes_using_store, start_dashboard, stop_process_group,
                               stop_training, wait_until_app_idle)
from digits.preprocessing import MAX_FILE_BYTES
from digits.runs import read_events
from test_e2e_dashboard import app_url, browser, dashboard, e2e_store, metric_value, page  # noqa: F401
from test_training import wait_for

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"needs {CHROMIUM}")]

RUN_MS = 120_000


@pytest.fixture(scope="module", autouse=True)
def nothing_left_behind(e2e_store):
    yield
    assert processes_using_store(e2e_store.root) == []


def fill(page, label: str, value: str) -> None:
    field = page.get_by_role("spinbutton", name=label, exact=True)
    field.fill(value)
    field.press("Tab")  # the field commits its value when it loses focus


def test_two_servers_on_one_store_pressing_start_in_the_same_second_start_one_run(app_url, browser, e2e_store):
    """No name: both would get the generated id of the same second and preset. One run starts, the
    other server's session is told it is in progress, and the run's log is one run's."""
    url, second_server = start_dashboard(e2e_store, "second-server.log")
    contexts = [browser.new_context(viewport={"width": 1400, "height": 1100}) for _ in range(2)]
    pages = [context.new_page() for context in contexts]
    try:
        for page_, server_url in zip(pages, (app_url, url)):
            page_.set_default_timeout(RUN_MS)
            page_.goto(f"{server_url}/train")
            page_.get_by_role("combobox").first.wait_for()
            fill(page_, "Epochs", "1")
            fill(page_, "Training subset size", "1000")
            wait_until_app_idle(page_)
        at = pages[0].evaluate("Date.now()") + 1500
        for page_ in pages:
            page_.get_by_role("button", name="Start", exact=True).evaluate(
                "(button, at) => setTimeout(() => button.click(), at - Date.now())", at)
        for page_ in pages:
            expect(page_.get_by_text(re.compile(r"^Run \S+-strong\S*: running$"))).to_be_visible()
        run_dirs = [p for p in e2e_store.runs_dir.iterdir() if p.is_dir()]
        assert len(run_dirs) == 1, run_dirs
        run_id = run_dirs[0].name
        told = [page_.get_by_text(f"Run {run_id} is already in progress").count() for page_ in pages]
        started = [page_.get_by_text(f"Started run {run_id} with preset strong, 1 epochs").count() for page_ in pages]
        assert sorted(told) == [0, 1] and sorted(started) == [0, 1], (told, started)
        wait_for(lambda: "done" in [e["event"] for e in read_events(run_dirs[0])], RUN_MS / 1000, "the run's end")
        events = [e["event"] for e in read_events(run_dirs[0])]
        assert events.count("queued") == 1 and events.count("start") == 1 and events.count("epoch") == 1, events
        assert events[-1] == "done"
    finally:
        stop_training(e2e_store)
        stop_process_group(second_server)
        for context in contexts:
            context.close()


def padded_png(size: int) -> dict:
    """A photo of a 7, PNG, padded after its end to exactly `size` bytes (what a camera's metadata does)."""
    from digits.data import load_test

    split = load_test()
    raw = photo_png(split.images[int((split.labels == 7).argmax())])
    return {"name": f"seven-{size}.png", "mimeType": "image/png", "buffer": raw + b"\0" * (size - len(raw))}


def test_an_upload_of_exactly_5_mib_is_read_and_one_byte_more_is_refused_by_name(app_url, page):
    page.goto(app_url)
    page.get_by_role("tab", name="Upload a photo or scan").click()
    panel = page.get_by_role("tabpanel").filter(has=page.locator('[data-testid="stFileUploader"]'))
    expect(panel.get_by_text("up to 5 MiB")).to_have_count(0)  # the help text is a tooltip: not shown
    panel.locator('input[type="file"]').set_input_files(padded_png(MAX_FILE_BYTES))
    expect(metric_value(panel, "Prediction")).to_have_text("7")
    panel.get_by_role("button", name=re.compile("^Remove ")).click()
    wait_until_app_idle(page)
    panel.locator('input[type="file"]').set_input_files(padded_png(MAX_FILE_BYTES + 1))
    expect(panel.get_by_text(f"seven-{MAX_FILE_BYTES + 1}.png cannot be used: 5,242,881 bytes is over the 5 MiB "
                             "(5,242,880 bytes) limit")).to_be_visible()
    expect(metric_value(panel, "Prediction")).to_have_count(0)


def test_a_number_the_browser_cannot_read_is_shown_and_the_run_says_what_it_runs_with(app_url, page, e2e_store):
    """Chromium's number field reads "1e309" (infinity) as no number, and Streamlit then puts the
    preset's value back; letters ("nan") cannot be typed at all. Start then says the settings it
    runs with, so a value the user did not mean is never run unseen."""
    page.goto(f"{app_url}/train")
    page.get_by_role("combobox").first.wait_for()
    fill(page, "Epochs", "1")
    fill(page, "Training subset size", "1000")
    rate = page.get_by_role("spinbutton", name="Learning rate", exact=True)
    for typed in ("1e309", "nan"):
        rate.click()
        page.keyboard.press("ControlOrMeta+a")
        page.keyboard.type(typed)
        rate.press("Tab")
        expect(rate).to_have_value("0.00300")  # the preset's value, in the field for all to see
    wait_until_app_idle(page)
    try:
        page.get_by_role("button", name="Start", exact=True).click()
        expect(page.get_by_text(re.compile(r"^Started run \S+ with preset strong, 1 epochs, batch \d+, "
                                           r"learning rate 0\.003, .*1,000 training images\.$"))).to_be_visible()
    finally:
        stop_training(e2e_store)
