"""The shipped default on the real 10,000 MNIST test images."""

from __future__ import annotations

import pytest

from digits.evaluation import evaluate
from digits.store import ModelStore
from digits.variants import VARIANTS, variant_accuracy, variant_inputs

pytestmark = pytest.mark.slow


def test_shipped_default_reaches_99_6_percent_on_the_test_set(mnist, shipped_predictor):
    result = evaluate(shipped_predictor, mnist.test.images, mnist.test.labels)
    assert len(result.labels) == 10_000
    assert result.accuracy >= 0.996, f"test accuracy {result.accuracy:.4f}"  # issue 11
    # meta.json tells the truth about the weights beside it.
    assert ModelStore().meta("default")["test"]["accuracy"] == pytest.approx(result.accuracy, abs=1e-4)


def test_single_prediction_does_not_use_model_predict(shipped_predictor, mnist, monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("model.predict is too slow for one image")

    monkeypatch.setattr(shipped_predictor.model, "predict", forbidden)
    prediction = shipped_predictor.predict(mnist.test.images[0])
    assert prediction.digit == mnist.test.labels[0] and prediction.confidence > 0.9


def test_the_folded_inference_model_computes_the_same_function(mnist):
    import numpy as np

    from digits.model import all_layers
    from digits.predict import inference_model

    model = ModelStore().load("default")
    folded = inference_model(model)
    assert not any("batch_normalization" in layer.name or "dropout" in layer.name for layer in all_layers(folded))
    x = mnist.test.images[:256, ..., None].astype("float32") / 255
    np.testing.assert_allclose(folded(x, training=False), model(x, training=False), atol=1e-5)


# Issue 11's targets, on all 10,000 test images of each variant: 99% on every variant, 98.5% on
# the 16x16 scan (README, "Real handwriting"). All of them, not a subset: the first 2,000 test
# images are harder than the rest (the committee reads thin strokes at 98.45% there and 99.07% on
# all 10,000), so a subset would need floors of its own.
TARGETS = {"16x16 scan": 0.985}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_shipped_default_reads_every_variant_with_the_projects_preparation(variant, mnist, shipped_predictor):
    """Issues 5 and 11's targets, on real test images: the accuracy on each variant (crops, scans,
    photos, paper as well as polarity, colour, pens, rotation), and never a "no digit". The
    table is `python bench/ablation.py`'s (README)."""
    inputs, empty = variant_inputs(variant, mnist.test.images, "prepared")
    result = variant_accuracy(shipped_predictor, inputs, empty, mnist.test.labels)
    assert result["no_digit"] == 0, f"{variant}: {result}"
    assert result["accuracy"] >= TARGETS.get(variant, 0.99), f"{variant}: {result}"
