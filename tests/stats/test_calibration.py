"""Size and coverage of every test and interval lorascope offers, simulated at the null boundary
(the least favourable point of each null hypothesis) for 3, 5 and 10 seeds.

A test is sound when it rejects a true null at most α of the time; an interval when it covers the
true value at least its nominal share of the time. Each simulation draws data whose true parameter
sits exactly on the margin, bound or fraction, so the rejection rate is the size. The bars allow
three Monte Carlo standard errors. ``python -m tests.stats.test_calibration`` prints the table
that docs/reports.md quotes.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from lorascope.stats.descriptive import mean_interval
from lorascope.stats.hypotheses import Compound, compound_p
from lorascope.stats.inference import (
    equivalence,
    intersection_union,
    non_inferiority,
    overhead,
    reduction,
    reduction_of_means,
)

ALPHA = 0.05
TRIALS = 2000
SEEDS = (3, 5, 10)


def _paired(rng, n, mean_r, mean_t, sd=0.02, rho=0.5):
    """Paired per-seed scores: a shared seed effect and each method's own noise."""
    shared = rng.standard_normal(n)
    r = mean_r + sd * (math.sqrt(rho) * shared + math.sqrt(1 - rho) * rng.standard_normal(n))
    t = mean_t + sd * (math.sqrt(rho) * shared + math.sqrt(1 - rho) * rng.standard_normal(n))
    return t, r


def _log_normal_pair(rng, n, ratio):
    """Positive paired values (drift) whose per-seed log ratio has mean log(ratio)."""
    r = 0.3 * np.exp(0.1 * rng.standard_normal(n))
    return r * ratio * np.exp(0.08 * rng.standard_normal(n) - 0.0), r


def _scaled_pair(rng, n, ratio):
    """Paired values whose means are in exactly this ratio: T − ratio · R has mean 0."""
    t, r = _paired(rng, n, 0.3, 0.3 * ratio, sd=0.02)
    return t, r


def size_cases(test: str):
    """name → (draw(rng, n) → one test result), each at its null boundary."""
    return {
        "non-inferiority, relative": lambda rng, n: non_inferiority(
            *_paired(rng, n, 0.80, 0.97 * 0.80), margin=0.03, test=test
        ),
        "non-inferiority, absolute": lambda rng, n: non_inferiority(
            *_paired(rng, n, 0.80, 0.79), margin=0.01, relative=False, test=test
        ),
        "equivalence (TOST), relative": lambda rng, n: equivalence(
            *_paired(rng, n, 0.80, 1.02 * 0.80), margin=0.02, test=test
        ),
        "reduction, geometric mean": lambda rng, n: reduction(*_log_normal_pair(rng, n, 0.8), 0.2, test=test),
        "reduction, ratio of means": lambda rng, n: reduction_of_means(*_scaled_pair(rng, n, 0.8), 0.2, test=test),
    }


def _overhead(rng, n, sd_ratio):
    merged = rng.normal(100.0, 2.0, n)
    adapters = rng.normal(130.0, 2.0 * sd_ratio, n)
    return overhead(adapters, merged, bound=1.3)


def _intersection_union(rng, n):
    """One task on the boundary, one far inside the claim: the least favourable AND."""
    boundary = non_inferiority(*_paired(rng, n, 0.80, 0.97 * 0.80), margin=0.03)
    clear = non_inferiority(*_paired(rng, n, 0.80, 0.85), margin=0.03)
    return intersection_union([boundary, clear])


def _compound(rng, n, which: str, any_test: str):
    """The plan's claim, LoRA non-inferior AND (drifts less OR costs little), at each part of its null:
    ``and``: non-inferiority on its boundary, the OR clearly true; ``or``: non-inferiority clearly
    true, both parts of the OR on their boundaries."""
    claim = Compound(name="plan", all=["ni", Compound(any=["drift", "serve"])])
    if which == "and":
        ni = non_inferiority(*_paired(rng, n, 0.80, 0.97 * 0.80), margin=0.03)
        drift = reduction(*_log_normal_pair(rng, n, 0.5), 0.2)
        serve = overhead(rng.normal(100.0, 2.0, n), rng.normal(100.0, 2.0, n), 1.3)
    else:
        ni = non_inferiority(*_paired(rng, n, 0.80, 0.85), margin=0.03)
        drift = reduction(*_log_normal_pair(rng, n, 0.8), 0.2)
        serve = _overhead(rng, n, 1.0)
    p = compound_p(claim, {"ni": ni.p_value, "drift": drift.p_value, "serve": serve.p_value}, any_test)
    return p < ALPHA


def size_table() -> dict[tuple[str, int], float]:
    rates = {}
    for test in ("t", "sign-flip"):
        for name, draw in size_cases(test).items():
            for n in SEEDS:
                rng = np.random.default_rng(n)
                rates[(f"{name}, {test}", n)] = np.mean([draw(rng, n).holds for _ in range(TRIALS)])
    for n in SEEDS:
        for sd_ratio in (1.0, 3.0):
            rng = np.random.default_rng(n)
            rates[(f"overhead, sd ratio {sd_ratio:g}", n)] = np.mean(
                [_overhead(rng, n, sd_ratio).holds for _ in range(TRIALS)]
            )
        rng = np.random.default_rng(n)
        rates[("intersection–union over tasks", n)] = np.mean([_intersection_union(rng, n)[1] for _ in range(TRIALS)])
        for which in ("and", "or"):
            for any_test in ("bonferroni", "simes"):
                rng = np.random.default_rng(n)
                rates[(f"compound, {which.upper()} null, OR by {any_test}", n)] = np.mean(
                    [_compound(rng, n, which, any_test) for _ in range(TRIALS)]
                )
    return rates


def coverage_table() -> dict[tuple[str, int], float]:
    """Share of intervals (1 − 2α for the tests, 95% for means) that hold the true value."""
    cover = {}
    for n in SEEDS:
        rng = np.random.default_rng(100 + n)
        hits: dict[str, list[bool]] = {}
        for _ in range(TRIALS):
            t, r = _paired(rng, n, 0.80, 0.78)
            for test in ("t", "sign-flip"):
                ratio = non_inferiority(t, r, 0.03, test=test)
                hits.setdefault(f"ratio μ_T/μ_R (non-inferiority), {test}", []).append(
                    ratio.low <= 0.78 / 0.80 <= ratio.high
                )
                diff = non_inferiority(t, r, 0.01, relative=False, test=test)
                hits.setdefault(f"difference μ_T − μ_R, {test}", []).append(diff.low <= -0.02 <= diff.high)
                logs = reduction(*_log_normal_pair(rng, n, 0.7), 0.2, test=test)
                hits.setdefault(f"geometric-mean ratio (reduction), {test}", []).append(logs.low <= 0.7 <= logs.high)
            cost = _overhead(rng, n, 3.0)
            hits.setdefault("ratio of means (overhead)", []).append(cost.low <= 1.3 <= cost.high)
            seeds = rng.normal(0.8, 0.02, n)
            interval = mean_interval(seeds)
            hits.setdefault("mean over seeds, 95%, t", []).append(interval.low <= 0.8 <= interval.high)
        cover |= {(name, n): float(np.mean(v)) for name, v in hits.items()}
    return cover


def _bar(rate: float, nominal: float) -> float:
    return 3 * math.sqrt(nominal * (1 - nominal) / TRIALS)


@pytest.mark.slow
def test_every_test_keeps_its_size_at_the_null_boundary():
    rates = size_table()
    too_high = {k: v for k, v in rates.items() if v > ALPHA + _bar(v, ALPHA)}
    assert not too_high, too_high


@pytest.mark.slow
def test_every_interval_covers_at_its_nominal_level():
    cover = coverage_table()
    low = {
        k: v
        for k, v in cover.items()
        if v < (0.95 if k[0].startswith("mean over seeds") else 1 - 2 * ALPHA) - _bar(v, 0.9)
    }
    assert not low, low


def _markdown(table: dict[tuple[str, int], float], what: str) -> str:
    names = list(dict.fromkeys(name for name, _ in table))
    lines = [f"| {what} | " + " | ".join(f"n = {n}" for n in SEEDS) + " |", "| --- |" + " ---: |" * len(SEEDS)]
    lines += [f"| {name} | " + " | ".join(f"{table[(name, n)]:.3f}" for n in SEEDS) + " |" for name in names]
    return "\n".join(lines)


if __name__ == "__main__":
    print(_markdown(size_table(), f"rejection rate at the null boundary ({TRIALS:,} trials, α = {ALPHA})"))
    print()
    print(_markdown(coverage_table(), "coverage (1 − 2α = 90% for tests; 95% for means)"))
