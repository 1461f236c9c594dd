"""Issue 10, items 8, 10 and 11: a corrupt deflate stream in MNIST, image loading limits, unweighted
validation metrics."""

from __future__ import annotations

import gzip
import io
import zlib

import numpy as np
import pytest
from PIL import Image

from conftest import run_python
from digits.data import SHARED_DIR, DataError, candidate_dirs, load_arrays, locate
from digits.preprocessing import MAX_PIXELS, ImageError, load_image, prepare

LABELS = "t10k-labels-idx1-ubyte"


# -- item 8: a flipped bit in a .gz ------------------------------------------------------------------
def corrupt_deflate_copy(folder):
    """The four MNIST files in `folder`, the test labels with one bit flipped inside the deflate data
    at a place where zlib itself fails (not the CRC check, which was handled already)."""
    source = locate(None, download=False) if SHARED_DIR.is_dir() else candidate_dirs()[1]
    for path in source.glob("*.gz"):
        (folder / path.name).symlink_to(path)
    raw = (source / f"{LABELS}.gz").read_bytes()
    for position in range(20, len(raw) - 8):
        for bit in range(8):
            flipped = bytearray(raw)
            flipped[position] ^= 1 << bit
            try:
                gzip.decompress(bytes(flipped))
            except zlib.error:
                (folder / f"{LABELS}.gz").unlink()
                (folder / f"{LABELS}.gz").write_bytes(bytes(flipped))
                return folder / f"{LABELS}.gz"
            except (OSError, EOFError):
                continue
    raise AssertionError("no single bit flip breaks the deflate stream")


def test_a_flipped_bit_in_the_deflate_stream_is_the_named_file_error(tmp_path):
    broken = corrupt_deflate_copy(tmp_path)
    with pytest.raises(DataError, match=f"{broken}: broken gzip stream"):
        load_arrays(LABELS, tmp_path)
    result = run_python("-m", "digits", "evaluate", "--data-dir", str(tmp_path))
    assert result.returncode == 1 and f"{broken}: broken gzip stream" in result.stderr, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    result = run_python("train.py", "--preset", "seed", "--limit", "100", "--epochs", "1", "--data-dir",
                        str(tmp_path), env={"DIGITS_STORE": str(tmp_path / "store")})
    assert result.returncode == 1 and "broken gzip stream" in result.stderr and "Traceback" not in result.stderr


# -- item 10: image loading ---------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32, bool])
def test_arrays_over_the_pixel_cap_are_refused_whatever_their_type(dtype):
    just_over = np.zeros((MAX_PIXELS // 6000 + 1, 6000), dtype)  # 40,002,000 pixels
    with pytest.raises(ImageError, match="too large"):
        load_image(just_over)


def test_a_huge_array_is_refused_before_any_copy():
    """A (broadcast) array of 10^10 pixels: refused at once, not a MemoryError after a conversion."""
    for dtype in (np.uint8, np.float64):
        with pytest.raises(ImageError, match="100000x100000 pixels is too large"):
            load_image(np.broadcast_to(np.zeros((), dtype), (100_000, 100_000)))


def encoded(image: Image.Image, kind: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=kind)
    return buffer.getvalue()


SEVEN = Image.new("L", (60, 60), 0)
SEVEN.paste(255, (15, 10, 45, 16))
SEVEN.paste(255, (38, 10, 44, 52))


@pytest.mark.parametrize("kind", ["TIFF", "ICO", "PCX", "TGA", "PPM", "SGI", "IM", "ICNS"])
def test_only_the_documented_formats_are_decoded(kind):
    raw = encoded(SEVEN.convert("RGBA") if kind == "ICNS" else SEVEN, kind)
    with pytest.raises(ImageError, match=r"not supported \(PNG, JPEG, BMP, GIF, WebP\)"):
        load_image(raw)


@pytest.mark.parametrize("kind", ["PNG", "JPEG", "BMP", "GIF", "WEBP"])
def test_the_documented_formats_still_load(kind):
    assert prepare(encoded(SEVEN, kind)) is not None


# -- item 11: validation metrics are unweighted -----------------------------------------------------------
def test_class_weights_reach_the_training_loss_only(mnist):
    from digits.config import preset
    from digits.data import Split
    from digits.training import make_dataset

    config = preset("seed", class_weights={9: 5.0, 4: 0.5}, batch_size=500)
    split = Split(mnist.validation.images[:1000], mnist.validation.labels[:1000])
    _, labels, weights = next(iter(make_dataset(split, config, training=False)))
    assert np.all(weights.numpy() == 1.0), "validation batches carry class weights"
    _, labels, weights = next(iter(make_dataset(split, config, training=True)))
    digits = labels.numpy().argmax(1)
    assert np.all(weights.numpy()[digits == 9] == 5.0) and np.all(weights.numpy()[digits == 4] == 0.5)
    assert np.all(weights.numpy()[(digits != 9) & (digits != 4)] == 1.0)


@pytest.mark.slow
def test_val_loss_is_the_plain_loss_of_the_validation_set(mnist, store):
    """A short run with a heavy class weight: its recorded val_loss equals the unweighted
    cross-entropy of the saved model on the validation images."""
    import keras

    from digits.config import preset
    from digits.training import train

    config = preset("seed", limit=2000, epochs=1, batch_size=100, class_weights={9: 20.0}, name="weighted")
    train(config, store, "weighted", data=mnist)
    recorded = store.meta("weighted")["history"][-1]["val_loss"]
    model = store.load("weighted")
    probabilities = model.predict(mnist.validation.images[..., None] / 255.0, batch_size=1000, verbose=0)
    plain = float(keras.losses.categorical_crossentropy(
        keras.utils.to_categorical(mnist.validation.labels, 10), probabilities).numpy().mean())
    assert recorded == pytest.approx(plain, rel=1e-3)
