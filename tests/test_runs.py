"""Training runs started from the dashboard's side: one at a time, stoppable, honest after a crash."""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import pytest

from digits.config import preset
from digits.runs import RunBusy, acquire_lock, current_run, release_lock, run_status, start_run, stop_run
from test_training import wait_for

pytestmark = pytest.mark.slow


def test_two_simultaneous_starts_start_exactly_one_run_and_both_see_it(store):
    barrier = threading.Barrier(2)
    outcomes = []

    def press_start(name):
        barrier.wait()
        try:
            outcomes.append(("started", start_run(preset("seed", limit=3000, epochs=2, name=name), store)))
        except RunBusy as busy:
            outcomes.append(("busy", busy.run_id))

    threads = [threading.Thread(target=press_start, args=(name,)) for name in ("first", "second")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        kinds = sorted(kind for kind, _ in outcomes)
        assert kinds == ["busy", "started"]
        started = next(run for kind, run in outcomes if kind == "started")
        assert next(run for kind, run in outcomes if kind == "busy") == started  # the loser sees the winner
        assert current_run(store) == started and run_status(store, started).state == "running"
        wait_for(lambda: run_status(store, started).epochs, 180, "the first epoch")
        assert stop_run(store) == started
        wait_for(lambda: run_status(store, started).state == "cancelled", 60, "the cancel")
    finally:
        stop_run(store)
    assert current_run(store) is None
    assert started not in store.ids()


def test_lock_takers_racing_each_other_never_both_win(store):
    """Two sessions pressing Start at the same moment, hundreds of times, with no lock and with the
    stale lock of a killed run to recover: each time exactly one takes the lock. (A lock file that
    a reader could see before its content was written let both win in about 4% of the rounds.)"""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    store.runs_dir.mkdir(parents=True)
    for round_number in range(400):
        if round_number % 2:
            (store.runs_dir / "LOCK").write_text(json.dumps({"run_id": "killed", "pid": dead.pid}))
        barrier, winners, locks = threading.Barrier(2), [], {}

        def take(run_id):
            barrier.wait()
            try:
                locks[run_id] = acquire_lock(store, run_id)
                winners.append(run_id)
            except RunBusy:
                pass

        threads = [threading.Thread(target=take, args=(f"{side}-{round_number}",)) for side in "ab"]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(winners) == 1, (round_number, winners)
        assert current_run(store) == winners[0]
        release_lock(store, locks[winners[0]])
        assert current_run(store) is None


def test_a_run_whose_process_died_is_interrupted_and_its_stale_lock_is_recovered(store):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    run_dir = store.runs_dir / "ghost"
    run_dir.mkdir(parents=True)
    (run_dir / "config.json").write_text(json.dumps(preset("seed").to_dict()))
    (run_dir / "events.jsonl").write_text('{"event": "start", "time": 1}\n{"event": "epoch", "time": 2, "epoch": 1}\n')
    (store.runs_dir / "LOCK").write_text(json.dumps({"run_id": "ghost", "pid": dead.pid}))

    status = run_status(store, "ghost")
    assert status.state == "interrupted" and len(status.epochs) == 1
    assert current_run(store) is None
    lock = acquire_lock(store, "next")  # the stale lock is taken over, not a RunBusy
    assert json.loads((store.runs_dir / "LOCK").read_text())["run_id"] == "next"
    assert current_run(store) == "next"
    release_lock(store, lock)


def test_a_finished_run_from_the_launcher_is_done_and_can_activate(store):
    from test_store import fake_version

    # The active version is weaker than any trained one, so the quality gate lets the new one in.
    fake_version(store, "weak", meta={"preset": "seed", "test": {"accuracy": 0.1}})
    store.activate("weak")
    run_id = start_run(preset("seed", limit=1000, epochs=1, name="tiny", activate=True), store)
    wait_for(lambda: run_status(store, run_id).state != "running", 180, "the run to end")
    status = run_status(store, run_id)
    assert status.state == "done", (store.runs_dir / run_id / "output.log").read_text()[-2000:]
    assert status.version == "tiny" and 0 < status.test_accuracy <= 1
    assert store.active() == "tiny"
    assert current_run(store) is None
