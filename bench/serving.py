"""Serving benchmarks of issue 15, each against its baseline in the same run.

  pages       first visit of every page (median of VISITS, alternating) and the server's peak
              RSS, this code against the code before issue 15 (commit BASE_COMMIT, checked out
              into a temporary git worktree), each on its own store: the shipped default, then
              a freshly trained version
  store       a store of 1,000 versions against one of 1: stroke round trip in Chromium, the
              Models page's first visit, `python -m digits models`
  evaluate    `python -m digits evaluate --json` as a whole process against a ten-line Keras
              script (load the model, model.predict on the 10,000 test images), median of 3
  modes       the stroke round trip of the Predict page's Number mode (wide canvas, number
              reader) against its Digit mode, two sessions of one server, strokes alternating
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from bench.dashboard import NO_PREDICTION_JS, PREDICTION_JS, draw, peak_rss_mb  # noqa: E402
from dashboard_helpers import (CHROMIUM, CHROMIUM_ARGS, DIGIT_STROKES, free_port, number_strokes,  # noqa: E402
                               start_server, stop_process_group, wait_until_app_idle, wait_until_healthy)

BASE_COMMIT = "ac6f4bb"  # main before issue 15: TensorFlow on the Evaluate page, no index, no fragment
REPEATS = 3

KERAS_SCRIPT = """
import gzip, sys, numpy as np, keras
with gzip.open(sys.argv[2]) as f:
    images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28, 1)
with gzip.open(sys.argv[3]) as f:
    labels = np.frombuffer(f.read(), np.uint8, offset=8)
model = keras.saving.load_model(sys.argv[1], compile=False)
probabilities = model.predict(images.astype("float32") / 255, verbose=0)
print((probabilities.argmax(axis=1) == labels).mean())
"""

PAGE_READY = {  # what shows that a page's first view is complete: every one of these shown
    "predict": ('canvas.upper-canvas',),
    "train": ('button:has-text("Start")',),
    # The confusion matrix (a grid of clickable cells) and the first tab: the misclassified images.
    "evaluate": ('[role="figure"][aria-label="Confusion matrix"] [data-cell="9,4"]',
                 '[role="tabpanel"] [data-testid="stImage"]'),
    # The versions table and the chosen version's first tab: its summary (the charts are in other tabs).
    "models": ('.digits-table table', '[data-testid="stMetric"]:has-text("Training time")'),
}
# The same for the code before issue 15 (BASE_COMMIT), whose pages showed every section at once:
# the last section of each.
BASE_PAGE_READY = {**PAGE_READY, "evaluate": ('.js-plotly-plot:has-text("thick strokes")',),
                   "models": ('button:has-text("Download .keras")',)}


def timed_process(command: list[str], env: dict | None = None, cwd: Path = ROOT) -> float:
    return timed_process_cpu(command, env, cwd)[0]


def timed_process_cpu(command: list[str], env: dict | None = None, cwd: Path = ROOT) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of a child process: on a loaded machine its CPU time says what
    the command itself costs, its wall time what a user waited."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, capture_output=True, env={**os.environ, **(env or {})})
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


# -- evaluate as a whole process -------------------------------------------------------------------
def evaluate_process() -> dict:
    from digits.data import locate

    data_dir = locate()
    model = ROOT / "model_store" / "default" / "model.keras"
    keras_cmd = [sys.executable, "-c", KERAS_SCRIPT, str(model), str(data_dir / "t10k-images-idx3-ubyte.gz"),
                 str(data_dir / "t10k-labels-idx1-ubyte.gz")]
    project_cmd = [sys.executable, "-m", "digits", "evaluate", "--json"]
    with tempfile.TemporaryDirectory() as store:
        cold_store = Path(store)
        times = {"keras": [], "project": [], "project_cold": []}
        for _ in range(REPEATS):  # interleaved: a stall of the machine hits all three alike
            times["keras"].append(timed_process(keras_cmd))
            times["project"].append(timed_process(project_cmd))
            # Cold: a copy of the default without its kept results (LiteRT evaluates and writes them).
            shutil.rmtree(cold_store / "copy", ignore_errors=True)
            shutil.copytree(ROOT / "model_store" / "default", cold_store / "copy")
            (cold_store / "copy" / "results.npz").unlink(missing_ok=True)
            times["project_cold"].append(timed_process(project_cmd + ["--model", "copy"],
                                                       env={"DIGITS_STORE": store}))
    return {name: statistics.median(values) for name, values in times.items()} | {"all": times}


# -- a server and a browser ------------------------------------------------------------------------
class Dashboard:
    """`streamlit run dashboard/app.py` of the code in `code_root` on `store`, and a Chromium."""

    def __init__(self, code_root: Path, store: Path, playwright):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = store / f"server-{self.port}.log"
        env = {**os.environ, "DIGITS_STORE": str(store), "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(code_root)}
        self.server = _start(code_root, self.port, env, self.log)
        self.browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        wait_until_healthy(self.url, self.server)

    def first_visit(self, page_name: str, ready: dict = PAGE_READY) -> float:
        """Seconds from opening the page in a new session to its first view shown (`ready`'s
        elements for that page)."""
        page = self.browser.new_page(viewport={"width": 1400, "height": 1100})
        started = time.perf_counter()
        page.goto(f"{self.url}/{'' if page_name == 'predict' else page_name}")
        for selector in ready[page_name]:
            page.locator(selector).first.wait_for(timeout=300_000)
        wait_until_app_idle(page, 300_000)
        seconds = time.perf_counter() - started
        page.close()
        return seconds

    def canvas_page(self):
        """A Predict page with one digit drawn and predicted (the session warmed up)."""
        page = self.browser.new_page(viewport={"width": 1400, "height": 1100})
        page.goto(self.url)
        canvas = page.locator("canvas.upper-canvas")
        canvas.wait_for(timeout=60_000)
        draw(page, canvas, DIGIT_STROKES[1])
        page.wait_for_function(PREDICTION_JS, arg=[1], timeout=60_000, polling="raf")
        return page, canvas

    @staticmethod
    def round_trip(page, canvas, strokes, shown_js: str = PREDICTION_JS, gone_js: str = NO_PREDICTION_JS
                   ) -> tuple[float, str]:
        """Clear, draw `strokes`: seconds from the mouse released to the new result shown (a
        Prediction by default; `shown_js` and `gone_js` tell another result and its absence), and
        the result shown."""
        page.get_by_role("button", name="Clear").click()
        page.wait_for_function(gone_js, timeout=30_000, polling="raf")
        wait_until_app_idle(page)
        released = draw(page, canvas, strokes)
        shown = page.wait_for_function(shown_js, arg=[None], timeout=30_000, polling="raf")
        return time.perf_counter() - released, shown.json_value()

    def close(self) -> float:
        """Stop both; the server's peak RSS in MB."""
        rss = peak_rss_mb(self.server.pid)
        self.browser.close()
        stop_process_group(self.server)
        return rss


def _start(code_root: Path, port: int, env: dict, log_path: Path) -> subprocess.Popen:
    if code_root == ROOT:
        return start_server(port, env, log_path)
    return subprocess.Popen(  # the same command as start_server, in the other checkout
        [sys.executable, "-m", "streamlit", "run", "dashboard/app.py", "--server.port", str(port),
         "--server.headless", "true", "--server.fileWatcherType", "none"],
        cwd=code_root, env=env, stdout=open(log_path, "wb"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        start_new_session=True)


def fresh_version(code_root: Path, store: Path, name: str) -> None:
    """A freshly trained version (fast preset, 2,000 images, 1 epoch), made the active one."""
    subprocess.run([sys.executable, "train.py", "--preset", "fast", "--limit", "2000", "--epochs", "1",
                    "--name", name, "--activate"], cwd=code_root, check=True, capture_output=True,
                   env={**os.environ, "DIGITS_STORE": str(store), "PYTHONPATH": str(code_root)})


# -- first visits and memory: this code against the code before ----------------------------------------
VISITS = 5  # first visits of each page per code base: the median is reported


def page_visits(visits: int = VISITS) -> dict:
    """Both code bases served at once, each on its own store; their first visits (a new browser
    session each) alternate page by page, so the machine's load hits both alike. Per code base
    and page the seconds of each visit, the first on the server's cold caches; then peak RSS."""
    from playwright.sync_api import sync_playwright

    labels = ("base", "project")
    times = {label: {} for label in labels}
    with tempfile.TemporaryDirectory() as scratch, sync_playwright() as playwright:
        base = Path(scratch) / "base"
        subprocess.run(["git", "worktree", "add", "--detach", str(base), BASE_COMMIT], cwd=ROOT, check=True,
                       capture_output=True)
        os.symlink(ROOT.parent / "shared", base.parent / "shared") if not (base.parent / "shared").exists() else None
        roots, dashboards = {"base": base, "project": ROOT}, {}
        try:
            for label in labels:
                (Path(scratch) / f"store-{label}").mkdir()
                dashboards[label] = Dashboard(roots[label], Path(scratch) / f"store-{label}", playwright)
            ready = {"base": BASE_PAGE_READY, "project": PAGE_READY}

            def visit_all(pages: dict[str, str]) -> None:  # shown name -> page
                for _ in range(visits):
                    for name, page in pages.items():
                        for label in labels:
                            times[label].setdefault(name, []).append(dashboards[label].first_visit(page, ready[label]))

            visit_all({name: name for name in ("predict", "train", "evaluate", "models")})
            for label in labels:  # active now: the Evaluate page's default
                fresh_version(roots[label], Path(scratch) / f"store-{label}", "fresh")
            visit_all({"evaluate (fresh version)": "evaluate"})
        finally:
            for label, dashboard in dashboards.items():
                times[label]["peak RSS MB"] = [dashboard.close()]
            subprocess.run(["git", "worktree", "remove", "--force", str(base)], cwd=ROOT, capture_output=True)
    return times


# -- 1 version against 1,000 -------------------------------------------------------------------------
def fill_store(store: Path, versions: int) -> None:
    """`versions` copies of the shipped default (hard links; their own meta.json each)."""
    source = ROOT / "model_store" / "default"
    meta = json.loads((source / "meta.json").read_text())
    store.mkdir(parents=True, exist_ok=True)
    for i in range(versions):
        folder = store / f"v{i:04d}"
        folder.mkdir(parents=True)
        for name in ("model.keras", "model.tflite", "results.npz"):
            os.link(source / name, folder / name)
        created = time.strftime("%Y-%m-%dT%H:%M:%S+0000", time.gmtime(1.79e9 + 60 * i))
        (folder / "meta.json").write_text(json.dumps({**meta, "id": folder.name, "created": created}))


def store_size(strokes: int = 21) -> dict:
    """Both stores served at once; their strokes alternate, so the machine's load hits both alike."""
    from playwright.sync_api import sync_playwright

    results, dashboards, pages = {}, {}, {}
    with tempfile.TemporaryDirectory() as scratch, sync_playwright() as playwright:
        try:
            for versions in (1, 1000):
                store = Path(scratch) / f"store-{versions}"
                fill_store(store, versions - 1)  # and the shipped default
                cli = [timed_process_cpu([sys.executable, "-m", "digits", "models"], env={"DIGITS_STORE": str(store)})
                       for _ in range(REPEATS)]
                dashboards[versions] = Dashboard(ROOT, store, playwright)
                dashboards[versions].first_visit("predict")  # the server's own warm-up
                results[versions] = {"cli_s": statistics.median(wall for wall, _ in cli),
                                     "cli_cpu_s": statistics.median(cpu for _, cpu in cli),
                                     "models_page_s": dashboards[versions].first_visit("models"), "trips": []}
                pages[versions] = dashboards[versions].canvas_page()
            digits = list(DIGIT_STROKES)
            for i in range(strokes):
                for versions in (1, 1000):
                    seconds, _ = Dashboard.round_trip(*pages[versions], DIGIT_STROKES[digits[i % len(digits)]])
                    results[versions]["trips"].append(seconds)
        finally:
            for versions, dashboard in dashboards.items():
                results[versions]["peak_rss_mb"] = dashboard.close()
    for result in results.values():
        trips = np.array(result.pop("trips")) * 1000
        result.update(round_trip_p50_ms=float(np.percentile(trips, 50)),
                      round_trip_p95_ms=float(np.percentile(trips, 95)))
    return results


if __name__ == "__main__":
    which = sys.argv[1:] or ["evaluate", "store", "pages"]
    for name in which:
        print(name, json.dumps({"evaluate": evaluate_process, "store": store_size, "pages": page_visits}[name](),
                               indent=1), flush=True)


# -- Number mode against Digit mode ------------------------------------------------------------------
NUMBER_SHOWN_JS = """([text]) => {
  const shown = document.querySelector('[data-testid="number-read"]');
  return shown && (text === null || shown.innerText.trim() === text) && shown.innerText.trim();
}"""
NO_NUMBER_JS = "() => !document.querySelector('[data-testid=\"number-read\"]')"
ONE_STROKE_DIGITS = ("0", "1", "7")   # a number of one stroke: a round trip is one send, as in Digit mode


def number_page(dashboard: Dashboard):
    """A Predict page in Number mode with one number drawn and read (the session warmed up)."""
    page = dashboard.browser.new_page(viewport={"width": 1400, "height": 1100})
    page.goto(dashboard.url)
    page.get_by_text("Number", exact=True).first.click()
    page.get_by_text("Write a number").wait_for(timeout=60_000)
    wait_until_app_idle(page)
    canvas = page.locator("canvas.upper-canvas")
    draw(page, canvas, number_strokes("7"))
    page.wait_for_function(NUMBER_SHOWN_JS, arg=[None], timeout=60_000, polling="raf")
    return page, canvas


def mode_round_trips(strokes: int = 21) -> dict:
    """One server (the shipped models), a Digit-mode and a Number-mode session; their strokes
    alternate, so the machine's load hits both alike. Milliseconds of each round trip per mode."""
    from playwright.sync_api import sync_playwright

    trips, read_right = {"digit": [], "number": []}, 0
    with tempfile.TemporaryDirectory() as store, sync_playwright() as playwright:
        dashboard = Dashboard(ROOT, Path(store), playwright)
        try:
            digit_page, number_canvas_page = dashboard.canvas_page(), number_page(dashboard)
            digits = list(DIGIT_STROKES)
            for i in range(strokes):
                seconds, _ = Dashboard.round_trip(*digit_page, DIGIT_STROKES[digits[i % len(digits)]])
                trips["digit"].append(1000 * seconds)
                text = ONE_STROKE_DIGITS[i % len(ONE_STROKE_DIGITS)]
                seconds, shown = Dashboard.round_trip(*number_canvas_page, number_strokes(text), NUMBER_SHOWN_JS,
                                                      NO_NUMBER_JS)
                trips["number"].append(1000 * seconds)
                read_right += int(shown == text)
        finally:
            dashboard.close()
    return trips | {"number_read_right": read_right}
