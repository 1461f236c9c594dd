"""20 concurrent sessions drawing and predicting against one dashboard server, on loopback.

    python bench/load.py [--sessions 20] [--rounds 10] [--pause 0.5]

Bounded: a fixed number of sessions, each sending a fixed number of drawings with a pause in
between, a time limit per prediction; it stops by itself and stops the server.

Each simulated user is a Streamlit session driven over the app's own websocket protocol, exactly
what the browser sends when a stroke ends: a rerun with the canvas widget's new value (its
drawing as a PNG). The round trip is from that message to the "Prediction" metric arriving, and
an answer counts as right only if it names the digit drawn. This loads the *server* with 20
sessions; 20 headless chromium pages on the same two cores would measure mostly the browsers
(tried: they alone saturate the machine). One real chromium page draws with the mouse during the
load, so the latency a person sees under that load is measured too.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import os
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from bench.dashboard import NO_PREDICTION_JS, PREDICTION_JS, draw, peak_rss_mb  # noqa: E402
from dashboard_helpers import (CHROMIUM, CHROMIUM_ARGS, DIGIT_STROKES, drawn_rgba, free_port,  # noqa: E402
                               start_server, stop_process_group, wait_until_app_idle, wait_until_healthy)

TIMEOUT_S = 60  # per prediction


@dataclass
class SessionResult:
    latencies: list[float] = field(default_factory=list)   # seconds, right answers only
    errors: list[str] = field(default_factory=list)


def canvas_value(digit: int, jitter: int) -> str:
    """The canvas widget's value after drawing `digit`, as the component sends it (JSON)."""
    strokes = [[(x + 0.01 * jitter, y) for x, y in stroke] for stroke in DIGIT_STROKES[digit]]
    buffer = io.BytesIO()
    Image.fromarray(drawn_rgba(strokes)).save(buffer, format="PNG")
    data_url = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    return json.dumps({"drawing": {"raw": {"objects": [], "background": "#000000"}, "data": data_url}})


class Session:
    """One Streamlit session over the websocket: rerun the script, read what it renders."""

    def __init__(self, websocket):
        self.websocket = websocket
        self.page_hash = ""
        self.canvas_id: str | None = None

    async def rerun(self, widgets: dict[str, str] | None = None) -> dict:
        """Rerun with these canvas values; -> {'prediction', 'seconds', 'problems'} once the script ends."""
        from streamlit.proto.BackMsg_pb2 import BackMsg
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        message = BackMsg()
        message.rerun_script.page_script_hash = self.page_hash
        for widget_id, value in (widgets or {}).items():
            state = message.rerun_script.widget_states.widgets.add()
            state.id, state.json_value = widget_id, value
        sent = time.perf_counter()
        await self.websocket.send(message.SerializeToString())
        result = {"prediction": None, "seconds": None, "problems": []}
        while True:
            forward = ForwardMsg()
            forward.ParseFromString(await self.websocket.recv())
            kind = forward.WhichOneof("type")
            if kind == "navigation" and not self.page_hash:
                self.page_hash = next(p.page_script_hash for p in forward.navigation.app_pages if p.is_default)
            elif kind == "delta" and forward.delta.WhichOneof("type") == "new_element":
                self._read_element(forward.delta.new_element, result, sent)
            elif kind == "script_finished":
                if forward.script_finished != ForwardMsg.FINISHED_SUCCESSFULLY:
                    result["problems"].append(f"script ended with status {forward.script_finished}")
                return result

    def _read_element(self, element, result: dict, sent: float) -> None:
        kind = element.WhichOneof("type")
        if kind == "bidi_component" and "canvas" in element.bidi_component.id:
            self.canvas_id = element.bidi_component.id
        elif kind == "metric" and element.metric.label == "Prediction":
            result["prediction"], result["seconds"] = element.metric.body, time.perf_counter() - sent
        elif kind == "exception":
            result["problems"].append(f"exception: {element.exception.message}")
        elif kind == "alert" and element.alert.format == element.alert.ERROR:
            result["problems"].append(f"error shown: {element.alert.body}")


async def user(url: str, index: int, rounds: int, pause: float) -> SessionResult:
    import websockets

    result = SessionResult()
    digits = list(DIGIT_STROKES)
    try:
        async with websockets.connect(url.replace("http", "ws") + "/_stcore/stream", subprotocols=["streamlit"],
                                      origin=url, max_size=None) as websocket:
            session = Session(websocket)
            await asyncio.wait_for(session.rerun(), TIMEOUT_S)  # the page opens
            if session.canvas_id is None:
                return SessionResult(errors=[f"session {index}: the Predict page shows no canvas"])
            for round_ in range(rounds):
                digit = digits[(index + round_) % len(digits)]
                try:
                    answer = await asyncio.wait_for(
                        session.rerun({session.canvas_id: canvas_value(digit, round_ % 5)}), TIMEOUT_S)
                except TimeoutError:
                    result.errors.append(f"session {index} round {round_}: no answer within {TIMEOUT_S} s")
                    break  # the session's socket is mid-message: it cannot go on
                if answer["problems"] or answer["prediction"] != str(digit):
                    result.errors.append(f"session {index} round {round_}: drew {digit}, got "
                                         f"{answer['prediction']!r} {'; '.join(answer['problems'])}")
                else:
                    result.latencies.append(answer["seconds"])
                await asyncio.sleep(pause)
    except Exception as err:  # noqa: BLE001 - counted and reported
        result.errors.append(f"session {index}: {type(err).__name__}: {str(err)[:160]}")
    return result


def browser_observer(url: str, ready: threading.Event, stop: threading.Event, result: SessionResult) -> None:
    """A person at a real browser during the load: draw, wait for the right digit, clear, repeat.
    `ready` is set once the page shows its canvas; it draws until `stop` is set."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        page.goto(url)
        canvas = page.locator("canvas.upper-canvas")
        canvas.wait_for(timeout=TIMEOUT_S * 1000)
        wait_until_app_idle(page)
        ready.set()
        digits, i = list(DIGIT_STROKES), 0
        while not stop.is_set():
            digit = digits[i % len(digits)]
            try:
                released = draw(page, canvas, DIGIT_STROKES[digit])
                page.wait_for_function(PREDICTION_JS, arg=[digit], timeout=TIMEOUT_S * 1000, polling="raf")
                result.latencies.append(time.perf_counter() - released)
                page.get_by_role("button", name="Clear").click()
                page.wait_for_function(NO_PREDICTION_JS, timeout=TIMEOUT_S * 1000, polling="raf")
                wait_until_app_idle(page)
            except Exception as err:  # noqa: BLE001 - counted and reported
                result.errors.append(f"browser stroke {i} ({digit}): {type(err).__name__}: {str(err)[:120]}")
                break
            i += 1
        browser.close()


def percentiles_ms(seconds: list[float]) -> tuple[float, float]:
    if not seconds:
        return float("nan"), float("nan")
    ms = np.array(seconds) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 95))


def run(sessions: int, rounds: int, pause: float) -> dict:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as store:
        server = start_server(port, {**os.environ, "DIGITS_STORE": store, "TF_CPP_MIN_LOG_LEVEL": "2"},
                              Path(store) / "server.log")
        try:
            wait_until_healthy(url, server)
            asyncio.run(user(url, -1, 1, 0))  # load the model once before the crowd arrives
            ready, stop, observed = threading.Event(), threading.Event(), SessionResult()
            observer = threading.Thread(target=browser_observer, args=(url, ready, stop, observed))
            observer.start()
            if not ready.wait(TIMEOUT_S):
                observed.errors.append("the browser page showed no canvas")
            started = time.perf_counter()

            async def crowd():
                return await asyncio.gather(*(user(url, i, rounds, pause) for i in range(sessions)))

            results = asyncio.run(crowd())
            wall = time.perf_counter() - started
            stop.set()
            observer.join()
            rss = peak_rss_mb(server.pid)
        finally:
            stop_process_group(server)
    latencies = [x for r in results for x in r.latencies]
    return {"sessions": sessions, "right": len(latencies), "expected": sessions * rounds,
            "errors": [e for r in results for e in r.errors] + observed.errors,
            "p50_p95_ms": percentiles_ms(latencies), "wall_s": wall, "rate": len(latencies) / wall,
            "browser_strokes": len(observed.latencies), "browser_p50_p95_ms": percentiles_ms(observed.latencies),
            "server_peak_rss_mb": rss}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=20, help="concurrent sessions")
    parser.add_argument("--rounds", type=int, default=10, help="drawings each session sends")
    parser.add_argument("--pause", type=float, default=0.5, help="seconds between a session's drawings")
    args = parser.parse_args()
    r = run(args.sessions, args.rounds, args.pause)
    for error in r["errors"]:
        print(error, file=sys.stderr)
    p50, p95 = r["p50_p95_ms"]
    b50, b95 = r["browser_p50_p95_ms"]
    print(f"{r['sessions']} sessions: {r['right']}/{r['expected']} predictions right, {len(r['errors'])} errors; "
          f"round trip p50 {p50:.0f} ms, p95 {p95:.0f} ms; {r['rate']:.1f} predictions/s over {r['wall_s']:.0f} s")
    print(f"a browser drawing meanwhile: {r['browser_strokes']} strokes, stroke to prediction shown "
          f"p50 {b50:.0f} ms, p95 {b95:.0f} ms")
    print(f"server peak RSS {r['server_peak_rss_mb']:.0f} MB")
    sys.exit(1 if r["errors"] or r["right"] < r["expected"] else 0)


if __name__ == "__main__":
    main()
