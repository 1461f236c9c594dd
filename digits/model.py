"""The three digit CNNs (input float32 [N, 28, 28, 1] in [0, 1], ink = 1; output softmax [N, 10]),
a committee of strong CNNs, and the number reader (`build_number`)."""

from __future__ import annotations

import keras
from keras import layers

from digits.data import NUM_CLASSES

INPUT_SHAPE = (28, 28, 1)


def _tutorial_layout(filters: tuple[int, int, int], dense_units: int, name: str) -> keras.Model:
    """Conv-Pool-Conv-Pool-Conv-Dense-Dense with 3x3 kernels and ReLU, the tutorial's layout."""
    first, second, third = filters
    return keras.Sequential([
        keras.Input(INPUT_SHAPE),
        layers.Conv2D(first, 3, activation="relu"),    # 26x26xfirst
        layers.MaxPooling2D(2),                         # 13x13xfirst
        layers.Conv2D(second, 3, activation="relu"),   # 11x11xsecond
        layers.MaxPooling2D(2),                         # 5x5xsecond
        layers.Conv2D(third, 3, activation="relu"),    # 3x3xthird
        layers.Flatten(),                               # 9 * third
        layers.Dense(dense_units, activation="relu"),
        layers.Dense(NUM_CLASSES, activation="softmax"),
    ], name=name)


def build_seed() -> keras.Model:
    """The tutorial's CNN, layer for layer: ~2.8 M multiply-adds per image."""
    return _tutorial_layout((32, 64, 64), dense_units=64, name="seed")


def build_fast() -> keras.Model:
    """The seed's layout, reshaped for time to 99% on a CPU: fewer filters where the feature maps
    are big (on a CPU the passes over conv1's 26x26 maps cost more than their arithmetic), a wider
    dense layer where it is cheap. ~1.3 M multiply-adds; how soon the `fast` recipe passes 99% is
    in BENCHMARKS.md."""
    return _tutorial_layout((16, 48, 64), dense_units=128, name="fast")


def _conv_bn(filters: int, kernel: int = 3) -> list[layers.Layer]:
    # Conv without bias: batch norm's shift replaces it.
    return [layers.Conv2D(filters, kernel, padding="same", use_bias=False),
            layers.BatchNormalization(), layers.ReLU()]


def build_strong(name: str = "strong") -> keras.Model:
    """Batch norm, dropout and wider layers, at ~7.5 M multiply-adds per image (the seed's ~2.8 M):
    the shipped default's network, trained with augmentation."""
    return keras.Sequential([
        keras.Input(INPUT_SHAPE),
        *_conv_bn(32, 5),                           # 28x28x32
        layers.MaxPooling2D(2),                     # 14x14x32
        *_conv_bn(64),                              # 14x14x64
        layers.MaxPooling2D(2),                     # 7x7x64
        layers.Dropout(0.2),
        *_conv_bn(128),                             # 7x7x128
        layers.MaxPooling2D(2),                     # 3x3x128
        layers.Flatten(),                           # 1152
        layers.Dropout(0.4),
        layers.Dense(128, use_bias=False), layers.BatchNormalization(), layers.ReLU(),
        layers.Dropout(0.4),
        layers.Dense(NUM_CLASSES, activation="softmax"),
    ], name=name)


COMMITTEE = "committee"
NUMBER_WIDTH = 192       # features per frame in the number reader's 1-D part


def committee_name(size: int) -> str:
    return f"{COMMITTEE}-{size}"


def build_committee(size: int) -> keras.Model:
    """`size` strong CNNs side by side on the same input, their softmax averaged. Trained apart
    (other seeds, other augmentation) and then combined (`digits.committee`), they err on different
    images, so the average errs less than any of them, most of all on inputs unlike the training set
    (Ciresan et al. 2012; Lakshminarayanan et al. 2017), at `size` times a member's cost."""
    inputs = keras.Input(INPUT_SHAPE)
    members = [build_strong(f"member_{i}") for i in range(size)]
    probabilities = layers.Average()([member(inputs) for member in members])  # [N, 10]
    return keras.Model(inputs, probabilities, name=committee_name(size))


def all_layers(model: keras.Model) -> list[layers.Layer]:
    """Every layer, those of nested models (a committee's members) included."""
    return [inner for layer in model.layers
            for inner in (all_layers(layer) if isinstance(layer, keras.Model) else [layer])]


def build_number() -> keras.Model:
    """The number reader: a conv stack over the 32x256 strip of a number (two convolutions a stage,
    as in `build_strong`: each frame must tell a digit as well as the digit CNN does), then 1-D
    convolutions along its 64 columns of frames (context of about three digits either way), and per
    frame the logits of the ten digits and CTC's blank. No recurrence: LiteRT runs it as plain
    convolutions. Input float32 [N, 32, 256, 1], ink = 1; output logits [N, 64, 11]."""
    from digits.numbers import BLANK, FRAMES, STRIP_HEIGHT, STRIP_WIDTH

    return keras.Sequential([
        keras.Input((STRIP_HEIGHT, STRIP_WIDTH, 1)),
        *_conv_bn(32),                              # 32x256x32
        layers.MaxPooling2D(2),                     # 16x128x32
        *_conv_bn(64), *_conv_bn(64),               # 16x128x64
        layers.MaxPooling2D(2),                     # 8x64x64
        *_conv_bn(128), *_conv_bn(128),             # 8x64x128
        layers.MaxPooling2D((2, 1)),                # 4x64x128
        *_conv_bn(128),                             # 4x64x128
        layers.Permute((2, 1, 3)),                  # 64x4x128: the strip's columns first
        layers.Reshape((FRAMES, STRIP_HEIGHT // 8 * 128)),  # 64 frames x 512 features
        layers.Dense(NUMBER_WIDTH, activation="relu"),
        layers.Dropout(0.2),
        layers.Conv1D(NUMBER_WIDTH, 5, padding="same", activation="relu"),                   # ±2 frames
        layers.Conv1D(NUMBER_WIDTH, 5, padding="same", dilation_rate=2, activation="relu"),  # ±4 more
        layers.Dense(BLANK + 1),                    # 64 x 11 logits
    ], name="number")


ARCHITECTURES = {"seed": build_seed, "fast": build_fast, "strong": build_strong, "number": build_number}


def build_model(architecture: str) -> keras.Model:
    """A fresh network by its name: a preset's ("strong", ...) or a committee's ("committee-2")."""
    if architecture.startswith(COMMITTEE + "-"):
        return build_committee(int(architecture.removeprefix(COMMITTEE + "-")))
    return ARCHITECTURES[architecture]()
