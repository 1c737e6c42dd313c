"""Top-k metrics of next-item recommendation: full ranking over the whole catalogue by default
(Krichene & Rendle, KDD 2020: sampled metrics can reverse which model wins), sampled ranking
against a fixed set of negatives only as a labelled secondary.

The target's rank counts the candidates scored at least as high as it (ties count against it, so
a model that scores everything alike ranks every target last, not first). Each user's training
items are not candidates (their scores are ignored), the target always is.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

KS = (5, 10, 20)


def target_ranks(scores: np.ndarray, targets: Sequence[int], excluded: Sequence[Sequence[int]] = ()) -> np.ndarray:
    """1-based rank of each user's target among its candidates: ``scores`` is users × items, row u's
    candidates every item but ``excluded[u]`` (the target stays one)."""
    scores = np.asarray(scores, dtype=np.float64)
    users = np.arange(scores.shape[0])
    target_scores = scores[users, np.asarray(targets)]
    at_least = scores >= target_scores[:, None]
    for user, items in enumerate(excluded):
        drop = [i for i in items if i != targets[user]]
        at_least[user, drop] = False
    return at_least.sum(axis=1)  # the target counts itself: rank 1 when nothing is as high


def ranking_metrics(ranks: np.ndarray, ks: Sequence[int] = KS) -> dict[str, float]:
    """HR@k, NDCG@k (one relevant item: 1 / log2(rank + 1)) and MRR@k, means over users."""
    ranks = np.asarray(ranks, dtype=np.float64)
    out = {}
    for k in ks:
        hit = ranks <= k
        out[f"hr@{k}"] = float(hit.mean())
        out[f"ndcg@{k}"] = float(np.where(hit, 1.0 / np.log2(ranks + 1.0), 0.0).mean())
        out[f"mrr@{k}"] = float(np.where(hit, 1.0 / ranks, 0.0).mean())
    return out


def sampled_negatives(
    num_items: int, targets: Sequence[int], excluded: Sequence[Sequence[int]], count: int, seed: int
) -> np.ndarray:
    """For each user, ``count`` items drawn without replacement from those neither its target nor in
    ``excluded``, with a fixed seed (the same negatives for every model compared)."""
    rng = np.random.default_rng(seed)
    out = np.empty((len(targets), count), dtype=np.int64)
    for user, target in enumerate(targets):
        banned = set(excluded[user]) | {target}
        pool = np.array([i for i in range(num_items) if i not in banned])
        if len(pool) < count:
            raise ValueError(f"user {user}: {len(pool)} items to sample {count} negatives from")
        out[user] = rng.choice(pool, size=count, replace=False)
    return out


def sampled_ranks(scores: np.ndarray, targets: Sequence[int], negatives: np.ndarray) -> np.ndarray:
    """1-based rank of each target among itself and its sampled negatives (ties against it)."""
    scores = np.asarray(scores, dtype=np.float64)
    users = np.arange(scores.shape[0])
    target_scores = scores[users, np.asarray(targets)]
    return 1 + (scores[users[:, None], negatives] >= target_scores[:, None]).sum(axis=1)


def evaluate_scores(
    scores: np.ndarray,
    targets: Sequence[int],
    histories: Sequence[Sequence[int]],
    ks: Sequence[int] = KS,
    sampled: int | None = 100,
    seed: int = 0,
) -> dict[str, float]:
    """Full-ranking metrics of ``scores`` (users × items, column 0 padding) for each user's target,
    its history excluded, and, labelled ``sampled100_…``, the same against ``sampled`` negatives
    drawn with ``seed`` (the same for every model scored with that seed)."""
    excluded = [[0, *history] for history in histories]
    out = ranking_metrics(target_ranks(scores, targets, excluded), ks)
    if sampled:
        negatives = sampled_negatives(scores.shape[1], targets, excluded, sampled, seed)
        secondary = ranking_metrics(sampled_ranks(scores, targets, negatives), ks)
        out |= {f"sampled{sampled}_{k}": v for k, v in secondary.items()}
    return out


def popularity_scores(histories: Sequence[Sequence[int]], num_items: int, users: int) -> np.ndarray:
    """MostPop: every user scores an item by how often it occurs in the training histories."""
    counts = np.bincount(np.concatenate([np.asarray(h, dtype=np.int64) for h in histories]), minlength=num_items)
    return np.broadcast_to(counts.astype(np.float64), (users, num_items))


def random_scores(num_items: int, users: int, seed: int) -> np.ndarray:
    """The random baseline: scores drawn uniformly, with a seed."""
    return np.random.default_rng(seed).random((users, num_items))
