"""`python -m digits`: predict, evaluate, models."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from conftest import run_python
from test_preprocessing import drawn_seven
from test_store import fake_version


@pytest.fixture
def images(tmp_path):
    seven = tmp_path / "seven.png"
    drawn_seven(ink=(20, 20, 120), paper=(255, 240, 200)).save(seven)  # blue pen on cream paper
    jpeg = tmp_path / "seven.jpg"
    drawn_seven().save(jpeg, quality=80)
    blank = tmp_path / "blank.png"
    Image.new("L", (64, 64), 255).save(blank)
    broken = tmp_path / "broken.png"
    broken.write_bytes(seven.read_bytes()[:200])
    return seven, jpeg, blank, broken


def test_predict_json_gives_one_object_per_file_and_fails_only_the_bad_file(store, images):
    seven, jpeg, blank, broken = images
    result = run_python("-m", "digits", "predict", str(seven), str(broken), str(jpeg), str(blank), "--json")
    assert result.returncode == 1  # one file was bad
    rows = json.loads(result.stdout)
    assert [r["file"] for r in rows] == [str(seven), str(broken), str(jpeg), str(blank)]
    for row in (rows[0], rows[2]):
        assert row["digit"] == 7 and row["error"] is None
        assert len(row["probabilities"]) == 10 and abs(sum(row["probabilities"]) - 1) < 1e-3
        assert row["confidence"] == max(row["probabilities"])
    assert rows[1]["digit"] is None and "damaged or truncated" in rows[1]["error"]
    assert rows[3] == {"file": str(blank), "digit": None, "confidence": 0.0, "probabilities": None, "error": None,
                       "several_digits": False}


def test_predict_text_output(store, images):
    seven, *_ = images
    result = run_python("-m", "digits", "predict", str(seven))
    assert result.returncode == 0 and result.stdout.startswith(f"{seven}: 7 (")
    assert result.stderr == "", "LiteRT's XNNPACK line (or anything else) on stderr"
    assert "XNNPACK" in run_python("-m", "digits", "predict", str(seven), "--verbose").stderr


def test_predict_with_an_unknown_or_invalid_model_says_so(store, images):
    seven, *_ = images
    for model, message in (("nope", "unknown version 'nope'"), ("../x", "invalid version id")):
        result = run_python("-m", "digits", "predict", str(seven), "--model", model)
        assert result.returncode == 1 and message in result.stderr


def test_models_list_activate_delete(store):
    fake_version(store, "mine", meta={"preset": "seed", "test": {"accuracy": 0.995}})
    fake_version(store, "broken", model=b"")
    listed = json.loads(run_python("-m", "digits", "models", "--json").stdout)
    assert {r["id"]: (r["active"], r["broken"]) for r in listed} == {
        "default": (True, False), "default-number": (True, False), "mine": (False, False), "broken": (False, True)}

    assert run_python("-m", "digits", "models", "activate", "mine").returncode == 0
    assert store.active() == "mine"
    text = run_python("-m", "digits", "models").stdout
    assert "* mine" in text and "BROKEN" in text

    refused = run_python("-m", "digits", "models", "delete", "default")
    assert refused.returncode == 1 and "shipped default cannot be deleted" in refused.stderr
    assert run_python("-m", "digits", "models", "delete", "mine").returncode == 0
    assert store.active() == "default" and "mine" not in store.ids()


@pytest.mark.slow
def test_evaluate_json_reports_the_shipped_default(store):
    result = run_python("-m", "digits", "evaluate", "--json")
    assert result.returncode == 0, result.stderr
    assert "cuInit" not in result.stderr and "cuda drivers" not in result.stderr, result.stderr
    report = json.loads(result.stdout)
    assert report["version"] == "default" and report["images"] == 10_000
    assert report["accuracy"] >= 0.995
    assert len(report["per_class"]) == 10 and sum(sum(r) for r in report["confusion"]) == 10_000
    assert len(report["misclassified"]) == round((1 - report["accuracy"]) * 10_000)
    assert set(report["confusion_4_9"]) == {"4->9", "9->4"}


def test_activating_a_clearly_worse_version_needs_force_and_says_why(store):
    fake_version(store, "quick", meta={"preset": "strong", "test": {"accuracy": 0.28}})
    fake_version(store, "close", meta={"preset": "seed", "test": {"accuracy": 0.9912}})
    refused = run_python("-m", "digits", "models", "activate", "quick")
    assert refused.returncode == 1 and store.active() == "default"
    assert "28.00% test accuracy" in refused.stderr and "below the active default" in refused.stderr
    assert "--force" in refused.stderr
    assert run_python("-m", "digits", "models", "activate", "quick", "--force").returncode == 0
    assert store.active() == "quick"
    # Less than a point below the active one (or better): no question asked.
    assert run_python("-m", "digits", "models", "activate", "close").returncode == 0
    assert store.active() == "close"


def number_image(split, digits_of_number: str, gap: int = 3, scale: int = 3) -> Image.Image:
    """MNIST test digits side by side, cropped to their ink, `gap` pixels apart: a handwritten number."""
    import numpy as np

    parts = []
    for digit in digits_of_number:
        image = split.images[int(np.flatnonzero(split.labels == int(digit))[0])]
        columns = np.flatnonzero(image.max(axis=0) > 60)
        parts += [image[:, columns[0]:columns[-1] + 1], np.zeros((28, gap), np.uint8)]
    number = np.pad(np.concatenate(parts, axis=1), 8)
    return Image.fromarray(255 - np.kron(number, np.ones((scale, scale), np.uint8)))  # dark ink on white


def test_a_multi_digit_image_gets_a_hint_to_read_it_as_a_number(store, images, tmp_path):
    from digits.data import load_test

    number = tmp_path / "2024.png"
    number_image(load_test(), "2024").save(number)
    seven, *_ = images
    result = run_python("-m", "digits", "predict", str(number), str(seven))
    assert result.returncode == 0
    number_line, seven_line = result.stdout.splitlines()
    assert "several digits" in number_line and "digits read" in number_line
    assert "several digits" not in seven_line
    rows = json.loads(run_python("-m", "digits", "predict", str(number), str(seven), "--json").stdout)
    assert [row["several_digits"] for row in rows] == [True, False]
