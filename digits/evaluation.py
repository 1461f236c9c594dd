"""Evaluation on the test set: accuracy, per-class metrics, confusion matrix, confused pairs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from digits.data import NUM_CLASSES


@dataclass(frozen=True)
class Evaluation:
    labels: np.ndarray         # int [N]
    probabilities: np.ndarray  # float32 [N, 10] (float16 when read back from a version's results cache)
    predicted: np.ndarray | None = None  # int [N]; the argmax of the full-precision probabilities when kept

    @property
    def predictions(self) -> np.ndarray:
        return self.probabilities.argmax(axis=1) if self.predicted is None else self.predicted

    @property
    def accuracy(self) -> float:
        return float((self.predictions == self.labels).mean()) if len(self.labels) else 0.0

    @property
    def confusion(self) -> np.ndarray:
        """[true, predicted] counts, int [10, 10]."""
        return confusion_matrix(self.labels, self.predictions)

    def per_class(self) -> list[dict]:
        return per_class_metrics(self.confusion)

    def top_confused(self, count: int = 5) -> list[dict]:
        return top_confused_pairs(self.confusion, count)

    def misclassified(self, true: int | None = None, predicted: int | None = None) -> np.ndarray:
        """Indices of wrong predictions, optionally only those of one (true, predicted) cell."""
        wrong = self.predictions != self.labels
        if true is not None:
            wrong &= self.labels == true
        if predicted is not None:
            wrong &= self.predictions == predicted
        return np.flatnonzero(wrong)

    def report(self) -> dict:
        """The JSON-ready summary stored in meta.json and printed by `digits evaluate --json`."""
        confusion = self.confusion
        return {
            "images": int(len(self.labels)),
            "accuracy": round(self.accuracy, 6),
            "per_class": per_class_metrics(confusion),
            "confusion": confusion.tolist(),
            "top_confused": top_confused_pairs(confusion, 10),
            "confusion_4_9": {"4->9": int(confusion[4, 9]), "9->4": int(confusion[9, 4])},
            "misclassified": self.misclassified().tolist(),
        }


def evaluate(predictor, images: np.ndarray, labels: np.ndarray) -> Evaluation:
    """images: uint8 [N, 28, 28] as in MNIST (or float in [0, 1]); labels: [N]."""
    scaled = images.astype(np.float32) / 255.0 if images.dtype == np.uint8 else images
    return Evaluation(np.asarray(labels, dtype=np.int64), predictor.probabilities(scaled))


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray) -> np.ndarray:
    return np.bincount(labels * NUM_CLASSES + predictions,
                       minlength=NUM_CLASSES * NUM_CLASSES).reshape(NUM_CLASSES, NUM_CLASSES)


def per_class_metrics(confusion: np.ndarray) -> list[dict]:
    correct = np.diag(confusion).astype(float)
    predicted = confusion.sum(axis=0)
    actual = confusion.sum(axis=1)
    precision = np.divide(correct, predicted, out=np.zeros(NUM_CLASSES), where=predicted > 0)
    recall = np.divide(correct, actual, out=np.zeros(NUM_CLASSES), where=actual > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros(NUM_CLASSES), where=denom > 0)
    return [{"digit": d, "precision": round(float(precision[d]), 6), "recall": round(float(recall[d]), 6),
             "f1": round(float(f1[d]), 6), "support": int(actual[d])} for d in range(NUM_CLASSES)]


def top_confused_pairs(confusion: np.ndarray, count: int = 5) -> list[dict]:
    """The largest off-diagonal cells, as {true, predicted, count}, most first."""
    off = confusion.copy()
    np.fill_diagonal(off, 0)
    order = np.argsort(off, axis=None)[::-1][:count]
    pairs = [np.unravel_index(i, off.shape) for i in order]
    return [{"true": int(t), "predicted": int(p), "count": int(off[t, p])} for t, p in pairs if off[t, p] > 0]
