"""Descriptive statistics against scipy, statsmodels and formulas written out here."""

import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.weightstats import DescrStatsW

from lorascope.stats import (
    improvement_across_tasks,
    iqm,
    iqm_across_tasks,
    mean_interval,
    one_way_anova,
    probability_of_improvement,
)


def test_means_get_a_t_interval_and_bca_on_request():
    three = [0.80, 0.82, 0.79]
    interval = mean_interval(three)
    assert interval.method == "t" and interval.n == 3
    assert (interval.low, interval.high) == pytest.approx(DescrStatsW(np.array(three)).tconfint_mean(alpha=0.05))
    many = np.random.default_rng(0).normal(0.8, 0.01, 20)
    assert mean_interval(many).method == "t"  # BCa is too narrow at seed counts (test_calibration)
    bca = mean_interval(many, method="bca")
    expected = stats.bootstrap((many,), np.mean, method="BCa", n_resamples=9999, random_state=0).confidence_interval
    assert bca.method == "BCa" and (bca.low, bca.high) == pytest.approx((expected.low, expected.high))
    assert mean_interval([0.5]).method == "none" and math.isnan(mean_interval([0.5]).low)
    assert mean_interval([0.5, 0.5]).low == 0.5


def welch_by_formula(groups):
    """Welch's F and p, written out (Welch 1951)."""
    k = len(groups)
    n = np.array([len(g) for g in groups], dtype=float)
    means = np.array([np.mean(g) for g in groups])
    variances = np.array([np.var(g, ddof=1) for g in groups])
    w = n / variances
    grand = np.sum(w * means) / np.sum(w)
    a = np.sum(w * (means - grand) ** 2) / (k - 1)
    lam = np.sum((1 - w / np.sum(w)) ** 2 / (n - 1))
    f = a / (1 + 2 * (k - 2) / (k**2 - 1) * lam)
    df2 = (k**2 - 1) / (3 * lam)
    return f, stats.f.sf(f, k - 1, df2)


def test_anova_classic_welch_and_effect_sizes_match_their_formulas():
    groups = [[0.80, 0.81, 0.79, 0.82], [0.70, 0.75, 0.72], [0.78, 0.90, 0.60, 0.85, 0.70]]
    result = one_way_anova(groups)
    everything = np.concatenate(groups)
    between = sum(len(g) * (np.mean(g) - everything.mean()) ** 2 for g in groups)
    total = np.sum((everything - everything.mean()) ** 2)
    within = total - between
    f = (between / 2) / (within / (len(everything) - 3))
    assert result.f == pytest.approx(f) and result.p == pytest.approx(stats.f.sf(f, 2, len(everything) - 3))
    assert (result.welch_f, result.welch_p) == pytest.approx(welch_by_formula(groups))
    assert result.eta_squared == pytest.approx(between / total)
    ms_within = within / (len(everything) - 3)
    assert result.omega_squared == pytest.approx((between - 2 * ms_within) / (total + ms_within))
    with pytest.raises(ValueError, match="two groups"):
        one_way_anova([[1.0, 2.0]])


def test_classic_anova_is_exact_where_the_groups_lie_far_apart():
    """Exact rational arithmetic: SS_between and SS_within from the definitions. f_oneway's
    SS_total − SS_between cancels here and loses digits."""
    from fractions import Fraction

    groups = [[1e6 + 0.001, 1e6 + 0.002, 1e6 + 0.004], [0.001, 0.003, 0.0035], [-1e6, -1e6 + 0.0021, -1e6 + 0.0005]]
    exact = [[Fraction(v) for v in g] for g in groups]
    values = [v for g in exact for v in g]
    grand = sum(values) / len(values)
    means = [sum(g) / len(g) for g in exact]
    between = sum(len(g) * (m - grand) ** 2 for g, m in zip(exact, means, strict=True))
    within = sum((v - m) ** 2 for g, m in zip(exact, means, strict=True) for v in g)
    f = float((between / 2) / (within / (len(values) - 3)))
    result = one_way_anova(groups)
    assert result.f == pytest.approx(f, rel=1e-9)
    assert result.eta_squared == pytest.approx(float(between / (between + within)), rel=1e-12)


def test_iqm_is_the_mean_of_the_middle_half():
    values = [9.0, 1.0, 5.0, 3.0, 7.0, 2.0, 8.0, 100.0]
    assert iqm(values) == pytest.approx(np.mean(sorted(values)[2:6]))


def test_probability_of_improvement_is_mann_whitney_u_over_the_pair_count():
    x, y = [0.81, 0.80, 0.83, 0.80], [0.79, 0.80, 0.82]
    expected = stats.mannwhitneyu(x, y).statistic / (len(x) * len(y))
    assert probability_of_improvement(x, y) == pytest.approx(expected)
    assert probability_of_improvement([1.0], [0.0]) == 1.0 and probability_of_improvement([0.5], [0.5]) == 0.5


def test_aggregates_across_tasks_resample_within_each_task():
    scores = {"sst2": [0.80, 0.81, 0.82], "mrpc": [0.70, 0.71, 0.69], "rte": [0.55, 0.60, 0.58]}
    interval = iqm_across_tasks(scores)
    assert interval.estimate == pytest.approx(iqm(np.concatenate(list(scores.values()))))
    assert interval.low <= interval.estimate <= interval.high and interval.n == 9
    better = {task: (np.array(v) + 0.05, np.array(v)) for task, v in scores.items()}
    improvement = improvement_across_tasks(better)
    assert improvement.estimate == 1.0 and improvement.low == 1.0  # better on every seed of every task
    tied = improvement_across_tasks({task: (v, v) for task, v in scores.items()})
    assert tied.estimate == pytest.approx(0.5) and tied.low < 0.5 < tied.high


@pytest.mark.slow
def test_the_t_interval_covers_the_true_mean_about_95_percent_of_the_time():
    rng = np.random.default_rng(3)
    trials = 4000
    covered = 0
    for _ in range(trials):
        interval = mean_interval(rng.normal(0.8, 0.02, 5))
        covered += interval.low <= 0.8 <= interval.high
    assert abs(covered / trials - 0.95) < 3 * math.sqrt(0.95 * 0.05 / trials)
