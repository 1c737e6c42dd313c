"""Hypothesis tests against scipy, statsmodels and brute-force references written here."""

import itertools
import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.weightstats import DescrStatsW, ttost_paired

from lorascope.stats import adjust, equivalence, intersection_union, non_inferiority, overhead, reduction
from lorascope.stats.inference import TestResult as Result
from lorascope.stats.inference import fieller_interval, power_warnings

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


def welch_statistic(a, b, rho):
    """Written out: (mean a − ρ mean b) / √(s²_a/n_a + ρ² s²_b/n_b)."""
    a, b = np.asarray(a), np.asarray(b)
    return (a.mean() - rho * b.mean()) / math.sqrt(a.var(ddof=1) / a.size + rho**2 * b.var(ddof=1) / b.size)


def test_overhead_is_a_welch_test_with_hsu_df_and_its_interval_inverts_it():
    rng = np.random.default_rng(0)
    merged = 100 + rng.normal(0, 2, 5)
    adapters = 120 + rng.normal(0, 5, 4)
    result = overhead(adapters, merged, bound=1.3)
    expected_p = stats.t.cdf(welch_statistic(adapters, merged, 1.3), df=3)  # min(4, 5) − 1
    assert result.p_value == pytest.approx(expected_p, rel=1e-12)
    assert result.estimate == pytest.approx(adapters.mean() / merged.mean())
    q = stats.t.ppf(0.95, 3)  # the ends of the interval are where the statistic crosses ±q
    assert welch_statistic(adapters, merged, result.high) == pytest.approx(-q, abs=1e-8)
    assert welch_statistic(adapters, merged, result.low) == pytest.approx(q, abs=1e-8)
    grid = np.linspace(1.0, 1.5, 2001)  # brute-force inversion
    kept = [rho for rho in grid if abs(welch_statistic(adapters, merged, rho)) <= q]
    assert (result.low, result.high) == pytest.approx((min(kept), max(kept)), abs=3e-4)
    for bound in np.linspace(1.0, 1.6, 61):  # decision, p-value and interval always agree
        r = overhead(adapters, merged, bound=bound)
        assert r.holds == (r.p_value < 0.05) == (r.high < bound)


def test_overhead_with_an_unclear_baseline_has_an_unbounded_interval():
    result = overhead([5.0, 9.0, 1.0], [0.5, 3.0, 0.01], bound=2.0)
    assert result.high == math.inf and not result.holds


def test_sign_flip_p_values_equal_scipy_and_intervals_invert_the_same_test():
    rng = np.random.default_rng(4)
    for n in (3, 5, 7):
        full = rng.uniform(0.75, 0.85, n)
        lora = full + rng.normal(0.0, 0.01, n)
        d = lora - 0.97 * full
        reference = stats.permutation_test(
            (d,), np.mean, permutation_type="samples", alternative="greater", n_resamples=10**6
        ).pvalue
        relative = non_inferiority(lora, full, margin=0.03, test="sign-flip")
        absolute = non_inferiority(lora, full, margin=0.01, relative=False, test="sign-flip")
        assert relative.p_value == pytest.approx(reference, abs=1e-12)

        def scipy_p(rho, side, lora=lora, full=full):
            return stats.permutation_test((lora - rho * full,), np.mean, permutation_type="samples", alternative=side)

        grid = np.linspace(0.95, 1.05, 1001)  # brute force: every ratio scipy's sign-flip test keeps
        kept = [rho for rho in grid if min(scipy_p(rho, "greater").pvalue, scipy_p(rho, "less").pvalue) >= 0.05]
        if n == 3:  # 1/8 > α: nothing can be rejected
            assert (relative.low, relative.high) == (-math.inf, math.inf) and not relative.holds
            continue
        assert (relative.low, relative.high) == pytest.approx((min(kept), max(kept)), abs=2e-4)
        assert relative.holds == (relative.low > 0.97)
        assert absolute.holds == (absolute.low > -0.01)


def test_sign_flip_decision_and_interval_agree_where_t_intervals_did_not():
    """Three seeds: the t-based Fieller interval can exclude the margin while the sign-flip p is
    0.125; the sign-flip interval cannot."""
    full, lora = np.array([0.80, 0.81, 0.82]), np.array([0.805, 0.815, 0.824])
    t_based = non_inferiority(lora, full, margin=0.03)
    flips = non_inferiority(lora, full, margin=0.03, test="sign-flip")
    assert t_based.low > 0.97 and t_based.holds
    assert flips.p_value == 0.125 and not flips.holds and flips.low <= 0.97


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
    broken = Result(float("nan"), float("nan"), float("nan"), float("nan"), False, "t", "", 3)
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
