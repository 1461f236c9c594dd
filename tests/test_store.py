"""The model store: atomic versions, broken versions flagged, validated ids, the active pointer."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
import zipfile

import pytest

from digits.store import DEFAULT_VERSION, SHIPPED, SHIPPED_FOR_TASK, ModelStore, StoreError, validate_version_id
from conftest import ROOT

WRITER = """
import sys, time
from pathlib import Path
from digits.store import ModelStore
def write(folder: Path):
    (folder / "model.keras").write_bytes(b"x" * 1000)
    print("writing", flush=True)
    time.sleep(60)  # killed here, half-way through writing the version
    (folder / "meta.json").write_text("{}")
ModelStore(sys.argv[1]).save("half", write)
"""


def zip_archive(**files: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


FAKE_MODEL = zip_archive(**{"config.json": "{}"})  # an archive, as model.keras is, but no Keras model


def fake_version(store: ModelStore, version: str, meta: dict | None = None, model: bytes = FAKE_MODEL):
    store.save(version, lambda folder: ((folder / "model.keras").write_bytes(model),
                                        (folder / "meta.json").write_text(json.dumps(meta or {"preset": "seed"}))))


def test_a_writer_killed_while_saving_leaves_no_version(store):
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(store.root)], cwd=ROOT,
                              stdout=subprocess.PIPE, text=True)
    assert writer.stdout.readline().strip() == "writing"
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait()
    assert "half" not in store.ids()
    assert [v.id for v in store.list()] == list(SHIPPED)
    assert list(store.root.glob(".tmp-half-*")), "the half-written folder stays hidden, not listed"


def test_broken_versions_are_listed_as_broken_not_raised(store):
    fake_version(store, "good")
    fake_version(store, "no-model", model=b"")
    (store.root / "no-meta").mkdir()
    (store.root / "no-meta" / "model.keras").write_bytes(b"k")
    (store.root / "bad-meta").mkdir()
    (store.root / "bad-meta" / "meta.json").write_text("{not json")
    listed = {v.id: v for v in store.list()}
    assert not listed["good"].broken and not listed[DEFAULT_VERSION].broken
    assert "model.keras" in listed["no-model"].error
    assert "meta.json is missing" in listed["no-meta"].error
    assert "meta.json is malformed" in listed["bad-meta"].error


def test_a_corrupt_model_file_fails_to_load_with_a_clear_error(store):
    fake_version(store, "corrupt", model=zip_archive(**{"config.json": "not a model"}))
    with pytest.raises(StoreError, match="'corrupt': model.keras cannot be loaded"):
        store.load("corrupt")


@pytest.mark.parametrize("model", [b"this is not a keras zip",
                                   (ROOT / "model_store" / DEFAULT_VERSION / "model.keras").read_bytes()[:50_000]],
                         ids=["garbage", "truncated"])
def test_a_model_file_that_is_no_archive_is_listed_as_broken(store, model):
    fake_version(store, "damaged", model=model)
    assert store.info("damaged").error == "model.keras is damaged or truncated (not a Keras archive)"
    with pytest.raises(StoreError, match="'damaged' is broken: model.keras is damaged"):
        store.load("damaged")
    with pytest.raises(StoreError, match="broken"):
        store.activate("damaged")


@pytest.mark.parametrize("bad", ["..", "../etc", "a/b", "a\\b", "", ".hidden", "runs", "x" * 81, "a..b", "/abs"])
def test_version_ids_are_validated(store, bad):
    with pytest.raises(StoreError, match="invalid version id"):
        validate_version_id(bad)
    with pytest.raises(StoreError):
        store.load(bad)


def test_active_defaults_to_shipped_and_follows_activate_and_delete(store):
    assert store.active() == DEFAULT_VERSION
    fake_version(store, "mine")
    store.activate("mine")
    assert store.active() == "mine"
    assert [v.id for v in store.list() if v.active] == ["default-number", "mine"]  # each task has its own
    store.delete("mine")
    assert store.active() == DEFAULT_VERSION and "mine" not in store.ids()


def test_broken_version_cannot_be_activated_and_default_cannot_be_deleted(store):
    fake_version(store, "broken", model=b"")
    with pytest.raises(StoreError, match="broken"):
        store.activate("broken")
    with pytest.raises(StoreError, match="cannot be deleted"):
        store.delete(DEFAULT_VERSION)
    with pytest.raises(StoreError, match="unknown version"):
        store.delete("never-was")


def test_an_existing_version_is_never_overwritten(store):
    fake_version(store, "v1", meta={"n": 1})
    with pytest.raises(StoreError, match="exists already"):
        fake_version(store, "v1", meta={"n": 2})
    assert store.meta("v1") == {"n": 1}


def test_disk_full_while_saving_gives_a_clear_error_and_keeps_earlier_versions(store):
    fake_version(store, "earlier")

    def write(folder):
        raise OSError(28, "No space left on device")

    with pytest.raises(StoreError, match="No space left on device.*earlier versions are untouched"):
        store.save("later", write)
    assert store.ids() == [*SHIPPED, "earlier"] and not store.info("earlier").broken
    assert not list(store.root.glob(".tmp-later-*"))


def test_shipped_default_describes_itself():
    """The shipped default is a committee: it names its members, and each member's settings,
    history, test accuracy and the command that trained it are kept in its meta.json."""
    meta = ModelStore().meta(DEFAULT_VERSION)
    for key in ("preset", "config", "data", "test", "train_seconds", "created", "versions", "command", "members"):
        assert key in meta, key
    assert meta["command"].startswith("digits combine") and meta["architecture"]["name"] == "committee-2"
    assert [member["version"] for member in meta["members"]] == meta["config"]["members"]
    for member in meta["members"]:
        assert member["command"] and member["test_accuracy"] >= 0.995
        assert len(member["history"]) == member["config"]["epochs"]
    assert (ROOT / "model_store" / DEFAULT_VERSION / "model.keras").stat().st_size < 8 * 2**20


def test_deleting_a_version_while_it_is_evaluated_fails_cleanly_or_finishes(store):
    """Delete races an evaluation: the evaluation either finishes (its model was loaded) or
    says the version is gone; never a traceback, and the store stays consistent."""
    import shutil
    import subprocess
    import sys

    from conftest import ROOT

    for delay in (0.0, 1.5, 4.0):
        shutil.copytree(ROOT / "model_store" / DEFAULT_VERSION, store.root / "victim")
        evaluation = subprocess.Popen([sys.executable, "-m", "digits", "evaluate", "--model", "victim"],
                                      cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(delay)
        store.delete("victim")
        out, err = evaluation.communicate(timeout=120)
        assert "Traceback" not in err, err[-1500:]
        if evaluation.returncode == 0:
            assert "test accuracy" in out
        else:
            assert evaluation.returncode == 1 and "victim" in err
        assert "victim" not in store.ids() and store.active() == DEFAULT_VERSION


def test_the_quality_gate_compares_a_number_version_with_the_active_number_version(store):
    """A number version's accuracy is whole numbers read right: it is never held against the digit
    model's (a weak number reader is refused against the shipped one, a good one passes)."""
    from digits.gate import activation_concern

    for version, accuracy in (("weak-number", 0.40), ("good-number", 0.999), ("weak-digit", 0.50)):
        task = {"task": "number"} if version.endswith("number") else {}
        fake_version(store, version, {"preset": "number", **task, "test": {"accuracy": accuracy}})
    shipped_number = store.info(SHIPPED_FOR_TASK["number"]).test_accuracy
    assert "below the active `default-number`" in activation_concern(store, "weak-number")
    assert activation_concern(store, "good-number") is None and 0.999 > shipped_number
    assert "below the active `default`" in activation_concern(store, "weak-digit")
    store.activate("good-number")
    assert store.active("number") == "good-number" and store.active() == "default"
    assert "below the active `good-number`" in activation_concern(store, "weak-number")
