"""SIGKILL a training run at random moments: the store stays whole and the truth is told."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT
from digits.runs import acquire_lock, read_events, release_lock, run_status

pytestmark = pytest.mark.slow
PHASES = ["start", "data", "batch", "epoch", "evaluating", "saving"]  # the event to kill after
# Every phase once, and more chances at the two that last a fraction of a second (loading the
# data, renaming the version into place); each trial costs a TensorFlow start-up.
TRIALS = PHASES + ["data", "saving", "saving"]
SHORT_PHASES = {"start", "data", "saving"}  # a kill must land within ~0.1 s to hit them


def kill_after(store, run_id: str, phase: str, delay: float) -> subprocess.Popen:
    argv = [sys.executable, "train.py", "--preset", "seed", "--limit", "1500", "--epochs", "1",
            "--batch-size", "32", "--name", run_id, "--activate"]
    process = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env={**os.environ, "DIGITS_STORE": str(store.root)})
    deadline = time.time() + 120
    while time.time() < deadline and process.poll() is None:
        if any(e["event"] == phase for e in read_events(store.runs_dir / run_id)):
            break
        time.sleep(0.01)
    time.sleep(delay)
    process.send_signal(signal.SIGKILL)
    process.wait()
    return process


def test_sigkill_at_random_moments_never_leaves_a_half_version(store):
    rng = random.Random(7)
    outcomes = []
    for trial, phase in enumerate(TRIALS):
        run_id = f"trial-{trial}"
        kill_after(store, run_id, phase, rng.uniform(0, 0.1 if phase in SHORT_PHASES else 0.4))
        events = [e["event"] for e in read_events(store.runs_dir / run_id)]
        state = run_status(store, run_id).state
        outcomes.append((phase, events[-1] if events else None, state))

        # The run is shown as interrupted, unless it had finished before the kill landed.
        assert state == ("done" if events and events[-1] == "done" else "interrupted"), (phase, events)
        # Every version in the store is whole; the one killed is whole or absent.
        for info in store.list():
            assert not info.broken, (trial, info.id, info.error)
        if run_id in store.ids():
            assert "saving" in events
        # The active model always loads.
        assert store.load(store.active()) is not None
        # A new run can start: the stale lock is recovered.
        release_lock(store, acquire_lock(store, f"probe-{trial}"))
    # The kills really landed while loading data, mid-epoch and while saving.
    interrupted_during = {last for _, last, state in outcomes if state == "interrupted"}
    assert {"data", "batch", "saving"} <= interrupted_during, outcomes
