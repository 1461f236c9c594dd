"""Serving without TensorFlow: results kept per version (and recomputed when the model changes),
the store's index for listings, `evaluate` on LiteRT, and the int8 export for phones."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from conftest import run_python
from digits import results as results_module
from digits.data import load_test
from digits.predict import LitePredictor
from digits.results import RESULTS_FILE, read_results, version_results
from digits.store import SHIPPED_DIR, ModelStore

EVALUATE_WITHOUT_TENSORFLOW = """
import sys
from digits.cli import main
code = main(["evaluate", "--json"] + sys.argv[1:])
print("tensorflow" in sys.modules or "keras" in sys.modules)
sys.exit(code)
"""


@pytest.fixture(scope="module")
def test_split():
    return load_test()


@pytest.fixture
def computed_variants(monkeypatch):
    """The names of the variants computed (not read from a cache) from now on, each on the first
    200 test images (a tenth of the real number, to keep the tests quick)."""
    monkeypatch.setattr(results_module, "ROBUSTNESS_IMAGES", 200)
    computed = []
    original = results_module.variant_result

    def counting(predictor, name, test):
        computed.append(name)
        return original(predictor, name, test)

    monkeypatch.setattr(results_module, "variant_result", counting)
    return computed


def test_the_shipped_default_s_committed_results_match_its_model(test_split, monkeypatch):
    """If this fails, the shipped model changed: `python -m digits evaluate --model default --variants`
    writes its model_store/default/results.npz again (commit it)."""
    from digits.variants import VARIANTS

    monkeypatch.setattr(results_module, "variant_result", lambda *args: pytest.fail(
        "a variant is missing from model_store/default/results.npz: run `python -m digits evaluate --model default "
        "--variants` and commit the file"))
    cached = read_results(ModelStore(), "default")
    assert cached is not None, "model_store/default/results.npz is missing"
    results = version_results(ModelStore(), "default", test_split)
    assert results.model_sha256 == cached.model_sha256, \
        "stale: run `python -m digits evaluate --model default --variants` and commit model_store/default/results.npz"
    assert list(results.variants) == list(VARIANTS)
    meta = ModelStore().meta("default")
    assert results.evaluation.report()["confusion"] == meta["test"]["confusion"]


def test_results_are_computed_once_kept_with_the_model_digest_and_recomputed_when_it_changes(
        store, copied_default, test_split, computed_variants, monkeypatch):
    from digits import variants

    (store.root / copied_default / RESULTS_FILE).unlink()
    first = version_results(store, copied_default, test_split)
    assert computed_variants == list(variants.VARIANTS)
    assert first.evaluation.accuracy == ModelStore().meta("default")["test"]["accuracy"]
    kept = read_results(store, copied_default)
    assert kept.model_sha256 == first.model_sha256
    np.testing.assert_array_equal(kept.evaluation.predictions, first.evaluation.predictions)

    computed_variants.clear()
    version_results(store, copied_default, test_split)
    assert computed_variants == [], "computed again although nothing changed"

    # A variant added to VARIANTS (as issue 11 does) is computed alone and added to the cache.
    monkeypatch.setitem(variants.VARIANTS, "upside down", lambda images, rng: variants.original(images[:, ::-1], rng))
    grown = version_results(store, copied_default, test_split)
    assert computed_variants == ["upside down"] and grown.variants["upside down"]["accuracy"] < 0.5
    assert "upside down" in read_results(store, copied_default).variants

    # Another model behind the same version (here the int8 flatbuffer's digest would differ too):
    # the cache no longer matches its digest and everything is computed again.
    computed_variants.clear()
    cached = read_results(store, copied_default)
    forged = results_module.VersionResults("0" * 64, cached.evaluation, cached.variants)
    store.write_cache(copied_default, RESULTS_FILE, results_module.encode(forged))
    again = version_results(store, copied_default, test_split)
    assert len(computed_variants) == len(variants.VARIANTS) and again.model_sha256 == first.model_sha256


def test_a_damaged_results_file_is_ignored_and_rewritten(store, copied_default, test_split, computed_variants):
    (store.root / copied_default / RESULTS_FILE).write_bytes(b"PK\x03\x04 not an archive")
    assert read_results(store, copied_default) is None
    assert version_results(store, copied_default, test_split).evaluation.accuracy > 0.99
    assert read_results(store, copied_default) is not None


@pytest.mark.parametrize("kept", [True, False], ids=["results kept", "no results kept"])
def test_evaluate_runs_on_litert_without_importing_tensorflow(store, copied_default, kept):
    if not kept:  # LiteRT evaluates the test set and keeps it (the variants are left for the Evaluate page)
        (store.root / copied_default / RESULTS_FILE).unlink()
    result = run_python("-c", EVALUATE_WITHOUT_TENSORFLOW, "--model", copied_default)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout[:result.stdout.rindex("}") + 1])
    assert report["version"] == copied_default
    assert report["accuracy"] == ModelStore().meta("default")["test"]["accuracy"]
    assert result.stdout.strip().splitlines()[-1] == "False", "`python -m digits evaluate` imported TensorFlow"
    assert read_results(store, copied_default).evaluation.accuracy == report["accuracy"]


def test_the_index_lists_like_list_and_follows_saves_deletes_and_exports(store, copied_default, monkeypatch):
    def brief(infos):
        return [(info.id, info.error, info.active, (info.meta or {}).get("test", {}).get("accuracy"))
                for info in infos]

    (store.root / "broken").mkdir()
    assert brief(store.catalog()) == brief(store.list())
    # Read again: no version's files are opened.
    monkeypatch.setattr(type(store), "info", lambda self, version: pytest.fail("meta.json parsed again"))
    assert [info.id for info in store.catalog()] == ["default", "default-number", "broken", "copy"]
    monkeypatch.undo()

    shutil.copytree(SHIPPED_DIR, store.root / "second")
    store.delete(copied_default)
    assert [info.id for info in store.catalog()] == ["default", "default-number", "broken", "second"]
    store.activate("second")
    assert [info.id for info in store.catalog() if info.active] == ["default-number", "second"]  # each task's active version
    store.add_int8("second", b"int8 bytes", {"passed": True})
    assert store.catalog()[-1].meta["int8"]["passed"] is True, "an export inside a version was not indexed"


def test_the_parity_check_refuses_an_int8_model_too_far_from_the_float_one():
    from digits.quantize import QuantisationError, check

    check({"passed": True})
    with pytest.raises(QuantisationError, match="agreement 98.00%"):
        check({"passed": False, "test_accuracy": 0.99, "float_test_accuracy": 0.996, "agreement": 0.98})


@pytest.mark.slow
def test_export_int8_writes_a_parity_checked_full_integer_model(store, copied_default, test_split):
    result = run_python("-m", "digits", "export", "--int8", "--model", copied_default)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "model_int8.tflite" in result.stdout
    meta = store.meta(copied_default)["int8"]
    assert meta["passed"] and meta["agreement"] >= 0.995
    assert meta["float_test_accuracy"] - meta["test_accuracy"] <= 0.001
    assert 0 < meta["bytes"] < meta["float_bytes"] / 2 and meta["ms_per_image"] > 0
    int8 = (store.root / copied_default / "model_int8.tflite").read_bytes()
    assert len(int8) == meta["bytes"]
    predictor = LitePredictor(int8)
    assert predictor._single._source["dtype"] == np.uint8, "a phone app feeds uint8 pixels"
    digits = predictor.probabilities(test_split.images[:500] / 255.0).argmax(axis=1)
    assert (digits == test_split.labels[:500]).mean() >= 0.99


def test_evaluate_variants_reports_the_kept_variant_accuracies_of_the_default():
    from digits.variants import VARIANTS

    result = run_python("-m", "digits", "evaluate", "--model", "default", "--variants", "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    variants = json.loads(result.stdout)["variants"]
    assert list(variants) == list(VARIANTS) and variants["original"]["accuracy"] > 0.98
