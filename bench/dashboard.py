"""Dashboard timings in a real browser: start-up to first prediction, and the stroke round trip.

A fresh `streamlit run dashboard/app.py` on a free loopback port, Debian's chromium driven by
Playwright. First prediction: from starting the server process to the "Prediction" metric showing
the digit just drawn. Round trip: from releasing the mouse at the end of a stroke to the new
"Prediction" value in the page, over digits drawn one after another (cleared in between).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from dashboard_helpers import (CHROMIUM, CHROMIUM_ARGS, DIGIT_STROKES, draw_strokes, free_port,  # noqa: E402
                               start_server, stop_process_group, wait_until_app_idle, wait_until_healthy)

PREDICTION_JS = """([digit]) => {
  const metric = [...document.querySelectorAll('[data-testid="stMetric"]')]
    .find(m => m.innerText.includes('Prediction'));
  const value = metric && metric.querySelector('[data-testid="stMetricValue"]');
  return value && (digit === null || value.innerText.trim() === String(digit)) && value.innerText.trim();
}"""


NO_PREDICTION_JS = ("() => ![...document.querySelectorAll('[data-testid=\"stMetric\"]')]"
                    ".some(m => m.innerText.includes('Prediction'))")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def draw(page, canvas, strokes) -> float:
    """Draw the strokes; returns the moment the mouse was released at the end of the last one."""
    draw_strokes(page, canvas, strokes)
    return time.perf_counter()


def measure(strokes: int = 21) -> dict:
    from playwright.sync_api import sync_playwright

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as store:
        env = {**os.environ, "DIGITS_STORE": store, "TF_CPP_MIN_LOG_LEVEL": "2"}
        started = time.perf_counter()
        server = start_server(port, env, Path(store) / "server.log")
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                wait_until_healthy(url, server)
                page = browser.new_page(viewport={"width": 1400, "height": 1100})
                page.goto(url)
                canvas = page.locator("canvas.upper-canvas")
                canvas.wait_for(timeout=60_000)
                draw(page, canvas, DIGIT_STROKES[1])
                page.wait_for_function(PREDICTION_JS, arg=[1], timeout=60_000, polling="raf")
                first_prediction = time.perf_counter() - started

                round_trips, wrong = [], 0
                digits = list(DIGIT_STROKES)
                for i in range(strokes):
                    digit = digits[i % len(digits)]
                    page.get_by_role("button", name="Clear").click()
                    page.wait_for_function(NO_PREDICTION_JS, timeout=30_000, polling="raf")
                    wait_until_app_idle(page)
                    released = draw(page, canvas, DIGIT_STROKES[digit])
                    shown = page.wait_for_function(PREDICTION_JS, arg=[None], timeout=30_000, polling="raf")
                    round_trips.append(time.perf_counter() - released)
                    wrong += shown.json_value() != str(digit)
                rss = peak_rss_mb(server.pid)  # the Predict page needs LiteRT only
                # The Evaluate page loads TensorFlow, the Keras model and the test set.
                page.goto(f"{url}/evaluate")
                page.locator('[role="figure"][aria-label="Confusion matrix"]').first.wait_for(timeout=120_000)
                browser.close()
            rss_evaluate = peak_rss_mb(server.pid)
        finally:
            stop_process_group(server)
    ms = np.array(round_trips) * 1000
    return {"first_prediction_s": first_prediction, "strokes": len(ms), "wrong_digit": wrong,
            "round_trip_p50_ms": float(np.percentile(ms, 50)), "round_trip_p95_ms": float(np.percentile(ms, 95)),
            "server_peak_rss_mb": rss, "server_peak_rss_after_evaluate_mb": rss_evaluate}


if __name__ == "__main__":
    print(measure())
