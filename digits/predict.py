"""Fast inference: one compiled forward function per loaded model.

`model.predict` sets up a whole data pipeline per call; a `tf.function` traced once for a fixed
input signature runs a batch with no such overhead, and a LiteRT interpreter runs one image with
none of TensorFlow's dispatch. TensorFlow is imported only by what needs it: `LitePredictor` (a
version's `model.tflite`) starts without it. Measured costs: BENCHMARKS.md.
"""

from __future__ import annotations

import contextlib
import io
import os
import threading
import warnings
from dataclasses import dataclass

import numpy as np

LOW_CONFIDENCE = 0.6  # below this the UI and CLI say the model is unsure
EVAL_BATCH = 1000


@dataclass(frozen=True)
class Prediction:
    digit: int | None                 # None: no digit in the image
    confidence: float                 # probability of `digit` (0 when there is none)
    probabilities: np.ndarray | None  # float32 [10]
    model_input: np.ndarray | None    # float32 [28, 28], what the model actually received

    @property
    def unsure(self) -> bool:
        return self.digit is not None and self.confidence < LOW_CONFIDENCE


def inference_model(model):
    """The same function with batch norm folded into the preceding conv/dense layer's weights and
    dropout dropped: at inference both are fixed affine maps or the identity, and every layer
    removed is one pass less over the activations. Models that are not a
    plain `keras.Sequential` are returned as they are."""
    import keras
    from keras import layers

    if not isinstance(model, keras.Sequential):
        return model
    stack, weights = [keras.Input(model.input_shape[1:])], []
    pending = list(model.layers)
    while pending:
        layer = pending.pop(0)
        if isinstance(layer, layers.Dropout):
            continue
        config = layer.get_config()
        config["name"] = f"{config['name']}_inference"
        values = [v.numpy() for v in layer.weights]
        if isinstance(layer, (layers.Conv2D, layers.Dense)) and pending \
                and isinstance(pending[0], layers.BatchNormalization):
            norm = pending.pop(0)
            scale = norm.gamma.numpy() / np.sqrt(norm.moving_variance.numpy() + norm.epsilon)  # [C]
            bias = values[1] if layer.use_bias else 0.0
            values = [values[0] * scale, norm.beta.numpy() + (bias - norm.moving_mean.numpy()) * scale]
            config["use_bias"] = True
        clone = type(layer).from_config(config)
        stack.append(clone)
        weights.append((clone, values))
    folded = keras.Sequential(stack, name=f"{model.name}_inference")
    for clone, values in weights:
        if values:
            clone.set_weights(values)
    return folded


def to_tflite(model) -> bytes:
    """The model's inference copy as a TFLite flatbuffer (input float32 [1, 28, 28, 1]): what
    `model.tflite` beside a version's `model.keras` holds, for LiteRT here or on a phone."""
    return _converted(inference_model(model))


def _converted(folded) -> bytes:
    import tensorflow as tf

    # The converter prints its export to stdout (which would corrupt `--json` output) and warns.
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        return tf.lite.TFLiteConverter.from_keras_model(folded).convert()


class SingleImageInterpreter:
    """A TFLite flatbuffer run by LiteRT, one image per call: for a single 28x28 image it beats
    even a compiled TensorFlow call, whose dispatch alone costs more. LiteRT is its own small
    runtime and imports far faster than TensorFlow (figures in BENCHMARKS.md)."""

    def __init__(self, flatbuffer: bytes):
        from ai_edge_litert.interpreter import Interpreter

        from digits.store import model_shape_problem

        self._interpreter = Interpreter(model_content=flatbuffer, num_threads=min(2, os.cpu_count() or 1))
        self._interpreter.allocate_tensors()
        inputs, outputs = self._interpreter.get_input_details(), self._interpreter.get_output_details()
        problem = model_shape_problem(inputs[0]["shape"], inputs[0]["dtype"].__name__, outputs[0]["shape"]) \
            if len(inputs) == 1 and len(outputs) == 1 else "must have one input and one output"
        if problem:
            raise ValueError(f"the LiteRT model {problem}")
        self._source, self._target = inputs[0]["index"], outputs[0]["index"]
        self._lock = threading.Lock()  # an interpreter serves one call at a time

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """float32 [1, 28, 28, 1] -> float32 [1, 10]."""
        with self._lock:
            self._interpreter.set_tensor(self._source, image)
            self._interpreter.invoke()
            return self._interpreter.get_tensor(self._target).copy()


class _Predicting:
    """What every predictor offers on top of its `probabilities`."""

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def predict_prepared(self, model_input: np.ndarray | None) -> Prediction:
        if model_input is None:
            return Prediction(None, 0.0, None, None)
        probs = self.probabilities(model_input[None])[0]
        digit = int(np.argmax(probs))
        return Prediction(digit, float(probs[digit]), probs, model_input)

    def predict(self, image) -> Prediction:
        """Any image (PIL, array, path or bytes) -> its prediction, through MNIST-style preparation.
        Raises ImageError for a file that is not a usable image."""
        from digits.preprocessing import prepare

        return self.predict_prepared(prepare(image))


class LitePredictor(_Predicting):
    """A version's `model.tflite` alone, without TensorFlow: how the Predict page and the CLI's
    `predict` start in well under a second. For batches, use `Predictor`."""

    def __init__(self, flatbuffer: bytes):
        self._single = SingleImageInterpreter(flatbuffer)

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """images: [N, 28, 28] (or [N, 28, 28, 1]) in [0, 1], ink = 1 -> float32 [N, 10]."""
        images = np.asarray(images, dtype=np.float32).reshape(-1, 1, 28, 28, 1)
        return np.concatenate([self._single(image) for image in images]) if len(images) \
            else np.zeros((0, 10), np.float32)


class Predictor(_Predicting):
    """A model with two compiled paths: TensorFlow for batches (GPU when present) and, for one
    image, a LiteRT interpreter of the model converted on first use (for a single 28x28 image
    no accelerator beats that).
    It holds a snapshot of the weights taken when it is made: make a new one after training."""

    def __init__(self, model):
        import tensorflow as tf

        self.model = model
        fast = inference_model(model)
        self._forward = tf.function(
            lambda x: fast(x, training=False),
            input_signature=[tf.TensorSpec([None, 28, 28, 1], tf.float32)],
        ).get_concrete_function()  # a concrete function skips the per-call signature matching
        self._forward(tf.zeros([1, 28, 28, 1]))  # trace now, not on the first user's click
        self._folded = fast
        self._single = None  # built on the first single-image call: batch-only users skip it
        self._single_lock = threading.Lock()

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """images: [N, 28, 28] (or [N, 28, 28, 1]) in [0, 1], ink = 1 -> float32 [N, 10]."""
        import tensorflow as tf

        images = np.asarray(images, dtype=np.float32).reshape(-1, 28, 28, 1)
        if len(images) == 1 and self.single_image_path() is not None:
            return self._single(images)
        out = [self._forward(tf.constant(images[i:i + EVAL_BATCH])).numpy()
               for i in range(0, len(images), EVAL_BATCH)]
        return np.concatenate(out) if out else np.zeros((0, 10), np.float32)

    def single_image_path(self) -> SingleImageInterpreter | None:
        """The LiteRT interpreter for one image, converting the model on first use,
        or None when it cannot be converted (then TensorFlow serves single images too)."""
        if self._single is None:
            with self._single_lock:
                if self._single is None:
                    try:
                        self._single = SingleImageInterpreter(_converted(self._folded))
                    except Exception as err:  # noqa: BLE001 - any converter failure means the slower path
                        warnings.warn(f"single-image fast path unavailable, using TensorFlow: {err}", stacklevel=2)
                        self._single = False
        return self._single or None


def single_image_predictor(store, version: str | None = None) -> _Predicting:
    """The quickest predictor to start for one image at a time: the version's `model.tflite`
    through LiteRT (TensorFlow is not even imported), or the Keras model for a version saved
    without one or whose `model.tflite` is unusable. Raises StoreError like `store.load`."""
    flatbuffer = store.tflite(version)
    if flatbuffer is not None:
        try:
            return LitePredictor(flatbuffer)
        except Exception as err:  # noqa: BLE001 - a damaged flatbuffer: the Keras model still works
            warnings.warn(f"version {version!r}: model.tflite is unusable ({err}); using model.keras", stacklevel=2)
    return Predictor(store.load(version))
