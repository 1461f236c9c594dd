"""The samples database (digits/samples.py): fields, transactions, two writers at once, files that
are not ours, the migration from schema version 1; the zip round trip and import validation
(digits/sample_archive.py)."""

from __future__ import annotations

import csv
import io
import sqlite3
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT
from dashboard_helpers import drawn_rgba, drawn_seven_rgba
from digits import sample_archive
from digits import samples as db
from digits.preprocessing import prepare


@pytest.fixture
def samples(store):
    return db.SampleStore(store.root / db.DB_NAME)


def seven():
    image = drawn_seven_rgba()
    return image, prepare(image)


def png(image) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def test_a_sample_keeps_every_field_in_a_wal_database_beside_the_store(samples, store):
    assert db.default_path() == store.root / "samples.db"  # DIGITS_STORE moves it with the store
    image, model_input = seven()
    sample_id = samples.add(image, 7, model_input, predicted=1, confidence=0.83, model_version="default",
                            source="canvas", writer="  Ann  Lee ")
    sample = samples.get(sample_id)
    assert (sample.label, sample.predicted, sample.confidence, sample.model_version, sample.source, sample.writer) \
        == ("7", "1", 0.83, "default", "canvas", "Ann Lee")
    assert sample.misread and sample.created
    np.testing.assert_array_equal(sample.model_input, (model_input * 255).round().astype(np.uint8))
    original = Image.open(io.BytesIO(samples.images([sample_id])[sample_id]))
    assert original.format == "PNG" and np.array_equal(np.asarray(original), image)
    # A number's digit string (Number mode) is a label too, with no 28x28 input.
    number_id = samples.add(image, "2026", None, predicted="2025", source="upload")
    assert samples.get(number_id).label == "2026" and not samples.get(number_id).is_digit
    assert samples.count() == 2 and samples.count("Ann Lee") == 1
    assert samples.counts() == [{"writer": "Ann Lee", "label": "7", "samples": 1, "misread": 1},
                                {"writer": "me", "label": "2026", "samples": 1, "misread": 1}]
    with sqlite3.connect(samples.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == db.SCHEMA_VERSION


@pytest.mark.parametrize("label, model_input, message", [
    ("x", "input", "must be a digit"), ("", "input", "must be a digit"), ("7", None, "needs its prepared 28x28")])
def test_bad_samples_are_refused_with_a_reason(samples, label, model_input, message):
    image, prepared = seven()
    with pytest.raises(db.SampleError, match=message):
        samples.add(image, label, prepared if model_input == "input" else None)
    assert samples.count() == 0


def test_a_write_is_one_transaction_all_or_nothing(samples, monkeypatch):
    image, model_input = seven()
    samples.add(image, 7, model_input)
    # The third row gets past the Python checks and is refused by the database's own CHECK, after
    # two rows of the same transaction were inserted: none of the three may remain.
    monkeypatch.setattr(db, "check_label", lambda label, digit_only=False: str(label))
    rows = [dict(image=image, label=label, model_input=model_input) for label in ("1", "2", "seven", "3")]
    with pytest.raises(db.SampleError, match="refused by the database"):
        samples.add_many(rows)
    assert [s.label for s in samples.find()] == ["7"]


WRITER_SCRIPT = """
import pathlib, sys, time
from digits.samples import SampleStore
from dashboard_helpers import drawn_seven_rgba
from digits.preprocessing import prepare
image = drawn_seven_rgba(); model_input = prepare(image)
store = SampleStore(sys.argv[1])
ready = pathlib.Path(sys.argv[3])
(ready / sys.argv[2]).touch()
while len(list(ready.iterdir())) < 2:  # both processes start saving at the same moment
    time.sleep(0.001)
for _ in range(40):
    store.add(image, 7, model_input, writer=sys.argv[2], model_version="default")
print("ok")
"""


def test_two_sessions_saving_at_once_both_succeed(samples, tmp_path):
    """Two processes create the database and save 40 samples each, all at once."""
    ready = tmp_path / "ready"
    ready.mkdir()
    start = str(ready)
    env = {"PYTHONPATH": f"{ROOT}:{ROOT / 'tests'}"}
    writers = [subprocess.Popen([sys.executable, "-c", WRITER_SCRIPT, str(samples.path), name, start], cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={**__import__("os").environ, **env}) for name in ("ann", "bob")]
    for writer in writers:
        out, err = writer.communicate(timeout=120)
        assert writer.returncode == 0 and out.strip() == "ok", err[-2000:]
    assert samples.count("ann") == 40 and samples.count("bob") == 40
    assert len({s.id for s in samples.find()}) == 80


def test_a_file_that_is_not_a_samples_database_is_reported_and_never_overwritten(samples):
    samples.path.parent.mkdir(parents=True)
    for content in (b"my notes, not a database\n" * 100, b"\0" * 4096):
        samples.path.write_bytes(content)
        with pytest.raises(db.SampleError, match="not a samples database.*left untouched"):
            samples.add(*seven()[:1], 7, seven()[1])
        with pytest.raises(db.SampleError):
            samples.count()
        assert samples.path.read_bytes() == content


def test_another_program_s_sqlite_file_is_refused_untouched(samples):
    samples.path.parent.mkdir(parents=True)
    with sqlite3.connect(samples.path) as conn:
        conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
        conn.execute("INSERT INTO invoices (total) VALUES (9.5)")
    before = samples.path.read_bytes()
    with pytest.raises(db.SampleError, match="another program"):
        samples.add(*seven()[:1], 7, seven()[1])
    assert samples.path.read_bytes() == before


def test_a_damaged_database_is_reported_untouched(samples):
    image, model_input = seven()
    for _ in range(30):
        samples.add(image, 7, model_input)
    with sqlite3.connect(samples.path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    raw = bytearray(samples.path.read_bytes())
    raw[4096:len(raw)] = b"\xa5" * (len(raw) - 4096)  # every page after the first is garbage
    samples.path.write_bytes(bytes(raw))
    fresh = db.SampleStore(samples.path)
    with pytest.raises(db.SampleError, match="damaged"):
        fresh.find()
    assert samples.path.read_bytes() == bytes(raw)


def test_a_version_1_file_is_migrated_in_place_keeping_every_sample(samples):
    samples.path.parent.mkdir(parents=True)
    image, model_input = seven()
    conn = sqlite3.connect(samples.path, isolation_level=None)
    db.migrate(conn, 1)  # the file as the first release wrote it
    conn.execute("INSERT INTO samples (label, image, model_input, predicted, confidence, model_version, source, "
                 "created) VALUES (7, ?, ?, 1, 0.6, 'default', 'canvas', '2026-01-01T00:00:00+0000')",
                 (png(image), db.input_bytes(model_input)))
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    assert "writer" not in [row[1] for row in conn.execute("PRAGMA table_info(samples)")]
    conn.close()

    [old] = samples.find()
    assert (old.label, old.predicted, old.writer, old.misread) == ("7", "1", "me", True)
    samples.add(image, "123", None, writer="ann")  # what version 2 allows: writers and number labels
    with sqlite3.connect(samples.path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == db.SCHEMA_VERSION == 2
        assert conn.execute("PRAGMA application_id").fetchone()[0] == db.APPLICATION_ID
    assert [(s.label, s.writer) for s in samples.find()] == [("123", "ann"), ("7", "me")]


def test_the_split_is_fixed_by_id_and_holds_out_about_a_fifth():
    held = [db.held_out(i) for i in range(1, 2001)]
    assert 0.17 < np.mean(held) < 0.23
    assert held == [db.held_out(i) for i in range(1, 2001)]
    # Samples entered in a cycle of the ten digits spread over both sides for every digit.
    for digit in range(10):
        assert any(held[digit::10]) and not all(held[digit::10])


def test_export_then_import_round_trips_images_labels_and_writers(samples, tmp_path):
    rng = np.random.default_rng(0)
    for digit, writer in [(7, "ann"), (1, "bob"), (7, "bob")]:
        image, model_input = seven() if digit == 7 else (drawn_rgba([[(0.5, 0.15), (0.5, 0.85)]]), None)
        model_input = prepare(image) if model_input is None else model_input
        samples.add(image, digit, model_input, writer=writer, predicted=int(rng.integers(10)))
    raw = sample_archive.export_zip(samples)
    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        table = list(csv.DictReader(io.StringIO(archive.read("labels.csv").decode())))
        assert [(row["label"], row["writer"]) for row in table] == [("7", "ann"), ("1", "bob"), ("7", "bob")]
        assert all(archive.read(row["file"]).startswith(b"\x89PNG") for row in table)
    assert len(sample_archive.read_import(sample_archive.export_zip(samples, writer="bob"))[0]) == 2

    other = db.SampleStore(tmp_path / "other.db")
    report = sample_archive.import_zip(other, raw)
    assert len(report.added) == 3 and report.problems == []
    for old, new in zip(reversed(samples.find()), reversed(other.find())):
        assert (new.label, new.writer, new.source) == (old.label, old.writer, "import")
        assert samples.images([old.id])[old.id] == other.images([new.id])[new.id]
        np.testing.assert_array_equal(old.model_input, new.model_input)
    # --writer overrides the file's column.
    third = db.SampleStore(tmp_path / "third.db")
    sample_archive.import_zip(third, raw, writer="carol")
    assert {s.writer for s in third.find()} == {"carol"}


def bad_archive() -> bytes:
    image, _ = seven()
    good = png(image)
    jpeg = io.BytesIO()
    Image.fromarray(image[..., :3]).save(jpeg, format="JPEG")
    gif = io.BytesIO()
    Image.fromarray(image[..., :3]).save(gif, format="GIF")
    blank = png(np.full((64, 64), 255, np.uint8))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in [("a.png", good), ("b.jpg", jpeg.getvalue()), ("c.gif", gif.getvalue()),
                           ("d.png", b"\x89PNG\r\n\x1a\n broken"), ("e.png", blank), ("f.png", good)]:
            archive.writestr(name, data)
        archive.writestr("labels.csv", "file,label\n"                      # no writer column: 'me'
                                       "a.png,7\n"                         # line 2: good
                                       "b.jpg,7\n"                         # line 3: good (JPEG)
                                       "c.gif,7\n"                         # line 4: not PNG/JPEG
                                       "d.png,7\n"                         # line 5: damaged
                                       "e.png,7\n"                         # line 6: no digit
                                       "f.png,12\n"                        # line 7: not 0-9
                                       "missing.png,3\n"                   # line 8: not in the archive
                                       "\n"
                                       "a.png,seven\n")                    # line 10: not a digit
    return buffer.getvalue()


def test_import_skips_bad_rows_naming_their_lines_and_keeps_the_good_ones(samples):
    report = sample_archive.import_zip(samples, bad_archive())
    assert len(report.added) == 2 and len(report.problems) == 6
    lines = [problem.split(":")[0] for problem in report.problems]
    assert lines == ["line 4", "line 5", "line 6", "line 7", "line 8", "line 10"]
    assert "not a PNG or JPEG" in report.problems[0] and "d.png: not an image" in report.problems[1]
    assert "no digit" in report.problems[2] and "0-9" in report.problems[3]
    assert "not in the archive" in report.problems[4]
    assert [(s.label, s.writer, s.source) for s in samples.find()] == [("7", "me", "import")] * 2
    jpeg_id = report.added[1]
    assert Image.open(io.BytesIO(samples.images([jpeg_id])[jpeg_id])).format == "PNG"  # the JPEG, stored as PNG


def test_an_import_that_fails_halfway_leaves_nothing(samples, monkeypatch):
    image, _ = seven()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a.png", png(image))
        archive.writestr("labels.csv", "file,label,writer\n" + "a.png,7,ann\n" * 5)
    original = db.SampleStore._record

    def failing_record(self, **row):  # the fourth row fails inside the transaction
        failing_record.calls += 1
        record = original(self, **row)
        return record if failing_record.calls != 4 else (record[0], *record[1:6], "pigeon-post", *record[7:])
    failing_record.calls = 0
    monkeypatch.setattr(db.SampleStore, "_record", failing_record)
    with pytest.raises(db.SampleError):
        sample_archive.import_zip(samples, buffer.getvalue())
    assert samples.count() == 0


@pytest.mark.parametrize("make, message", [
    (lambda: b"PK\x03\x04 not really", "not a zip"),
    (lambda: b"plain text", "not a zip"),
    (lambda: _zip({"a.png": b"x"}), "no labels.csv"),
    (lambda: _zip({"labels.csv": b"name,digit\na.png,1\n"}), "header line with the columns file,label"),
])
def test_an_unusable_archive_is_refused_as_a_whole(samples, make, message):
    with pytest.raises(db.SampleError, match=message):
        sample_archive.import_zip(samples, make())
    assert samples.count() == 0


def test_an_archive_over_the_size_cap_is_refused_before_reading(samples, monkeypatch):
    monkeypatch.setattr(sample_archive, "MAX_ZIP_BYTES", 1000)
    with pytest.raises(db.SampleError, match="at most 0 MB|MB; at most"):
        sample_archive.import_zip(samples, _zip({"labels.csv": b"file,label\n" + b"a.png,1\n" * 400}))


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()
