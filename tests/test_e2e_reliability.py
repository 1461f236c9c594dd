"""The dashboard's server and browser under stress: bad uploads one after another, two sessions
pressing Start at the same instant, the server restarted (and the training process killed) while
a run goes on. Real `streamlit run` servers, Debian's chromium through Playwright; every server
and training process a test starts is gone when it ends."""

from __future__ import annotations

import os
import re
import signal

import pytest

from dashboard_helpers import (CHROMIUM, DIGIT_STROKES, NO_DIGIT, difficult_uploads, draw_strokes,
                               fill_training_form, photo_png, processes_using_store, start_dashboard,
                               stop_process_group, stop_training, wait_until_app_idle)
from digits.runs import pid_alive, read_events, read_lock
from digits.store import ModelStore
from test_e2e_dashboard import app_url, browser, dashboard, e2e_store, metric_value, page  # noqa: F401

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"needs {CHROMIUM}")]

RUN_MS = 120_000  # a small run from the Start click to its end, with a browser and servers on two cores


@pytest.fixture(scope="module", autouse=True)
def nothing_left_behind(e2e_store):
    """Set up before the module's server, so checked after it has been stopped: no process of the
    store (server, training run) is left."""
    yield
    assert processes_using_store(e2e_store.root) == []


@pytest.fixture
def own_store(tmp_path):
    """A store of the test's own, for servers the test starts and stops; whatever still runs on it
    at the end is stopped, and then nothing of it may be left."""
    store = ModelStore(tmp_path / "store")
    yield store
    stop_training(store)
    assert processes_using_store(store.root) == []


# -- uploads ------------------------------------------------------------------------------------------
IN_THE_BROWSER = {"random bytes", "empty file", "truncated JPEG", "20000x20000", "16-bit grey PNG", "CMYK JPEG",
                  "animated GIF", "pure noise"}


def test_bad_uploads_one_after_another_each_get_an_answer_and_a_good_one_still_predicts(app_url, page):
    from digits.data import load_test

    page.goto(app_url)
    page.get_by_role("tab", name="Upload a photo or scan").click()
    panel = page.get_by_role("tabpanel").filter(has=page.locator('[data-testid="stFileUploader"]'))

    def upload_only(upload: dict) -> None:
        """Remove the file shown and wait until the page has forgotten it, then choose this one (a
        file chosen while the page still redraws for the last one is now and then lost by
        Streamlit's uploader, whatever the app does)."""
        for remove in panel.get_by_role("button", name=re.compile("^Remove ")).all():
            shown = remove.get_attribute("aria-label").removeprefix("Remove ")
            remove.click()
            expect(panel.get_by_text(shown)).to_have_count(0)  # neither its name nor its result is left
        wait_until_app_idle(page)
        panel.locator('input[type="file"]').set_input_files(upload)
        expect(panel.get_by_role("button", name=f"Remove {upload['name']}")).to_be_visible()

    uploads = [(upload, expected) for upload, expected in difficult_uploads()
               if upload["name"].rsplit(".", 1)[0] in IN_THE_BROWSER]
    assert len(uploads) == len(IN_THE_BROWSER)
    for upload, expected in uploads:
        upload_only(upload)
        name = upload["name"]
        if isinstance(expected, str) and expected != NO_DIGIT:
            expect(panel.get_by_text(f"{name} cannot be used:")).to_be_visible()
            expect(panel.locator('[data-testid="stAlertContentError"]')).to_contain_text(re.compile(expected))
            expect(metric_value(panel, "Prediction")).to_have_count(0)
        else:
            expect(panel.get_by_role("paragraph").filter(has_text=re.compile(f"^{re.escape(name)}$"))).to_be_visible()
            if expected == NO_DIGIT:
                expect(panel.get_by_text("No digit found")).to_be_visible()
            else:
                expect(metric_value(panel, "Prediction")).to_have_text(str(expected))
        expect(page.locator('[data-testid="stException"]')).to_have_count(0)

    split = load_test()
    upload_only({"name": "seven.png", "mimeType": "image/png",
                 "buffer": photo_png(split.images[int((split.labels == 7).argmax())])})
    expect(metric_value(panel, "Prediction")).to_have_text("7")


# -- the canvas -------------------------------------------------------------------------------------------
def test_a_click_on_the_canvas_leaves_a_dot_not_a_digit(app_url, page):
    page.goto(app_url)
    canvas = page.locator("canvas.upper-canvas")
    expect(page.get_by_text("Draw a digit")).to_be_visible()
    wait_until_app_idle(page)
    draw_strokes(page, canvas, [[(0.5, 0.5)]])  # press and release at one point: the pen leaves a dot
    page.wait_for_timeout(2000)  # the drawing reaches the server right away; give its run time to finish
    wait_until_app_idle(page)
    expect(metric_value(page, "Prediction")).to_have_count(0)
    expect(page.get_by_text("Draw a digit")).to_be_visible()
    draw_strokes(page, canvas, DIGIT_STROKES[1])
    expect(metric_value(page, "Prediction")).to_have_text("1")


# -- two sessions, one Start ------------------------------------------------------------------------
def test_two_sessions_pressing_start_at_the_same_instant_start_one_run_and_both_show_it(app_url, page, browser,
                                                                                         e2e_store):
    other_context = browser.new_context(viewport={"width": 1400, "height": 1100})
    pages = {"race-a": page, "race-b": other_context.new_page()}
    try:
        for name, session in pages.items():
            session.set_default_timeout(RUN_MS)
            session.goto(f"{app_url}/train")
            fill_training_form(session, epochs=3, subset=2000, name=name)
            session.keyboard.press("Tab")  # the last field commits its value when it loses focus
        # Both clicks at the same moment on the browser's clock, not one after the other.
        at = page.evaluate("Date.now()") + 1500
        for session in pages.values():
            session.get_by_role("button", name="Start", exact=True).evaluate(
                "(button, at) => setTimeout(() => button.click(), at - Date.now())", at)

        for session in pages.values():
            expect(session.get_by_text(re.compile(r"^Run race-[ab]: running$"))).to_be_visible()
        started = [name for name in pages if (e2e_store.runs_dir / name).is_dir()]
        assert len(started) == 1, started
        winner, loser = started[0], next(name for name in pages if name not in started)
        assert read_lock(e2e_store)["run_id"] == winner
        for session in pages.values():
            expect(session.get_by_text(f"Run {winner}: running")).to_be_visible()
        expect(pages[loser].get_by_text(f"Run {winner} is already in progress")).to_be_visible()

        pages[loser].get_by_role("button", name="Stop").click()  # either session can stop the shared run
        for session in pages.values():
            expect(session.get_by_text(f"Run {winner}: cancelled")).to_be_visible()
    finally:
        stop_training(e2e_store)
        other_context.close()


# -- the server restarted during a run ------------------------------------------------------------------
def start_run_from_the_train_page(page, url: str, store, name: str, epochs: int) -> int:
    """Start a run from the browser; returns its training process id once the page shows it running."""
    page.goto(f"{url}/train")
    fill_training_form(page, epochs=epochs, subset=2000, name=name)
    page.get_by_role("button", name="Start", exact=True).click()
    expect(page.get_by_text(f"Run {name}: running")).to_be_visible()
    return int(read_lock(store)["pid"])


def test_the_train_page_tells_the_truth_after_the_server_restarts(page, own_store):
    page.set_default_timeout(RUN_MS)
    servers = []

    def restart(label: str) -> str:
        if servers:
            stop_process_group(servers[-1])  # a run is its own process group: it goes on
        url, server = start_dashboard(own_store, f"restart-{label}.log")
        servers.append(server)
        return url

    try:
        # A run survives the server it was started from; the next server follows it to its end.
        url = restart("first")
        survivor = start_run_from_the_train_page(page, url, own_store, "survivor", epochs=3)
        url = restart("second")
        assert pid_alive(survivor), "the run died with the server"
        assert "done" not in [event["event"] for event in read_events(own_store.runs_dir / "survivor")], \
            "the run ended before the server was back: make it longer"
        page.goto(f"{url}/train")
        expect(page.get_by_text("Run survivor: running")).to_be_visible()
        expect(page.locator('[data-testid="stProgress"]')).to_be_visible()
        expect(page.get_by_text("Run survivor: finished")).to_be_visible()
        assert "survivor" in own_store.ids()

        # A run killed while no server is up is shown as interrupted, and a new run can start.
        victim = start_run_from_the_train_page(page, url, own_store, "victim", epochs=20)
        stop_process_group(servers[-1])
        os.killpg(victim, signal.SIGKILL)
        url = restart("third")
        assert not pid_alive(victim)
        page.goto(f"{url}/train")
        expect(page.get_by_text("Run victim: interrupted")).to_be_visible()
        expect(page.get_by_text("a new run can start")).to_be_visible()
        start_run_from_the_train_page(page, url, own_store, "after", epochs=20)
        page.get_by_role("button", name="Stop").click()
        expect(page.get_by_text("Run after: cancelled")).to_be_visible()
        assert own_store.ids() == ["default", "default-number", "survivor"]
    finally:
        stop_training(own_store)
        for server in servers:
            stop_process_group(server)


def test_concurrent_sessions_drawing_at_once_all_get_the_digit_they_drew(app_url):
    """The load script's sessions (Streamlit's own websocket protocol, as a browser speaks it),
    scaled down: 8 sessions, 3 drawings each, all at once against the module's server."""
    import asyncio
    import concurrent.futures

    from bench.load import user

    async def crowd():
        return await asyncio.gather(*(user(app_url, i, rounds=3, pause=0.1) for i in range(8)))

    # Its own thread: this module's sync Playwright already runs an event loop in this one.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        results = pool.submit(asyncio.run, crowd()).result(timeout=300)
    assert [error for result in results for error in result.errors] == []
    assert sum(len(result.latencies) for result in results) == 8 * 3
