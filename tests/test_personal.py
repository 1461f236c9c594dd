"""Fine-tuning on your samples: `train.py --preset personal --from VERSION --samples`, for real
(TensorFlow, the shipped default's weights, a small MNIST subset), and the `samples` CLI."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest

from bench.writer import labelled_zip
from conftest import run_python
from digits.personal import training_samples
from digits.samples import DB_NAME, SampleStore, held_out

WRITER = "dotted-wide"


@pytest.fixture
def writer_zip(tmp_path):
    path = tmp_path / "writer.zip"
    path.write_bytes(labelled_zip(3, seed=1, writer=WRITER))
    return path


@pytest.mark.slow
def test_a_personal_fine_tune_starts_from_the_parent_and_records_exactly_which_samples(store, writer_zip, mnist):
    assert run_python("-m", "digits", "samples", "import", str(writer_zip)).returncode == 0
    samples = SampleStore(store.root / DB_NAME)
    samples.add(_one_image(writer_zip), 5, training_samples(samples).images[0], writer="someone-else")
    result = run_python("train.py", "--preset", "personal", "--from", "default", "--samples", "--writer", WRITER,
                        "--limit", "512", "--epochs", "1", "--name", "mine")
    assert result.returncode == 0, result.stderr[-3000:]

    meta = store.meta("mine")
    trained = [s for s in samples.find(writer=WRITER) if not s.held_out]
    record = meta["fine_tune"]
    assert record["parent"] == "default" and record["writers"] == [WRITER]
    assert sorted(record["samples"]["ids"]) == sorted(s.id for s in trained)  # the 80%, never a held-out one
    assert not any(held_out(i) for i in record["samples"]["ids"])
    assert record["samples"]["count"] == len(trained) == 30 - sum(s.held_out for s in samples.find(writer=WRITER))
    assert record["samples"]["sha256"] == training_samples(samples, [WRITER]).part(held=False).digest()
    # The parent's network (the shipped default is a committee of two strong CNNs), fine-tuned whole.
    parent_network = store.meta("default")["architecture"]
    assert meta["preset"] == "personal" and meta["architecture"]["name"] == parent_network["name"]
    assert meta["architecture"]["parameters"] == parent_network["parameters"]
    assert meta["config"]["from_version"] == "default" and meta["data"]["train_images"] == 512

    # It started from the parent's weights (random ones would not read MNIST after 5 steps) and changed them.
    from digits.predict import Predictor

    parent, child = store.load("default"), store.load("mine")
    assert meta["test"]["accuracy"] > 0.98
    assert any(not np.array_equal(a, b) for a, b in zip(parent.get_weights(), child.get_weights()))
    images = mnist.test.images[:500].astype(np.float32) / 255
    agreement = (Predictor(parent).probabilities(images).argmax(1) == Predictor(child).probabilities(images).argmax(1))
    assert agreement.mean() > 0.98


def _one_image(archive_path) -> bytes:
    with zipfile.ZipFile(archive_path) as archive:
        return archive.read(next(n for n in archive.namelist() if n.endswith(".png")))


@pytest.mark.parametrize("args, message", [
    (["--preset", "personal"], "give the version to start from (--from)"),
    (["--preset", "personal", "--from", "nope"], "unknown version 'nope'"),
    (["--preset", "seed", "--from", "default"], "is a 'committee-2' network and the 'seed' preset trains a 'seed' "
                                                "one: start from it with the 'personal' preset"),
    (["--preset", "personal", "--from", "default"], "there are no samples to fine-tune on"),
    (["--preset", "personal", "--from", "default", "--samples", "--writer", "zoe"], "no digit samples of 'zoe'"),
    (["--writer", "ann"], "writers are given but samples are not included"),
])
def test_a_fine_tune_that_cannot_work_is_refused_before_tensorflow_loads(store, args, message):
    result = run_python("train.py", *args)
    assert result.returncode in (1, 2) and message in result.stderr, result.stderr[-2000:]
    assert not store.runs_dir.exists()


def test_the_samples_cli_adds_lists_exports_imports_and_deletes(store, writer_zip, tmp_path):
    from test_preprocessing import drawn_seven

    seven = tmp_path / "seven.png"
    drawn_seven().save(seven)
    added = run_python("-m", "digits", "samples", "add", str(seven), "--label", "1", "--writer", "ann")
    assert added.returncode == 0 and "added sample 1: label 1, writer ann" in added.stdout
    assert "read it as 7" in added.stdout and "ann has 1 samples" in added.stdout

    imported = run_python("-m", "digits", "samples", "import", str(writer_zip), "--writer", "bob")
    assert imported.returncode == 0 and "imported 30 samples" in imported.stdout
    listed = run_python("-m", "digits", "samples", "list")
    assert "ann: 1 sample (1 mis-read) - 1: 1" in listed.stdout and "bob: 30 samples" in listed.stdout
    rows = json.loads(run_python("-m", "digits", "samples", "list", "--json").stdout)
    assert len(rows) == 31 and rows[-1] == {**rows[-1], "id": 1, "label": "1", "predicted": "7", "writer": "ann",
                                            "source": "upload", "model_version": "default"}

    out = tmp_path / "ann.zip"
    exported = run_python("-m", "digits", "samples", "export", str(out), "--writer", "ann")
    assert exported.returncode == 0 and "wrote 1 sample to" in exported.stdout
    with zipfile.ZipFile(out) as archive:
        assert archive.read("labels.csv").decode() == "file,label,writer\n000001.png,1,ann\n"

    assert run_python("-m", "digits", "samples", "delete", "1").returncode == 0
    assert SampleStore(store.root / DB_NAME).count("ann") == 0


@pytest.mark.parametrize("args, message", [
    (["add", "missing.png", "--label", "3"], "no such file"),
    (["add", "SEVEN", "--label", "12"], "label '12': must be a digit 0-9"),
    (["delete", "99"], "no sample with id 99"),
    (["import", "missing.zip"], "missing.zip: cannot be read"),
    (["import", "BROKEN"], "not a zip archive"),
])
def test_the_samples_cli_says_what_is_wrong_and_exits_1(store, tmp_path, args, message):
    from test_preprocessing import drawn_seven

    drawn_seven().save(tmp_path / "seven.png")
    (tmp_path / "broken.zip").write_bytes(b"no zip")
    args = [{"SEVEN": str(tmp_path / "seven.png"), "BROKEN": str(tmp_path / "broken.zip")}.get(a, a) for a in args]
    result = run_python("-m", "digits", "samples", *args)
    assert result.returncode == 1 and message in result.stderr, result.stderr


def test_the_samples_cli_refuses_a_foreign_database_and_leaves_it(store):
    store.root.mkdir(parents=True)
    (store.root / DB_NAME).write_bytes(b"somebody's spreadsheet")
    result = run_python("-m", "digits", "samples", "list")
    assert result.returncode == 1 and "not a samples database" in result.stderr
    assert (store.root / DB_NAME).read_bytes() == b"somebody's spreadsheet"


def test_an_import_with_only_bad_rows_exits_1_naming_them(store, tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("labels.csv", "file,label\nx.png,1\n")
    (tmp_path / "bad.zip").write_bytes(buffer.getvalue())
    result = run_python("-m", "digits", "samples", "import", str(tmp_path / "bad.zip"))
    assert result.returncode == 1 and "line 2: x.png: not in the archive" in result.stderr
    assert "imported 0 samples; skipped 1 bad row" in result.stdout
