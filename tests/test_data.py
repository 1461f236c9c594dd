"""MNIST loading: IDX parsing, checksums, where the files come from, the download path."""

from __future__ import annotations

import functools
import gzip
import http.server
import shutil
import threading

import numpy as np
import pytest

from digits import data
from digits.data import DataError, SHA256, load_mnist, parse_idx


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def test_parse_idx_reads_a_good_file():
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    np.testing.assert_array_equal(parse_idx(idx_bytes(array)), array)


def test_parse_idx_rejects_a_truncated_file():
    raw = idx_bytes(np.zeros((10, 28, 28), np.uint8))
    with pytest.raises(DataError, match="truncated"):
        parse_idx(raw[:-100], "images")
    with pytest.raises(DataError, match="truncated IDX header"):
        parse_idx(raw[:9], "images")


def test_parse_idx_rejects_bad_magic_and_type():
    raw = idx_bytes(np.zeros((3,), np.uint8))
    with pytest.raises(DataError, match="bad magic"):
        parse_idx(b"\x1f\x8b" + raw[2:], "labels")
    with pytest.raises(DataError, match="unknown IDX data type"):
        parse_idx(raw[:2] + b"\x07" + raw[3:], "labels")


def test_load_mnist_from_shared_folder_splits_validation_off_the_training_set(mnist):
    assert mnist.train.images.shape == (55_000, 28, 28) and mnist.train.images.dtype == np.uint8
    assert mnist.validation.images.shape == (5_000, 28, 28)
    assert mnist.test.images.shape == (10_000, 28, 28)
    assert set(np.unique(mnist.test.labels)) == set(range(10))
    assert mnist.digests == SHA256


def copy_mnist(folder):
    folder.mkdir(parents=True, exist_ok=True)
    for name in SHA256:
        shutil.copy(data.SHARED_DIR / f"{name}.gz", folder / f"{name}.gz")
    return folder


def test_a_corrupt_file_is_refused_by_checksum_naming_the_file(tmp_path):
    folder = copy_mnist(tmp_path / "mnist")
    raw = bytearray(gzip.decompress((folder / "t10k-labels-idx1-ubyte.gz").read_bytes()))
    raw[100] = (raw[100] + 1) % 10  # one wrong label: parses fine, checksum does not
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.gz: checksum mismatch"):
        load_mnist(folder)


def test_a_truncated_gzip_file_is_refused(tmp_path):
    folder = copy_mnist(tmp_path / "mnist")
    path = folder / "train-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(DataError, match="train-labels-idx1-ubyte.gz"):
        load_mnist(folder)


def test_plain_uncompressed_files_work_too(tmp_path):
    folder = tmp_path / "plain"
    folder.mkdir()
    for name in SHA256:
        (folder / name).write_bytes(gzip.decompress((data.SHARED_DIR / f"{name}.gz").read_bytes()))
    assert len(data.load_test(folder)) == 10_000


def test_missing_data_offline_says_where_to_put_it(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "SHARED_DIR", tmp_path / "no-shared")
    monkeypatch.setattr(data, "CACHE_DIR", tmp_path / "no-cache")
    monkeypatch.setattr(data, "MIRRORS", ("http://127.0.0.1:9/",))  # nothing listens on port 9
    monkeypatch.delenv("MNIST_DIR", raising=False)
    with pytest.raises(DataError, match="put the four IDX files"):
        load_mnist()
    assert not any((tmp_path / "no-cache").glob("*.gz")), "a failed download leaves no file behind"


@pytest.fixture
def mirror(tmp_path):
    """A local HTTP server standing in for the public mirror (this machine has no internet)."""
    served = copy_mnist(tmp_path / "mirror")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield served, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_without_local_files_it_downloads_once_into_the_cache_and_verifies(tmp_path, monkeypatch, mirror):
    served, url = mirror
    cache = tmp_path / "cache"
    monkeypatch.setattr(data, "SHARED_DIR", tmp_path / "no-shared")
    monkeypatch.setattr(data, "CACHE_DIR", cache)
    monkeypatch.setattr(data, "MIRRORS", ("http://127.0.0.1:9/", url))  # first mirror down
    monkeypatch.delenv("MNIST_DIR", raising=False)
    assert len(data.load_test()) == 10_000
    assert sorted(p.name for p in cache.iterdir()) == sorted(f"{n}.gz" for n in SHA256)
    # A second load reads the cache: remove the mirror's files to prove no download happens.
    for path in served.iterdir():
        path.unlink()
    assert len(data.load_test()) == 10_000


def test_a_corrupt_download_is_rejected_and_not_kept(tmp_path, monkeypatch, mirror):
    served, url = mirror
    (served / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"\x00\x00\x08\x01" + bytes(4)))
    monkeypatch.setattr(data, "SHARED_DIR", tmp_path / "no-shared")
    monkeypatch.setattr(data, "CACHE_DIR", tmp_path / "cache")
    monkeypatch.setattr(data, "MIRRORS", (url,))
    monkeypatch.delenv("MNIST_DIR", raising=False)
    with pytest.raises(DataError, match="checksum mismatch"):
        data.load_test()
    assert not (tmp_path / "cache" / "t10k-labels-idx1-ubyte.gz").exists()
