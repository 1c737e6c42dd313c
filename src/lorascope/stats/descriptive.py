"""Descriptive statistics over seeds: means with confidence intervals, one-way ANOVA across
methods, and aggregates across tasks (IQM, probability of improvement) with stratified-bootstrap
intervals (Agarwal et al. 2021, "Deep RL at the Edge of the Statistical Precipice")."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class Interval:
    """A point estimate with a confidence interval, and how the interval was made."""

    estimate: float
    low: float
    high: float
    method: str
    n: int

    def format(self, digits: int = 3) -> str:
        if math.isnan(self.low):
            return f"{self.estimate:.{digits}f}"
        return f"{self.estimate:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}]"


def mean_interval(
    values: Sequence[float], confidence: float = 0.95, seed: int = 0, method: Literal["t", "bca"] = "t"
) -> Interval:
    """Mean over seeds with a ``confidence`` interval: Student's t (default), or the BCa bootstrap
    (9,999 resamples) on request; NaN bounds for one value.

    Student's t is the default at every number of seeds: it is exact for normal seed-to-seed
    variation, while BCa's percentile-based interval is too narrow at the seed counts studies
    have (simulated with normal seeds, a nominal 95% covers 0.907 at 10 seeds, 0.920 at 20 and
    0.937 at 30)."""
    x = np.asarray(values, dtype=float)
    n = x.size
    if n == 0:
        raise ValueError("no values")
    if n == 1:
        return Interval(float(x[0]), math.nan, math.nan, "none", 1)
    if np.ptp(x) == 0:  # every seed gave the same value
        return Interval(float(x[0]), float(x[0]), float(x[0]), "constant", n)
    if method == "t":
        low, high = stats.t.interval(confidence, n - 1, loc=x.mean(), scale=stats.sem(x))
        return Interval(float(x.mean()), float(low), float(high), "t", n)
    result = stats.bootstrap(
        (x,), np.mean, confidence_level=confidence, method="BCa", n_resamples=9999, random_state=seed
    )
    return Interval(
        float(x.mean()), float(result.confidence_interval.low), float(result.confidence_interval.high), "BCa", n
    )


@dataclass(frozen=True)
class Anova:
    """One-way ANOVA of one metric across methods (groups of seeds), classic and Welch's."""

    f: float
    p: float
    welch_f: float
    welch_p: float
    eta_squared: float  # SS_between / SS_total
    omega_squared: float  # less biased: (SS_b − (k − 1) MS_w) / (SS_t + MS_w)
    groups: int
    n: int


def one_way_anova(groups: Sequence[Sequence[float]]) -> Anova:
    """Classic one-way ANOVA, Welch's ANOVA for unequal variances
    (``statsmodels.stats.oneway.anova_oneway``) and the effect sizes η² and ω².

    The sums of squares are computed from deviations about each group's own mean and about the
    grand mean, never as a difference SS_total − SS_between: that difference cancels
    catastrophically when the groups lie far apart relative to their spread (``scipy.stats.f_oneway``
    loses about 1e-3 relative precision there)."""
    from statsmodels.stats.oneway import anova_oneway

    arrays = [np.asarray(g, dtype=np.float64) for g in groups]
    if len(arrays) < 2 or any(a.size < 2 for a in arrays):
        raise ValueError("ANOVA needs at least two groups of at least two values each")
    everything = np.concatenate(arrays)
    k, n = len(arrays), everything.size
    grand = everything.mean()
    between = float(sum(a.size * (a.mean() - grand) ** 2 for a in arrays))
    within = float(sum(((a - a.mean()) ** 2).sum() for a in arrays))
    total = between + within  # equals Σ (x − grand)², without its rounding
    within_mean_square = within / (n - k)
    if within_mean_square > 0:
        f = between / (k - 1) / within_mean_square
        p = float(stats.f.sf(f, k - 1, n - k))
    else:  # no spread inside any group: F is infinite unless the groups agree too
        f, p = (math.inf, 0.0) if between > 0 else (math.nan, math.nan)
    if any(np.ptp(a) == 0 for a in arrays):  # Welch weights groups by 1 / variance: undefined
        welch_f = welch_p = math.nan
    else:
        welch = anova_oneway(arrays, use_var="unequal", welch_correction=True)
        welch_f, welch_p = float(welch.statistic), float(welch.pvalue)
    eta = between / total if total > 0 else math.nan
    omega = (between - (k - 1) * within_mean_square) / (total + within_mean_square) if total > 0 else math.nan
    return Anova(float(f), p, welch_f, welch_p, float(eta), float(omega), k, n)


def iqm(values: Sequence[float]) -> float:
    """Interquartile mean: the mean of the middle 50% (``scipy.stats.trim_mean(x, 0.25)``)."""
    return float(stats.trim_mean(np.asarray(values, dtype=float), 0.25))


def probability_of_improvement(x: Sequence[float], y: Sequence[float]) -> float:
    """P(X > Y) + ½ P(X = Y) for one draw of each: the Mann–Whitney U of x over y divided by |x|·|y|."""
    a, b = np.asarray(x, dtype=float)[:, None], np.asarray(y, dtype=float)[None, :]
    return float(((a > b) + 0.5 * (a == b)).mean())


def stratified_bootstrap(
    scores: dict[str, Sequence[float]] | dict[str, tuple[Sequence[float], Sequence[float]]],
    statistic,
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> Interval:
    """Percentile interval of ``statistic(scores)`` when each task's runs (the strata) are
    resampled with replacement, each task keeping its own number of runs. ``scores`` maps task →
    values, or task → (values of x, values of y) for a two-method statistic."""
    rng = np.random.default_rng(seed)
    point = statistic(scores)

    def resample(values):
        values = np.asarray(values, dtype=float)
        return values[rng.integers(0, values.size, values.size)]

    draws = []
    for _ in range(resamples):
        drawn = {
            task: tuple(resample(v) for v in value) if isinstance(value, tuple) else resample(value)
            for task, value in scores.items()
        }
        draws.append(statistic(drawn))
    tail = (1 - confidence) / 2
    low, high = np.quantile(draws, [tail, 1 - tail])
    n = sum(len(v[0]) if isinstance(v, tuple) else len(v) for v in scores.values())
    return Interval(float(point), float(low), float(high), "stratified bootstrap", n)


def iqm_across_tasks(scores: dict[str, Sequence[float]], confidence: float = 0.95, seed: int = 0) -> Interval:
    """IQM of every run's score over all tasks, with a stratified-bootstrap interval."""
    return stratified_bootstrap(
        scores, lambda s: iqm(np.concatenate([np.asarray(v, dtype=float) for v in s.values()])), confidence, seed=seed
    )


def improvement_across_tasks(
    pairs: dict[str, tuple[Sequence[float], Sequence[float]]], confidence: float = 0.95, seed: int = 0
) -> Interval:
    """Probability that method X beats method Y on a task drawn at random (the mean over tasks of
    the per-task probability of improvement), with a stratified-bootstrap interval."""
    return stratified_bootstrap(
        pairs,
        lambda s: float(np.mean([probability_of_improvement(x, y) for x, y in s.values()])),
        confidence,
        seed=seed,
    )
