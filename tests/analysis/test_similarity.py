"""CKA and friends against an independent float64 Gram-space reference written here."""

import numpy as np
import pytest
import torch
from scipy.stats import ortho_group

from lorascope.analysis import cosine_per_example, linear_cka, minibatch_cka, procrustes_distance, rbf_cka


def hsic(k: np.ndarray, l_: np.ndarray, unbiased: bool) -> float:
    """tr(K H L H) / (n−1)², or the unbiased estimator of Song et al. (2012), from raw Gram matrices."""
    n = k.shape[0]
    if not unbiased:
        h = np.eye(n) - np.ones((n, n)) / n
        return float(np.trace(k @ h @ l_ @ h)) / (n - 1) ** 2
    k, l_ = k - np.diag(np.diag(k)), l_ - np.diag(np.diag(l_))
    one = np.ones(n)
    value = (
        np.trace(k @ l_) + (one @ k @ one) * (one @ l_ @ one) / ((n - 1) * (n - 2)) - 2 / (n - 2) * (one @ k @ l_ @ one)
    )
    return float(value) / (n * (n - 3))


def cka_reference(k: np.ndarray, l_: np.ndarray, unbiased: bool = False) -> float:
    return hsic(k, l_, unbiased) / np.sqrt(hsic(k, k, unbiased) * hsic(l_, l_, unbiased))


def rbf_gram(x: np.ndarray, threshold: float, bandwidth: str = "kornblith") -> np.ndarray:
    """Kornblith et al.'s notebook (gram_rbf): the median over the full matrix; "pairs": over i < j."""
    distances = np.array([[np.sum((a - b) ** 2) for b in x] for a in x])
    median = np.median(distances if bandwidth == "kornblith" else distances[np.triu_indices(len(x), 1)])
    return np.exp(-distances / (2 * threshold**2 * median))


@pytest.fixture
def pair():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 12))
    y = x @ rng.standard_normal((12, 7)) + 0.5 * rng.standard_normal((40, 7))  # related, not identical
    return x, y


@pytest.mark.parametrize("shape", [(40, 12, 7), (10, 30, 25)], ids=["feature-space", "gram-space"])
@pytest.mark.parametrize("debiased", [False, True])
def test_linear_cka_matches_the_gram_space_reference(shape, debiased):
    n, dx, dy = shape
    rng = np.random.default_rng(1)
    x = rng.standard_normal((n, dx)) + 3.0  # not centred: the reference works on raw Gram matrices
    y = np.tanh(x[:, :dy] if dy <= dx else rng.standard_normal((n, dy))) + rng.standard_normal((n, dy))
    expected = cka_reference(x @ x.T, y @ y.T, debiased)
    assert linear_cka(x, y, debiased=debiased) == pytest.approx(expected, abs=1e-8)


@pytest.mark.parametrize("bandwidth", ["kornblith", "pairs"])
@pytest.mark.parametrize("debiased", [False, True])
@pytest.mark.parametrize("threshold", [0.5, 1.0, 2.0])
def test_rbf_cka_matches_the_gram_space_reference(pair, threshold, debiased, bandwidth):
    x, y = pair
    expected = cka_reference(rbf_gram(x, threshold, bandwidth), rbf_gram(y, threshold, bandwidth), debiased)
    got = rbf_cka(x, y, threshold=threshold, debiased=debiased, bandwidth=bandwidth)
    assert got == pytest.approx(expected, abs=1e-8)


@pytest.mark.parametrize("n", [10, 11])  # even and odd counts of distances
def test_rbf_cka_default_is_the_published_bandwidth_and_differs_from_pairs_at_small_n(n):
    rng = np.random.default_rng(n)
    x = rng.standard_normal((n, 5))
    y = np.tanh(x @ rng.standard_normal((5, 4))) + 0.3 * rng.standard_normal((n, 4))
    published = cka_reference(rbf_gram(x, 0.5), rbf_gram(y, 0.5))
    assert rbf_cka(x, y, threshold=0.5) == pytest.approx(published, abs=1e-10)
    assert abs(rbf_cka(x, y, threshold=0.5, bandwidth="pairs") - published) > 1e-4


def test_minibatch_cka_with_one_batch_is_debiased_cka_and_converges_with_more(pair):
    x, y = pair
    assert minibatch_cka([(x, y)]) == pytest.approx(linear_cka(x, y, debiased=True), abs=1e-12)
    sizes = [(0, 10), (10, 40)]  # unequal batches: each batch's HSIC estimate counts once
    parts = [(x[a:b], y[a:b]) for a, b in sizes]
    grams = [(p @ p.T, q @ q.T) for p, q in parts]
    cross = sum(hsic(k, l_, True) for k, l_ in grams)
    norm = np.sqrt(sum(hsic(k, k, True) for k, _ in grams) * sum(hsic(l_, l_, True) for _, l_ in grams))
    assert minibatch_cka(parts) == pytest.approx(cross / norm, abs=1e-10)
    rng = np.random.default_rng(2)
    big_x = rng.standard_normal((4000, 6))
    big_y = big_x @ rng.standard_normal((6, 6)) + rng.standard_normal((4000, 6))
    batches = [(big_x[i : i + 200], big_y[i : i + 200]) for i in range(0, 4000, 200)]
    assert minibatch_cka(batches) == pytest.approx(linear_cka(big_x, big_y), abs=0.02)


def test_cka_properties(pair):
    x, y = pair
    rng = np.random.default_rng(3)
    for measure in (linear_cka, rbf_cka):
        assert measure(x, x) == pytest.approx(1.0, abs=1e-12)
        assert measure(x, y) == pytest.approx(measure(y, x), abs=1e-12)
    base = linear_cka(x, y)
    rotation = ortho_group.rvs(12, random_state=4)
    assert linear_cka(x @ rotation, y) == pytest.approx(base, abs=1e-10)  # orthogonal transforms
    assert linear_cka(7.5 * x, y) == pytest.approx(base, abs=1e-10)  # isotropic scaling
    assert linear_cka(x + rng.standard_normal(12) * 100, y) == pytest.approx(base, abs=1e-10)  # mean shift
    assert rbf_cka(x @ rotation * 3.0 + 5.0, y) == pytest.approx(rbf_cka(x, y), abs=1e-10)
    stretch = np.diag(np.geomspace(0.01, 100, 12))  # invertible but not orthogonal
    assert abs(linear_cka(x @ stretch, y) - base) > 0.01


def test_a_large_offset_in_float32_gives_the_float64_answer(pair):
    x, y = (torch.tensor(a + 1000.0, dtype=torch.float32) for a in pair)
    x64, y64 = x.double().numpy(), y.double().numpy()  # the very same values, in float64
    x64, y64 = x64 - x64.mean(0), y64 - y64.mean(0)  # (raw Gram matrices of +1000 features lose digits)
    for debiased in (False, True):
        expected = cka_reference(x64 @ x64.T, y64 @ y64.T, debiased)
        assert linear_cka(x, y, debiased=debiased) == pytest.approx(expected, abs=1e-6)
        assert rbf_cka(x, y, debiased=debiased) == pytest.approx(
            cka_reference(rbf_gram(x64, 1.0), rbf_gram(y64, 1.0), debiased), abs=1e-6
        )


def test_cosine_per_example_raw_and_centred(pair):
    x, _ = pair
    rng = np.random.default_rng(5)
    y = x + 0.1 * rng.standard_normal(x.shape)
    raw = cosine_per_example(x, y)
    expected = np.sum(x * y, axis=1) / (np.linalg.norm(x, axis=1) * np.linalg.norm(y, axis=1))
    np.testing.assert_allclose(raw, expected, atol=1e-12)
    centred = cosine_per_example(x + 50, y + 50, centred=True)
    xc, yc = x - x.mean(0), y - y.mean(0)
    np.testing.assert_allclose(
        centred, np.sum(xc * yc, 1) / (np.linalg.norm(xc, axis=1) * np.linalg.norm(yc, axis=1)), atol=1e-10
    )
    assert np.all(cosine_per_example(x + 50, y + 50) > 0.99)  # the raw cosine is dominated by the offset


def test_procrustes_distance_against_scipy(pair):
    from scipy.linalg import orthogonal_procrustes

    x, y = pair[0], pair[0] @ np.random.default_rng(6).standard_normal((12, 12))
    xc, yc = x - x.mean(0), y - y.mean(0)
    xc, yc = xc / np.linalg.norm(xc), yc / np.linalg.norm(yc)
    q, _ = orthogonal_procrustes(yc, xc)
    assert procrustes_distance(x, y) == pytest.approx(np.sum((xc - yc @ q) ** 2), abs=1e-10)
    rotation = ortho_group.rvs(12, random_state=7)
    assert procrustes_distance(x, 3 * x @ rotation + 1) == pytest.approx(0.0, abs=1e-10)


def test_bad_input_is_rejected_clearly(pair):
    x, y = pair
    with pytest.raises(ValueError, match="at least 4 examples"):
        linear_cka(x[:3], y[:3])
    with pytest.raises(ValueError, match="X has 40 rows, Y has 39"):
        linear_cka(x, y[:39])
    with pytest.raises(ValueError, match="2-D array"):
        rbf_cka(x[0], y[0])
    with pytest.raises(ValueError, match="same features"):
        cosine_per_example(x, y)
    with pytest.raises(ValueError, match="constant"):
        linear_cka(np.ones((10, 3)), x[:10])
