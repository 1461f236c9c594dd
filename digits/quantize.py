"""Full-integer (int8) post-training quantisation for phones: `python -m digits export --int8`.

The converter calibrates every activation's range on a representative set of *training* images
(never the test set, which only checks the result), and the model's input and output become
uint8, so a phone app feeds the 28x28 grey pixels as they are. The export is kept only when it
passes a parity check against the float model on the test set.
"""

from __future__ import annotations

import contextlib
import io
import time
import warnings

import numpy as np

from digits.data import Split
from digits.predict import LitePredictor, inference_model

REPRESENTATIVE_IMAGES = 500     # training images that calibrate the activation ranges
MAX_ACCURACY_DROP = 0.001       # test accuracy within 0.1 point of the float model's
MIN_AGREEMENT = 0.995           # and the same digit as the float model on >= 99.5% of test images
TIMED_IMAGES = 500              # single-image calls timed for each model
INPUT_FORMAT = "uint8 [1, 28, 28, 1]: grey pixels 0-255, ink 255 on background 0 (MNIST-style: digit centred in a 20x20 box)"
OUTPUT_FORMAT = "uint8 [1, 10]: probability = value / 256"


class QuantisationError(RuntimeError):
    """The int8 model is too far from the float one; nothing was written."""


def int8_tflite(model, train: Split, seed: int = 0) -> bytes:
    """The model's inference copy as a full-integer TFLite flatbuffer (uint8 in, uint8 out)."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(train), size=min(REPRESENTATIVE_IMAGES, len(train)), replace=False)
    samples = train.images[np.sort(chosen)].astype(np.float32)[..., None] / 255.0  # [R, 28, 28, 1]

    def representative():
        for sample in samples:
            yield [sample[None]]

    converter = tf.lite.TFLiteConverter.from_keras_model(inference_model(model))
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.uint8
    converter.inference_output_type = tf.uint8
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        return converter.convert()


def parity(float_predictor: LitePredictor, int8_predictor: LitePredictor, test: Split) -> dict:
    """Both models on the test set: accuracies, agreement, per-image time (median of single calls),
    sizes; `passed` says whether the int8 model may replace the float one."""
    images = test.images.astype(np.float32) / 255.0
    float_digits = float_predictor.probabilities(images).argmax(axis=1)
    int8_digits = int8_predictor.probabilities(images).argmax(axis=1)
    float_accuracy = float((float_digits == test.labels).mean())
    int8_accuracy = float((int8_digits == test.labels).mean())
    agreement = float((float_digits == int8_digits).mean())
    return {
        "test_accuracy": round(int8_accuracy, 6), "float_test_accuracy": round(float_accuracy, 6),
        "agreement": round(agreement, 6), "representative_images": f"{REPRESENTATIVE_IMAGES} training images",
        "bytes": len(int8_predictor.flatbuffer), "float_bytes": len(float_predictor.flatbuffer),
        "ms_per_image": round(per_image_ms(int8_predictor, images[:TIMED_IMAGES]), 4),
        "float_ms_per_image": round(per_image_ms(float_predictor, images[:TIMED_IMAGES]), 4),
        "input": INPUT_FORMAT, "output": OUTPUT_FORMAT,
        "passed": float_accuracy - int8_accuracy <= MAX_ACCURACY_DROP and agreement >= MIN_AGREEMENT,
    }


def per_image_ms(predictor: LitePredictor, images: np.ndarray) -> float:
    """Median milliseconds of one single-image call (as a phone app calls it)."""
    for image in images[:20]:  # warm-up
        predictor.probabilities(image[None])
    seconds = []
    for image in images:
        started = time.perf_counter()
        predictor.probabilities(image[None])
        seconds.append(time.perf_counter() - started)
    return float(np.median(seconds) * 1000)


def check(report: dict) -> None:
    if not report["passed"]:
        raise QuantisationError(
            f"the int8 model fails the parity check, so it was not written: test accuracy "
            f"{report['test_accuracy']:.2%} against the float model's {report['float_test_accuracy']:.2%} "
            f"(at most {MAX_ACCURACY_DROP:.1%} lower allowed), agreement {report['agreement']:.2%} "
            f"(at least {MIN_AGREEMENT:.1%} needed)")
