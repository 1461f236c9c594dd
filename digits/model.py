"""The three CNNs. Input float32 [N, 28, 28, 1] in [0, 1], ink = 1; output softmax [N, 10]."""

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


def build_strong() -> keras.Model:
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
    ], name="strong")


ARCHITECTURES = {"seed": build_seed, "fast": build_fast, "strong": build_strong}


def build_model(preset: str) -> keras.Model:
    return ARCHITECTURES[preset]()
