"""The model store: one folder per version, `model.keras` + `meta.json` (+ `model.tflite`), written atomically.

Layout (root = env DIGITS_STORE, else `model_store/` in a source checkout, else the user's data
folder: see `default_root`):
  <root>/<version>/model.keras, meta.json   user-trained versions (not tracked by git)
  <root>/<version>/model.tflite             the same network for LiteRT (digests in meta.json)
  <root>/ACTIVE                             the active version id (not tracked by git)
  <root>/runs/<run id>/                     training runs' event logs (see digits.runs)
The shipped default always lives in the project's `model_store/default/` (tracked by git), so a
store elsewhere still has it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from digits.data import PROJECT_ROOT, SOURCE_CHECKOUT

DEFAULT_VERSION = "default"
# In a source checkout the shipped versions are `model_store/default/` and `model_store/default-number/`;
# `pip install .` installs the same files as the package data `digits/shipped/` and
# `digits/shipped_number/` (see pyproject.toml).
_PACKAGE_DIR = Path(__file__).resolve().parent
SHIPPED_DIR = PROJECT_ROOT / "model_store" / DEFAULT_VERSION if SOURCE_CHECKOUT else _PACKAGE_DIR / "shipped"
# What a version does, from meta.json's "task" (a plain string; versions without one read digits).
DIGIT_TASK, NUMBER_TASK = "digit", "number"
DEFAULT_NUMBER_VERSION = "default-number"    # the shipped number reader
SHIPPED_NUMBER_DIR = PROJECT_ROOT / "model_store" / DEFAULT_NUMBER_VERSION if SOURCE_CHECKOUT \
    else _PACKAGE_DIR / "shipped_number"
SHIPPED = {DEFAULT_VERSION: SHIPPED_DIR, DEFAULT_NUMBER_VERSION: SHIPPED_NUMBER_DIR}
SHIPPED_FOR_TASK = {DIGIT_TASK: DEFAULT_VERSION, NUMBER_TASK: DEFAULT_NUMBER_VERSION}
ACTIVE_FILE = {DIGIT_TASK: "ACTIVE", NUMBER_TASK: "ACTIVE-number"}   # each task has its own active version
VERSION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")
RESERVED_IDS = {"runs", *ACTIVE_FILE.values()}


class StoreError(RuntimeError):
    """A version is unknown, broken or cannot be written; the message says which and why."""


def validate_version_id(version: str) -> str:
    if not isinstance(version, str) or not VERSION_ID.match(version) or ".." in version \
            or version in RESERVED_IDS:
        raise StoreError(
            f"invalid version id {version!r}: use 1-80 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (no '..' or path separators)")
    return version


def default_root() -> Path:
    """DIGITS_STORE; else `model_store/` in a source checkout, or the user's data folder
    (`$XDG_DATA_HOME/digits/model_store`, by default `~/.local/share/digits/model_store`)."""
    if os.environ.get("DIGITS_STORE"):
        return Path(os.environ["DIGITS_STORE"])
    if SOURCE_CHECKOUT:
        return PROJECT_ROOT / "model_store"
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "digits" / "model_store"


@dataclass(frozen=True)
class VersionInfo:
    id: str
    path: Path
    meta: dict | None      # None when broken
    error: str | None      # why the version is broken
    active: bool = False

    @property
    def broken(self) -> bool:
        return self.error is not None

    @property
    def task(self) -> str:
        """"digit" or "number" (a version whose meta.json names no task reads digits)."""
        return task_of(self.meta)

    @property
    def test_accuracy(self) -> float | None:
        return ((self.meta or {}).get("test") or {}).get("accuracy")


class ModelStore:
    def __init__(self, root: str | Path | None = None):
        self.root = Path(root) if root else default_root()

    # -- paths ---------------------------------------------------------------------------------
    def path(self, version: str) -> Path:
        validate_version_id(version)
        if version in SHIPPED:
            return SHIPPED[version]
        return self.root / version

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    # -- listing -------------------------------------------------------------------------------
    def ids(self) -> list[str]:
        found = {version for version, folder in SHIPPED.items() if folder.is_dir()}
        if self.root.is_dir():
            found |= {p.name for p in self.root.iterdir()
                      if p.is_dir() and VERSION_ID.match(p.name) and p.name not in RESERVED_IDS
                      and ".." not in p.name}
        return sorted(found, key=lambda v: (v not in SHIPPED, v))

    def info(self, version: str) -> VersionInfo:
        path = self.path(version)
        if not path.is_dir():
            raise StoreError(f"unknown version {version!r}; `python -m digits models` lists them")
        try:
            meta = json.loads((path / "meta.json").read_text())
            if not isinstance(meta, dict):
                raise ValueError("not a JSON object")
        except FileNotFoundError:
            return VersionInfo(version, path, None, "meta.json is missing", version == self.active())
        except (ValueError, OSError) as err:
            return VersionInfo(version, path, None, f"meta.json is malformed ({err})", version == self.active())
        active = version == self.active(task_of(meta))
        model_file = path / "model.keras"
        if not model_file.is_file() or model_file.stat().st_size == 0:
            return VersionInfo(version, path, meta, "model.keras is missing or empty", active)
        if not zipfile.is_zipfile(model_file):  # reads only the archive's directory at its end
            return VersionInfo(version, path, meta, "model.keras is damaged or truncated (not a Keras archive)",
                               active)
        return VersionInfo(version, path, meta, None, active)

    def list(self) -> list[VersionInfo]:
        """Every version, broken ones flagged rather than raised; newest user versions last."""
        out = []
        for version in self.ids():
            try:
                out.append(self.info(version))
            except StoreError:  # deleted while listing
                continue
        return out

    # -- active version ------------------------------------------------------------------------
    def active(self, task: str = DIGIT_TASK) -> str:
        """The active version id of a task (digit or number); the task's shipped default when none
        is set or the set one is gone."""
        try:
            version = (self.root / ACTIVE_FILE[task]).read_text().strip()
            validate_version_id(version)
            if self.path(version).joinpath("model.keras").is_file():
                return version
        except (OSError, StoreError):
            pass
        return SHIPPED_FOR_TASK[task]

    def activate(self, version: str) -> None:
        """Make a version the active one of its task (a number version does not replace the digit model)."""
        info = self.info(version)
        if info.broken:
            raise StoreError(f"version {version!r} is broken ({info.error}); it cannot be made active")
        self.root.mkdir(parents=True, exist_ok=True)
        _atomic_write_text(self.root / ACTIVE_FILE[info.task], version + "\n")

    # -- loading -------------------------------------------------------------------------------
    def usable(self, version: str | None = None) -> VersionInfo:
        """The info of a version (the active one by default) that can be loaded; StoreError if not."""
        version = self.active() if version is None else version
        info = self.info(version)
        if info.broken:
            raise StoreError(f"version {version!r} is broken: {info.error}")
        return info

    def load(self, version: str | None = None):
        """The Keras model of a version (the active one by default), loaded in safe mode."""
        import keras  # lazy: listing versions must not pay for TensorFlow

        info = self.usable(version)
        version = info.id
        try:
            return keras.saving.load_model(info.path / "model.keras", compile=False, safe_mode=True)
        except Exception as err:  # noqa: BLE001 - Keras raises many types for a bad archive
            raise StoreError(f"version {version!r}: model.keras cannot be loaded ({type(err).__name__}: "
                             f"{str(err)[:200]})") from err

    def tflite(self, version: str | None = None) -> bytes | None:
        """A version's `model.tflite` (its LiteRT export), or None when it has none, when the file
        does not match the SHA-256 in meta.json (damaged), or when `model.keras` is no longer the
        file it was exported from (replaced or damaged: then loading the version must say so)."""
        info = self.usable(version)
        try:
            flatbuffer = (info.path / "model.tflite").read_bytes()
            record = tflite_record(info.path / "model.keras", flatbuffer)
        except OSError:
            return None
        return flatbuffer if info.meta.get("tflite") == record else None

    # -- writing -------------------------------------------------------------------------------
    def save(self, version: str, write: Callable[[Path], None], overwrite: bool = False) -> Path:
        """Let `write(folder)` fill a temporary folder, then rename it into place in one step,
        so a crash at any moment leaves either the whole version or none of it."""
        validate_version_id(version)
        if version in SHIPPED and not overwrite:
            raise StoreError("the shipped default cannot be overwritten by a training run")
        final = self.path(version)
        if final.exists() and not overwrite:
            raise StoreError(f"version {version!r} exists already; choose another --name")
        final.parent.mkdir(parents=True, exist_ok=True)
        self._remove_stale_temporaries(final.parent)
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{version}-", dir=final.parent))
        try:
            write(tmp)
            for name in ("model.keras", "model.tflite", "meta.json"):
                _fsync(tmp / name)
            if final.exists():  # overwrite: move the old one aside first, then drop it
                old = final.parent / f".old-{version}-{os.getpid()}"
                os.rename(final, old)
                os.rename(tmp, final)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.rename(tmp, final)
        except BaseException as err:
            shutil.rmtree(tmp, ignore_errors=True)
            if isinstance(err, OSError):
                raise StoreError(f"could not save version {version!r}: {err.strerror or err} "
                                 f"(earlier versions are untouched)") from err
            raise
        return final

    def add_tflite(self, version: str, flatbuffer: bytes) -> Path:
        """Give an existing version its `model.tflite`: the file first, then its digest in
        meta.json, each replaced in one step (a crash in between leaves a file that is ignored)."""
        info = self.usable(version)
        target = info.path / "model.tflite"
        _atomic_write_bytes(target, flatbuffer)
        _atomic_write_text(info.path / "meta.json", json_text(
            {**info.meta, "tflite": tflite_record(info.path / "model.keras", flatbuffer)}))
        self.refresh_index()
        return target

    def add_int8(self, version: str, flatbuffer: bytes, record: dict) -> Path:
        """Give a version its `model_int8.tflite` (see digits.quantize): the file, then `record`
        (its parity check, size and speed) with its digests under "int8" in meta.json."""
        info = self.usable(version)
        target = info.path / INT8_FILE
        _atomic_write_bytes(target, flatbuffer)
        _atomic_write_text(info.path / "meta.json", json_text(
            {**info.meta, "int8": {**tflite_record(info.path / "model.keras", flatbuffer), **record}}))
        self.refresh_index()
        return target

    def _remove_stale_temporaries(self, parent: Path) -> None:
        """Temporary folders of writers that died (SIGKILL) are invisible to listing; sweep them."""
        for tmp in parent.glob(".tmp-*"):
            try:
                if tmp.stat().st_mtime < time.time() - 3600:
                    shutil.rmtree(tmp, ignore_errors=True)
            except OSError:
                pass

    def delete(self, version: str) -> None:
        if version in SHIPPED:
            raise StoreError("the shipped default cannot be deleted")
        path = self.path(version)
        if not path.is_dir():
            raise StoreError(f"unknown version {version!r}")
        # Rename first so readers never see a half-deleted folder.
        trash = path.parent / f".tmp-deleted-{version}-{os.getpid()}"
        os.rename(path, trash)
        shutil.rmtree(trash, ignore_errors=True)
        for name in ACTIVE_FILE.values():
            if (self.root / name).is_file() and (self.root / name).read_text().strip() == version:
                (self.root / name).unlink(missing_ok=True)

    # -- per-version cache files (results fixed for a version; see digits.results) ------------
    def read_cache(self, version: str, name: str) -> bytes | None:
        """A cache file beside a version (None when it has none); its reader checks its digest."""
        validate_cache_name(name)
        try:
            return (self.path(version) / name).read_bytes()
        except OSError:
            return None

    def write_cache(self, version: str, name: str, data: bytes) -> None:
        """Replace a cache file beside a version in one step (readers see the old file or the new)."""
        validate_cache_name(name)
        folder = self.path(version)
        if not folder.is_dir():
            raise StoreError(f"unknown version {version!r}")
        _atomic_write_bytes(folder / name, data)

    # -- the index: what listing needs, without parsing every meta.json --------------------------
    def catalog(self) -> list[VersionInfo]:
        """Every version as `list()` gives it, but each `meta` cut down to what a listing shows
        (INDEX_FIELDS), read from `<root>/.index/versions.json`. The index is rebuilt whenever the
        store's folder changed since it was written (a version saved, renamed into place or
        deleted changes the folder's modification time), so its cost does not grow with the
        number of versions between changes."""
        index = self.root / INDEX_DIR / INDEX_FILE
        if self.root.is_dir() and not index.parent.is_dir():
            with contextlib.suppress(OSError):  # once: creating it changes the store folder's time stamp
                index.parent.mkdir()
        stamp = self._index_stamp()
        try:
            data = json.loads(index.read_text())
            if data.get("stamp") != stamp or data.get("format") != INDEX_FORMAT:
                raise ValueError("stale")
            entries = data["versions"]
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            entries = self._rebuild_index(stamp)
        active = {self.active(task) for task in ACTIVE_FILE}   # each task's active version
        return [VersionInfo(e["id"], self.path(e["id"]), e["meta"], e["error"], e["id"] in active)
                for e in entries]

    def refresh_index(self) -> None:
        """Rebuild the index now: after a change inside a version's folder (a new export)."""
        self._rebuild_index(self._index_stamp())

    def _index_stamp(self) -> list[int]:
        stamps = []
        for path in (self.root, *(folder / name for folder in SHIPPED.values() for name in ("meta.json", "model.keras"))):
            try:
                stamps.append(path.stat().st_mtime_ns)
            except OSError:
                stamps.append(0)
        return stamps

    def _rebuild_index(self, stamp: list[int]) -> list[dict]:
        # `stamp` was taken before the scan: a change during it makes the next read rebuild again.
        entries = [{"id": info.id, "meta": _summary(info.meta), "error": info.error} for info in self.list()]
        if self.root.is_dir():
            with contextlib.suppress(OSError):  # a read-only store still lists, only slower
                _atomic_write_text(self.root / INDEX_DIR / INDEX_FILE, json.dumps(
                    {"format": INDEX_FORMAT, "stamp": stamp, "versions": entries}))
        return entries

    def meta(self, version: str) -> dict:
        info = self.info(version)
        if info.meta is None:
            raise StoreError(f"version {version!r} is broken: {info.error}")
        return info.meta


def task_of(meta: dict | None) -> str:
    """What a version's meta.json says it does: "number", or "digit" (also when it says nothing)."""
    task = (meta or {}).get("task", DIGIT_TASK)
    return task if task in ACTIVE_FILE else DIGIT_TASK


INT8_FILE = "model_int8.tflite"  # full-integer export for phones (python -m digits export --int8)
INDEX_DIR, INDEX_FILE, INDEX_FORMAT = ".index", "versions.json", 2   # 2: entries hold the task
# What a listing shows of each version's meta.json (the Models page's table, the version pickers).
INDEX_FIELDS = ("preset", "task", "config", "created", "train_seconds", "architecture", "tflite", "int8")
INDEX_TEST_FIELDS = ("accuracy", "confusion_4_9")
CACHE_NAME = re.compile(r"^[a-z0-9_]+\.(npz|json)$")


def validate_cache_name(name: str) -> str:
    if not CACHE_NAME.match(name) or name == "meta.json":
        raise StoreError(f"invalid cache file name {name!r}")
    return name


def _summary(meta: dict | None) -> dict | None:
    if meta is None:
        return None
    summary = {key: meta[key] for key in INDEX_FIELDS if key in meta}
    if isinstance(meta.get("test"), dict):
        summary["test"] = {key: meta["test"][key] for key in INDEX_TEST_FIELDS if key in meta["test"]}
    return summary


def tflite_record(model_file: Path, flatbuffer: bytes) -> dict:
    """What meta.json says of a version's model.tflite: its SHA-256, and that of the model.keras
    it was exported from."""
    return {"sha256": hashlib.sha256(flatbuffer).hexdigest(),
            "keras_sha256": hashlib.sha256(model_file.read_bytes()).hexdigest()}


def _fsync(path: Path) -> None:
    if path.is_file():
        with open(path, "rb") as handle:
            os.fsync(handle.fileno())


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _atomic_write_text(path: Path, text: str) -> None:
    _atomic_write_bytes(path, text.encode())


def json_text(data: dict) -> str:
    return json.dumps(data, indent=2, sort_keys=False) + "\n"


def write_json(path: Path, data: dict) -> None:
    path.write_text(json_text(data))
