"""The number reader on synthetic test numbers (MNIST test digits only), by category.

Sequence accuracy: the whole number read exactly. Digit error rate: the edit distance between
what was read and the truth (digits missed, added or misread), over the true digits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from digits.numbers import decode_batch, strips
from digits.synth_numbers import Numbers, make_numbers

MAX_DIGITS = 12
CATEGORY_LABELS = {  # the Evaluate page's and the reports' categories, in their order
    "apart": "5 digits, apart",
    "touching": "5 digits, touching or overlapping",
    "separators": "5 digits, separators, sign, slash",
    "patterned": "5 digits, patterned paper, separators, underline",
    "long": "9-12 digits",
    "mixed": "1-12 digits, everything mixed",
}
TEST_SEED = 13
VALIDATION_SEED = 29   # numbers from the validation slice of MNIST's training images: what choices are made on
EVALUATION_NUMBERS = 400   # per category: `digits evaluate` and the end of a training run


def edit_distance(truth: str, read: str) -> int:
    row = list(range(len(read) + 1))
    for i, t in enumerate(truth, 1):
        previous, row[0] = row[0], i
        for j, r in enumerate(read, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (t != r))
    return row[-1]


def digit_errors(truths: list[str], reads: list[str]) -> float:
    """The per-digit error rate: total edit distance over total true digits."""
    total = sum(len(t) for t in truths)
    return sum(edit_distance(t, r) for t, r in zip(truths, reads)) / max(1, total)


def numbers_for_test(category: str, count: int, data_dir=None) -> Numbers:
    """`count` numbers of a category from the MNIST test images (the same ones every time)."""
    from digits.data import load_test

    split = load_test(data_dir)
    return make_numbers(split.images, split.labels, count, TEST_SEED, category)


def numbers_for_validation(category: str, count: int, data_dir=None) -> Numbers:
    """`count` numbers of a category from the validation slice of MNIST's *training* images (never
    trained on, never the test set): where the reader's choices are made and compared."""
    from digits.data import load_mnist

    split = load_mnist(data_dir).validation
    return make_numbers(split.images, split.labels, count, VALIDATION_SEED, category)


def test_set_by_category(count: int, data_dir=None) -> dict[str, Numbers]:
    return {category: numbers_for_test(category, count, data_dir) for category in CATEGORY_LABELS}


@dataclass(frozen=True)
class CategoryResult:
    category: str
    truths: list[str]
    reads: list[str]

    @property
    def sequence_accuracy(self) -> float:
        return float(np.mean([t == r for t, r in zip(self.truths, self.reads)])) if self.truths else 0.0

    @property
    def digit_error_rate(self) -> float:
        return digit_errors(self.truths, self.reads)

    def misread(self) -> list[int]:
        return [i for i, (t, r) in enumerate(zip(self.truths, self.reads)) if t != r]

    def summary(self) -> dict:
        return {"numbers": len(self.truths), "sequence_accuracy": round(self.sequence_accuracy, 6),
                "digit_error_rate": round(self.digit_error_rate, 6)}


Read = Callable[[list], list[str]]   # images -> the numbers they show


def read_categories(read: Read, categories: dict[str, Numbers]) -> dict[str, CategoryResult]:
    """Each category's numbers as `read` reads them: a `NumberReader`'s `numbers` (as served), or
    `network_reads(logits)` (the network alone, through LiteRT or Keras)."""
    return {category: CategoryResult(category, numbers.labels, read(numbers.images))
            for category, numbers in categories.items()}


def network_reads(logits: Callable[[np.ndarray], np.ndarray]) -> Read:
    """A `read` from a network's logits (strips float32 [N, 32, 256] -> [N, 64, 11]): CTC alone."""
    return lambda images: decode_batch(logits(strips(images)))


def evaluate_numbers(read: Read, categories: dict[str, Numbers]) -> dict:
    """The JSON-ready report kept in a number version's meta.json: `accuracy` is the sequence
    accuracy on the mixed category, each category's figures under `categories`."""
    results = read_categories(read, categories)
    mixed = results.get("mixed") or next(iter(results.values()))
    return {"accuracy": round(mixed.sequence_accuracy, 6), "digit_error_rate": round(mixed.digit_error_rate, 6),
            "categories": {category: result.summary() for category, result in results.items()}}
