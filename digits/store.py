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
import errno
import hashlib
import json
import math
import os
import re
import shutil
import stat
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
VERSION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,79}")  # always fullmatch: `$` would pass "id\n"
RESERVED_IDS = {"runs", *ACTIVE_FILE.values()}
# Size caps of the files the app reads (a store file is never read whole without one).
MAX_META_BYTES = 4 * 2**20       # meta.json (the shipped one is ~11 KB)
MAX_POINTER_BYTES = 4096         # ACTIVE, ACTIVE-number and runs/LOCK
MAX_MODEL_BYTES = 256 * 2**20    # model.keras / model.tflite (the shipped ones are ~1 MB)
MAX_CACHE_BYTES = 64 * 2**20     # a version's cached results (digits.results)
MAX_INDEX_BYTES = 64 * 2**20     # .index/versions.json


class StoreError(RuntimeError):
    """A version is unknown, broken or cannot be written; the message says which and why."""


class UnsafeFile(ValueError):
    """A store file that is not read: a symbolic link, not a regular file (FIFO, device), or too large."""


def is_valid_id(name) -> bool:
    return isinstance(name, str) and VERSION_ID.fullmatch(name) is not None and ".." not in name \
        and name not in RESERVED_IDS


def validate_version_id(version: str) -> str:
    if not is_valid_id(version):
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
        try:
            found |= {entry.name for entry in os.scandir(self.root) if is_valid_id(entry.name)
                      and entry.is_dir(follow_symlinks=True)}  # a symlinked folder is listed, as broken
        except OSError:  # no store yet, or not a readable folder
            pass
        return sorted(found, key=lambda v: (v not in SHIPPED, v))

    def info(self, version: str) -> VersionInfo:
        path = self.path(version)
        if not path.is_dir():
            raise StoreError(f"unknown version {version!r}; `python -m digits models` lists them")
        meta, error = None, None
        try:
            if path.is_symlink():
                raise UnsafeFile("the version folder is a symbolic link (not followed)")
            meta = parse_meta(read_store_file(path / "meta.json", MAX_META_BYTES))
        except FileNotFoundError:
            error = "meta.json is missing"
        except UnsafeFile as err:
            error = str(err)
        except (ValueError, OSError) as err:  # bad UTF-8 or JSON, a wrong type, an I/O error
            error = f"meta.json is malformed ({err})"
        if error is None:
            error = model_file_problem(path / "model.keras")
        return VersionInfo(version, path, meta, error, version == self.active(task_of(meta)))

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
        version = self._active_pointer(task)
        if version is not None and self.path(version).joinpath("model.keras").is_file():
            return version
        return SHIPPED_FOR_TASK[task]

    def _active_pointer(self, task: str = DIGIT_TASK) -> str | None:
        """The valid version id the task's pointer (ACTIVE, ACTIVE-number) names, or None (no file,
        or anything else in it)."""
        try:
            version = read_store_file(self.root / ACTIVE_FILE[task], MAX_POINTER_BYTES).decode("utf-8").strip()
        except (OSError, ValueError):
            return None
        return version if is_valid_id(version) else None

    def activate(self, version: str) -> None:
        """Make a version the active one of its task (a number version does not replace the digit model)."""
        info = self.info(version)
        if info.broken:
            raise StoreError(f"version {version!r} is broken ({info.error}); it cannot be made active")
        with store_writes(f"make {version!r} the active version"):
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
            model = keras.saving.load_model(info.path / "model.keras", compile=False, safe_mode=True)
        except Exception as err:  # noqa: BLE001 - Keras raises many types for a bad archive
            raise StoreError(f"version {version!r}: model.keras cannot be loaded ({type(err).__name__}: "
                             f"{str(err)[:200]})") from err
        problem = model_shape_problem(model.input_shape, model.inputs[0].dtype, model.output_shape, info.task) \
            if len(model.inputs) == 1 and len(model.outputs) == 1 else "must have one input and one output"
        if problem:
            raise StoreError(f"version {version!r} is broken: model.keras {problem}")
        return model

    def model_bytes(self, version: str, name: str = "model.keras") -> bytes:
        """A version's model file as it is (the Models page's downloads): a regular file inside
        the version folder only, never what a symbolic link points to."""
        if name not in MODEL_FILES:
            raise StoreError(f"{name!r} is not a model file ({', '.join(MODEL_FILES)})")
        info = self.info(version)
        try:
            return read_store_file(info.path / name, MAX_MODEL_BYTES)
        except (OSError, ValueError) as err:
            raise StoreError(f"version {version!r}: {name} cannot be read ({err})") from err

    def tflite(self, version: str | None = None) -> bytes | None:
        """A version's `model.tflite` (its LiteRT export), or None when it has none, when the file
        does not match the SHA-256 in meta.json (damaged), or when `model.keras` is no longer the
        file it was exported from (replaced or damaged: then loading the version must say so)."""
        info = self.usable(version)
        try:
            flatbuffer = read_store_file(info.path / "model.tflite", MAX_MODEL_BYTES)
            record = tflite_record(info.path / "model.keras", flatbuffer)
        except (OSError, ValueError):
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
        with store_writes(f"save version {version!r}"):
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
        with store_writes(f"write {version!r}'s model.tflite"):
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
        with store_writes(f"write {version!r}'s {INT8_FILE}"):
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
        # Rename first so readers never see a half-deleted folder; the name is unique to this
        # call, so two deletes at once never share a trash folder.
        with store_writes(f"delete version {version!r}"):
            trash = Path(tempfile.mkdtemp(prefix=f".tmp-deleted-{version}-", dir=path.parent))
            try:
                os.rename(path, trash / version)
            except FileNotFoundError:  # another delete of the same version won the race
                os.rmdir(trash)
                raise StoreError(f"version {version!r} was deleted meanwhile (by another session or "
                                 "process)") from None
            except OSError:
                os.rmdir(trash)
                raise
            shutil.rmtree(trash, ignore_errors=True)
            for task, name in ACTIVE_FILE.items():
                if self._active_pointer(task) == version:
                    (self.root / name).unlink(missing_ok=True)

    # -- per-version cache files (results fixed for a version; see digits.results) ------------
    def read_cache(self, version: str, name: str) -> bytes | None:
        """A cache file beside a version (None when it has none); its reader checks its digest."""
        validate_cache_name(name)
        try:
            return read_store_file(self.path(version) / name, MAX_CACHE_BYTES)
        except (OSError, ValueError):  # none, or not a regular file of a sane size: recomputed
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
        try:  # the index is a store file like any other: read capped, checked entry by entry
            data = json.loads(read_store_file(index, MAX_INDEX_BYTES))
            if data.get("stamp") != stamp or data.get("format") != INDEX_FORMAT:
                raise ValueError("stale")
            entries = [_checked_entry(entry) for entry in data["versions"]]
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
MODEL_FILES = ("model.keras", "model.tflite", INT8_FILE)
INDEX_DIR, INDEX_FILE, INDEX_FORMAT = ".index", "versions.json", 2   # 2: entries hold the task
# What a listing shows of each version's meta.json (the Models page's table, the version pickers).
INDEX_FIELDS = ("preset", "task", "config", "created", "train_seconds", "architecture", "tflite", "int8")
INDEX_TEST_FIELDS = ("accuracy", "confusion_4_9")
CACHE_NAME = re.compile(r"^[a-z0-9_]+\.(npz|json)$")


def validate_cache_name(name: str) -> str:
    if not CACHE_NAME.match(name) or name == "meta.json":
        raise StoreError(f"invalid cache file name {name!r}")
    return name


def _checked_entry(entry: dict) -> dict:
    """An index entry, if it is one the app could have written (ValueError otherwise)."""
    if not (is_valid_id(entry["id"]) and isinstance(entry["error"], (str, NULL))
            and (entry["meta"] is None or check_meta(entry["meta"]))):
        raise ValueError(f"index entry {entry!r:.80}")
    return entry


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
            "keras_sha256": hashlib.sha256(read_store_file(model_file, MAX_MODEL_BYTES)).hexdigest()}


# -- reading what the store holds, whoever wrote it ------------------------------------------------
def read_store_file(path: Path, limit: int) -> bytes:
    """The bytes of `path`, only if it is a regular file (not a FIFO or a device) of at most
    `limit` bytes, and not a symbolic link (which could point anywhere). Opened without blocking,
    so a FIFO is refused instead of hanging the reader; UnsafeFile says why a file is refused."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise UnsafeFile(f"{path.name} is a symbolic link (not followed)") from None
        raise
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnsafeFile(f"{path.name} is not a regular file")
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise UnsafeFile(f"{path.name} is larger than {limit:,} bytes")
    return data


def model_file_problem(model_file: Path) -> str | None:
    """Why a version's model.keras is unusable, or None: it must be a non-empty regular file
    (not a link) that is a zip archive (checked from the archive's directory at its end only)."""
    try:
        info = os.lstat(model_file)
    except FileNotFoundError:
        return "model.keras is missing or empty"
    except OSError as err:
        return f"model.keras cannot be read ({err.strerror})"
    if stat.S_ISLNK(info.st_mode):
        return "model.keras is a symbolic link (not followed)"
    if not stat.S_ISREG(info.st_mode):
        return "model.keras is not a regular file"
    if info.st_size == 0:
        return "model.keras is missing or empty"
    if info.st_size > MAX_MODEL_BYTES:
        return f"model.keras is larger than {MAX_MODEL_BYTES:,} bytes"
    if not zipfile.is_zipfile(model_file):
        return "model.keras is damaged or truncated (not a Keras archive)"
    return None


def model_shape_problem(input_shape, input_dtype, output_shape, task: str = DIGIT_TASK) -> str | None:
    """What is wrong with a model's signature (Keras or LiteRT) for its task, or None when it takes
    float32 [N, 28, 28, 1] and gives [N, 10] (a digit model), or takes float32 [N, 32, 256, 1] and
    gives [N, 64, 11] (a number model: digits.numbers' strip and frames); N: any batch size, None
    or -1 when it is not fixed."""
    wanted_input, wanted_output, what = _signature(task)
    input_shape, output_shape = tuple(input_shape), tuple(output_shape)
    if input_shape[1:] != wanted_input or str(getattr(input_dtype, "name", input_dtype)) != "float32":
        return (f"takes {str(getattr(input_dtype, 'name', input_dtype))} {_shape_text(input_shape)}; "
                f"the app gives float32 {_shape_text((None, *wanted_input))}")
    if output_shape[1:] != wanted_output:
        return f"gives {_shape_text(output_shape)}; the app needs {_shape_text((None, *wanted_output))} ({what})"
    return None


def _signature(task: str) -> tuple[tuple, tuple, str]:
    """(input shape, output shape, what the output is) of a task's models, without the batch."""
    from digits.data import NUM_CLASSES

    if task == NUMBER_TASK:
        from digits.numbers import BLANK, FRAMES, STRIP_HEIGHT, STRIP_WIDTH

        return (STRIP_HEIGHT, STRIP_WIDTH, 1), (FRAMES, BLANK + 1), "per frame, a score per digit and the blank"
    return (28, 28, 1), (NUM_CLASSES,), "one probability per digit"


def _shape_text(shape) -> str:
    return "[" + ", ".join("N" if i == 0 else str(d) for i, d in enumerate(shape)) + "]"


NUMBER = (int, float)
NULL = type(None)
# The meta.json fields the app reads, with the types they must have when present. Other fields
# (and fields other branches of the app add) are kept as they are.
META_SCHEMA = {"id": str, "task": str, "preset": str, "created": str, "command": str, "train_seconds": NUMBER,
               "config": dict, "test": dict, "history": list, "tflite": dict, "architecture": dict,
               "data": dict, "augmentation": (dict, NULL), "versions": dict, "int8": dict}
CONFIG_SCHEMA = {"preset": str, "epochs": int, "batch_size": int, "learning_rate": NUMBER, "schedule": str,
                 "augment": bool, "class_weights": dict, "limit": (int, NULL), "seed": int,
                 "name": (str, NULL), "activate": bool}
TEST_SCHEMA = {"images": int, "accuracy": NUMBER, "per_class": list, "confusion": list,
               "top_confused": list, "confusion_4_9": dict, "misclassified": list}
HISTORY_SCHEMA = {"epoch": int, "loss": NUMBER, "accuracy": NUMBER, "val_loss": NUMBER,
                  "val_accuracy": NUMBER, "learning_rate": NUMBER, "seconds": NUMBER}
TFLITE_SCHEMA = {"sha256": str, "keras_sha256": str}
ARCHITECTURE_SCHEMA = {"name": str, "parameters": int}


def parse_meta(raw: bytes) -> dict:
    """meta.json's bytes -> its dict, after strict UTF-8 and JSON decoding and a check of every
    field the app reads; ValueError naming the first field that is wrong."""
    return check_meta(json.loads(raw.decode("utf-8")))


def check_meta(meta) -> dict:
    """`meta` itself if every field the app reads has the right type; ValueError otherwise."""
    check_fields(meta, META_SCHEMA, "meta.json")
    if meta.get("task", DIGIT_TASK) not in ACTIVE_FILE:
        raise ValueError(f"task = {meta['task']!r:.40} is not one of {', '.join(ACTIVE_FILE)}")
    for key, schema in (("config", CONFIG_SCHEMA), ("test", TEST_SCHEMA), ("tflite", TFLITE_SCHEMA),
                        ("architecture", ARCHITECTURE_SCHEMA)):
        if key in meta:
            check_fields(meta[key], schema, key)
    for number, record in enumerate(meta.get("history", [])):
        check_fields(record, HISTORY_SCHEMA, f"history[{number}]")
    for digit, weight in meta.get("config", {}).get("class_weights", {}).items():
        if not (digit.isdigit() and 0 <= int(digit) <= 9 and _has_type(weight, NUMBER)):
            raise ValueError(f"config.class_weights: {digit!r}: {weight!r} is not DIGIT: NUMBER")
    accuracy = meta.get("test", {}).get("accuracy")
    if accuracy is not None and not 0 <= accuracy <= 1:
        raise ValueError(f"test.accuracy = {accuracy!r} is not in [0, 1]")
    four_nine = meta.get("test", {}).get("confusion_4_9", {})
    if any(not _has_type(count, int) for count in four_nine.values()):
        raise ValueError("test.confusion_4_9 must hold counts")
    return meta


def check_fields(value, schema: dict, where: str) -> None:
    if not isinstance(value, dict):
        raise ValueError(f"{where} must be a JSON object, not {type(value).__name__}")
    for key, types in schema.items():
        if key in value and not _has_type(value[key], types):
            raise ValueError(f"{where}.{key} must be {_type_names(types)}, not {type(value[key]).__name__}")


def _has_type(value, types) -> bool:
    types = types if isinstance(types, tuple) else (types,)
    if isinstance(value, bool) and bool not in types:  # JSON true is not a number here
        return False
    if isinstance(value, float) and not math.isfinite(value):
        return False
    return isinstance(value, types)


def _type_names(types) -> str:
    names = {str: "text", int: "a whole number", float: "a number", dict: "an object", list: "a list",
             bool: "true or false", NULL: "null"}
    types = types if isinstance(types, tuple) else (types,)
    return " or ".join(dict.fromkeys(names[t] for t in types if not (t is int and float in types)))


class store_writes:
    """Turns an OSError while writing the store (full, read-only, gone) into a StoreError that
    says what could not be done and why: `with store_writes("save version 'x'"): ...`."""

    def __init__(self, what: str):
        self.what = what

    def __enter__(self):
        return self

    def __exit__(self, kind, err, trace):
        if isinstance(err, OSError) and not isinstance(err, UnsafeFile):
            reason = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is used up",
                      errno.EROFS: "the store is on a read-only file system",
                      errno.EACCES: "no permission to write in the store",
                      errno.EPERM: "no permission to write in the store",
                      errno.EFBIG: "the file size limit is reached"}.get(err.errno, err.strerror or str(err))
            raise StoreError(f"could not {self.what}: {reason} ({err.filename or ''})".replace(" ()", "")) \
                from err
        return False


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
