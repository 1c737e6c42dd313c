from collections import Counter

import numpy as np
import pytest

from lorascope.data.sampling import score_bin, stratified_indices


def test_proportions_match_largest_remainder_brute_force():
    strata = ["a"] * 601 + ["b"] * 299 + ["c"] * 100
    chosen = stratified_indices(strata, 137, seed=5)
    counts = Counter(strata[i] for i in chosen)
    # brute force: exact shares 82.337, 40.963, 13.7 → floors 82, 40, 13 (sum 135); the two largest
    # remainders (b: .963, c: .7) get the two spare slots
    assert counts == {"a": 82, "b": 41, "c": 14}
    assert len(set(chosen)) == 137 and chosen == sorted(chosen)


def test_reproducible_from_seed_and_varies_across_seeds():
    strata = np.random.default_rng(0).integers(0, 3, size=500).tolist()
    first = stratified_indices(strata, 50, seed=1)
    assert first == stratified_indices(strata, 50, seed=1)
    assert first != stratified_indices(strata, 50, seed=2)


def test_asking_for_more_than_exists_returns_everything():
    assert stratified_indices([0, 1, 1], 10, seed=0) == [0, 1, 2]


@pytest.mark.parametrize(("score", "expected"), [(0.0, 0), (0.99, 0), (1.0, 1), (3.2, 3), (4.99, 4), (5.0, 4)])
def test_score_bins(score, expected):
    assert score_bin(score) == expected
