"""Safe defaults: localhost only, XSRF protection, an upload cap, models loaded in safe mode."""

from __future__ import annotations

import tomllib

import keras
import pytest

from conftest import ROOT
from digits.store import StoreError


def test_streamlit_config_is_locked_down_by_default():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["address"] == "127.0.0.1"
    assert config["server"]["enableXsrfProtection"] is True
    assert 1 <= config["server"]["maxUploadSize"] <= 10  # MB
    assert config["browser"]["gatherUsageStats"] is False


def test_a_model_with_a_lambda_layer_is_refused_by_safe_mode(store):
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Lambda(lambda x: x * 2),
                              keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")])

    def write(folder):
        model.save(folder / "model.keras")
        (folder / "meta.json").write_text("{}")

    store.save("lambda", write)
    with pytest.raises(StoreError, match="'lambda': model.keras cannot be loaded"):
        store.load("lambda")


def test_version_ids_cannot_reach_outside_the_store(store):
    for version in ("../../etc/passwd", "..", "default/../../x", "/etc", "a/../../b"):
        with pytest.raises(StoreError, match="invalid version id"):
            store.path(version)
    assert all(p.resolve().is_relative_to(store.root.resolve()) or p.name == "default"
               for p in (store.path(v) for v in ("ok", "v1.2", "default")))
