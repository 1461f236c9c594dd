"""20 concurrent sessions drawing and predicting against one dashboard server, on loopback.

    python bench/load.py [--sessions 20] [--rounds 5]

Bounded: a fixed number of sessions, each drawing a fixed number of digits, with a time limit per
prediction; it stops by itself and stops the server. One headless chromium, one browser context
(= one Streamlit session) per simulated user, all drawing at once. Reports errors, the round
trip from releasing the mouse to the right "Prediction" shown (p50/p95), and the server's memory.
Note that the 20 browser pages run on the same 2 cores as the server, so the latencies include
the browsers' own rendering.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from bench.dashboard import NO_PREDICTION_JS, PREDICTION_JS, peak_rss_mb  # noqa: E402
from dashboard_helpers import (CHROMIUM, CHROMIUM_ARGS, DIGIT_STROKES, free_port, start_server,  # noqa: E402
                               stop_process_group, wait_until_healthy)

async def draw(page, canvas, strokes) -> float:
    box = await canvas.bounding_box()
    for stroke in strokes:
        await page.mouse.move(box["x"] + stroke[0][0] * box["width"], box["y"] + stroke[0][1] * box["height"])
        await page.mouse.down()
        for x, y in stroke[1:]:
            await page.mouse.move(box["x"] + x * box["width"], box["y"] + y * box["height"])
        await page.mouse.up()
    return time.perf_counter()


async def user(browser, url: str, index: int, rounds: int) -> tuple[list[float], list[str]]:
    latencies, errors = [], []
    context = await browser.new_context(viewport={"width": 1300, "height": 1000})
    try:
        page = await context.new_page()
        await page.goto(url)
        canvas = page.locator("canvas.upper-canvas")
        await canvas.wait_for(timeout=120_000)
        digits = list(DIGIT_STROKES)
        for round_ in range(rounds):
            digit = digits[(index + round_) % len(digits)]
            try:
                if round_:
                    await page.get_by_role("button", name="Clear").click()
                    await page.wait_for_function(NO_PREDICTION_JS, timeout=60_000)
                    await page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]').wait_for()
                    await page.wait_for_timeout(300)  # the new canvas settles where the old one was
                released = await draw(page, canvas, DIGIT_STROKES[digit])
                await page.wait_for_function(PREDICTION_JS, arg=[digit], timeout=60_000)
                latencies.append(time.perf_counter() - released)
            except Exception as err:  # noqa: BLE001 - counted and reported, the run goes on
                errors.append(f"session {index} round {round_}: {type(err).__name__}: {str(err)[:120]}")
        if await page.locator('[data-testid="stException"]').count():
            errors.append(f"session {index}: the page shows an exception")
    finally:
        await context.close()
    return latencies, errors


async def run(sessions: int, rounds: int) -> dict:
    from playwright.async_api import async_playwright

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as store:
        server = start_server(port, {**os.environ, "DIGITS_STORE": store, "TF_CPP_MIN_LOG_LEVEL": "2"},
                              Path(store) / "server.log")
        try:
            wait_until_healthy(url, server)
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                warm = await browser.new_page()  # load the model once before the crowd arrives
                await warm.goto(url)
                await warm.locator("canvas.upper-canvas").wait_for(timeout=120_000)
                await warm.close()
                started = time.perf_counter()
                results = await asyncio.gather(*(user(browser, url, i, rounds) for i in range(sessions)))
                wall = time.perf_counter() - started
                await browser.close()
            rss = peak_rss_mb(server.pid)
        finally:
            stop_process_group(server)
    latencies = np.array([x for lat, _ in results for x in lat]) * 1000
    errors = [e for _, errs in results for e in errs]
    return {"sessions": sessions, "predictions": len(latencies), "expected": sessions * rounds,
            "errors": errors, "p50_ms": float(np.percentile(latencies, 50)) if len(latencies) else None,
            "p95_ms": float(np.percentile(latencies, 95)) if len(latencies) else None,
            "wall_s": wall, "server_peak_rss_mb": rss}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=20, help="concurrent browser sessions")
    parser.add_argument("--rounds", type=int, default=5, help="digits each session draws")
    args = parser.parse_args()
    result = asyncio.run(run(args.sessions, args.rounds))
    for error in result["errors"]:
        print(error, file=sys.stderr)
    print(f"{result['sessions']} sessions, {result['predictions']}/{result['expected']} predictions right, "
          f"{len(result['errors'])} errors; round trip p50 {result['p50_ms']:.0f} ms, p95 {result['p95_ms']:.0f} ms; "
          f"{result['wall_s']:.0f} s; server peak RSS {result['server_peak_rss_mb']:.0f} MB")
    sys.exit(1 if result["errors"] or result["predictions"] < result["expected"] else 0)


if __name__ == "__main__":
    main()
