"""Results fixed for a version, computed once and kept beside it: its probabilities on the test
set and its accuracy on every test-set variant (digits.variants.VARIANTS).

They live in `<version>/results.npz`, written atomically, with the SHA-256 of the `model.tflite`
that computed them: a version whose model changes (retrained, re-exported, replaced) is computed
again on the next request, and a variant added to VARIANTS since is computed and added alone.
Training writes them at save time; `python -m digits evaluate` and the Evaluate page read them
(and write them for a version that has none). Everything here runs on LiteRT and NumPy.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import zipfile
from dataclasses import dataclass

import numpy as np

from digits.data import Split
from digits.evaluation import Evaluation, evaluate
from digits.store import ModelStore, StoreError

RESULTS_FILE = "results.npz"
RESULTS_FORMAT = 1
ROBUSTNESS_IMAGES = 2_000  # test-set variants use the first N test images (computing one takes ~1 s)


@dataclass(frozen=True)
class VersionResults:
    model_sha256: str               # of the model.tflite that computed them
    evaluation: Evaluation          # on the whole test set
    variants: dict[str, dict]       # variant name -> {accuracy, no_digit, 4->9, 9->4}


def version_results(store: ModelStore, version: str, test: Split, predictor=None,
                    variants: bool = True) -> VersionResults:
    """A version's results: from its cache when that matches its model and covers every variant,
    else computed (only what is missing) and written back. With `variants` False, missing variant
    accuracies are left for a later request (`evaluate` needs the test set only). `predictor`, a
    LitePredictor whose flatbuffer's digest keys the cache, saves loading it again when the caller
    holds one. Raises StoreError like loading."""
    from digits.predict import version_predictor
    from digits.variants import VARIANTS

    if predictor is None:
        predictor = version_predictor(store, version)
    digest = model_digest(predictor)
    cached = read_results(store, version)
    current = cached is not None and cached.model_sha256 == digest and len(cached.evaluation.labels) == len(test)
    if current:
        evaluation, accuracies = cached.evaluation, dict(cached.variants)
    else:
        evaluation, accuracies = evaluate(predictor, test.images, test.labels), {}
    missing = [name for name in VARIANTS if name not in accuracies] if variants else []
    for name in missing:
        accuracies[name] = variant_result(predictor, name, test)
    results = VersionResults(digest, evaluation, {name: accuracies[name] for name in VARIANTS if name in accuracies})
    if missing or not current:
        with contextlib.suppress(StoreError):  # deleted meanwhile: the results are returned, not kept
            store.write_cache(version, RESULTS_FILE, encode(results))
    return results


def compute_results(predictor, test: Split) -> VersionResults:
    """The test-set results of a fresh version (at save time: see digits.training). The variant
    accuracies are left to the first request (`version_results`): the photo-like variants'
    preparation takes minutes, which a run's end must not wait for."""
    return VersionResults(model_digest(predictor), evaluate(predictor, test.images, test.labels), {})


def model_digest(predictor) -> str:
    return hashlib.sha256(predictor.flatbuffer).hexdigest()


def variant_result(predictor, name: str, test: Split) -> dict:
    from digits.variants import variant_accuracy, variant_inputs

    inputs, empty = variant_inputs(name, test.images[:ROBUSTNESS_IMAGES])
    return variant_accuracy(predictor, inputs, empty, test.labels[:ROBUSTNESS_IMAGES])


def read_results(store: ModelStore, version: str) -> VersionResults | None:
    """The cached results, or None when there are none or the file cannot be read."""
    data = store.read_cache(version, RESULTS_FILE)
    if data is None:
        return None
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
            summary = json.loads(str(arrays["summary"]))
            if summary.get("format") != RESULTS_FORMAT:
                return None
            evaluation = Evaluation(arrays["labels"].astype(np.int64), arrays["probabilities"],
                                    arrays["predicted"].astype(np.int64))
        # Variant accuracies on another number of images do not count (computed again).
        variants = summary["variants"] if summary.get("robustness_images") == ROBUSTNESS_IMAGES else {}
        return VersionResults(summary["model_sha256"], evaluation, variants)
    except (ValueError, KeyError, TypeError, OSError, EOFError, zipfile.BadZipFile):  # damaged: computed again
        return None


def encode(results: VersionResults) -> bytes:
    """Probabilities as float16 (a quarter of float32, compressed) beside the exact predictions."""
    summary = {"format": RESULTS_FORMAT, "model_sha256": results.model_sha256,
               "robustness_images": ROBUSTNESS_IMAGES, "variants": results.variants}
    evaluation = results.evaluation
    buffer = io.BytesIO()
    np.savez_compressed(buffer, summary=np.array(json.dumps(summary)),
                        labels=evaluation.labels.astype(np.uint8),
                        probabilities=evaluation.probabilities.astype(np.float16),
                        predicted=evaluation.predictions.astype(np.uint8))
    return buffer.getvalue()
