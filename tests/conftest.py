"""Shared fixtures: an isolated model store per test, MNIST loaded once, the shipped model once."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture
def store(tmp_path, monkeypatch):
    """A fresh, empty model store (the shipped default is still visible from the repo)."""
    from digits.store import ModelStore

    root = tmp_path / "store"
    monkeypatch.setenv("DIGITS_STORE", str(root))
    return ModelStore(root)


@pytest.fixture
def copied_default(store):
    """A second usable version: a copy of the shipped default in the isolated store, named 'copy'."""
    from digits.store import SHIPPED_DIR

    shutil.copytree(SHIPPED_DIR, store.root / "copy")
    return "copy"


@pytest.fixture(scope="session")
def mnist():
    from digits.data import load_mnist

    return load_mnist()


@pytest.fixture(scope="session")
def shipped_predictor():
    from digits.predict import Predictor
    from digits.store import ModelStore

    return Predictor(ModelStore().load("default"))


def run_python(*args: str, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run `python ARGS...` in the project root, as a user would."""
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=timeout)
