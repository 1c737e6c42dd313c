"""Baselines that train nothing: predictions from the training label distribution alone."""

from __future__ import annotations

import numpy as np

from lorascope.config import RunConfig
from lorascope.methods.base import MethodHooks


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


class Majority(MethodHooks):
    """``method: majority``: the most frequent training class, or the mean training score."""

    def predict(self, cfg: RunConfig, train_labels: np.ndarray, n: int, regression: bool) -> np.ndarray:
        return majority_predictions(train_labels, n, regression)


class Random(MethodHooks):
    """``method: random``: draws from the training labels, seeded by the run's seed."""

    def predict(self, cfg: RunConfig, train_labels: np.ndarray, n: int, regression: bool) -> np.ndarray:
        return random_predictions(train_labels, n, cfg.seed)
