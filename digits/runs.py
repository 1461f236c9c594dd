"""Training runs as separate processes: the event log, the one-run-at-a-time lock, start and stop.

A run lives in `<store>/runs/<run id>/`: `config.json`, `events.jsonl` (one JSON object a line,
appended as training goes, so any process can follow it) and `output.log` (the process's output).
`<store>/runs/LOCK` names the run in progress and its process id; a lock whose process is gone
is stale and is taken over. A run's state is derived, never stored twice: a closing event
(done / cancelled / failed) says how it ended; without one it is running while its process
holds the lock, cancelled when it ended after a stop was asked for (a process stopped before it
could handle the signal ends without a word), and interrupted otherwise.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from digits.config import TrainConfig
from digits.data import PROJECT_ROOT
from digits.store import ModelStore, StoreError, validate_version_id

CLOSING_EVENTS = {"done", "cancelled", "failed"}


class Cancelled(Exception):
    """The run was asked to stop (Ctrl-C, SIGTERM, or Stop in the dashboard)."""


class RunBusy(RuntimeError):
    """Another run holds the lock."""

    def __init__(self, run_id: str):
        super().__init__(f"run {run_id!r} is already in progress; one run at a time")
        self.run_id = run_id


# -- the event log ---------------------------------------------------------------------------
class EventLog:
    def __init__(self, run_dir: Path):
        self.path = run_dir / "events.jsonl"
        run_dir.mkdir(parents=True, exist_ok=True)

    def emit(self, event: str, **fields) -> None:
        line = json.dumps({"event": event, "time": time.time(), **fields}, default=float)
        with open(self.path, "a") as handle:  # one write per line: readers never see half a line
            handle.write(line + "\n")


def read_events(run_dir: Path) -> list[dict]:
    try:
        lines = (run_dir / "events.jsonl").read_text().splitlines()
    except OSError:
        return []
    events = []
    for line in lines:
        try:
            events.append(json.loads(line))
        except ValueError:  # a line being written right now, or a killed writer's last one
            continue
    return events


# -- the lock -------------------------------------------------------------------------------
def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie has exited: it only waits for its parent to reap it
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def _lock_path(store: ModelStore) -> Path:
    return store.runs_dir / "LOCK"


def read_lock(store: ModelStore) -> dict | None:
    """The live lock holder ({run_id, pid}), or None when no run holds it."""
    try:
        holder = json.loads(_lock_path(store).read_text())
        return holder if pid_alive(int(holder["pid"])) else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def acquire_lock(store: ModelStore, run_id: str, pid: int) -> None:
    """Take the lock, recovering a stale one; RunBusy when a live run holds it.

    Checking the lock and writing it is one step for every thread and process: it happens under
    an exclusive `flock` of `runs/.LOCK.mutex` (released by the kernel if the holder dies), and
    the lock file itself is replaced atomically, so no reader ever sees it empty or half-written."""
    store.runs_dir.mkdir(parents=True, exist_ok=True)
    with open(store.runs_dir / ".LOCK.mutex", "a") as mutex:
        fcntl.flock(mutex, fcntl.LOCK_EX)
        holder = read_lock(store)
        if holder is not None and holder.get("run_id") != run_id:  # the same id: the launcher hands over
            raise RunBusy(holder.get("run_id", "?"))
        _write_lock(store, run_id, pid)


def _write_lock(store: ModelStore, run_id: str, pid: int) -> None:
    tmp = _lock_path(store).with_name(f".LOCK-{os.getpid()}-{threading.get_ident()}")
    tmp.write_text(json.dumps({"run_id": run_id, "pid": pid}))
    os.replace(tmp, _lock_path(store))


def release_lock(store: ModelStore, run_id: str) -> None:
    try:
        holder = json.loads(_lock_path(store).read_text())
        if holder.get("run_id") == run_id:
            _lock_path(store).unlink()
    except (OSError, ValueError):
        pass


# -- status ---------------------------------------------------------------------------------
@dataclass
class RunStatus:
    run_id: str
    state: str                      # running | done | cancelled | failed | interrupted
    config: dict = field(default_factory=dict)
    phase: str = ""                 # the last event: start, data, epoch, batch, evaluating, saving …
    epochs: list[dict] = field(default_factory=list)   # one dict per finished epoch
    progress: dict | None = None    # the latest batch event of the epoch in progress
    steps: list[dict] = field(default_factory=list)    # every batch event past step 0: the per-step curves
    stop_requested: float | None = None  # when Stop was pressed: the run is stopping until it has ended
    started: float | None = None
    ended: float | None = None
    version: str | None = None
    test_accuracy: float | None = None
    error: str | None = None
    not_activated: str | None = None  # why --activate did not make the version active (the quality gate)

    @property
    def active(self) -> bool:
        return self.state == "running"

    @property
    def total_epochs(self) -> int:
        return int(self.config.get("epochs") or 0)


def run_status(store: ModelStore, run_id: str) -> RunStatus:
    run_dir = store.runs_dir / run_id
    events = read_events(run_dir)
    try:
        config = json.loads((run_dir / "config.json").read_text())
    except (OSError, ValueError):
        config = {}
    status = RunStatus(run_id, "interrupted", config)
    stopped = None  # when a stop was asked for
    for event in events:
        kind = event.get("event")
        status.phase = kind
        if kind in ("queued", "start") and status.started is None:
            status.started = event["time"]
        elif kind == "epoch":
            status.epochs.append(event)
            status.progress = None
        elif kind == "batch":
            status.progress = event
            if event.get("step"):
                status.steps.append(event)
        elif kind == "stop":
            stopped = status.stop_requested = event["time"]
        elif kind in CLOSING_EVENTS:
            status.state, status.ended = kind, event["time"]
            status.version = event.get("version")
            status.test_accuracy = event.get("test_accuracy")
            status.error = event.get("error")
            status.not_activated = event.get("not_activated")
    if status.state not in CLOSING_EVENTS:
        holder = read_lock(store)
        if holder and holder.get("run_id") == run_id:
            status.state = "running"
        elif stopped is not None:
            status.state, status.ended = "cancelled", stopped
    return status


def list_runs(store: ModelStore) -> list[RunStatus]:
    """Every run, newest first."""
    if not store.runs_dir.is_dir():
        return []
    dirs = [p for p in store.runs_dir.iterdir()
            if p.is_dir() and not p.name.startswith(".") and (p / "config.json").is_file()]
    dirs.sort(key=lambda p: (p / "config.json").stat().st_mtime, reverse=True)
    return [run_status(store, p.name) for p in dirs]


def current_run(store: ModelStore) -> str | None:
    holder = read_lock(store)
    return holder.get("run_id") if holder else None


# -- start and stop -------------------------------------------------------------------------
def new_run_id(config: TrainConfig) -> str:
    return config.name or time.strftime("%Y%m%d-%H%M%S") + f"-{config.preset}"


def prepare_run_dir(store: ModelStore, run_id: str, config: TrainConfig) -> Path:
    validate_version_id(run_id)
    if store.path(run_id).exists():
        raise StoreError(f"version {run_id!r} exists already; choose another name")
    run_dir = store.runs_dir / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps(config.to_dict(), indent=2))
    return run_dir


def start_run(config: TrainConfig, store: ModelStore | None = None, data_dir: str | None = None) -> str:
    """Launch `digits train` (train.py's command) as its own process for `config`; returns the run id at once.
    RunBusy when a run is already in progress (from any session or process)."""
    store = store or ModelStore()
    config.validate()
    run_id = new_run_id(config)
    acquire_lock(store, run_id, os.getpid())  # atomic: of two simultaneous starts, one wins
    try:
        run_dir = prepare_run_dir(store, run_id, config)
        EventLog(run_dir).emit("queued")
        env = {**os.environ, "DIGITS_STORE": str(store.root), "PYTHONUNBUFFERED": "1"}
        argv = [sys.executable, "-m", "digits", "train", *config.to_argv(), "--run-id", run_id]
        if data_dir:
            argv += ["--data-dir", str(data_dir)]
        with open(run_dir / "output.log", "ab") as output:
            process = subprocess.Popen(argv, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       cwd=PROJECT_ROOT, env=env, start_new_session=True)
        _write_lock(store, run_id, process.pid)
        # Reap the child when it ends, so it never lingers as a zombie that looks alive.
        threading.Thread(target=process.wait, daemon=True, name=f"reap-{run_id}").start()
    except BaseException:
        release_lock(store, run_id)
        raise
    return run_id


def stop_run(store: ModelStore | None = None) -> str | None:
    """Ask the run in progress to cancel (SIGTERM: it stops after the current batch, saves
    nothing and marks itself cancelled). Returns its id, or None when nothing runs."""
    store = store or ModelStore()
    holder = read_lock(store)
    if holder is None:
        return None
    EventLog(store.runs_dir / holder["run_id"]).emit("stop")  # its state if it dies before it can say so
    try:
        os.kill(int(holder["pid"]), signal.SIGTERM)
    except ProcessLookupError:
        return None
    return holder["run_id"]


# -- a run's files ----------------------------------------------------------------------------
def output_log(store: ModelStore, run_id: str) -> Path:
    """The run's process output (train.py's prints, Keras' epoch lines, a traceback if it failed)."""
    validate_version_id(run_id)
    return store.runs_dir / run_id / "output.log"


def delete_run(store: ModelStore, run_id: str) -> None:
    """Remove a run's folder (its settings, event log and output log); the version it saved, if
    any, stays in the store. A run in progress cannot be deleted: stop it first."""
    validate_version_id(run_id)
    run_dir = store.runs_dir / run_id
    if not run_dir.is_dir():
        raise StoreError(f"unknown run {run_id!r}")
    if current_run(store) == run_id:
        raise StoreError(f"run {run_id!r} is in progress: stop it first")
    trash = store.runs_dir / f".deleted-{run_id}-{os.getpid()}"
    os.rename(run_dir, trash)  # gone from every listing at once
    shutil.rmtree(trash, ignore_errors=True)
