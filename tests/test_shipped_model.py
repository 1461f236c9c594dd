"""The shipped default on the real 10,000 MNIST test images."""

from __future__ import annotations

import pytest

from digits.evaluation import evaluate
from digits.store import ModelStore

pytestmark = pytest.mark.slow


def test_shipped_default_reaches_99_5_percent_on_the_test_set(mnist, shipped_predictor):
    result = evaluate(shipped_predictor, mnist.test.images, mnist.test.labels)
    assert len(result.labels) == 10_000
    assert result.accuracy >= 0.995, f"test accuracy {result.accuracy:.4f}"
    # meta.json tells the truth about the weights beside it.
    assert ModelStore().meta("default")["test"]["accuracy"] == pytest.approx(result.accuracy, abs=1e-4)


def test_single_prediction_does_not_use_model_predict(shipped_predictor, mnist, monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("model.predict is too slow for one image")

    monkeypatch.setattr(shipped_predictor.model, "predict", forbidden)
    prediction = shipped_predictor.predict(mnist.test.images[0])
    assert prediction.digit == mnist.test.labels[0] and prediction.confidence > 0.9
