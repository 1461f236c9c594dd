"""The user's own handwriting: labelled samples in an embedded SQLite database.

One file, `<store>/samples.db` beside the model versions (`DIGITS_STORE` moves both), in WAL mode
so readers never block the writer. Every write is one `BEGIN IMMEDIATE` transaction, so two
sessions saving at once both succeed (the second waits for the first, up to BUSY_SECONDS).
The schema is versioned (`PRAGMA user_version`): MIGRATIONS[i] takes a file from version i to
i + 1, and a new file is made by running them all, so every released version upgrades in place.
A file at that path that is not ours (another program's SQLite file, a damaged one, anything
else) raises SampleError and is never written to.

The samples are split once, by id, into 80% for fine-tuning and 20% held out (`held_out`).
Zip import/export: digits/sample_archive.py; what a fine-tune trains on: digits/personal.py.
"""

from __future__ import annotations

import hashlib
import io
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from digits.preprocessing import load_image

DB_NAME = "samples.db"
APPLICATION_ID = 0x44474954          # "DGIT": marks the file as this project's samples database
BUSY_SECONDS = 10.0                  # how long a writer waits for another writer's transaction
MAX_IMAGE_BYTES = 1_000_000          # an original image, as stored (PNG)
DEFAULT_WRITER = "me"
MAX_WRITER_CHARS = 60
MAX_LABEL_CHARS = 40                 # a number's digit string
SOURCES = ("canvas", "upload", "import")
HELD_OUT_EVERY = 5                   # one sample in five is held out
SQLITE_HEADER = b"SQLite format 3\x00"

# MIGRATIONS[i] upgrades schema version i to i + 1 (version 0: an empty file).
MIGRATIONS: tuple[str, ...] = (
    # 1: the first release: one digit per sample.
    """
    CREATE TABLE samples (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        label INTEGER NOT NULL CHECK (label BETWEEN 0 AND 9),
        image BLOB NOT NULL,            -- the original image, PNG
        model_input BLOB,               -- the prepared 28x28 input, uint8 row-major (784 bytes)
        predicted INTEGER,
        confidence REAL,
        model_version TEXT,
        source TEXT NOT NULL,
        created TEXT NOT NULL
    );
    """,
    # 2: writers, and labels that may be a number's digit string ("2026"): the table is rebuilt,
    # because SQLite cannot change a column's type or CHECK in place.
    """
    CREATE TABLE samples_v2 (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        label TEXT NOT NULL CHECK (length(label) BETWEEN 1 AND 40 AND label NOT GLOB '*[^0-9]*'),
        image BLOB NOT NULL,
        model_input BLOB CHECK (model_input IS NULL OR length(model_input) = 784),
        predicted TEXT,
        confidence REAL,
        model_version TEXT,
        source TEXT NOT NULL CHECK (source IN ('canvas', 'upload', 'import')),
        writer TEXT NOT NULL DEFAULT 'me',
        created TEXT NOT NULL
    );
    INSERT INTO samples_v2 (id, label, image, model_input, predicted, confidence, model_version, source, created)
        SELECT id, CAST(label AS TEXT), image, model_input, CAST(predicted AS TEXT), confidence, model_version,
               source, created FROM samples;
    DROP TABLE samples;
    ALTER TABLE samples_v2 RENAME TO samples;
    CREATE INDEX samples_writer ON samples (writer);
    CREATE INDEX samples_label ON samples (label);
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)
COLUMNS = "id, label, model_input, predicted, confidence, model_version, source, writer, created"


class SampleError(RuntimeError):
    """The samples database cannot be used, or a sample is invalid; the message says why."""


@dataclass(frozen=True)
class Sample:
    """One labelled sample, without its original image (`SampleStore.images(ids)` reads those)."""
    id: int
    label: str                        # "0".."9", or a number's digit string
    model_input: np.ndarray | None = field(repr=False)  # uint8 [28, 28], ink = 255 (None: a whole number)
    predicted: str | None             # what the model read, when it was asked
    confidence: float | None
    model_version: str | None
    source: str                       # canvas | upload | import
    writer: str
    created: str

    @property
    def misread(self) -> bool:
        return self.predicted is not None and self.predicted != self.label

    @property
    def held_out(self) -> bool:
        return held_out(self.id)

    @property
    def is_digit(self) -> bool:
        return len(self.label) == 1 and self.model_input is not None


def held_out(sample_id: int) -> bool:
    """The fixed 80/20 split: a sample is held out when a hash of its id says so. A hash rather
    than `id % 5`, so that samples entered in a cycle (0, 1, ..., 9, 0, ...) spread over both sides."""
    return hashlib.sha256(str(sample_id).encode()).digest()[0] % HELD_OUT_EVERY == 0


def default_path() -> Path:
    from digits.store import default_root

    return default_root() / DB_NAME


# -- validation of what goes in --------------------------------------------------------------
def check_label(label, digit_only: bool = False) -> str:
    text = str(label).strip()
    if not text.isascii() or not text.isdigit() or len(text) > MAX_LABEL_CHARS \
            or (digit_only and len(text) != 1):
        raise SampleError(f"label {label!r}: must be a digit 0-9" +
                          ("" if digit_only else f" (or a number of at most {MAX_LABEL_CHARS} digits)"))
    return text


def check_writer(writer: str | None) -> str:
    name = " ".join(str(writer or "").split()) or DEFAULT_WRITER
    if len(name) > MAX_WRITER_CHARS or not name.isprintable():
        raise SampleError(f"writer {writer!r}: use at most {MAX_WRITER_CHARS} printable characters")
    return name


def png_bytes(image) -> bytes:
    """Any image (PIL, array, path or bytes) as PNG bytes, at most MAX_IMAGE_BYTES (larger
    images are reduced until they fit: only the digit matters)."""
    picture = load_image(image)
    if picture.mode not in ("L", "LA", "RGB", "RGBA"):
        picture = picture.convert("RGBA" if "A" in picture.getbands() else "RGB")
    while True:
        buffer = io.BytesIO()
        picture.save(buffer, format="PNG", compress_level=1)  # fast: saving must feel instant
        if buffer.tell() <= MAX_IMAGE_BYTES:
            return buffer.getvalue()
        picture = picture.reduce(2)


def input_bytes(model_input: np.ndarray | None) -> bytes | None:
    """float [28, 28] in [0, 1] (or uint8) -> 784 bytes, uint8 row-major."""
    if model_input is None:
        return None
    array = np.asarray(model_input)
    if array.shape != (28, 28):
        raise SampleError(f"a prepared input must be 28x28, not {array.shape}")
    if array.dtype != np.uint8:
        array = (np.clip(array, 0, 1) * 255).round().astype(np.uint8)
    return array.tobytes()


# -- the database ----------------------------------------------------------------------------
class SampleStore:
    """The database at `path`, through one connection opened on first use and kept: closing the
    last connection to a WAL database checkpoints and removes its WAL file, which would cost
    every save a rewrite. The connection serves one thread at a time (dashboard sessions are
    threads); other processes have their own, and SQLite's locks order the writers."""

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path else default_path()
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.RLock()

    # -- connections -----------------------------------------------------------------------------
    def _check_file(self) -> None:
        """Refuse anything at our path that is not an SQLite file, before SQLite touches it."""
        try:
            with open(self.path, "rb") as handle:
                head = handle.read(len(SQLITE_HEADER))
        except FileNotFoundError:
            return
        except OSError as err:
            raise SampleError(f"{self.path}: cannot be read ({err.strerror or err})") from None
        if head and head != SQLITE_HEADER:
            raise SampleError(f"{self.path} is not a samples database (not an SQLite file); it was left "
                              "untouched. Move it away, or set DIGITS_STORE to use another folder.")

    def _open(self) -> sqlite3.Connection:
        self._check_file()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # Autocommit mode: transactions are explicit (`_transaction`), never implicit.
            conn = sqlite3.connect(self.path, timeout=BUSY_SECONDS, isolation_level=None,
                                   check_same_thread=False)
        except sqlite3.Error as err:
            raise SampleError(f"{self.path}: cannot be opened ({err})") from None
        try:
            self._prepare(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _prepare(self, conn: sqlite3.Connection) -> None:
        """Check that the file is ours, create it when empty, migrate it when older: in one
        transaction, so a second process creating it at the same moment sees it before or after."""
        try:
            with _immediate(conn):
                application_id = conn.execute("PRAGMA application_id").fetchone()[0]
                version = conn.execute("PRAGMA user_version").fetchone()[0]
                tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
                fresh = application_id == 0 and version == 0 and not tables
                if not fresh and application_id != APPLICATION_ID:
                    raise SampleError(f"{self.path} is an SQLite file of another program, not a samples database; "
                                      "it was left untouched. Move it away, or set DIGITS_STORE to use another "
                                      "folder.")
                if version > SCHEMA_VERSION:
                    raise SampleError(f"{self.path} has schema version {version}, newer than this program's "
                                      f"{SCHEMA_VERSION}: update the program (the file was left untouched)")
                _migrate(conn, version, SCHEMA_VERSION)
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                conn.execute("PRAGMA journal_mode = WAL")  # persistent: set once per file
        except sqlite3.DatabaseError as err:
            raise self._damaged(err) from None

    def _damaged(self, err: Exception) -> SampleError:
        return SampleError(f"{self.path} is damaged or not a samples database ({err}); it was left untouched. "
                           "Move it away (a new one is made), or restore a backup.")

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._conn is None:
                self._conn = self._open()
            try:
                yield self._conn
            except sqlite3.DatabaseError as err:
                if isinstance(err, sqlite3.IntegrityError):
                    raise SampleError(f"refused by the database: {err}") from None
                if isinstance(err, sqlite3.OperationalError) and "locked" in str(err):
                    raise SampleError(f"{self.path} is busy (another writer held it for {BUSY_SECONDS:.0f} s); "
                                      "try again") from None
                self.close()  # the next call checks the file afresh
                raise self._damaged(err) from None

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: all of it or none of it."""
        with self._connection() as conn, _immediate(conn):
            yield conn

    # -- writing -----------------------------------------------------------------------------------
    def add(self, image, label, model_input: np.ndarray | None, *, predicted=None, confidence: float | None = None,
            model_version: str | None = None, source: str = "canvas", writer: str | None = None) -> int:
        """Save one sample; its id. `image`: the original (PIL, array, path or PNG/JPEG bytes)."""
        [sample_id] = self.add_many([dict(image=image, label=label, model_input=model_input, predicted=predicted,
                                          confidence=confidence, model_version=model_version, source=source,
                                          writer=writer)])
        return sample_id

    def add_many(self, rows: Iterable[dict]) -> list[int]:
        """Save several samples in one transaction (all or none); their ids."""
        records = [self._record(**row) for row in rows]
        with self._transaction() as conn:
            return [conn.execute(
                "INSERT INTO samples (label, image, model_input, predicted, confidence, model_version, source, "
                "writer, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", record).lastrowid for record in records]

    def _record(self, image, label, model_input, predicted=None, confidence=None, model_version=None,
                source="canvas", writer=None) -> tuple:
        if source not in SOURCES:
            raise SampleError(f"source {source!r}: must be one of {', '.join(SOURCES)}")
        label = check_label(label)
        if model_input is None and len(label) == 1:
            raise SampleError("a digit sample needs its prepared 28x28 input (no digit was found in the image)")
        raw = image if isinstance(image, bytes) and image[:8] == b"\x89PNG\r\n\x1a\n" else png_bytes(image)
        if len(raw) > MAX_IMAGE_BYTES:
            raw = png_bytes(raw)
        return (label, raw, input_bytes(model_input), None if predicted is None else str(predicted),
                None if confidence is None else float(confidence), model_version, source, check_writer(writer),
                time.strftime("%Y-%m-%dT%H:%M:%S%z"))

    def relabel(self, sample_id: int, label) -> None:
        label = check_label(label)
        with self._transaction() as conn:
            if conn.execute("UPDATE samples SET label = ? WHERE id = ?", (label, int(sample_id))).rowcount == 0:
                raise SampleError(f"no sample with id {sample_id}")

    def delete(self, sample_id: int) -> None:
        with self._transaction() as conn:
            if conn.execute("DELETE FROM samples WHERE id = ?", (int(sample_id),)).rowcount == 0:
                raise SampleError(f"no sample with id {sample_id}")

    # -- reading -----------------------------------------------------------------------------------
    def exists(self) -> bool:
        return self.path.is_file()

    def counts(self) -> list[dict]:
        """[{writer, label, samples, misread}] for every (writer, label) pair, sorted."""
        if not self.exists():
            return []
        with self._connection() as conn:
            rows = conn.execute(
                "SELECT writer, label, count(*), sum(predicted IS NOT NULL AND predicted != label) "
                "FROM samples GROUP BY writer, label ORDER BY writer, length(label), label").fetchall()
        return [{"writer": w, "label": label, "samples": n, "misread": int(m or 0)} for w, label, n, m in rows]

    def writers(self) -> list[str]:
        return sorted({row["writer"] for row in self.counts()})

    def _where(self, label: str | None, writer: str | None, misread: bool,
               writers: Iterable[str] | None = None) -> tuple[str, list]:
        clauses, params = [], []
        if label is not None:
            clauses.append("label = ?")
            params.append(str(label))
        if writer is not None:
            clauses.append("writer = ?")
            params.append(writer)
        if writers is not None:
            writers = list(writers)
            clauses.append(f"writer IN ({', '.join('?' * len(writers))})")
            params += writers
        if misread:
            clauses.append("predicted IS NOT NULL AND predicted != label")
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), params

    def find(self, label: str | None = None, writer: str | None = None, misread: bool = False,
             limit: int | None = None, offset: int = 0, writers: Iterable[str] | None = None) -> list[Sample]:
        """Samples matching every filter given, newest first; `limit`/`offset` page through them."""
        if not self.exists():
            return []
        where, params = self._where(label, writer, misread, writers)
        page = f" LIMIT {int(limit)} OFFSET {int(offset)}" if limit is not None else ""
        with self._connection() as conn:
            rows = conn.execute(f"SELECT {COLUMNS} FROM samples{where} ORDER BY id DESC{page}", params).fetchall()
        return [_sample(row) for row in rows]

    def count(self, writer: str | None = None, label: str | None = None, misread: bool = False) -> int:
        """How many samples match every filter given (all of them by default)."""
        if not self.exists():
            return 0
        where, params = self._where(label, writer, misread)
        with self._connection() as conn:
            return conn.execute(f"SELECT count(*) FROM samples{where}", params).fetchone()[0]

    def get(self, sample_id: int) -> Sample:
        with self._connection() as conn:
            row = conn.execute(f"SELECT {COLUMNS} FROM samples WHERE id = ?", (int(sample_id),)).fetchone()
        if row is None:
            raise SampleError(f"no sample with id {sample_id}")
        return _sample(row)

    def images(self, ids: Iterable[int]) -> dict[int, bytes]:
        """The original PNGs of these samples, by id."""
        ids = [int(i) for i in ids]
        if not ids:
            return {}
        with self._connection() as conn:
            rows = conn.execute(f"SELECT id, image FROM samples WHERE id IN ({', '.join('?' * len(ids))})",
                                ids).fetchall()
        return dict(rows)


def _sample(row) -> Sample:
    sample_id, label, model_input, predicted, confidence, version, source, writer, created = row
    array = None if model_input is None else np.frombuffer(model_input, np.uint8).reshape(28, 28)
    return Sample(sample_id, label, array, predicted, confidence, version, source, writer, created)


@contextmanager
def _immediate(conn: sqlite3.Connection) -> Iterator[None]:
    """A transaction that takes the write lock at its start (BEGIN IMMEDIATE), so two writers
    queue (up to BUSY_SECONDS) instead of one failing halfway; rolled back on any error."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def migrate(conn: sqlite3.Connection, target: int) -> None:
    """Bring a file up to schema version `target`, in one transaction."""
    with _immediate(conn):
        _migrate(conn, conn.execute("PRAGMA user_version").fetchone()[0], target)


def _migrate(conn: sqlite3.Connection, version: int, target: int) -> None:
    """Run MIGRATIONS[version:target] inside the caller's transaction."""
    if version >= target:
        return
    for step in range(version, target):
        for statement in _statements(MIGRATIONS[step]):
            conn.execute(statement)
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute(f"PRAGMA user_version = {target}")


def _statements(script: str) -> list[str]:
    """A migration script's statements (executescript would commit the transaction first)."""
    statements, pending = [], ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            statements.append(pending.strip())
            pending = ""
    return statements
