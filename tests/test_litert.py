"""model.tflite beside model.keras: the same function, run by LiteRT without TensorFlow, checked by
its digest and that of the model.keras it came from; an export that is missing, damaged or stale is
written again by `python -m digits export` in a child process, so serving never imports TensorFlow."""

from __future__ import annotations

import io
import json
import warnings
import zipfile

import numpy as np
import pytest

from conftest import run_python
from digits.predict import LitePredictor, Predictor, version_predictor
from digits.store import ModelStore

NO_TENSORFLOW_PREDICTION = """
import sys
from digits.data import load_test
from digits.predict import version_predictor
from digits.store import ModelStore
predictor = version_predictor(ModelStore(), "default")
test = load_test()
right = sum(predictor.predict(test.images[i]).digit == test.labels[i] for i in range(100))
batch = int((predictor.probabilities(test.images[:2500] / 255.0).argmax(axis=1) == test.labels[:2500]).sum())
print(type(predictor).__name__, right, batch, "tensorflow" in sys.modules, "keras" in sys.modules)
"""

PREDICT_PAGE_WITHOUT_TENSORFLOW = """
import sys
from streamlit.testing.v1 import AppTest
app = AppTest.from_file("dashboard/app.py", default_timeout=60).run()
assert not app.exception, app.exception
print([m.value for m in app.info][:1], "tensorflow" in sys.modules)
"""


def test_the_shipped_default_has_an_export_that_computes_the_same_function(mnist, shipped_predictor):
    """shipped_predictor: the Keras model through TensorFlow; the export must agree, batched or not."""
    flatbuffer = ModelStore().tflite("default")
    assert flatbuffer is not None, "model_store/default/model.tflite is missing or does not match meta.json"
    meta = ModelStore().meta("default")
    assert set(meta["tflite"]) == {"sha256", "keras_sha256"}
    lite = LitePredictor(flatbuffer)
    images = mnist.test.images[:300].astype(np.float32) / 255
    np.testing.assert_allclose(lite.probabilities(images), shipped_predictor.probabilities(images), atol=1e-5)
    single = np.concatenate([lite.probabilities(image[None]) for image in images[:20]])
    np.testing.assert_allclose(single, lite.probabilities(images)[:20], atol=1e-5)
    assert lite.predict(mnist.test.images[0]).digit == mnist.test.labels[0]


def test_predicting_from_the_export_never_imports_tensorflow():
    result = run_python("-c", NO_TENSORFLOW_PREDICTION)
    assert result.returncode == 0, result.stderr[-2000:]
    kind, right, batch, tensorflow, keras = result.stdout.split()
    assert kind == "LitePredictor" and int(right) >= 98 and int(batch) >= 2475
    assert tensorflow == "False" and keras == "False", "TensorFlow was imported to predict one image"


def test_the_predict_page_opens_without_importing_tensorflow():
    result = run_python("-c", PREDICT_PAGE_WITHOUT_TENSORFLOW)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Draw a digit" in result.stdout
    assert result.stdout.strip().endswith("False"), "the Predict page imported TensorFlow"


def rezipped(archive: bytes) -> bytes:
    """The same Keras archive, every member recompressed: loads the same, other bytes."""
    source, out = zipfile.ZipFile(io.BytesIO(archive)), io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as target:
        for member in source.namelist():
            target.writestr(member, source.read(member))
    return out.getvalue()


@pytest.mark.parametrize("damage", ["flipped bytes", "truncated", "no digests", "missing", "model.keras replaced"])
def test_a_damaged_or_unmatched_export_is_not_served(store, copied_default, damage):
    folder = store.root / copied_default
    target = folder / "model.tflite"
    flatbuffer = target.read_bytes()
    if damage == "flipped bytes":
        target.write_bytes(flatbuffer[:5000] + bytes(b ^ 0xFF for b in flatbuffer[5000:5100]) + flatbuffer[5100:])
    elif damage == "truncated":
        target.write_bytes(flatbuffer[:len(flatbuffer) // 2])
    elif damage == "no digests":
        meta = json.loads((folder / "meta.json").read_text())
        del meta["tflite"]
        (folder / "meta.json").write_text(json.dumps(meta))
    elif damage == "missing":
        target.unlink()
    else:  # an intact export of a model.keras that is no longer there
        (folder / "model.keras").write_bytes(rezipped((folder / "model.keras").read_bytes()))
    assert store.tflite(copied_default) is None


def test_a_stale_export_is_written_again_in_a_child_process_and_then_served(store, copied_default, mnist):
    folder = store.root / copied_default
    (folder / "model.keras").write_bytes(rezipped((folder / "model.keras").read_bytes()))
    assert store.tflite(copied_default) is None
    predictor = version_predictor(store, copied_default)
    assert isinstance(predictor, LitePredictor)
    assert store.tflite(copied_default) == predictor.flatbuffer, "the new export was not kept"
    assert [predictor.predict(image).digit for image in mnist.test.images[:10]] == list(mnist.test.labels[:10])


def test_an_export_litert_refuses_is_reported_not_served(store, copied_default, monkeypatch):
    from digits.store import StoreError

    def broken(self, flatbuffer):
        raise ValueError("Model provided has model identifier 'xxxx', should be 'TFL3'")

    monkeypatch.setattr(LitePredictor, "__init__", broken)
    monkeypatch.setattr("digits.predict.export_in_child", lambda store, version: None)  # exported "again"
    with warnings.catch_warnings(record=True) as caught, pytest.raises(StoreError, match="LiteRT cannot run"):
        warnings.simplefilter("always")
        version_predictor(store, copied_default)
    assert any("model.tflite is unusable" in str(w.message) for w in caught)


def test_export_gives_a_version_saved_without_one_its_model_tflite(store, copied_default, mnist):
    (store.root / copied_default / "model.tflite").unlink()
    assert store.tflite(copied_default) is None
    result = run_python("-m", "digits", "export", "--model", copied_default)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "model.tflite" in result.stdout
    flatbuffer = store.tflite(copied_default)
    assert flatbuffer is not None
    images = mnist.test.images[:50].astype(np.float32) / 255
    np.testing.assert_allclose(LitePredictor(flatbuffer).probabilities(images),
                               LitePredictor(ModelStore().tflite("default")).probabilities(images), atol=1e-6)
    assert isinstance(version_predictor(store, copied_default), LitePredictor)


def test_export_of_an_unknown_version_says_so(store):
    result = run_python("-m", "digits", "export", "--model", "nope")
    assert result.returncode == 1 and "unknown version 'nope'" in result.stderr
