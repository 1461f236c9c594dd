"""In a real browser: draw a digit, say what it really is, and find the sample on the Samples page
(`streamlit run` on a free port and its own store, Playwright driving Debian's chromium)."""

from __future__ import annotations

import os

import pytest

from dashboard_helpers import (CHROMIUM, CHROMIUM_ARGS, DIGIT_STROKES, dashboard_server, draw_strokes,
                               save_screenshot, wait_until_app_idle)

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"needs {CHROMIUM}")]
WAIT_MS = 60_000


@pytest.fixture
def app_url(store, request):
    with dashboard_server(store, f"{request.module.__name__}-streamlit.log") as url:
        yield url


def test_a_drawn_digit_corrected_on_the_predict_page_appears_on_the_samples_page(app_url, store, request):
    from digits.samples import DB_NAME, SampleStore

    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_context(viewport={"width": 1400, "height": 1100}).new_page()
        page.set_default_timeout(WAIT_MS)
        expect.set_options(timeout=WAIT_MS)
        try:
            page.goto(app_url)
            canvas = page.locator("canvas.upper-canvas")
            wait_until_app_idle(page)
            draw_strokes(page, canvas, DIGIT_STROKES[7])
            prediction = page.locator('[data-testid="stMetric"]').filter(has_text="Prediction")
            expect(prediction.locator('[data-testid="stMetricValue"]')).to_have_text("7")
            writer = page.get_by_role("textbox", name="Whose hand is it?").first
            writer.fill("Ann")
            writer.press("Enter")
            wait_until_app_idle(page)
            wrong = page.locator('[data-testid="stButtonGroup"]').filter(has_text="Wrong, it is…")
            expect(wrong.get_by_role("radio")).to_have_text([str(d) for d in range(10) if d != 7])
            wrong.get_by_role("radio", name="1", exact=True).click()  # it was a 1, not a 7
            expect(page.get_by_text("Saved a 1 for Ann: 1 sample of Ann's hand so far.")).to_be_visible()
            expect(page.get_by_text("Saved as sample #1 with the label 1")).to_be_visible()
            [sample] = SampleStore(store.root / DB_NAME).find()
            assert (sample.label, sample.predicted, sample.writer, sample.source) == ("1", "7", "Ann", "canvas")

            page.get_by_role("link", name="Samples").click()
            expect(page.get_by_text("#1 · 1 · read as 7 · Ann")).to_be_visible()
            expect(page.locator('[data-testid="stMetric"]').filter(has_text="Mis-read when saved")
                   .locator('[data-testid="stMetricValue"]')).to_have_text("1")
        except BaseException:
            save_screenshot(page, request.node.name)
            raise
        finally:
            browser.close()
