"""Baselines that train nothing: predictions from the training label distribution alone."""

from __future__ import annotations

import numpy as np


def majority_predictions(train_labels: np.ndarray, n: int, regression: bool) -> np.ndarray:
    """The most frequent training class (ties: the lowest index), or the mean training score."""
    labels = np.asarray(train_labels)
    if regression:
        return np.full(n, float(labels.astype(np.float64).mean()))
    values, counts = np.unique(labels, return_counts=True)
    return np.full(n, values[np.argmax(counts)])


def random_predictions(train_labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Draws from the empirical training distribution: classes at their train shares, or train scores."""
    return np.random.default_rng(seed).choice(np.asarray(train_labels), size=n, replace=True)


def baseline_predictions(method: str, train_labels: np.ndarray, n: int, regression: bool, seed: int) -> np.ndarray:
    if method == "majority":
        return majority_predictions(train_labels, n, regression)
    if method == "random":
        return random_predictions(train_labels, n, seed)
    raise ValueError(f"unknown baseline {method!r}")
