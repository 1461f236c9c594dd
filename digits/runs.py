"""Training runs as separate processes: the event log, the one-run-at-a-time lock, start and stop.

A run lives in `<store>/runs/<run id>/`: `config.json`, `events.jsonl` (one JSON object a line,
appended as training goes, so any process can follow it) and `output.log` (the process's output).
Run ids are unique: a name already used by a run or a version is refused, and generated ids end
in a random suffix, so a new run never writes into an existing run's folder.

`<store>/runs/LOCK` is the one-run-at-a-time lock. The training process itself holds an exclusive
`flock` on it for its whole life (the launcher takes it and hands the open file to `train.py`), so
a run whose process died frees it by construction: the kernel drops the lock with the last open
descriptor. The file's content names the holder: run id, process id and that process's start time
(from /proc/<pid>/stat). It is believed only while the flock is held, and Stop signals the process
only when its start time matches and it runs this project's `train.py`: a reused pid, a LOCK
edited by hand or a holder that died is never signalled.

A run's state is derived, never stored twice: a closing event (done / cancelled / failed) says
how it ended; without one it is running while its process holds the lock, cancelled when it
ended after a stop was asked for (a process stopped before it could handle the signal ends
without a word), and interrupted otherwise.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from digits.config import TrainConfig
from digits.data import PROJECT_ROOT
from digits.store import (CONFIG_SCHEMA, HISTORY_SCHEMA, MAX_POINTER_BYTES, NULL, NUMBER, ModelStore, StoreError,
                          check_fields, is_valid_id, read_store_file, store_writes,
                          validate_version_id)

CLOSING_EVENTS = {"done", "cancelled", "failed"}
MAX_EVENTS_BYTES = 64 * 2**20   # events.jsonl (a 20-epoch run writes well under 1 MB)
MAX_CONFIG_BYTES = 2**20        # a run's config.json
# The event fields the Train page reads, with their types (events that break them are skipped).
EVENT_SCHEMA = {"event": str, "time": NUMBER, "step": int, "steps": int, "version": (str, NULL),
                "test_accuracy": (NUMBER[0], NUMBER[1], NULL), "error": (str, NULL),
                "not_activated": (str, NULL), **HISTORY_SCHEMA}


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
        if run_dir.is_symlink() or run_dir.parent.is_symlink():  # it would write outside the store
            raise StoreError(f"{run_dir} is a symbolic link: the run's events are not written there")
        run_dir.mkdir(parents=True, exist_ok=True)

    def emit(self, event: str, **fields) -> None:
        line = json.dumps({"event": event, "time": time.time(), **fields}, default=float)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        with os.fdopen(fd, "a") as handle:  # one write per line: readers never see half a line
            handle.write(line + "\n")


def read_events(run_dir: Path) -> list[dict]:
    """The events of a run that are well formed; a line being written right now, a killed
    writer's last one and anything with a wrong type are skipped."""
    try:
        lines = read_store_file(run_dir / "events.jsonl", MAX_EVENTS_BYTES).split(b"\n")
    except (OSError, ValueError):
        return []
    events = []
    for line in lines:
        try:
            event = json.loads(line)  # bytes: strict UTF-8
            check_fields(event, EVENT_SCHEMA, "event")
        except ValueError:
            continue
        events.append(event)
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


def process_start(pid: int) -> int | None:
    """When a process started (clock ticks after boot, /proc/<pid>/stat field 22), or None when it
    is gone: with the pid, it names one process for good (a pid is reused, a start time is not)."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def _lock_path(store: ModelStore) -> Path:
    return store.runs_dir / "LOCK"


@contextlib.contextmanager
def _lock_mutex(store: ModelStore, exclusive: bool):
    """Serialises looking at the lock: a reader probes the flock with a shared lock of its own,
    which must never make a starter's exclusive try fail."""
    try:
        fd = os.open(store.runs_dir / ".LOCK.mutex", (os.O_RDWR | os.O_CREAT if exclusive else os.O_RDONLY)
                     | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, 0o644)
    except FileNotFoundError:
        if exclusive:
            raise
        yield  # no run ever started in this store
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)


def _open_lock_file(store: ModelStore) -> int:
    """The lock file, opened for reading and writing; anything but a regular file there (a
    symbolic link, a FIFO: a hand's work) is replaced."""
    path = _lock_path(store)
    for _ in range(2):
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o644)
        except OSError as err:
            if not path.is_symlink():
                raise
            path.unlink()
            continue
        if stat.S_ISREG(os.fstat(fd).st_mode):
            return fd
        os.close(fd)
        path.unlink()
    raise StoreError(f"{path} keeps being replaced by something that is not a regular file")


def _held(fd: int) -> bool:
    """Whether some process holds the flock of this open lock file (under the mutex)."""
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    fcntl.flock(fd, fcntl.LOCK_UN)
    return False


def _record(fd: int) -> dict | None:
    """The holder the lock file names, if its content is a valid record."""
    try:
        record = json.loads(os.pread(fd, MAX_POINTER_BYTES, 0))
        if is_valid_id(record["run_id"]) and all(type(record[key]) is int for key in ("pid", "start")):
            return {"run_id": record["run_id"], "pid": record["pid"], "start": record["start"]}
    except (ValueError, KeyError, TypeError):
        pass
    return None


def _write_record(fd: int, run_id: str, pid: int) -> None:
    data = json.dumps({"run_id": run_id, "pid": pid, "start": process_start(pid)}).encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)


def read_lock(store: ModelStore) -> dict | None:
    """The run in progress ({run_id, pid, start}): only while a process holds the lock's flock
    and the lock file names a run; None otherwise."""
    try:
        with _lock_mutex(store, exclusive=False):
            fd = os.open(_lock_path(store), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
            try:
                return _record(fd) if stat.S_ISREG(os.fstat(fd).st_mode) and _held(fd) else None
            finally:
                os.close(fd)
    except OSError:
        return None


def acquire_lock(store: ModelStore, run_id: str) -> int:
    """Take the run lock for `run_id`: returns the lock file's open descriptor, whose flock
    holds the lock until every copy of it is closed (the training process keeps one until it
    exits). RunBusy when a run holds it; StoreError when the store cannot be written.

    Checking the lock and taking it is one step for every thread and process: an exclusive
    non-blocking flock, under the mutex readers take too."""
    validate_version_id(run_id)
    with store_writes("take the run lock"):
        store.runs_dir.mkdir(parents=True, exist_ok=True)
        with _lock_mutex(store, exclusive=True):
            fd = _open_lock_file(store)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _record(fd)
                os.close(fd)
                raise RunBusy(holder["run_id"] if holder else "?") from None
            try:
                _write_record(fd, run_id, os.getpid())
            except BaseException:
                os.close(fd)
                raise
    return fd


def hand_over_lock(store: ModelStore, fd: int, run_id: str, pid: int) -> None:
    """Name the training process `pid` (which holds a copy of `fd`) as the lock's holder."""
    with _lock_mutex(store, exclusive=True):
        _write_record(fd, run_id, pid)


def holds_lock(store: ModelStore, fd: int) -> bool:
    """Whether `fd` (handed to train.py by its launcher) is this store's lock file, locked by us."""
    try:
        if not os.path.samestat(os.fstat(fd), os.stat(_lock_path(store), follow_symlinks=False)):
            return False
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # our own open file: succeeds when it is ours
        os.set_inheritable(fd, False)  # a helper process this one starts must not outlive it holding the lock
        return True
    except OSError:
        return False


def release_lock(store: ModelStore, fd: int) -> None:
    """End a run's hold: remove the lock file if it is still this one (under the mutex, so no
    starter is between opening it and locking it), then close it. A holder that dies without
    this leaves a file nobody holds, which the next start takes."""
    with contextlib.suppress(OSError), _lock_mutex(store, exclusive=True):
        if os.path.samestat(os.fstat(fd), os.stat(_lock_path(store), follow_symlinks=False)):
            _lock_path(store).unlink()
    with contextlib.suppress(OSError):
        os.close(fd)


def is_training_process(holder: dict) -> bool:
    """Whether the lock's holder is still the process it names: the same start time (so not a
    reused pid) and this project's train.py on its command line."""
    pid = holder["pid"]
    if process_start(pid) != holder["start"] or not pid_alive(pid):
        return False
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    # `python train.py ...`, or `python -m digits train ...` (what the dashboard launches)
    return any(Path(os.fsdecode(arg)).name == "train.py" for arg in argv[1:3]) \
        or argv[1:4] == [b"-m", b"digits", b"train"]


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


def read_run_config(run_dir: Path) -> dict:
    """A run's config.json, or {} when it is missing or not a valid config."""
    try:
        config = json.loads(read_store_file(run_dir / "config.json", MAX_CONFIG_BYTES))
        check_fields(config, CONFIG_SCHEMA, "config.json")
        return config
    except (OSError, ValueError):
        return {}


def run_status(store: ModelStore, run_id: str) -> RunStatus:
    validate_version_id(run_id)
    run_dir = store.runs_dir / run_id
    events = read_events(run_dir)
    config = read_run_config(run_dir)
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
    found = []
    try:
        for entry in os.scandir(store.runs_dir):
            with contextlib.suppress(OSError):  # removed meanwhile
                if is_valid_id(entry.name) and entry.is_dir(follow_symlinks=False):
                    found.append((os.lstat(Path(entry.path) / "config.json").st_mtime, entry.name))
    except OSError:  # no runs folder (yet)
        return []
    return [run_status(store, run_id) for _, run_id in sorted(found, reverse=True)]


def current_run(store: ModelStore) -> str | None:
    holder = read_lock(store)
    return holder.get("run_id") if holder else None


# -- start and stop -------------------------------------------------------------------------
def new_run_id(config: TrainConfig) -> str:
    """The config's name, or the time, the preset and a random suffix (two starts in the same
    second never share an id)."""
    return config.name or generated_run_id(config.preset)


def generated_run_id(kind: str) -> str:
    """The time, `kind` (a preset, 'committee') and a random suffix."""
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{kind}-{secrets.token_hex(3)}"


def prepare_run_dir(store: ModelStore, run_id: str, config: TrainConfig | dict) -> Path:
    """Create the run's folder, which must be new: a name used by any run or version is refused.
    `config` is kept as its config.json (a dict as it is: a committee's settings)."""
    validate_version_id(run_id)
    if store.path(run_id).exists():
        raise StoreError(f"version {run_id!r} exists already; choose another name")
    run_dir = store.runs_dir / run_id
    with store_writes(f"create the folder of run {run_id!r}"):
        store.runs_dir.mkdir(parents=True, exist_ok=True)
        try:
            run_dir.mkdir()
        except FileExistsError:
            raise StoreError(f"a run named {run_id!r} exists already; choose another name") from None
        try:
            settings = config if isinstance(config, dict) else config.to_dict()
            (run_dir / "config.json").write_text(json.dumps(settings, indent=2))
        except BaseException:
            shutil.rmtree(run_dir, ignore_errors=True)
            raise
    return run_dir


def start_run(config: TrainConfig, store: ModelStore | None = None, data_dir: str | None = None) -> str:
    """Launch `digits train` (train.py's command) as its own process for `config`; returns the run
    id at once. RunBusy when a run is already in progress (from any session or process);
    StoreError when the name is taken or the store cannot be written."""
    store = store or ModelStore()
    config.validate()
    run_id = new_run_id(config)
    lock = acquire_lock(store, run_id)  # atomic: of two simultaneous starts, one wins
    try:
        run_dir = prepare_run_dir(store, run_id, config)
        with store_writes(f"start run {run_id!r}"):
            EventLog(run_dir).emit("queued")
            env = {**os.environ, "DIGITS_STORE": str(store.root), "PYTHONUNBUFFERED": "1"}
            argv = [sys.executable, "-m", "digits", "train", *config.to_argv(), "--run-id", run_id,
                    "--lock-fd", str(lock)]
            if data_dir:
                argv += ["--data-dir", str(data_dir)]
            with open(run_dir / "output.log", "ab") as output:
                process = subprocess.Popen(argv, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                           cwd=PROJECT_ROOT, env=env, start_new_session=True, pass_fds=(lock,))
    except BaseException:
        release_lock(store, lock)
        raise
    hand_over_lock(store, lock, run_id, process.pid)
    os.close(lock)  # from here on only the training process holds it
    # Reap the child when it ends, so it never lingers as a zombie that looks alive.
    threading.Thread(target=process.wait, daemon=True, name=f"reap-{run_id}").start()
    return run_id


def stop_run(store: ModelStore | None = None) -> str | None:
    """Ask the run in progress to cancel (SIGTERM: it stops after the current batch, saves
    nothing and marks itself cancelled). Returns its id, or None when nothing runs. Only the
    run's own train.py is ever signalled (see the module's docstring)."""
    store = store or ModelStore()
    holder = read_lock(store)
    if holder is None or not is_training_process(holder):
        return None
    with contextlib.suppress(OSError, StoreError):  # a read-only store: the signal still goes
        EventLog(store.runs_dir / holder["run_id"]).emit("stop")  # its state if it dies before it can say so
    try:
        os.kill(holder["pid"], signal.SIGTERM)
    except ProcessLookupError:
        return None
    except PermissionError:
        raise StoreError(f"run {holder['run_id']!r} belongs to another user: it cannot be stopped from "
                         "here") from None
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
