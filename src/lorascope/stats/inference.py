"""Tests of stated hypotheses over seeds, each returning an estimate, a confidence interval, a
p-value, a decision and the reason for the test used.

- **Non-inferiority** of a treatment to a reference (higher is better), on seeds paired by their
  seed: H0 μ_T ≤ μ_R − δ (absolute margin) or μ_T ≤ (1 − m) μ_R (relative margin), one-sided.
- **Equivalence** (TOST): two one-sided tests against the lower and the upper margin; p is the
  larger of the two.
- **Reduction** by at least a fraction f (lower is better, e.g. drift): H0 μ_log(T/R) ≥ log(1 − f),
  one-sided, on the per-seed log ratios.
- **Bounded overhead** of one measured quantity over another: the ratio of their means is at
  most a bound, decided by a one-sided Welch t test on mean(M) − bound · mean(B) with Hsu's
  conservative degrees of freedom, and a Fieller-type interval that inverts it.

The paired tests use Student's t on the per-seed differences by default, or the exact sign-flip
permutation test (``test="sign-flip"``), which assumes only symmetry but cannot reach p below
2⁻ⁿ with n seeds. Intervals are two-sided at 1 − 2α, the convention for one-sided and TOST
decisions, and each inverts the test that decides: Fieller's or Student's t for ``t``, the
sign-flip test itself for ``sign-flip``. So the decision at α always agrees with whether the
margin lies outside the interval.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from scipy import stats

PairedTest = Literal["t", "sign-flip"]
Correction = Literal["holm", "bonferroni", "fdr_bh"]


@dataclass
class TestResult:
    """One hypothesis test: what was estimated, its interval, the p-value and the decision."""

    estimate: float
    low: float
    high: float
    p_value: float
    holds: bool  # H0 rejected at alpha: the claim is supported
    test: str
    why: str
    n: int
    warnings: list[str] = field(default_factory=list)


def _paired(treatment: Sequence[float], reference: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    t, r = np.asarray(treatment, dtype=float), np.asarray(reference, dtype=float)
    if t.shape != r.shape or t.ndim != 1:
        raise ValueError(f"paired tests need one value per seed for each method, got {t.shape} and {r.shape}")
    if t.size < 2:
        raise ValueError(f"a test over seeds needs at least 2 paired seeds, got {t.size}")
    return t, r


def min_p_value(n: int, test: PairedTest) -> float:
    """The smallest one-sided p-value the test can give with ``n`` paired seeds (0 for t)."""
    return 2.0**-n if test == "sign-flip" else 0.0


def power_warnings(n: int, test: PairedTest, alpha: float) -> list[str]:
    smallest = min_p_value(n, test)
    warnings = []
    if smallest >= alpha:
        warnings.append(
            f"{n} paired seeds cannot reach p < {alpha:g} in a {test} test (smallest p = {smallest:.3g}); "
            f"use at least {math.ceil(math.log2(1 / alpha)) + 1} seeds or a t test"
        )
    if test == "t" and n < 5:
        warnings.append(f"only {n} seeds: the t test leans on normality of the per-seed differences")
    return warnings


EXACT_SIGN_FLIPS = 20  # up to 2²⁰ sign patterns are enumerated; more seeds draw this many at random
SIGN_FLIP_DRAWS = 100_000


@dataclass(frozen=True)
class _Flips:
    """The sign patterns of a sign-flip test as subsets F of seeds whose signs are flipped: every
    subset (exact, ``size`` = 2ⁿ), or random draws plus the observed pattern (``size`` = draws + 1).
    Empty subsets, which always count, are kept apart as ``always``."""

    subsets: np.ndarray  # bool, non-empty patterns × seeds
    size: int
    always: int

    @classmethod
    def of(cls, n: int) -> _Flips:
        if n <= EXACT_SIGN_FLIPS:
            codes = np.arange(1, 2**n, dtype=np.int64)
            return cls(((codes[:, None] >> np.arange(n)) & 1).astype(bool), 2**n, 1)
        drawn = np.random.default_rng(0).integers(0, 2, (SIGN_FLIP_DRAWS, n)).astype(bool)
        empty = ~drawn.any(axis=1)
        return cls(drawn[~empty], SIGN_FLIP_DRAWS + 1, 1 + int(empty.sum()))

    def p_greater(self, d: np.ndarray) -> float:
        """p of H1 mean(d) > 0: the share of patterns whose flipped mean is at least the observed
        one, i.e. whose flipped seeds sum to at most 0 (the observed pattern included)."""
        sums = self.subsets @ d
        tie = 1e-12 * float(np.abs(d).sum())
        return float((self.always + np.count_nonzero(sums <= tie)) / self.size)

    def bounds(self, x: np.ndarray, weights: np.ndarray, alpha: float) -> tuple[float, float]:
        """The 1 − 2α interval of θ inverting the test of d = x − θ · weights on both sides: the
        θ at which the p-value crosses α is an order statistic of the subset ratios Σ_F x / Σ_F w."""
        sums = self.subsets.astype(np.float64)
        cuts = np.sort((sums @ x) / (sums @ weights))
        j = math.ceil(alpha * self.size - 1e-9) - self.always  # cuts to pass before the test stops rejecting
        if j < 1:
            return -math.inf, math.inf
        return float(cuts[j - 1]), float(cuts[-j])


def _one_sided(d: np.ndarray, alternative: Literal["greater", "less"], test: PairedTest) -> float:
    """p-value of H1 mean(d) > 0 (``greater``) or < 0 (``less``)."""
    if test == "t":
        if np.ptp(d) == 0:  # no spread: the sign of the constant decides
            return 0.0 if (d[0] > 0 if alternative == "greater" else d[0] < 0) else 1.0
        return float(stats.ttest_1samp(d, 0.0, alternative=alternative).pvalue)
    return _Flips.of(d.size).p_greater(d if alternative == "greater" else -d)


def _sign_flip_interval(x: np.ndarray, weights: np.ndarray, alpha: float) -> tuple[float, float]:
    """Every θ whose sign-flip test of x − θ·weights is not rejected at α on either side: the mean of
    x for unit weights, the ratio Σx/Σw of paired values for positive weights."""
    if np.any(weights <= 0):
        return -math.inf, math.inf
    return _Flips.of(x.size).bounds(x, weights, alpha)


def _mean_interval(d: np.ndarray, alpha: float, test: PairedTest) -> tuple[float, float]:
    """The 1 − 2α interval of mean(d) that inverts the chosen paired test."""
    if test == "sign-flip":
        return _sign_flip_interval(d, np.ones_like(d), alpha)
    return _t_interval(d, alpha)


def _ratio_interval(t: np.ndarray, r: np.ndarray, alpha: float, test: PairedTest) -> tuple[float, float]:
    """The 1 − 2α interval of μ_T / μ_R that inverts the chosen paired test of T − ρR."""
    if test == "sign-flip":
        return _sign_flip_interval(t, r, alpha)
    return fieller_interval(t, r, alpha)


def _t_interval(d: np.ndarray, alpha: float) -> tuple[float, float]:
    """Two-sided 1 − 2α t interval of mean(d)."""
    if np.ptp(d) == 0:
        return float(d[0]), float(d[0])
    low, high = stats.t.interval(1 - 2 * alpha, d.size - 1, loc=d.mean(), scale=stats.sem(d))
    return float(low), float(high)


def fieller_interval(t: np.ndarray, r: np.ndarray, alpha: float) -> tuple[float, float]:
    """Two-sided 1 − 2α Fieller interval of the ratio μ_T / μ_R from paired values: every ρ whose
    paired t test of T − ρR is not rejected at α on either side. Infinite when the reference's
    mean is not clearly away from 0."""
    n = t.size
    q = stats.t.ppf(1 - alpha, n - 1)
    cov = np.cov(np.vstack([t, r]), ddof=1) / n
    a, b = t.mean(), r.mean()
    qa, qb, qc = b * b - q * q * cov[1, 1], -2 * (a * b - q * q * cov[0, 1]), a * a - q * q * cov[0, 0]
    if qa <= 0:
        return -math.inf, math.inf
    root = math.sqrt(max(qb * qb - 4 * qa * qc, 0.0))
    return float((-qb - root) / (2 * qa)), float((-qb + root) / (2 * qa))


def non_inferiority(
    treatment: Sequence[float],
    reference: Sequence[float],
    margin: float,
    relative: bool = True,
    alpha: float = 0.05,
    test: PairedTest = "t",
    lower_is_better: bool = False,
) -> TestResult:
    """Is the treatment no worse than the reference by more than ``margin``?

    Higher is better — relative: estimate μ_T / μ_R with a Fieller interval; the test is on
    T − (1 − m)R per seed; absolute: estimate μ_T − μ_R with a t interval, the test on T − R + δ.
    Lower is better (perplexity): the tests are on (1 + m)R − T and R − T + δ.
    """
    t, r = _paired(treatment, reference)
    if relative:
        d = (1 + margin) * r - t if lower_is_better else t - (1 - margin) * r
        estimate, (low, high) = float(t.mean() / r.mean()), _ratio_interval(t, r, alpha, test)
        claim = f"μ_T ≤ {1 + margin:g} · μ_R" if lower_is_better else f"μ_T ≥ {1 - margin:g} · μ_R"
    else:
        d = r - t + margin if lower_is_better else t - r + margin
        estimate, (low, high) = float((t - r).mean()), _mean_interval(t - r, alpha, test)
        claim = f"μ_T − μ_R ≤ {margin:g}" if lower_is_better else f"μ_T − μ_R ≥ −{margin:g}"
    p = _one_sided(d, "greater", test)
    return TestResult(
        estimate,
        low,
        high,
        p,
        p < alpha,
        f"one-sided paired {test} test",
        f"non-inferiority ({claim}): H0 is inferiority by the margin, so rejecting it supports the "
        "claim; 'no significant difference' would not. Seeds are paired (same data order and probe set).",
        t.size,
        power_warnings(t.size, test, alpha),
    )


def equivalence(
    treatment: Sequence[float],
    reference: Sequence[float],
    margin: float,
    relative: bool = True,
    alpha: float = 0.05,
    test: PairedTest = "t",
) -> TestResult:
    """TOST: is the treatment within ``margin`` of the reference on both sides? p = the larger of
    the two one-sided p-values; the claim holds when both reject."""
    t, r = _paired(treatment, reference)
    if relative:
        lower, upper = t - (1 - margin) * r, t - (1 + margin) * r
        estimate, (low, high) = float(t.mean() / r.mean()), _ratio_interval(t, r, alpha, test)
        claim = f"{1 - margin:g} · μ_R ≤ μ_T ≤ {1 + margin:g} · μ_R"
    else:
        lower, upper = t - r + margin, t - r - margin
        estimate, (low, high) = float((t - r).mean()), _mean_interval(t - r, alpha, test)
        claim = f"|μ_T − μ_R| ≤ {margin:g}"
    p = max(_one_sided(lower, "greater", test), _one_sided(upper, "less", test))
    return TestResult(
        estimate,
        low,
        high,
        p,
        p < alpha,
        f"TOST (two one-sided paired {test} tests)",
        f"equivalence ({claim}): both one-sided nulls (below the lower margin, above the upper) must be "
        "rejected; the 1 − 2α interval then lies within the margins.",
        t.size,
        power_warnings(t.size, test, alpha),
    )


def reduction(
    treatment: Sequence[float],
    reference: Sequence[float],
    fraction: float,
    alpha: float = 0.05,
    test: PairedTest = "t",
) -> TestResult:
    """Is the treatment at most (1 − ``fraction``) × the reference (lower is better)? Tested on
    per-seed log ratios log(T/R) against log(1 − f); the estimate is the geometric-mean ratio."""
    t, r = _paired(treatment, reference)
    if np.any(t <= 0) or np.any(r <= 0):
        raise ValueError("a reduction is tested on log ratios: every value must be positive")
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must be in (0, 1), got {fraction}")
    logs = np.log(t / r)
    low, high = _mean_interval(logs, alpha, test)
    p = _one_sided(logs - math.log(1 - fraction), "less", test)
    return TestResult(
        float(math.exp(logs.mean())),
        math.exp(low),
        math.exp(high),
        p,
        p < alpha,
        f"one-sided paired {test} test on log ratios",
        f"reduction by at least {fraction:g} (T ≤ {1 - fraction:g} · R): ratios are tested on the log scale, "
        "where they are symmetric and a per-seed ratio becomes a difference.",
        t.size,
        power_warnings(t.size, test, alpha),
    )


def reduction_of_means(
    treatment: Sequence[float],
    reference: Sequence[float],
    fraction: float,
    alpha: float = 0.05,
    test: PairedTest = "t",
) -> TestResult:
    """Is μ_T at most (1 − ``fraction``) · μ_R (lower is better)? The ratio of the means rather
    than the geometric mean of per-seed ratios: H0 μ_T ≥ (1 − f) μ_R is tested on the paired
    T − (1 − f) R, one-sided; the estimate is μ_T / μ_R with the interval that inverts that test."""
    t, r = _paired(treatment, reference)
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must be in (0, 1), got {fraction}")
    p = _one_sided(t - (1 - fraction) * r, "less", test)
    low, high = _ratio_interval(t, r, alpha, test)
    return TestResult(
        float(t.mean() / r.mean()),
        low,
        high,
        p,
        p < alpha,
        f"one-sided paired {test} test of T − {1 - fraction:g} R",
        f"reduction by at least {fraction:g} in the ratio of means (μ_T ≤ {1 - fraction:g} · μ_R): the "
        "difference T − (1 − f) R is tested per seed, so the claim is about the means themselves.",
        t.size,
        power_warnings(t.size, test, alpha),
    )


def _welch_ratio(a: np.ndarray, b: np.ndarray, rho: float) -> float:
    """Welch's t statistic of mean(a) − ρ · mean(b) for independent samples."""
    se = math.sqrt(a.var(ddof=1) / a.size + rho * rho * b.var(ddof=1) / b.size)
    diff = float(a.mean() - rho * b.mean())
    if se == 0:
        return math.copysign(math.inf, diff) if diff else 0.0
    return diff / se


def _ratio_limit(a: np.ndarray, b: np.ndarray, q: float, upper: bool) -> float:
    """The ρ where Welch's statistic of mean(a) − ρ mean(b) crosses ∓q: one end of the Fieller set."""
    estimate = float(a.mean() / b.mean())
    target = -q if upper else q

    def gap(rho: float) -> float:
        return _welch_ratio(a, b, rho) - target

    far = estimate
    for _ in range(200):  # widen until the statistic has crossed; an unbounded set ends at ±inf
        far = far * 2 + 1 if upper else far / 2 - 1
        if (gap(far) < 0) if upper else (gap(far) > 0):
            break
    else:
        return math.inf if upper else -math.inf
    from scipy.optimize import brentq

    return float(brentq(gap, *sorted((estimate, far)), xtol=1e-12, rtol=1e-12))


def overhead(measured: Sequence[float], baseline: Sequence[float], bound: float, alpha: float = 0.05) -> TestResult:
    """Is mean(measured) / mean(baseline) at most ``bound``? One value per repetition of each
    (e.g. a repetition's mean latency), independent samples.

    H0 μ_M ≥ bound · μ_B is tested by Welch's t statistic of mean(M) − bound · mean(B) with
    min(n_M, n_B) − 1 degrees of freedom (Hsu's conservative choice: its size stays at or below α
    under normality whatever the two variances; Welch–Satterthwaite's is liberal at 3 to 5
    repetitions). The interval is the Fieller-type set of ratios the same test does not reject on
    either side, two-sided at 1 − 2α; the claim holds exactly when its upper end is below ``bound``.
    """
    a, b = np.asarray(measured, dtype=float), np.asarray(baseline, dtype=float)
    if a.size < 2 or b.size < 2:
        raise ValueError("an overhead test needs at least 2 repetitions of each quantity")
    if b.mean() <= 0:
        raise ValueError("an overhead ratio needs a positive baseline mean")
    df = min(a.size, b.size) - 1
    q = float(stats.t.ppf(1 - alpha, df))
    p = float(stats.t.cdf(_welch_ratio(a, b, bound), df))
    low, high = _ratio_limit(a, b, q, upper=False), _ratio_limit(a, b, q, upper=True)
    return TestResult(
        float(a.mean() / b.mean()),
        low,
        high,
        p,
        p < alpha,
        f"one-sided Welch t test of μ_M − {bound:g} μ_B, {df} df (Hsu)",
        f"bounded overhead (ratio of means ≤ {bound:g}): the unit is a repetition, since requests served in "
        "one batch share a latency and neighbouring requests share the machine's state, so single requests "
        "are not independent; a repetition's mean over many requests is close to normal. The two sets of "
        "repetitions are not paired.",
        int(min(a.size, b.size)),
        [f"only {min(a.size, b.size)} repetitions: the test leans on normality of the repetition means"]
        if min(a.size, b.size) < 5
        else [],
    )


def intersection_union(results: Sequence[TestResult]) -> tuple[float, bool]:
    """ "Holds on every task": the intersection–union test rejects when every per-task test does;
    its p-value is the largest per-task p, with no multiplicity penalty. A NaN p-value (a task
    whose test could not be computed) makes the whole claim NaN and not holding, in any order."""
    p_values = [r.p_value for r in results]
    if not p_values or any(math.isnan(p) for p in p_values):
        return math.nan, False
    return max(p_values), all(r.holds for r in results)


def adjust(
    p_values: Sequence[float], method: Correction = "holm", alpha: float = 0.05
) -> tuple[list[float], list[bool]]:
    """Adjusted p-values over a family (``statsmodels.stats.multitest.multipletests``) and the
    decisions adjusted p < α, the same strict rule as every single test (statsmodels itself
    counts p = α as a rejection). Holm and Bonferroni control the family-wise error,
    Benjamini–Hochberg (``fdr_bh``) the false discovery rate. NaN p-values are refused."""
    from statsmodels.stats.multitest import multipletests

    if not p_values:
        return [], []
    if any(math.isnan(p) for p in p_values):
        raise ValueError("adjust: a p-value is NaN; leave untested claims out of the family")
    _, adjusted, _, _ = multipletests(list(p_values), alpha=alpha, method=method)
    return [float(p) for p in adjusted], [bool(p < alpha) for p in adjusted]
