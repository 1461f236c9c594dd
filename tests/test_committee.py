"""A committee of digit versions: `digits combine A B` saves one version whose output is the mean
of its members' probabilities, and it serves, exports and fine-tunes like any version."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from conftest import run_python

pytestmark = pytest.mark.slow


def strong_version(store, version: str, seed: int) -> None:
    """A `strong` version with its own random weights (members that disagree), saved the way a
    training run saves one."""
    import keras

    from digits.config import preset
    from digits.model import build_strong
    from digits.predict import to_tflite
    from digits.runs import EventLog
    from digits.training import RunContext, save_version

    keras.utils.set_random_seed(seed)
    model = build_strong()
    (store.runs_dir / version).mkdir(parents=True)
    run = RunContext(preset("strong"), store, version, EventLog(store.runs_dir / version), threading.Event(), "test")
    meta = {"id": version, "created": "2026-11-26T00:00:00+0000", "preset": "strong", "config": {"preset": "strong"},
            "architecture": {"name": "strong", "parameters": int(model.count_params())},
            "test": {"accuracy": 0.1}}
    save_version(run, model, to_tflite(model), meta, {})


@pytest.fixture(scope="module")
def members(tmp_path_factory):
    """A store holding two `strong` versions, 'first' and 'second' (made once for this file)."""
    from digits.store import ModelStore

    store = ModelStore(tmp_path_factory.mktemp("committee") / "store")
    strong_version(store, "first", seed=1)
    strong_version(store, "second", seed=2)
    return store


def combine(store, *args: str):
    return run_python("-m", "digits", "combine", *args, env={"DIGITS_STORE": str(store.root)})


def test_combine_saves_one_version_that_averages_its_members(members, mnist):
    from digits.predict import LitePredictor

    store = members
    result = combine(store, "first", "second", "--name", "pair")
    assert result.returncode == 0, result.stderr
    assert "version pair: a committee of first, second, test accuracy" in result.stdout
    assert "XNNPACK" not in result.stderr  # quiet unless --verbose

    meta = store.meta("pair")
    assert meta["architecture"]["name"] == "committee-2"
    assert meta["architecture"]["parameters"] == 2 * store.meta("first")["architecture"]["parameters"]
    assert [member["version"] for member in meta["members"]] == ["first", "second"]
    assert meta["config"] == {"preset": "committee", "members": ["first", "second"]}
    assert meta["test"]["images"] == 10_000 and store.info("pair").test_accuracy is not None

    images = mnist.test.images[:64] / 255.0                                  # [64, 28, 28]
    first, second, pair = (LitePredictor(store.tflite(version)).probabilities(images)
                           for version in ("first", "second", "pair"))    # [64, 10] each
    assert not np.allclose(first, second, atol=1e-3)                       # the members disagree ...
    np.testing.assert_allclose(pair, (first + second) / 2, atol=1e-5)      # ... and the committee averages them
    keras_pair = store.load("pair").predict(images[..., None], verbose=0)  # model.keras holds the same function
    np.testing.assert_allclose(keras_pair, pair, atol=1e-5)


def test_combine_refuses_what_cannot_be_a_committee(members):
    store = members
    for arguments, message in [
        (["first", "first"], "a committee needs at least two different versions"),
        (["first"], "a committee needs at least two different versions"),
        (["first", "default-number"], "is a 'number' network; a committee's members are 'strong' digit versions"),
        (["first", "nope"], "unknown version 'nope'"),
    ]:
        result = combine(store, *arguments, "--name", "refused")
        assert result.returncode == 1 and message in result.stderr, (arguments, result.stderr)
        assert "refused" not in store.ids()


def test_a_committee_folds_and_freezes_every_member():
    import keras

    from digits.model import all_layers, build_committee
    from digits.predict import inference_model
    from digits.training import _frozen_statistics

    committee = build_committee(3)
    norms = [layer for layer in all_layers(committee) if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(norms) == 3 * 4  # four batch norms in each strong member
    _frozen_statistics(committee)
    assert not any(norm.trainable for norm in norms)

    images = np.random.default_rng(0).random((8, 28, 28, 1)).astype(np.float32)
    folded = inference_model(committee)
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in all_layers(folded))
    np.testing.assert_allclose(folded.predict(images, verbose=0), committee.predict(images, verbose=0), atol=1e-5)
