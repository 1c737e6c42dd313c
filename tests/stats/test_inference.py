"""Hypothesis tests against scipy, statsmodels and brute-force references written here."""

import itertools
import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.weightstats import DescrStatsW, ttost_paired

from lorascope.stats import adjust, equivalence, intersection_union, non_inferiority, overhead, reduction
from lorascope.stats.inference import TestResult, fieller_interval, power_warnings

RNG = np.random.default_rng(7)
FULL = 0.80 + 0.01 * RNG.standard_normal(6)
LORA = FULL - 0.004 + 0.006 * RNG.standard_normal(6)


def test_absolute_non_inferiority_is_the_one_sided_paired_t_test_shifted_by_the_margin():
    result = non_inferiority(LORA, FULL, margin=0.01, relative=False, alpha=0.05)
    expected = stats.ttest_1samp(LORA - FULL, -0.01, alternative="greater").pvalue
    assert result.p_value == pytest.approx(expected, rel=1e-12)
    low, high = DescrStatsW(LORA - FULL).tconfint_mean(alpha=0.10)  # two-sided 90% for alpha 0.05
    assert (result.low, result.high) == pytest.approx((low, high), rel=1e-12)
    assert result.estimate == pytest.approx(np.mean(LORA - FULL))
    assert result.holds == (result.p_value < 0.05) == (result.low > -0.01)


def test_relative_non_inferiority_tests_t_minus_scaled_r_and_its_fieller_interval_inverts_that_test():
    result = non_inferiority(LORA, FULL, margin=0.03, relative=True)
    expected = stats.ttest_1samp(LORA - 0.97 * FULL, 0.0, alternative="greater").pvalue
    assert result.p_value == pytest.approx(expected, rel=1e-12)
    assert result.estimate == pytest.approx(LORA.mean() / FULL.mean())
    # brute force: ρ is inside the 1 − 2α interval iff neither one-sided test of T − ρR rejects at α
    grid = np.linspace(0.9, 1.1, 4001)
    inside = [
        stats.ttest_1samp(LORA - rho * FULL, 0.0, alternative="greater").pvalue >= 0.05
        and stats.ttest_1samp(LORA - rho * FULL, 0.0, alternative="less").pvalue >= 0.05
        for rho in grid
    ]
    kept = grid[np.array(inside)]
    assert (result.low, result.high) == pytest.approx((kept.min(), kept.max()), abs=1e-4)
    assert result.holds == (result.low > 0.97)


def test_fieller_is_unbounded_when_the_reference_mean_is_not_away_from_zero():
    assert fieller_interval(np.array([1.0, 2.0, 3.0]), np.array([-1.0, 1.0, 0.5]), 0.05) == (-math.inf, math.inf)


def test_tost_equals_statsmodels_ttost_paired():
    result = equivalence(LORA, FULL, margin=0.015, relative=False)
    p, lower, upper = ttost_paired(LORA, FULL, -0.015, 0.015)
    assert result.p_value == pytest.approx(p, rel=1e-10)
    assert result.p_value == pytest.approx(max(lower[1], upper[1]), rel=1e-10)
    relative = equivalence(LORA, FULL, margin=0.02, relative=True)
    expected = max(
        stats.ttest_1samp(LORA - 0.98 * FULL, 0, alternative="greater").pvalue,
        stats.ttest_1samp(LORA - 1.02 * FULL, 0, alternative="less").pvalue,
    )
    assert relative.p_value == pytest.approx(expected, rel=1e-12)


def test_reduction_is_a_one_sided_t_test_on_log_ratios():
    full_drift = np.array([0.30, 0.34, 0.28, 0.33])
    lora_drift = np.array([0.20, 0.22, 0.21, 0.25])
    result = reduction(lora_drift, full_drift, fraction=0.2)
    logs = np.log(lora_drift / full_drift)
    assert result.p_value == pytest.approx(stats.ttest_1samp(logs, math.log(0.8), alternative="less").pvalue)
    assert result.estimate == pytest.approx(stats.gmean(lora_drift / full_drift))
    low, high = DescrStatsW(logs).tconfint_mean(alpha=0.10)
    assert (result.low, result.high) == pytest.approx((math.exp(low), math.exp(high)))
    assert result.holds and not reduction(lora_drift, full_drift, fraction=0.4).holds
    with pytest.raises(ValueError, match="positive"):
        reduction([0.1, -0.1], [0.2, 0.2], 0.2)


def test_the_sign_flip_test_is_exact_over_all_sign_patterns():
    d = LORA - 0.97 * FULL
    result = non_inferiority(LORA, FULL, margin=0.03, test="sign-flip")
    means = [np.mean(d * np.array(signs)) for signs in itertools.product([1, -1], repeat=d.size)]
    assert result.p_value == pytest.approx(np.mean(np.array(means) >= d.mean() - 1e-12))


def test_few_seeds_are_flagged_where_the_test_cannot_reach_alpha():
    assert any("cannot reach p < 0.05" in w for w in power_warnings(3, "sign-flip", 0.05))  # 1/8 = 0.125
    assert not any("cannot reach" in w for w in power_warnings(5, "sign-flip", 0.05))  # 1/32 < 0.05
    three = non_inferiority(LORA[:3], FULL[:3], 0.03, test="sign-flip")
    assert three.p_value >= 0.125 and not three.holds and three.warnings


def test_overhead_decides_by_the_bootstrap_upper_bound_and_its_p_value_agrees():
    rng = np.random.default_rng(0)
    merged = rng.lognormal(mean=0.0, sigma=0.3, size=200)
    adapters = 1.2 * rng.lognormal(mean=0.0, sigma=0.3, size=200)
    tight = overhead(adapters, merged, bound=1.5)
    loose = overhead(adapters, merged, bound=1.1)
    assert tight.holds and tight.p_value < 0.05 and tight.high <= 1.5
    assert not loose.holds and loose.p_value > 0.05
    assert tight.estimate == pytest.approx(adapters.mean() / merged.mean())
    for bound in np.linspace(1.0, 1.6, 25):  # the decision and the p-value never disagree away from the edge
        result = overhead(adapters, merged, bound=bound, resamples=2000)
        if abs(result.p_value - 0.05) > 0.01:
            assert result.holds == (result.p_value < 0.05)


def brute_holm(p):
    order = np.argsort(p)
    m = len(p)
    adjusted = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adjusted[i] = running
    return adjusted


def brute_bh(p):
    order = np.argsort(p)[::-1]
    m = len(p)
    adjusted = np.empty(m)
    running = 1.0
    for i in order:
        rank = int(np.sum(np.array(p) <= p[i]))
        running = min(running, p[i] * m / rank)
        adjusted[i] = running
    return adjusted


def test_corrections_equal_brute_force_holm_bonferroni_and_benjamini_hochberg():
    p = [0.01, 0.04, 0.03, 0.005, 0.2]
    holm, reject = adjust(p, "holm")
    np.testing.assert_allclose(holm, brute_holm(np.array(p)))
    assert reject == [a < 0.05 for a in holm]
    bonferroni, _ = adjust(p, "bonferroni")
    np.testing.assert_allclose(bonferroni, np.minimum(1, np.array(p) * len(p)))
    bh, _ = adjust(p, "fdr_bh")
    np.testing.assert_allclose(bh, brute_bh(np.array(p)))


def test_holds_on_every_task_is_an_intersection_union_test():
    per_task = [non_inferiority(LORA, FULL, 0.05), non_inferiority(LORA + 0.01, FULL, 0.05)]
    p, holds = intersection_union(per_task)
    assert p == max(r.p_value for r in per_task) and holds == all(r.holds for r in per_task)
    worse = [*per_task, non_inferiority(LORA - 0.2, FULL, 0.01)]
    assert intersection_union(worse)[1] is False


@pytest.mark.parametrize("method", ["holm", "bonferroni", "fdr_bh"])
def test_an_adjusted_p_exactly_at_alpha_does_not_hold(method):
    p = [0.025, 0.025] if method != "fdr_bh" else [0.05, 0.05]  # each adjusts to exactly 0.05
    adjusted, decisions = adjust(p, method, alpha=0.05)
    assert adjusted == pytest.approx([0.05, 0.05], abs=0) and decisions == [False, False]
    assert adjust([0.01, 0.5], method)[1] == [True, False]


def test_a_nan_in_a_family_is_refused():
    with pytest.raises(ValueError, match="NaN"):
        adjust([0.01, float("nan")])


def test_intersection_union_with_a_nan_task_is_nan_and_fails_in_any_order():
    good = non_inferiority(LORA + 0.01, FULL, 0.05)
    broken = TestResult(float("nan"), float("nan"), float("nan"), float("nan"), False, "t", "", 3)
    for order in ([good, broken], [broken, good]):
        p, holds = intersection_union(order)
        assert math.isnan(p) and holds is False


def test_bad_input_is_rejected_with_a_reason():
    with pytest.raises(ValueError, match="one value per seed"):
        non_inferiority([0.8, 0.8], [0.8, 0.8, 0.8], 0.03)
    with pytest.raises(ValueError, match="at least 2 paired seeds"):
        non_inferiority([0.8], [0.8], 0.03)


@pytest.mark.slow
def test_non_inferiority_rejects_at_the_nominal_rate_on_the_margin():
    """Simulated: the true mean difference sits exactly on the margin, so the rejection rate is
    the type I error, which must be about α."""
    rng = np.random.default_rng(1)
    trials, n, margin = 4000, 6, 0.01
    rejections = 0
    for _ in range(trials):
        reference = 0.8 + 0.01 * rng.standard_normal(n)
        treatment = reference - margin + 0.005 * rng.standard_normal(n)
        rejections += non_inferiority(treatment, reference, margin, relative=False).holds
    rate = rejections / trials
    assert abs(rate - 0.05) < 3 * math.sqrt(0.05 * 0.95 / trials)  # within three standard errors
