"""Evaluation metrics as GLUE defines them (binary F1 on the positive class for MRPC)."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats


def aligned(predictions: np.ndarray, labels: np.ndarray, dtype=None) -> tuple[np.ndarray, np.ndarray]:
    """Predictions and labels as two 1-D arrays of one length. A column vector ((n, 1), as a model
    head or a regression gives) is read as n values, as scikit-learn does; any other mismatch is an
    error rather than a silent broadcast of every prediction against every label."""
    pred, gold = np.asarray(predictions, dtype=dtype), np.asarray(labels, dtype=dtype)
    pred, gold = (a.reshape(-1) if a.ndim == 2 and a.shape[1] == 1 else a for a in (pred, gold))
    if pred.ndim != 1 or gold.ndim != 1 or pred.shape != gold.shape:
        raise ValueError(
            f"predictions and labels must be one value per example: got shapes "
            f"{np.shape(predictions)} and {np.shape(labels)}"
        )
    return pred, gold


def accuracy(predictions: np.ndarray, labels: np.ndarray) -> float:
    pred, gold = aligned(predictions, labels)
    return float(np.mean(pred == gold))


def binary_f1(predictions: np.ndarray, labels: np.ndarray, positive: int = 1) -> float:
    """F1 of the positive class; 0.0 when there are no positive predictions or labels."""
    pred, gold = aligned(predictions, labels)
    pred, gold = pred == positive, gold == positive
    tp = int(np.sum(pred & gold))
    denominator = int(np.sum(pred)) + int(np.sum(gold))
    return 2.0 * tp / denominator if denominator else 0.0


def _correlation(fn, predictions: np.ndarray, labels: np.ndarray) -> float:
    x, y = aligned(predictions, labels, np.float64)
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


def auroc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve of ``scores`` for the positive labels (1): the Mann–Whitney U over
    n₁·n₀ with ties counted half; NaN when one class is absent."""
    gold, score = aligned(scores, labels, np.float64)[::-1]
    positive = gold == 1
    n1, n0 = int(positive.sum()), int((~positive).sum())
    if not n1 or not n0:
        return math.nan
    ranks = stats.rankdata(score)
    return float((ranks[positive].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))
