import math

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import accuracy_score, f1_score

from lorascope.data import metrics


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_classification_metrics_equal_sklearn(seed):
    rng = np.random.default_rng(seed)
    labels, predictions = rng.integers(0, 2, 300), rng.integers(0, 2, 300)
    assert metrics.accuracy(predictions, labels) == pytest.approx(accuracy_score(labels, predictions), abs=1e-12)
    assert metrics.binary_f1(predictions, labels) == pytest.approx(f1_score(labels, predictions), abs=1e-12)


def _ranks(x: np.ndarray) -> np.ndarray:
    """Average ranks, brute force (ties share the mean of their positions)."""
    ranks = np.empty(len(x))
    for i, value in enumerate(x):
        ranks[i] = np.sum(x < value) + (np.sum(x == value) + 1) / 2
    return ranks


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    x, y = x - x.mean(), y - y.mean()
    return float((x @ y) / math.sqrt((x @ x) * (y @ y)))


@pytest.mark.parametrize("seed", [0, 1])
def test_correlations_equal_float64_reference_and_scipy(seed):
    rng = np.random.default_rng(seed)
    labels = np.round(rng.uniform(0, 5, 200), 1)  # ties, as in STS-B
    predictions = labels + rng.normal(0, 1.5, 200)
    assert metrics.pearson(predictions, labels) == pytest.approx(_pearson(predictions, labels), abs=1e-10)
    assert metrics.pearson(predictions, labels) == pytest.approx(stats.pearsonr(predictions, labels)[0], abs=1e-10)
    expected_rho = _pearson(_ranks(predictions), _ranks(labels))
    assert metrics.spearmanr(predictions, labels) == pytest.approx(expected_rho, abs=1e-10)


def test_constant_predictions_have_no_correlation():
    assert math.isnan(metrics.pearson(np.ones(5), np.arange(5)))


def test_f1_without_positives_is_zero_like_sklearn():
    labels, predictions = np.zeros(4, int), np.zeros(4, int)
    assert metrics.binary_f1(predictions, labels) == f1_score(labels, predictions, zero_division=0.0) == 0.0


@pytest.mark.parametrize("metric", ["accuracy", "f1", "pearson", "spearmanr"])
def test_a_column_of_predictions_is_read_as_one_value_per_example(metric):
    rng = np.random.default_rng(3)
    labels, predictions = rng.integers(0, 2, 50), rng.integers(0, 2, 50)
    fn = metrics.METRICS[metric]
    assert fn(predictions[:, None], labels) == fn(predictions, labels)
    assert fn(predictions, labels[:, None]) == fn(predictions, labels)


@pytest.mark.parametrize("metric", ["accuracy", "f1", "pearson"])
@pytest.mark.parametrize("shapes", [((10,), (9,)), ((10, 2), (10,)), ((1, 10), (10,))])
def test_mismatched_shapes_are_an_error_not_a_broadcast(metric, shapes):
    with pytest.raises(ValueError, match="one value per example"):
        metrics.METRICS[metric](np.zeros(shapes[0]), np.ones(shapes[1]))
