"""`pip install .` gives a `digits` command that works from any folder, on the user's folders."""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys

import pytest

from conftest import ROOT
from digits.data import SHARED_DIR

pytestmark = pytest.mark.slow


def run(argv, cwd, env, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The project's tracked files installed (not editable) into a fresh virtual environment.
    A .pth file lets it see the packages this interpreter has, so nothing is downloaded (after the
    environment's own packages: this checkout's editable install is not among them)."""
    base = tmp_path_factory.mktemp("install")
    source = base / "source"
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in filter(None, tracked.decode().split("\0")):
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    [own] = venv.glob("lib/python*/site-packages")
    (own / "outer.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    result = run([venv / "bin" / "python", "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                  "--disable-pip-version-check", str(source)], base, os.environ)
    assert result.returncode == 0, result.stderr[-2000:]
    shutil.rmtree(source)  # the installed command must not need the source tree
    home = base / "home"
    env = {key: value for key, value in os.environ.items() if key not in ("DIGITS_STORE", "XDG_DATA_HOME",
                                                                            "PYTHONPATH")}
    env.update(HOME=str(home), MNIST_DIR=str(SHARED_DIR))
    return venv / "bin" / "digits", home, env


def test_the_installed_command_predicts_trains_and_lists_from_any_folder(installed, tmp_path):
    from test_preprocessing import drawn_seven

    digits, home, env = installed
    photos = tmp_path / "photos"
    photos.mkdir()
    drawn_seven().save(photos / "x.png")

    where = run([digits.parent / "python", "-c", "import digits; print(digits.__file__)"], photos, env)
    assert where.stdout.startswith(str(digits.parent.parent)), where  # the installed copy, not this checkout
    predicted = run([digits, "predict", "x.png"], photos, env)
    assert predicted.returncode == 0, predicted.stderr
    assert predicted.stdout.startswith("x.png: 7 (") and predicted.stderr == ""

    trained = run([digits, "train", "--preset", "fast", "--limit", "500", "--epochs", "1", "--name", "mine"],
                  photos, env)
    assert trained.returncode == 0, trained.stderr[-2000:]
    store = home / ".local" / "share" / "digits" / "model_store"
    assert (store / "mine" / "model.keras").is_file() and (store / "runs" / "mine" / "events.jsonl").is_file()
    assert not (photos / "model_store").exists()
    assert "cuInit" not in trained.stderr and "cuda drivers" not in trained.stderr

    listed = json.loads(run([digits, "models", "--json"], photos, env).stdout)
    assert {row["id"] for row in listed} == {"default", "default-number", "mine"}
    assert next(row for row in listed if row["id"] == "default")["test_accuracy"] > 0.99  # package data
    assert next(row for row in listed if row["id"] == "default-number")["task"] == "number"  # package data too

    from dashboard_helpers import drawn_number
    from PIL import Image

    Image.fromarray(drawn_number("4500")).save(photos / "n.png")
    read = run([digits, "read", "n.png"], photos, env)
    assert read.returncode == 0 and read.stdout.startswith("n.png: 4500 ("), read


def test_a_source_checkout_keeps_its_store_beside_the_code(monkeypatch):
    from digits import store

    monkeypatch.delenv("DIGITS_STORE", raising=False)
    assert store.default_root() == ROOT / "model_store"
    assert store.SHIPPED_DIR == ROOT / "model_store" / "default"
    assert store.SHIPPED["default-number"] == ROOT / "model_store" / "default-number"
    monkeypatch.setenv("DIGITS_STORE", "/elsewhere")
    assert str(store.default_root()) == "/elsewhere"
