"""MNIST: find, fetch, verify and parse the four IDX files.

Where the files come from, in order: an explicit folder (`--data-dir` / env MNIST_DIR),
`../shared/mnist` beside the project (a source checkout only), the user's cache (~/.cache/digits/mnist). When none
has them, the four files are downloaded once into the cache. Every file is checked against
the SHA-256 of its *decompressed* bytes, so nothing is ever trained on bad data.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import sys
import tempfile
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# A source checkout (run in place or installed with `pip install -e .`) keeps the data and the model
# store beside the code; an installed copy (`pip install .`) uses the user's folders instead.
SOURCE_CHECKOUT = (PROJECT_ROOT / "pyproject.toml").is_file()
SHARED_DIR = PROJECT_ROOT.parent / "shared" / "mnist"
CACHE_DIR = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "digits" / "mnist"

# SHA-256 of the decompressed IDX bytes (independent of how they were compressed).
SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
# The mirrors torchvision uses, in its order.
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
NUM_CLASSES = 10  # the digits 0-9
VALIDATION_SIZE = 5_000  # the last 5,000 training images; the test set is only for final evaluation
IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


class DataError(RuntimeError):
    """MNIST could not be found, fetched or verified; the message says which file and what to do."""


@dataclass(frozen=True)
class Split:
    images: np.ndarray  # uint8 [N, 28, 28], ink = 255
    labels: np.ndarray  # uint8 [N]

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class Mnist:
    train: Split       # first 55,000 training images
    validation: Split  # last 5,000 training images (epoch metrics)
    test: Split        # the 10,000 test images (final evaluation only)
    source: Path
    digests: dict[str, str]


def parse_idx(raw: bytes, name: str = "IDX data") -> np.ndarray:
    """Parse IDX bytes into an array, checking magic, dtype and dimensions against the length."""
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DataError(f"{name}: not an IDX file (bad magic number {raw[:4].hex() or 'empty'}).")
    dtype_code, ndim = raw[2], raw[3]
    if dtype_code not in IDX_DTYPES:
        raise DataError(f"{name}: unknown IDX data type 0x{dtype_code:02x}.")
    if ndim == 0 or len(raw) < 4 + 4 * ndim:
        raise DataError(f"{name}: truncated IDX header.")
    dims = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(IDX_DTYPES[dtype_code])
    expected = 4 + 4 * ndim + int(np.prod(dims)) * dtype.itemsize
    if len(raw) != expected:
        raise DataError(
            f"{name}: IDX header says {'x'.join(map(str, dims))} but the file has "
            f"{len(raw)} bytes instead of {expected} (truncated or corrupt)."
        )
    return np.frombuffer(raw, dtype=dtype, offset=4 + 4 * ndim).reshape(dims)


def read_idx_file(path: Path) -> bytes:
    """The decompressed bytes of an IDX file, gzip or plain."""
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as err:  # bad CRC or length, truncated, corrupt deflate data
            raise DataError(f"{path}: broken gzip stream ({err}). Delete it and fetch it again.") from err
    return raw


def _find(folder: Path, name: str) -> Path | None:
    for candidate in (folder / f"{name}.gz", folder / name):
        if candidate.is_file():
            return candidate
    return None


def candidate_dirs(data_dir: str | Path | None = None) -> list[Path]:
    explicit = data_dir or os.environ.get("MNIST_DIR")
    if explicit:  # an explicit folder is the only place looked at: no silent fallback
        return [Path(explicit)]
    return [SHARED_DIR, CACHE_DIR] if SOURCE_CHECKOUT else [CACHE_DIR]


def locate(data_dir: str | Path | None = None, download: bool = True) -> Path:
    """The first folder that holds all four files; downloads into the cache when none does."""
    dirs = candidate_dirs(data_dir)
    for folder in dirs:
        if all(_find(folder, name) for name in SHA256):
            return folder
    if data_dir or os.environ.get("MNIST_DIR"):
        raise DataError(
            f"MNIST not found in {dirs[0]}: it needs the four files {', '.join(f + '.gz' for f in SHA256)}."
        )
    if not download:
        raise DataError(_where_to_put_it())
    download_all(CACHE_DIR)
    return CACHE_DIR


def _where_to_put_it() -> str:
    return (
        f"MNIST is not available: put the four IDX files ({', '.join(f + '.gz' for f in SHA256)}) in "
        f"{SHARED_DIR} or {CACHE_DIR}, or pass --data-dir / set MNIST_DIR."
    )


def download_all(cache: Path) -> None:
    cache.mkdir(parents=True, exist_ok=True)
    for name in SHA256:
        if _find(cache, name):
            continue
        errors = []
        for mirror in MIRRORS:
            try:
                _download(mirror + name + ".gz", cache / f"{name}.gz", name)
                break
            except (OSError, DataError) as err:
                errors.append(f"{mirror}: {err}")
        else:
            raise DataError(_where_to_put_it() + " Download failed: " + "; ".join(errors))


def _download(url: str, dest: Path, name: str) -> None:
    """Download to a temporary file, verify, then rename: a failed download leaves nothing behind."""
    with urllib.request.urlopen(url, timeout=30) as response:
        total = int(response.headers.get("Content-Length") or 0)
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".part-")
        try:
            with os.fdopen(fd, "wb") as out:
                done = 0
                while chunk := response.read(1 << 16):
                    out.write(chunk)
                    done += len(chunk)
                    _progress(name, done, total)
            sys.stderr.write("\n")
            verify(Path(tmp), name)
            os.replace(tmp, dest)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)


def _progress(name: str, done: int, total: int) -> None:
    if total:
        filled = int(30 * done / total)
        sys.stderr.write(f"\r{name}: [{'#' * filled}{'.' * (30 - filled)}] {done / total:4.0%}")
    else:
        sys.stderr.write(f"\r{name}: {done / 1e6:.1f} MB")
    sys.stderr.flush()


def verify(path: Path, name: str) -> bytes:
    """The decompressed bytes of `path`, after checking them against the known digest."""
    raw = read_idx_file(path)
    digest = hashlib.sha256(raw).hexdigest()
    if digest != SHA256[name]:
        raise DataError(
            f"{path}: checksum mismatch (SHA-256 {digest[:16]}…, expected {SHA256[name][:16]}…). "
            "The file is corrupt, truncated or not the original MNIST file: delete it and fetch it again."
        )
    return raw


def load_arrays(name: str, folder: Path) -> np.ndarray:
    path = _find(folder, name)
    if path is None:
        raise DataError(f"{folder / (name + '.gz')} is missing. " + _where_to_put_it())
    return parse_idx(verify(path, name), str(path))


def load_mnist(data_dir: str | Path | None = None, download: bool = True) -> Mnist:
    """All of MNIST, verified, as uint8 arrays, with the fixed validation slice split off."""
    folder = locate(data_dir, download)
    train_x = load_arrays("train-images-idx3-ubyte", folder)
    train_y = load_arrays("train-labels-idx1-ubyte", folder)
    test_x = load_arrays("t10k-images-idx3-ubyte", folder)
    test_y = load_arrays("t10k-labels-idx1-ubyte", folder)
    if train_x.shape != (60_000, 28, 28) or test_x.shape != (10_000, 28, 28):
        raise DataError(f"{folder}: unexpected MNIST shapes {train_x.shape}, {test_x.shape}.")
    cut = len(train_y) - VALIDATION_SIZE
    return Mnist(
        train=Split(train_x[:cut], train_y[:cut]),
        validation=Split(train_x[cut:], train_y[cut:]),
        test=Split(test_x, test_y),
        source=folder,
        digests=dict(SHA256),
    )


def load_test(data_dir: str | Path | None = None) -> Split:
    """Only the 10,000 test images (what evaluation needs; skips the 47 MB training set)."""
    folder = locate(data_dir)
    return Split(load_arrays("t10k-images-idx3-ubyte", folder), load_arrays("t10k-labels-idx1-ubyte", folder))
