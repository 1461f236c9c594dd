"""More ways to give the Predict page a digit, in a real browser (Debian's chromium through
Playwright, a real `streamlit run` server): a finger on a touch screen, and a camera (chromium's
fake camera, playing a video of a digit written on paper)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from dashboard_helpers import CHROMIUM, CHROMIUM_ARGS, DIGIT_STROKES, settled_box, wait_until_app_idle
from test_e2e_dashboard import (WAIT_MS, app_url, browser, dashboard, e2e_store, expect, metric_value,  # noqa: F401
                                page)

pytestmark = pytest.mark.e2e


def touch_strokes(page, canvas, strokes) -> None:
    """Draw with a finger: touchStart at each stroke's first point, touchMove through the rest,
    touchEnd, as a phone's browser sends them (Chrome DevTools Protocol touch events)."""
    box = settled_box(page, canvas)
    session = page.context.new_cdp_session(page)

    def touch(kind: str, point=None) -> None:
        points = [] if point is None else [{"x": box["x"] + point[0] * box["width"],
                                            "y": box["y"] + point[1] * box["height"]}]
        session.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})

    for stroke in strokes:
        touch("touchStart", stroke[0])
        for point in stroke[1:]:
            touch("touchMove", point)
        touch("touchEnd")


def test_a_digit_drawn_with_a_finger_on_a_touch_screen_is_read(app_url, browser):
    context = browser.new_context(viewport={"width": 900, "height": 1400}, has_touch=True, is_mobile=True,
                                  device_scale_factor=2)
    try:
        page = context.new_page()
        page.set_default_timeout(WAIT_MS)
        page.goto(app_url)
        expect(page.get_by_text("Draw a digit")).to_be_visible()
        wait_until_app_idle(page)
        touch_strokes(page, page.locator("canvas.upper-canvas"), DIGIT_STROKES[7])
        expect(metric_value(page, "Prediction")).to_have_text("7")
    finally:
        context.close()


def digit_video(path, digit_image: np.ndarray, width: int = 640, height: int = 480, frames: int = 10) -> None:
    """A Y4M video (what chromium's fake camera plays) of a dark digit on light paper."""
    paper = Image.new("L", (width, height), 225)
    ink = Image.fromarray(255 - digit_image).resize((240, 240), Image.Resampling.BILINEAR)
    paper.paste(ink.point(lambda v: 225 * v // 255 + 20), ((width - 240) // 2, (height - 240) // 2))
    luma = np.asarray(paper, np.uint8).tobytes()
    chroma = bytes([128]) * (width // 2 * height // 2)
    with open(path, "wb") as handle:
        handle.write(f"YUV4MPEG2 W{width} H{height} F15:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            handle.write(b"FRAME\n" + luma + chroma + chroma)


def test_a_photo_from_the_camera_is_read(app_url, browser, tmp_path):
    from digits.data import load_test

    split = load_test()
    video = tmp_path / "digit.y4m"
    digit_video(video, split.images[int(np.flatnonzero(split.labels == 3)[0])])
    # A second chromium of the same Playwright, with a fake camera playing the video.
    camera_browser = browser.browser_type.launch(executable_path=CHROMIUM, args=[
        *CHROMIUM_ARGS, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={video}"])
    try:
        context = camera_browser.new_context(viewport={"width": 1400, "height": 1100})
        context.grant_permissions(["camera"], origin=app_url)
        page = context.new_page()
        page.set_default_timeout(WAIT_MS)
        page.goto(app_url)
        wait_until_app_idle(page)
        page.get_by_role("tab", name="Camera").click()  # the tabs are lazy: this reruns the page
        page.get_by_text("Turn the camera on").click()
        panel = page.get_by_role("tabpanel").filter(has=page.locator('[data-testid="stCameraInput"]'))
        take = panel.get_by_role("button", name="Take Photo")
        expect(take).to_be_enabled()
        wait_until_app_idle(page)
        page.wait_for_timeout(1500)  # the fake camera's stream starts
        take.click()
        expect(metric_value(panel, "Prediction")).to_have_text("3")
    finally:
        camera_browser.close()


def test_the_canvas_toolbar_leaves_the_tab_labels_visible(app_url, page):
    """The canvas component's toolbar (undo, redo, reset) floats above the canvas on hover: it
    covered the 'Upload' tab label."""
    page.goto(app_url)
    canvas = page.locator("canvas.upper-canvas")
    expect(page.get_by_text("Draw a digit")).to_be_visible()
    wait_until_app_idle(page)
    settled_box(page, canvas)
    canvas.hover()
    toolbar = page.get_by_role("button", name="Undo")
    expect(toolbar).to_be_visible()
    undo = settled_box(page, toolbar)  # it slides into place
    tabs = page.get_by_role("tab", name="Upload a photo or scan").bounding_box()
    assert undo["y"] >= tabs["y"] + tabs["height"], (undo, tabs)
