"""Reproducible stratified subsets: label proportions kept, scores binned for regression."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Sequence

import numpy as np


def stratified_indices(strata: Sequence[Hashable], n: int, seed: int) -> list[int]:
    """Pick ``n`` indices whose stratum counts follow the population's proportions.

    Quotas use the largest-remainder method, so they sum to exactly ``n``; the draw within
    each stratum is uniform without replacement. Returned indices are sorted (original order).
    """
    total = len(strata)
    if n >= total:
        return list(range(total))
    groups: dict[Hashable, list[int]] = defaultdict(list)
    for index, stratum in enumerate(strata):
        groups[stratum].append(index)
    keys = sorted(groups, key=repr)
    exact = {k: n * len(groups[k]) / total for k in keys}
    quota = {k: int(exact[k]) for k in keys}
    shortfall = n - sum(quota.values())
    for k in sorted(keys, key=lambda k: exact[k] - quota[k], reverse=True)[:shortfall]:
        quota[k] += 1
    rng = np.random.default_rng(seed)
    chosen: list[int] = []
    for k in keys:
        chosen.extend(rng.choice(groups[k], size=quota[k], replace=False).tolist())
    return sorted(chosen)


def score_bin(score: float, low: float = 0.0, high: float = 5.0, bins: int = 5) -> int:
    """Equal-width bin of a regression target, used as its stratum."""
    position = int((score - low) / (high - low) * bins)
    return min(max(position, 0), bins - 1)
