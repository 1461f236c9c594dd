"""The samples database under load: saving one sample as the Predict page does (server side), and
the Samples page opening with 5,000 samples (server side through AppTest, and in a real browser).

    python bench/samples_db.py        # ~1 min

Targets (issue 12): a save <= 50 ms; the Samples page with 5,000 samples open in <= 2 s.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from bench.writer import samples as writer_samples  # noqa: E402

SAMPLES = 5_000
SAVES = 200
RESULTS = ROOT / "bench" / "results" / "samples_db.json"


def canvas_of(image) -> np.ndarray:
    """A writer's sample as the 280x280 RGBA canvas delivers a drawing (white ink on black)."""
    from PIL import ImageOps

    grey = ImageOps.invert(image.convert("L")).resize((280, 280))
    rgba = np.zeros((280, 280, 4), np.uint8)
    rgba[..., :3] = np.asarray(grey)[..., None]
    rgba[..., 3] = 255
    return rgba


def fill(store, canvases, inputs, labels) -> None:
    writers = ["me", "ann", "bob", "carol", "dan"]
    rows = [dict(image=canvases[i % len(canvases)], label=str(labels[i % len(labels)]),
                 model_input=inputs[i % len(inputs)], predicted=str((labels[i % len(labels)] + i % 7 // 6) % 10),
                 confidence=0.9, model_version="default", source="canvas", writer=writers[i % len(writers)])
            for i in range(SAMPLES)]
    for start in range(0, SAMPLES, 500):
        store.add_many(rows[start:start + 500])


def time_saves(store, canvases, inputs, labels) -> list[float]:
    """What a press of 'Wrong, it is…' costs the server: validate, encode the canvas as PNG, insert
    in one transaction, count the writer's samples for the toast."""
    from digits.samples import check_label, check_writer

    times = []
    for i in range(SAVES):
        started = time.perf_counter()
        label, writer = check_label(str(labels[i % len(labels)]), digit_only=True), check_writer("me")
        store.add(canvases[i % len(canvases)], label, inputs[i % len(inputs)], predicted="1", confidence=0.7,
                  model_version="default", source="canvas", writer=writer)
        store.count(writer)
        times.append((time.perf_counter() - started) * 1000)
    return times


def time_page_server_side(root: Path, runs: int = 5) -> list[float]:
    from streamlit.testing.v1 import AppTest

    os.environ["DIGITS_STORE"] = str(root)
    times = []
    for _ in range(runs):
        app = AppTest.from_file(str(ROOT / "dashboard" / "app.py"), default_timeout=60)
        app.switch_page("app_pages/samples.py")
        started = time.perf_counter()
        app.run()
        times.append(time.perf_counter() - started)
        assert not app.exception and len(app.get("image")) > 0
    return times


def time_pages_in_browser(root: Path, runs: int = 5) -> dict[str, list[float]]:
    """Seconds from navigating to a page until it is drawn and its script has finished: the
    Samples page (24 images shown), and as the baseline of the same run the Models page (its
    table shown), which reads nothing but a few small JSON files."""
    from dashboard_helpers import CHROMIUM, CHROMIUM_ARGS, dashboard_server
    from digits.store import ModelStore
    from playwright.sync_api import sync_playwright

    ready = {"samples": lambda page: page.locator('[data-testid="stImage"] img').nth(23),
             "models": lambda page: page.locator('.digits-table table').first}
    times = {name: [] for name in ready}
    with dashboard_server(ModelStore(root), "bench-samples-streamlit.log") as url:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for run in range(runs + 1):  # the first visits warm the server's imports: not counted
                for name, locate in ready.items():
                    page = browser.new_context(viewport={"width": 1400, "height": 1100}).new_page()
                    started = time.perf_counter()
                    page.goto(f"{url}/{name}")
                    locate(page).wait_for(timeout=60_000)
                    page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]').wait_for(timeout=60_000)
                    if run:
                        times[name].append(time.perf_counter() - started)
                    page.context.close()
            browser.close()
    return times


def main() -> None:
    from digits.preprocessing import prepare
    from digits.samples import DB_NAME, SampleStore

    given = writer_samples(5, seed=3)
    canvases = [canvas_of(image) for _, image in given]
    inputs = [prepare(canvas) for canvas in canvases]
    labels = [digit for digit, _ in given]
    root = Path(tempfile.mkdtemp(prefix="bench-samples-"))
    store = SampleStore(root / DB_NAME)
    load = os.getloadavg()[0]
    started = time.perf_counter()
    fill(store, canvases, inputs, labels)
    fill_seconds = time.perf_counter() - started
    saves = time_saves(store, canvases, inputs, labels)
    server = time_page_server_side(root)
    browser = time_pages_in_browser(root)
    result = {
        "load_before": round(load, 2), "samples": store.count(), "fill_seconds": round(fill_seconds, 2),
        "save_ms": {"p50": statistics.median(saves), "p95": float(np.percentile(saves, 95)), "calls": SAVES},
        "page_server_seconds": {"median": statistics.median(server), "runs": server},
        "page_browser_seconds": {name: {"median": statistics.median(runs), "runs": runs}
                                 for name, runs in browser.items()},
    }
    print(json.dumps(result, indent=2))
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
