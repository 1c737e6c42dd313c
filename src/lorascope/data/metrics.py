"""Evaluation metrics as GLUE defines them (binary F1 on the positive class for MRPC)."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats


def accuracy(predictions: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(np.asarray(predictions) == np.asarray(labels)))


def binary_f1(predictions: np.ndarray, labels: np.ndarray, positive: int = 1) -> float:
    """F1 of the positive class; 0.0 when there are no positive predictions or labels."""
    pred = np.asarray(predictions) == positive
    gold = np.asarray(labels) == positive
    tp = int(np.sum(pred & gold))
    denominator = int(np.sum(pred)) + int(np.sum(gold))
    return 2.0 * tp / denominator if denominator else 0.0


def _correlation(fn, predictions: np.ndarray, labels: np.ndarray) -> float:
    x = np.asarray(predictions, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    if x.size < 2 or np.all(x == x[0]) or np.all(y == y[0]):
        return math.nan  # undefined for constant input
    return float(fn(x, y).statistic)


def pearson(predictions: np.ndarray, labels: np.ndarray) -> float:
    return _correlation(stats.pearsonr, predictions, labels)


def spearmanr(predictions: np.ndarray, labels: np.ndarray) -> float:
    return _correlation(stats.spearmanr, predictions, labels)


METRICS = {"accuracy": accuracy, "f1": binary_f1, "pearson": pearson, "spearmanr": spearmanr}


def compute(names: tuple[str, ...], predictions: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    return {name: METRICS[name](predictions, labels) for name in names}
