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


class LengthBuckets:
    """A training sampler of batches whose examples have similar lengths, in random order.

    Each epoch: shuffle the examples, cut them into groups of ``group`` batches, sort each group by
    length, cut it into batches and shuffle the batches (the one short batch, if any, stays last, so
    that the data loader's batches are these). Every example is drawn once per epoch, and the order
    is a function of ``seed`` and the epoch (``set_epoch``, which the Trainer calls), so a resumed run
    draws what the uninterrupted one did. Unlike transformers' ``LengthGroupedSampler``, the batches
    of a group do not come longest to shortest: a run that ends on a group's shortest examples (SST-2's
    two-word phrases) ends on a biased sample.
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, seed: int, group: int = 8):
        self.lengths = np.asarray(lengths)
        self.batch_size, self.seed, self.group = batch_size, seed, group
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.lengths)

    def batches(self) -> list[np.ndarray]:
        rng = np.random.default_rng([self.seed, self.epoch])
        order = rng.permutation(len(self.lengths))
        size, batches = self.batch_size, []
        for start in range(0, len(order), self.group * size):
            chunk = order[start : start + self.group * size]
            chunk = chunk[np.argsort(-self.lengths[chunk], kind="stable")]
            batches += [chunk[i : i + size] for i in range(0, len(chunk), size)]
        short = [b for b in batches if len(b) < size]
        whole = [b for b in batches if len(b) == size]
        return [whole[i] for i in rng.permutation(len(whole))] + short

    def __iter__(self):
        for batch in self.batches():
            yield from (int(i) for i in batch)


def length_slices(lengths: Sequence[int], overhead: float) -> list[list[int]]:
    """The batch's examples (indices) in slices of similar lengths that minimise the padded tokens
    computed, Σ len(slice)·max length, plus ``overhead`` tokens per slice (what one more forward and
    backward pass costs): a shortest-path over the examples sorted by length, as the best partition
    is one of consecutive runs in that order. One slice when splitting does not pay."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    sorted_lengths = [lengths[i] for i in order]
    n = len(order)
    best = [0.0] + [float("inf")] * n  # best[j]: the cheapest cover of the j shortest
    cut = [0] * (n + 1)
    for j in range(1, n + 1):
        for i in range(j):
            cost = best[i] + (j - i) * sorted_lengths[j - 1] + overhead
            if cost < best[j]:
                best[j], cut[j] = cost, i
    slices, j = [], n
    while j > 0:
        slices.append(order[cut[j] : j])
        j = cut[j]
    return slices[::-1]
