"""Training beyond one machine: two worker processes on loopback under MultiWorkerMirroredStrategy
(CPU, a small subset, one epoch). Both take part in every step; only the chief saves."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT
from dashboard_helpers import free_port
from digits.runs import read_events
from digits.store import SHIPPED

pytestmark = pytest.mark.slow

WORKERS = 2


def worker_command(name: str) -> list[str]:
    return [sys.executable, "train.py", "--distribute", "multiworker", "--preset", "fast", "--limit", "1024",
            "--epochs", "1", "--batch-size", "32", "--name", name]


def test_two_local_workers_train_in_lockstep_and_the_chief_alone_saves(store, mnist):
    cluster = {"worker": [f"127.0.0.1:{free_port()}" for _ in range(WORKERS)]}
    workers = []
    for index in range(WORKERS):
        env = {**os.environ, "DIGITS_STORE": str(store.root), "CUDA_VISIBLE_DEVICES": "",
               "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})}
        workers.append(subprocess.Popen(worker_command("cluster-run"), cwd=ROOT, env=env, text=True,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    outputs = []
    try:
        for worker in workers:
            stdout, stderr = worker.communicate(timeout=420)
            outputs.append(stdout)
            assert worker.returncode == 0, stderr[-3000:]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()

    # Both took part: each printed its steps, and the global batch (2 replicas x 32) gives 16 steps.
    for index, stdout in enumerate(outputs):
        assert "(2 replica(s), --distribute multiworker)" in stdout
        steps = re.findall(rf"\[worker {index}\] epoch 1/1 step (\d+)/16 loss", stdout)
        assert steps and steps[-1] == "16", stdout[-2000:]
    # In lockstep: the all-reduced loss of the last step is the same number on both workers.
    last_losses = {re.findall(r"step 16/16 loss ([\d.]+)", stdout)[-1] for stdout in outputs}
    assert len(last_losses) == 1
    assert "saved version cluster-run" in outputs[0] and "the chief saves the version" in outputs[1]

    # Exactly one version, from the chief, with its event log; it loads and predicts.
    assert [version for version in store.ids() if version not in SHIPPED] == ["cluster-run"]  # the shipped ones aside
    assert sorted(p.name for p in store.runs_dir.iterdir() if p.is_dir()) == ["cluster-run"]
    meta = store.meta("cluster-run")
    assert meta["config"]["batch_size"] == 32 and meta["data"]["train_images"] == 1024
    events = read_events(store.runs_dir / "cluster-run")
    assert [e["replicas"] for e in events if e["event"] == "device"] == [2]
    assert [e["event"] for e in events].count("epoch") == 1 and events[-1]["event"] == "done"
    model = store.load("cluster-run")
    probabilities = model.predict(mnist.test.images[:200, ..., None] / 255.0, verbose=0)
    assert (probabilities.argmax(axis=1) == mnist.test.labels[:200]).mean() > 0.3
