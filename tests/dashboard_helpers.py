"""Helpers for the dashboard tests: digit images as the canvas and a camera deliver them, a real
`streamlit run` server in its own process group, and mouse strokes that draw digits."""

from __future__ import annotations

import contextlib
import functools
import io
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
CANVAS_SIDE = 280


# -- images ------------------------------------------------------------------------------------
def canvas_rgba(mnist_image: np.ndarray, side: int = CANVAS_SIDE) -> np.ndarray:
    """A 28x28 MNIST digit as the drawing canvas returns it: RGBA uint8, white ink on opaque black."""
    grey = np.asarray(Image.fromarray(mnist_image).resize((side, side), Image.Resampling.BILINEAR))
    rgba = np.empty((side, side, 4), np.uint8)
    rgba[..., :3] = grey[..., None]
    rgba[..., 3] = 255
    return rgba


def blank_canvas(side: int = CANVAS_SIDE) -> np.ndarray:
    rgba = np.zeros((side, side, 4), np.uint8)
    rgba[..., 3] = 255
    return rgba


def photo_png(mnist_image: np.ndarray, paper=(236, 228, 200), ink=(30, 30, 60), side: int = 300) -> bytes:
    """A 28x28 MNIST digit as a photo of dark ink on light coloured paper, PNG-encoded."""
    alpha = np.asarray(Image.fromarray(mnist_image).resize((side, side), Image.Resampling.BILINEAR),
                       np.float32)[..., None] / 255.0
    pixels = np.array(paper, np.float32) * (1 - alpha) + np.array(ink, np.float32) * alpha
    buffer = io.BytesIO()
    Image.fromarray(pixels.round().astype(np.uint8), "RGB").save(buffer, format="PNG")
    return buffer.getvalue()


def drawn_rgba(strokes, width: int = 20, side: int = CANVAS_SIDE) -> np.ndarray:
    """Strokes (lists of points, fractions of the side) drawn as the canvas draws them: white ink on
    opaque black, a round pen `width` pixels wide, so a stroke of one point is a dot."""
    image = Image.new("RGBA", (side, side), (0, 0, 0, 255))
    draw = ImageDraw.Draw(image)
    for stroke in strokes:
        points = [(x * side, y * side) for x, y in stroke]
        draw.line(points, fill=(255, 255, 255, 255), width=width, joint="curve")
        for x, y in (points[0], points[-1]):
            draw.ellipse([x - width / 2, y - width / 2, x + width / 2, y + width / 2], fill=(255, 255, 255, 255))
    return np.asarray(image)


def drawn_seven_rgba(side: int = CANVAS_SIDE, width: int = 22) -> np.ndarray:
    """A 7 drawn with two thick lines, as a user would on the canvas."""
    return drawn_rgba([[(0.25, 0.2), (0.75, 0.2), (0.42, 0.85)]], width, side)


def as_upload(name: str, raw: bytes) -> dict:
    """A file as a browser uploads it: named and typed for its format (PNG when none can be read)."""
    try:
        kind = Image.open(io.BytesIO(raw)).format
    except Exception:  # noqa: BLE001 - unreadable on purpose
        kind = "PNG"
    return {"name": f"{name}.{'jpg' if kind == 'JPEG' else kind.lower()}", "mimeType": Image.MIME[kind], "buffer": raw}


NO_DIGIT = "no digit"


@functools.cache
def difficult_uploads() -> list[tuple[dict, object]]:
    """Every difficult file of the bad-input tests as an upload, with what the Predict page must show
    for it: a digit, NO_DIGIT, or a pattern its error message matches."""
    from test_bad_input import NO_DIGIT_IMAGES, UNREADABLE_FILES, UNUSUAL_SEVENS
    from test_preprocessing import encoded

    bomb = encoded(Image.new("1", (20000, 20000)), "PNG")  # 48 KB that would decode to 400 megapixels
    return [*[(as_upload(name, raw), "not an image|damaged or truncated") for name, raw in UNREADABLE_FILES],
            (as_upload("20000x20000", bomb), "too (large|many pixels)"),
            *[(as_upload(name, make()), 7) for name, make in UNUSUAL_SEVENS],
            *[(as_upload(name, encoded(Image.fromarray(image), "PNG")), NO_DIGIT) for name, image in NO_DIGIT_IMAGES]]


# -- mouse strokes (fractions of the canvas side), for the browser test ------------------------
def line(start: tuple[float, float], end: tuple[float, float], steps: int = 25) -> list[tuple[float, float]]:
    return [(start[0] + (end[0] - start[0]) * t, start[1] + (end[1] - start[1]) * t)
            for t in np.linspace(0, 1, steps)]


def ellipse(centre=(0.5, 0.5), radii=(0.22, 0.33), steps: int = 72) -> list[tuple[float, float]]:
    return [(centre[0] + radii[0] * np.sin(a), centre[1] - radii[1] * np.cos(a))
            for a in np.linspace(0, 2 * np.pi * 1.04, steps)]


DIGIT_STROKES = {  # each digit: its strokes, each stroke a list of points the mouse passes
    1: [line((0.5, 0.14), (0.5, 0.86))],
    0: [ellipse()],
    7: [line((0.24, 0.18), (0.76, 0.18), 15) + line((0.76, 0.18), (0.42, 0.86), 25)[1:]],
}


class FakeCanvas:
    """Stands in for a drawing canvas in page tests: `image` is what the next run of the page 'draws'."""

    def __init__(self):
        self.image = None
        self.calls: list[dict] = []

    def __call__(self, stroke_width, key):
        self.calls.append({"stroke_width": stroke_width, "key": key})
        return self.image


# -- whole numbers: digits written side by side (digit boxes 0.6 wide, 1 tall) -----------------
def loop(centre=(0.3, 0.5), radii=(0.27, 0.46), steps: int = 48, start: float = 0.0):
    return [(centre[0] + radii[0] * np.sin(a), centre[1] - radii[1] * np.cos(a))
            for a in np.linspace(start, start + 2 * np.pi * 1.04, steps)]


NUMBER_STROKES = {  # strokes of each digit in a box 0.6 wide and 1 tall, points as (x, y)
    "0": [loop()],
    "1": [line((0.32, 0.02), (0.28, 0.98), 15)],
    "2": [[(0.05, 0.25), (0.15, 0.07), (0.33, 0.0), (0.5, 0.07), (0.56, 0.25), (0.45, 0.45), (0.25, 0.68),
           (0.03, 0.97), (0.6, 0.96)]],
    "3": [[(0.05, 0.1), (0.3, 0.0), (0.52, 0.1), (0.52, 0.3), (0.25, 0.46), (0.55, 0.6), (0.57, 0.82),
           (0.35, 0.98), (0.03, 0.9)]],
    "7": [line((0.02, 0.04), (0.58, 0.04), 10) + line((0.58, 0.04), (0.22, 0.98), 15)[1:]],
    # Broken digits: a 4 in two strokes, a 5 whose cap is a separate stroke (not touching).
    "4": [[(0.12, 0.02), (0.03, 0.62), (0.6, 0.62)], line((0.45, 0.25), (0.45, 1.0), 12)],
    "5": [[(0.13, 0.1), (0.1, 0.46), (0.35, 0.38), (0.55, 0.5), (0.57, 0.75), (0.4, 0.96), (0.05, 0.9)],
          line((0.2, 0.0), (0.6, 0.0), 8)],
    # "00" in one stroke: round the first 0, then on into the second without lifting the pen.
    "00": [loop() + loop((0.9, 0.5))[:-2]],
    # Currency signs written by hand before an amount: not digits.
    "€": [[(0.36 + 0.26 * np.sin(a), 0.5 - 0.42 * np.cos(a)) for a in np.linspace(2.3 * np.pi, 0.72 * np.pi, 30)],
          line((0.02, 0.42), (0.4, 0.42), 8), line((0.02, 0.6), (0.36, 0.6), 8)],
    "£": [[(0.5, 0.15), (0.38, 0.02), (0.22, 0.06), (0.18, 0.3), (0.2, 0.7), (0.05, 0.98), (0.55, 0.98)],
          line((0.03, 0.52), (0.4, 0.52), 8)],
}


def number_strokes(text: str, origin=(0.05, 0.2), height: float = 0.6, gap: float = 0.25,
                   aspect: float = 900 / 250):
    """Strokes (fractions of a canvas `aspect` times wider than tall) writing `text` ("00" as one
    stroke), digits `height` tall from `origin`, `gap` digit heights apart."""
    strokes, x = [], origin[0]
    parts = [text[i:i + 2] if text[i:i + 2] == "00" else text[i] for i in range(len(text))]
    i = 0
    while i < len(parts):
        part = parts[i]
        for stroke in NUMBER_STROKES[part]:
            strokes.append([(x + px * height / aspect, origin[1] + py * height) for px, py in stroke])
        width = (1.2 if part == "00" else 0.6) * height / aspect
        x += width + gap * height / aspect
        i += 2 if part == "00" else 1
    return strokes


def drawn_number(text: str, size=(900, 250), pen: int = 14, ink=(255, 255, 255), paper=(0, 0, 0),
                 **layout) -> np.ndarray:
    """`text` written with a round pen on a canvas: RGBA, opaque paper (light on dark by default)."""
    width, height = size
    image = Image.new("RGBA", size, (*paper, 255))
    draw = ImageDraw.Draw(image)
    for stroke in number_strokes(text, aspect=width / height, **layout):
        points = [(x * width, y * height) for x, y in stroke]
        draw.line(points, fill=(*ink, 255), width=pen, joint="curve")
        for x, y in (points[0], points[-1]):
            draw.ellipse([x - pen / 2, y - pen / 2, x + pen / 2, y + pen / 2], fill=(*ink, 255))
    return np.asarray(image)


def turned(image: np.ndarray, degrees: float) -> np.ndarray:
    """The picture (grey or colour) turned anticlockwise by `degrees` about its centre (a number
    written uphill), grown to hold it all, the uncovered corners the paper's median colour."""
    border = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]])      # [B] or [B, C]
    paper = np.median(border, axis=0)
    fill = int(paper) if np.ndim(paper) == 0 else tuple(int(v) for v in paper)
    return np.asarray(Image.fromarray(image).rotate(degrees, resample=Image.Resampling.BILINEAR, expand=True,
                                                    fillcolor=fill))


def digits_on_paper(test_split, strengths: list[float], texture: np.ndarray | None = None,
                    step: int = 30) -> tuple[np.ndarray, list[int]]:
    """MNIST test digits side by side, `step` pixels apart (28 wide each: less makes them touch),
    dark on white paper (a printed `texture` under them), each drawn at its strength of full ink;
    returns the picture and each digit's right edge."""
    digits = [test_split.images[i].astype(np.float32) / 255 for i in range(len(strengths))]
    ink = np.zeros((60, 40 + step * len(digits)), np.float32)
    rights = []
    for i, (digit, strength) in enumerate(zip(digits, strengths)):
        x = 20 + step * i
        ink[16:44, x:x + 28] = np.maximum(ink[16:44, x:x + 28], digit * strength)
        rights.append(x + int(np.flatnonzero(digit.max(axis=0) > 0.3)[-1]) + 1)
    paper = 255 - (0 if texture is None else texture[:ink.shape[0], :ink.shape[1]])
    return np.clip(paper * (1 - ink), 0, 255).astype(np.uint8), rights


# -- a real server -----------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(port: int, env: dict, log_path: Path) -> subprocess.Popen:
    """`streamlit run dashboard/app.py` from the project root, in its own process group."""
    log = open(log_path, "wb")
    return subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "dashboard/app.py", "--server.port", str(port),
         "--server.headless", "true", "--server.fileWatcherType", "none"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        start_new_session=True)


def wait_until_healthy(url: str, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {process.returncode} before it was healthy")
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.read().strip() == b"ok":
                    return
        time.sleep(0.3)
    raise TimeoutError(f"{url}/_stcore/health did not answer 'ok' within {timeout:.0f} s")


def start_dashboard(store, log_name: str) -> tuple[str, subprocess.Popen]:
    """A real dashboard server on a free port and `store`, once it answers: (its URL, its process).
    Its output goes to test-artifacts/<log_name>."""
    ARTIFACTS.mkdir(exist_ok=True)
    port = free_port()
    env = {**os.environ, "DIGITS_STORE": str(store.root), "TF_CPP_MIN_LOG_LEVEL": "2"}
    server = start_server(port, env, ARTIFACTS / log_name)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(url, server)
    except BaseException:
        stop_process_group(server)
        raise
    return url, server


@contextlib.contextmanager
def dashboard_server(store, log_name: str):
    """`start_dashboard` as a context: its URL while the block runs, the server stopped after."""
    url, server = start_dashboard(store, log_name)
    try:
        yield url
    finally:
        stop_process_group(server)


def stop_process_group(process: subprocess.Popen, grace: float = 10) -> None:
    """SIGTERM the whole group (the server and anything it started), SIGKILL what lingers."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(grace)


def stop_training(store, timeout: float = 30) -> None:
    """Cancel a run of this store that is still going, and wait for its process to end (a run is
    its own process group, so stopping the server does not stop it)."""
    from digits.runs import pid_alive, read_lock, stop_run

    holder = read_lock(store)
    if holder is None:
        return
    stop_run(store)
    deadline = time.time() + timeout
    while pid_alive(int(holder["pid"])) and time.time() < deadline:
        time.sleep(0.2)
    if pid_alive(int(holder["pid"])):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(int(holder["pid"]), signal.SIGKILL)


def processes_using_store(root) -> list[int]:
    """The ids of live processes started with DIGITS_STORE=root: servers and training runs of a
    test's store, which must all be gone when the test ends."""
    from digits.runs import pid_alive

    marker = f"DIGITS_STORE={root}".encode()
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        with contextlib.suppress(OSError):
            pid = int(environ.parent.name)
            if pid != os.getpid() and marker in environ.read_bytes().split(b"\0") and pid_alive(pid):
                found.append(pid)
    return found


def wait_for_run_end(store, run_id: str, timeout: float = 180):
    from digits.runs import run_status

    deadline = time.time() + timeout
    while time.time() < deadline:
        status = run_status(store, run_id)
        if not status.active:
            return status
        time.sleep(0.5)
    raise TimeoutError(f"run {run_id} still running after {timeout:.0f} s")


# -- the browser ---------------------------------------------------------------------------------
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def save_screenshot(page, name: str) -> Path:
    """A full-page screenshot in test-artifacts/<name>.png (for a failed browser test)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', name)}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def wait_until_app_idle(page, timeout_ms: float = 60_000) -> None:
    """Until the app's script has finished its run (Streamlit marks it on the app's root element),
    so what is on screen stays where it is."""
    page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]').wait_for(timeout=timeout_ms)


def settled_box(page, locator, timeout: float = 30) -> dict:
    """The element's bounding box once it has stopped moving: after a rerun, a new element can
    appear below the one it replaces for a moment, and a drag there would miss it."""
    deadline = time.time() + timeout
    boxes = []
    while time.time() < deadline:
        boxes = (boxes + [locator.bounding_box()])[-4:]
        if len(boxes) == 4 and boxes[0] is not None and all(box == boxes[0] for box in boxes):
            return boxes[0]
        page.wait_for_timeout(100)
    raise TimeoutError(f"{locator} kept moving: {boxes}")


def fill_training_form(page, epochs: int, subset: int, name: str) -> None:
    """Type a small run's settings into the Train page's form (the preset's other defaults stay)."""
    page.get_by_role("spinbutton", name="Epochs", exact=True).fill(str(epochs))
    page.get_by_role("spinbutton", name="Training subset size", exact=True).fill(str(subset))
    page.get_by_role("textbox", name="Version name (optional)", exact=True).fill(name)


def draw_strokes(page, canvas, strokes) -> None:
    """Draw with the mouse: press at each stroke's first point, move through the rest, release."""
    box = settled_box(page, canvas)

    def at(point):
        return box["x"] + point[0] * box["width"], box["y"] + point[1] * box["height"]

    for stroke in strokes:
        page.mouse.move(*at(stroke[0]))
        page.mouse.down()
        for point in stroke[1:]:
            page.mouse.move(*at(point))
        page.mouse.up()


# -- the Models page in AppTest ------------------------------------------------------------------
class _TableParser(HTMLParser):
    def __init__(self):
        super().__init__()
        self.rows, self.cell = [], None

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self.cell = ""

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.rows[-1].append(self.cell)
            self.cell = None


def versions_table(app) -> list[dict]:
    """The Models page's table of versions (an HTML table, `dashboard.common.html_table`) as one
    dict per row, {column: the cell's text}."""
    [body] = [element.proto.body for element in app.get("html") if 'class="digits-table"' in element.proto.body]
    parser = _TableParser()
    parser.feed(body)
    header, *rows = parser.rows
    return [dict(zip(header, row)) for row in rows]


def popover(app, label: str):
    """The page's popover with this label ("Delete…", "Columns")."""
    return next(element for element in app.get("popover") if element.proto.popover.label == label)
