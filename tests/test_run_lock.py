"""The run lock knows its process, and one run has one id and one folder (issue 10, items 1-3 and 6).

A lock names a run only while the training process holds its flock; Stop signals only that
run's own train.py; ids are never shared, so no two runs ever write one event log."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from conftest import ROOT, run_python
from digits.config import preset
from digits.runs import (RunBusy, acquire_lock, current_run, new_run_id, prepare_run_dir, process_start, read_events,
                         read_lock, release_lock, run_status, stop_run)
from digits.store import StoreError
from test_dashboard import open_page, submit_training_form, texts  # noqa: F401


@pytest.fixture
def bystander():
    """An unrelated live process (a `sleep`) that a bad lock could name; it must never be signalled."""
    process = subprocess.Popen(["sleep", "300"], start_new_session=True)
    yield process
    process.kill()
    process.wait()


def write_lock(store, **record) -> None:
    store.runs_dir.mkdir(parents=True, exist_ok=True)
    (store.runs_dir / "LOCK").write_text(json.dumps(record))


def ghost_run(store, run_id: str, *events: str) -> None:
    """A run folder as an earlier run left it, ending with `events`."""
    run_dir = store.runs_dir / run_id
    run_dir.mkdir(parents=True)
    (run_dir / "config.json").write_text(json.dumps(preset("seed").to_dict()))
    (run_dir / "events.jsonl").write_text("".join(json.dumps({"event": e, "time": 1.0 + i}) + "\n"
                                                  for i, e in enumerate(events)))


@pytest.mark.parametrize("with_start_time", [False, True], ids=["pid only", "pid and its real start time"])
def test_a_lock_naming_an_unrelated_live_process_is_no_run_and_that_process_is_never_signalled(
        store, bystander, open_page, with_start_time):
    """A pid reused after a reboot or a crash: no phantom run, new runs can start, Stop signals nothing."""
    ghost_run(store, "phantom", "queued")
    record = {"run_id": "phantom", "pid": bystander.pid}
    if with_start_time:
        record["start"] = process_start(bystander.pid)
    write_lock(store, **record)

    assert read_lock(store) is None and current_run(store) is None
    assert run_status(store, "phantom").state == "interrupted"
    assert stop_run(store) is None
    app = open_page("train")
    assert "Run `phantom`: interrupted" in texts(app.subheader)
    assert not [button for button in app.button if button.label == "Stop"]
    release_lock(store, acquire_lock(store, "next"))  # a new run can start
    time.sleep(0.2)
    assert bystander.poll() is None, f"the unrelated process got signal {-bystander.returncode}"


def test_stop_never_signals_a_process_that_is_not_the_runs_train_py(store, bystander):
    """Even while a real holder keeps the lock, a record naming another process (with its true
    start time) is not obeyed: that process is not this run's train.py."""
    lock = acquire_lock(store, "held")
    try:
        write_lock(store, run_id="held", pid=bystander.pid, start=process_start(bystander.pid))
        assert current_run(store) == "held"
        assert stop_run(store) is None
        time.sleep(0.2)
        assert bystander.poll() is None, f"the unrelated process got signal {-bystander.returncode}"
    finally:
        release_lock(store, lock)
    assert current_run(store) is None, "a lock whose holder closed it is free"


def test_train_py_is_not_refused_by_a_lock_naming_an_unrelated_process(store, bystander, tmp_path):
    write_lock(store, run_id="phantom", pid=bystander.pid)
    result = run_python("train.py", "--preset", "seed", "--limit", "100", "--epochs", "1",
                        "--data-dir", str(tmp_path / "no-mnist"), env={"DIGITS_STORE": str(store.root)})
    assert result.returncode == 1 and "MNIST not found" in result.stderr, result.stderr[-2000:]  # past the lock
    assert bystander.poll() is None


def test_a_lock_is_never_shared_not_even_with_the_same_run_id(store):
    lock = acquire_lock(store, "same")
    try:
        with pytest.raises(RunBusy, match="'same' is already in progress"):
            acquire_lock(store, "same")
    finally:
        release_lock(store, lock)


def test_generated_run_ids_of_starts_in_the_same_second_differ():
    config = preset("seed")
    ids = {new_run_id(config) for _ in range(50)}
    assert len(ids) == 50
    assert all(run_id.split("-")[2] == "seed" for run_id in ids)


def test_two_cli_runs_started_together_train_once_and_never_share_a_log(store):
    """Two `train.py` with the same preset in the same second (the old ids were equal): one trains, the
    other is refused with exit 3, and the one run folder holds one run's events."""
    argv = [sys.executable, "train.py", "--preset", "seed", "--limit", "500", "--epochs", "1", "--batch-size", "100"]
    env = {**os.environ, "DIGITS_STORE": str(store.root)}
    runs = [subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)]
    outcomes = sorted(process.wait(300) for process in runs)
    errors = [process.stderr.read() for process in runs]
    assert outcomes == [0, 3], errors
    assert any("already in progress" in error for error in errors)
    run_dirs = [p for p in store.runs_dir.iterdir() if p.is_dir()]
    assert len(run_dirs) == 1, run_dirs
    events = [e["event"] for e in read_events(run_dirs[0])]
    assert events.count("start") == 1 and events.count("epoch") == 1 and events[-1] == "done", events


@pytest.mark.parametrize("ending", ["cancelled", "failed", "done"])
def test_the_name_of_an_earlier_run_is_refused_and_its_log_untouched(store, open_page, ending):
    ghost_run(store, "used", "queued", "start", ending)
    before = (store.runs_dir / "used" / "events.jsonl").read_bytes()
    with pytest.raises(StoreError, match="a run named 'used' exists already"):
        prepare_run_dir(store, "used", preset("seed", name="used"))
    app = submit_training_form(open_page("train"), preset="seed", subset_size=500, name="used")
    assert "Not started: a run named 'used' exists already; choose another name" in texts(app.error)
    assert (store.runs_dir / "used" / "events.jsonl").read_bytes() == before
    assert current_run(store) is None


def test_run_ids_from_the_lock_file_are_validated_and_stop_writes_nothing_outside_the_store(store, tmp_path):
    lock = acquire_lock(store, "real")
    try:
        for bad in ("../../escaped", "../escaped", "real\n", "/tmp/x"):
            write_lock(store, run_id=bad, pid=os.getpid(), start=process_start(os.getpid()))  # a live holder
            assert read_lock(store) is None and stop_run(store) is None
    finally:
        release_lock(store, lock)
    assert not list(tmp_path.rglob("events.jsonl")), "an event log was written outside the store"


def test_a_run_folder_or_event_log_linked_out_of_the_store_is_not_written(store, tmp_path):
    from digits.runs import EventLog

    outside = tmp_path / "outside"
    outside.mkdir()
    store.runs_dir.mkdir(parents=True)
    (store.runs_dir / "linked").symlink_to(outside)
    with pytest.raises(StoreError, match="symbolic link"):
        EventLog(store.runs_dir / "linked").emit("stop")
    (store.runs_dir / "plain").mkdir()
    (store.runs_dir / "plain" / "events.jsonl").symlink_to(outside / "events.jsonl")
    with pytest.raises(OSError):
        EventLog(store.runs_dir / "plain").emit("stop")
    assert list(outside.iterdir()) == []


def test_a_tampered_event_log_or_run_config_does_not_break_the_train_page(store, open_page):
    ghost_run(store, "odd", "queued")
    with open(store.runs_dir / "odd" / "events.jsonl", "ab") as log:
        log.write(b'{"event": "epoch", "time": "soon", "epoch": "one"}\n\xff\xfe\n[1, 2]\n'
                  b'{"event": "epoch", "time": 3, "epoch": 1, "loss": 0.5}\n')
    (store.runs_dir / "odd" / "config.json").write_text('{"epochs": "many", "class_weights": [1]}')
    status = run_status(store, "odd")
    assert [e["epoch"] for e in status.epochs] == [1] and status.config == {}
    app = open_page("train")
    assert "Run `odd`: interrupted" in texts(app.subheader)
