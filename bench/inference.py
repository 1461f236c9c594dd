"""Inference benchmarks: one drawn digit (the Predict page's path), and a full test-set evaluation."""

from __future__ import annotations

import time

import numpy as np
from PIL import Image, ImageDraw


def canvas_drawing() -> np.ndarray:
    """A '7' as the canvas returns it: RGBA uint8 [280, 280, 4], white strokes on transparent."""
    image = Image.new("RGBA", (280, 280), (0, 0, 0, 0))
    ImageDraw.Draw(image).line([(70, 60), (210, 60), (120, 230)], fill=(255, 255, 255, 255), width=20,
                               joint="curve")
    return np.asarray(image)


def percentiles(seconds: list[float]) -> dict:
    ms = np.array(seconds) * 1000
    return {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)), "calls": len(ms)}


def single_prediction(predictor, model, calls: int = 1000, baseline_calls: int = 100) -> dict:
    """Preparation + model for one canvas drawing: the Predict page's predictor against
    `model.predict` on the same network (the Keras model)."""
    from digits.preprocessing import prepare

    drawing = canvas_drawing()
    for _ in range(20):  # warm up both paths
        predictor.predict_prepared(prepare(drawing))
        model.predict(prepare(drawing)[None, ..., None], verbose=0)
    project, baseline = [], []
    for _ in range(calls):
        t = time.perf_counter()
        predictor.predict_prepared(prepare(drawing))
        project.append(time.perf_counter() - t)
    for _ in range(baseline_calls):
        t = time.perf_counter()
        model.predict(prepare(drawing)[None, ..., None], verbose=0)
        baseline.append(time.perf_counter() - t)
    return {"project": percentiles(project), "baseline": percentiles(baseline)}


def full_evaluation(predictor, model, test, repeats: int = 5) -> dict:
    """Predictions, confusion matrix and per-class metrics on the 10,000 test images.
    Baseline: `model.predict` on the whole array, then the same metrics."""
    from digits.evaluation import Evaluation, evaluate

    def project():
        result = evaluate(predictor, test.images, test.labels)
        return result.report()

    def baseline():
        probabilities = model.predict(test.images[..., None].astype("float32") / 255, verbose=0)
        return Evaluation(test.labels.astype(np.int64), probabilities).report()

    timings = {}
    for name, run in (("project", project), ("baseline", baseline)):
        run()  # warm-up
        seconds = []
        for _ in range(repeats):
            t = time.perf_counter()
            report = run()
            seconds.append(time.perf_counter() - t)
        timings[name] = {"seconds": float(np.median(seconds)), "accuracy": report["accuracy"]}
    return timings
