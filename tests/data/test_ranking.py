"""Full-ranking and sampled metrics against a brute-force implementation on hand-built and random
rankings: ties, the training-item exclusion, k larger than the catalogue."""

import math

import numpy as np
import pytest

from lorascope.data.ranking import ranking_metrics, sampled_negatives, sampled_ranks, target_ranks


def brute_force(scores, target, excluded, k):
    """The candidates sorted by score, a tie put before the target; HR, NDCG and MRR at k."""
    candidates = [i for i in range(len(scores)) if i == target or i not in excluded]
    rank = 1 + sum(1 for i in candidates if i != target and scores[i] >= scores[target])
    hit = rank <= k
    return float(hit), (1 / math.log2(rank + 1)) if hit else 0.0, (1 / rank) if hit else 0.0


def test_hand_built_rankings():
    scores = np.array([
        [0.9, 0.5, 0.1, 0.7],  # target 1: 0.9 and 0.7 above it -> rank 3
        [0.2, 0.2, 0.2, 0.2],  # all tied: the target ranks last, 4
        [0.9, 0.1, 0.8, 0.0],  # target 2, item 0 excluded (a training item) -> rank 1
    ])  # fmt: skip
    ranks = target_ranks(scores, [1, 0, 2], [[], [], [0]])
    assert ranks.tolist() == [3, 4, 1]
    metrics = ranking_metrics(ranks, ks=(1, 3, 10))
    assert metrics["hr@1"] == pytest.approx(1 / 3) and metrics["hr@3"] == pytest.approx(2 / 3)
    assert metrics["hr@10"] == 1.0  # k beyond the catalogue: every target is in the top 10
    assert metrics["ndcg@3"] == pytest.approx((1 / math.log2(4) + 1) / 3)
    assert metrics["mrr@10"] == pytest.approx((1 / 3 + 1 / 4 + 1) / 3)


def test_the_target_is_never_excluded_even_if_listed():
    assert target_ranks(np.array([[0.1, 0.9, 0.5]]), [0], [[0, 1]]).tolist() == [2]


@pytest.mark.parametrize("seed", range(5))
def test_random_rankings_equal_brute_force(seed):
    rng = np.random.default_rng(seed)
    users, items = 30, 12
    scores = rng.integers(0, 5, size=(users, items)).astype(float)  # many ties
    targets = rng.integers(0, items, size=users).tolist()
    excluded = [rng.choice(items, size=rng.integers(0, 6), replace=False).tolist() for _ in range(users)]
    ranks = target_ranks(scores, targets, excluded)
    for k in (1, 5, 20):
        metrics = ranking_metrics(ranks, ks=(k,))
        expected = np.mean([brute_force(scores[u], targets[u], set(excluded[u]), k) for u in range(users)], axis=0)
        assert [metrics[f"hr@{k}"], metrics[f"ndcg@{k}"], metrics[f"mrr@{k}"]] == pytest.approx(expected.tolist())


def test_sampled_negatives_are_fixed_by_the_seed_and_avoid_the_history_and_the_target():
    excluded = [[0, 1, 2], [5]]
    negatives = sampled_negatives(200, [3, 7], excluded, 100, seed=11)
    assert negatives.shape == (2, 100)
    for user, (target, history) in enumerate(zip([3, 7], excluded, strict=True)):
        row = set(negatives[user].tolist())
        assert len(row) == 100 and target not in row and not row & set(history)
    assert (sampled_negatives(200, [3, 7], excluded, 100, seed=11) == negatives).all()
    scores = np.arange(200, dtype=float)[None].repeat(2, axis=0)
    ranks = sampled_ranks(scores, [3, 7], negatives)
    assert ranks.tolist() == [1 + int((negatives[u] >= t).sum()) for u, t in enumerate([3, 7])]
    with pytest.raises(ValueError, match="items to sample 100 negatives from"):
        sampled_negatives(50, [3], [[]], 100, seed=0)


def test_on_ml_100k_most_popular_beats_random_on_full_ranking():
    """The baselines through the same code; the sampled metrics are far higher than the full ones
    (Krichene & Rendle), which is why they are only a labelled secondary."""
    from lorascope.data.interactions import ItemIndex, implicit, leave_one_out, read_interactions, sequences
    from lorascope.data.ranking import evaluate_scores, popularity_scores, random_scores
    from tests.conftest import SHARED_DATA

    path = SHARED_DATA / "movielens" / "ml-100k" / "u.data"
    if not path.is_file():
        pytest.skip(f"MovieLens 100K not found at {path}")
    split = leave_one_out(sequences(implicit(read_interactions(path), 4.0)))
    index = ItemIndex({u: [*split.train[u], split.valid[u], split.test[u]] for u in split.test})
    users = sorted(split.test)
    histories = [index.encode([*split.train[u], split.valid[u]]) for u in users]
    targets = index.encode([split.test[u] for u in users])
    popular = evaluate_scores(popularity_scores(histories, len(index), len(users)), targets, histories)
    chance = evaluate_scores(random_scores(len(index), len(users), seed=0), targets, histories)
    assert popular["ndcg@10"] > 3 * chance["ndcg@10"] and popular["hr@10"] > chance["hr@10"]
    assert chance["hr@10"] == pytest.approx(10 / len(index), rel=0.6)
    assert popular["sampled100_hr@10"] > 3 * popular["hr@10"]
    print(f"ml-100k full NDCG@10: MostPop {popular['ndcg@10']:.4f}, random {chance['ndcg@10']:.4f}; "
          f"MostPop sampled-100 HR@10 {popular['sampled100_hr@10']:.3f} vs full {popular['hr@10']:.3f}")  # fmt: skip
