"""Fast inference without TensorFlow: a version's `model.tflite` run by LiteRT and NumPy.

Serving (the dashboard, `python -m digits predict/evaluate`) runs `LitePredictor` on the export
written beside every version's `model.keras`; TensorFlow is imported only by training processes
(`Predictor`, for a model still in memory) and by `to_tflite`, which writes the export.
`model.predict` sets up a whole data pipeline per call; a LiteRT interpreter of a fixed batch
size has none of that overhead. Measured costs: BENCHMARKS.md.
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
EVAL_BATCH = 1000  # images per TensorFlow call (training processes)
LITE_BATCH = 200   # images per LiteRT call: activation memory grows with it (the server's RSS), speed hardly


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
    removed is one pass less over the activations. A committee gets each member folded; other
    models that are not a plain `keras.Sequential` are returned as they are."""
    import keras
    from keras import layers

    from digits.model import COMMITTEE

    if model.name.startswith(COMMITTEE):
        inputs = keras.Input(model.input_shape[1:])
        members = [inference_model(layer)(inputs) for layer in model.layers if isinstance(layer, keras.Model)]
        return keras.Model(inputs, layers.Average()(members), name=f"{model.name}_inference")
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


class LiteInterpreter:
    """A TFLite flatbuffer run by LiteRT for a fixed batch size: for one 28x28 image it beats even
    a compiled TensorFlow call, whose dispatch alone costs more, and for a batch it needs no
    TensorFlow at all. LiteRT is its own small runtime and imports far faster than TensorFlow
    (figures in BENCHMARKS.md). A full-integer (int8) model is fed and read through its
    quantisation parameters, so callers always pass and get float32."""

    def __init__(self, flatbuffer: bytes, batch: int = 1, task: str | None = None):
        from ai_edge_litert.interpreter import Interpreter

        from digits.store import DIGIT_TASK, model_shape_problem

        self._interpreter = Interpreter(model_content=flatbuffer, num_threads=min(2, os.cpu_count() or 1))
        source = self._interpreter.get_input_details()[0]
        if source["shape"][0] != batch:
            self._interpreter.resize_tensor_input(source["index"], [batch, *source["shape"][1:]])
        self._interpreter.allocate_tensors()
        inputs, outputs = self._interpreter.get_input_details(), self._interpreter.get_output_details()
        # An int8/uint8 input is fed float32 through its quantisation (see _quantised).
        dtype = "float32" if inputs[0]["dtype"] in (np.int8, np.uint8) else inputs[0]["dtype"].__name__
        problem = model_shape_problem(inputs[0]["shape"], dtype, outputs[0]["shape"], task or DIGIT_TASK) \
            if len(inputs) == 1 and len(outputs) == 1 else "must have one input and one output"
        if problem:
            raise ValueError(f"the LiteRT model {problem}")
        self._source, self._target = inputs[0], outputs[0]
        self._lock = threading.Lock()  # an interpreter serves one call at a time

    def __call__(self, images: np.ndarray) -> np.ndarray:
        """float32 [batch, 28, 28, 1] in [0, 1] -> float32 [batch, 10]."""
        with self._lock:
            self._interpreter.set_tensor(self._source["index"], _quantised(images, self._source))
            self._interpreter.invoke()
            return _dequantised(self._interpreter.get_tensor(self._target["index"]), self._target)


def _quantised(values: np.ndarray, details: dict) -> np.ndarray:
    """float32 -> the tensor's dtype: unchanged for a float model, q = x / scale + zero point for int8/uint8."""
    dtype = details["dtype"]
    if dtype == np.float32:
        return values
    scale, zero = details["quantization"]
    info = np.iinfo(dtype)
    return np.clip(np.round(values / scale + zero), info.min, info.max).astype(dtype)


def _dequantised(values: np.ndarray, details: dict) -> np.ndarray:
    if details["dtype"] == np.float32:
        return values.copy()
    scale, zero = details["quantization"]
    return (values.astype(np.float32) - zero) * scale


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
    """A version's `model.tflite` (or `model_int8.tflite`) run by LiteRT and NumPy, without
    TensorFlow: how the dashboard and the CLI predict, read and evaluate. One image goes through an
    interpreter of batch 1; a batch in chunks of LITE_BATCH through a second interpreter resized
    to that batch (the last chunk padded), made on the first batch call."""

    def __init__(self, flatbuffer: bytes):
        self.flatbuffer = flatbuffer
        self._single = LiteInterpreter(flatbuffer, 1)
        self._batched: LiteInterpreter | None = None
        self._batched_lock = threading.Lock()

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """images: [N, 28, 28] (or [N, 28, 28, 1]) in [0, 1], ink = 1 -> float32 [N, 10]."""
        images = np.asarray(images, dtype=np.float32).reshape(-1, 28, 28, 1)
        if len(images) <= 1:
            return self._single(images) if len(images) else np.zeros((0, 10), np.float32)
        batched = self._batch_interpreter()
        out = []
        for start in range(0, len(images), LITE_BATCH):
            chunk = images[start:start + LITE_BATCH]  # [<=LITE_BATCH, 28, 28, 1]
            padded = np.concatenate([chunk, np.zeros((LITE_BATCH - len(chunk), 28, 28, 1), np.float32)]) \
                if len(chunk) < LITE_BATCH else chunk
            out.append(batched(padded)[:len(chunk)])
        return np.concatenate(out)

    def _batch_interpreter(self) -> LiteInterpreter:
        with self._batched_lock:
            if self._batched is None:
                self._batched = LiteInterpreter(self.flatbuffer, LITE_BATCH)
            return self._batched


class Predictor(_Predicting):
    """An in-memory Keras model run by one traced TensorFlow function (GPU when present): for
    training processes, which hold TensorFlow anyway (per-epoch evaluation, benchmarks). Serving
    uses `LitePredictor` on the version's export instead.
    It holds a snapshot of the weights taken when it is made: make a new one after training."""

    def __init__(self, model):
        import tensorflow as tf

        self.model = model
        fast = inference_model(model)
        self._forward = tf.function(
            lambda x: fast(x, training=False),
            input_signature=[tf.TensorSpec([None, 28, 28, 1], tf.float32)],
        ).get_concrete_function()  # a concrete function skips the per-call signature matching
        self._forward(tf.zeros([1, 28, 28, 1]))  # trace now, not on the first call

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """images: [N, 28, 28] (or [N, 28, 28, 1]) in [0, 1], ink = 1 -> float32 [N, 10]."""
        import tensorflow as tf

        images = np.asarray(images, dtype=np.float32).reshape(-1, 28, 28, 1)
        out = [self._forward(tf.constant(images[i:i + EVAL_BATCH])).numpy()
               for i in range(0, len(images), EVAL_BATCH)]
        return np.concatenate(out) if out else np.zeros((0, 10), np.float32)


def version_predictor(store, version: str | None = None) -> LitePredictor:
    """A version's LiteRT predictor, in this process without TensorFlow. A version saved without a
    usable `model.tflite` (none, damaged, or older than its model.keras) gets one first from
    `python -m digits export` in a child process, so TensorFlow never enters this one.
    Raises StoreError like `store.load` when the version is unknown, broken or cannot be exported."""
    from digits.store import StoreError

    flatbuffer = store.tflite(version)
    if flatbuffer is not None:
        try:
            return LitePredictor(flatbuffer)
        except Exception as err:  # noqa: BLE001 - a flatbuffer LiteRT refuses: export it again
            warnings.warn(f"version {version!r}: model.tflite is unusable ({err}); exporting it again",
                          stacklevel=2)
    export_in_child(store, store.active() if version is None else version)
    flatbuffer = store.tflite(version)
    if flatbuffer is None:
        raise StoreError(f"version {version!r}: model.tflite was exported but still does not match its meta.json")
    try:
        return LitePredictor(flatbuffer)
    except Exception as err:  # noqa: BLE001 - even a fresh export is refused
        raise StoreError(f"version {version!r}: LiteRT cannot run its model.tflite ({err})") from err


def export_in_child(store, version: str) -> None:
    """`python -m digits export --model VERSION` in a child process (TensorFlow stays out of this one)."""
    import subprocess
    import sys

    from digits.data import PROJECT_ROOT
    from digits.store import StoreError

    result = subprocess.run([sys.executable, "-m", "digits", "export", "--model", version], cwd=PROJECT_ROOT,
                            capture_output=True, text=True, env={**os.environ, "DIGITS_STORE": str(store.root)})
    if result.returncode != 0:
        reason = (result.stderr.strip().splitlines() or ["no message"])[-1].removeprefix("error: ")
        # The child's own StoreError already names the version and what is wrong with it.
        raise StoreError(reason if reason.startswith(f"version {version!r}") else
                         f"version {version!r} has no usable model.tflite and exporting one failed: {reason}")
