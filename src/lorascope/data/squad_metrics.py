"""SQuAD 2.0 scoring by the rules of the official ``evaluate-v2.0.py``, as fractions in [0, 1]
(the official script prints the same numbers × 100).

- An answer is compared after normalisation: lower case, punctuation and the articles a, an and
  the removed, whitespace collapsed.
- Exact match and token F1 take the best over a question's gold answers, those that normalise to
  nothing left out; a question left with none is scored against "" (it still counts as answerable
  when it had answers, as in the official script).
- With no-answer probabilities, a prediction whose probability is above the threshold counts as
  "no answer": right (1) exactly when the question has none.
- ``best_exact`` and ``best_f1`` (given probabilities only) choose that threshold on the very
  questions they score: an oracle, never a result.
"""

from __future__ import annotations

import collections
import re
import string
from collections.abc import Mapping, Sequence

ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
PUNCTUATION = set(string.punctuation)


def normalize_answer(text: str) -> str:
    """Lower case, no punctuation, no articles, single spaces."""
    text = "".join(c for c in text.lower() if c not in PUNCTUATION)
    return " ".join(ARTICLES.sub(" ", text).split())


def exact_match(gold: str, prediction: str) -> float:
    return float(normalize_answer(gold) == normalize_answer(prediction))


def token_f1(gold: str, prediction: str) -> float:
    """Token overlap F1; when either side has no tokens, 1 if both have none, else 0."""
    gold_tokens, pred_tokens = normalize_answer(gold).split(), normalize_answer(prediction).split()
    if not gold_tokens or not pred_tokens:
        return float(gold_tokens == pred_tokens)
    common = sum((collections.Counter(gold_tokens) & collections.Counter(pred_tokens)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred_tokens), common / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def gold_answers(answers: Sequence[str]) -> list[str]:
    """The answers that survive normalisation, or [""] for an unanswerable question."""
    kept = [a for a in answers if normalize_answer(a)]
    return kept or [""]


def _best_threshold(
    predictions: Mapping[str, str],
    scores: Mapping[str, float],
    no_answer: Mapping[str, float],
    has_answer: Mapping[str, bool],
    weights: Mapping[str, float] | None = None,
) -> tuple[float, float]:
    """The score and threshold of the best "no answer above this probability" rule, swept over the
    questions in increasing probability (the official script's ``find_best_thresh``); with
    ``weights``, of the weighted mean score (every weight 1 is the official rule)."""
    weight = weights or dict.fromkeys(scores, 1.0)
    current = best = float(sum(weight[q] for q, has in has_answer.items() if not has))
    threshold = 0.0
    for qid in sorted(no_answer, key=lambda q: no_answer[q]):
        if qid not in scores:
            continue
        if has_answer[qid]:
            current += weight[qid] * scores[qid]
        elif predictions[qid]:
            current -= weight[qid]
        if current > best:
            best, threshold = current, no_answer[qid]
    return best / sum(weight[q] for q in scores), threshold


def _raw_scores(gold: Mapping[str, Sequence[str]], predictions: Mapping[str, str]):
    """Each question's exact match and F1, the maximum over its gold answers."""
    raw_exact, raw_f1 = {}, {}
    for qid, answers in gold.items():
        golds = gold_answers(answers)
        raw_exact[qid] = max(exact_match(g, predictions[qid]) for g in golds)
        raw_f1[qid] = max(token_f1(g, predictions[qid]) for g in golds)
    return raw_exact, raw_f1


def prior_weighted_threshold(
    gold: Mapping[str, Sequence[str]], predictions: Mapping[str, str], no_answer: Mapping[str, float], prior: float
) -> float:
    """The no-answer threshold that maximises F1 on these questions re-weighted so that a share
    ``prior`` of them has no answer (label shift: unanswerable questions weigh prior / share, the
    others (1 − prior) / (1 − share))."""
    has_answer = {qid: bool(answers) for qid, answers in gold.items()}
    share = sum(not has for has in has_answer.values()) / len(has_answer)
    if share in (0.0, 1.0):
        raise ValueError("re-weighting to a no-answer prior needs questions with and without an answer")
    weights = {q: prior / share if not has else (1 - prior) / (1 - share) for q, has in has_answer.items()}
    _, raw_f1 = _raw_scores(gold, predictions)
    return _best_threshold(predictions, raw_f1, no_answer, has_answer, weights)[1]


def squad_v2_scores(
    gold: Mapping[str, Sequence[str]],
    predictions: Mapping[str, str],
    no_answer_probability: Mapping[str, float] | None = None,
    threshold: float = 1.0,
) -> dict[str, float]:
    """``exact``, ``f1`` and their ``HasAns_`` / ``NoAns_`` parts with counts (a part with no
    questions is left out), and with ``no_answer_probability`` the oracle ``best_exact`` /
    ``best_f1`` with their thresholds; for ``gold`` (question id → its answers' texts, empty for an
    unanswerable one) and ``predictions`` (id → answer text, "" to abstain).

    Every question of ``gold`` must have a prediction; a missing one is an error rather than the
    official script's warning, so no question silently counts as wrong.
    """
    missing = sorted(set(gold) - set(predictions))
    if missing:
        shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        raise ValueError(f"no prediction for {len(missing)} question(s): {shown}")
    probabilities = no_answer_probability or {qid: 0.0 for qid in gold}
    has_answer = {qid: bool(answers) for qid, answers in gold.items()}
    raw_exact, raw_f1 = _raw_scores(gold, predictions)

    def thresholded(raw: dict[str, float]) -> dict[str, float]:
        return {
            qid: float(not has_answer[qid]) if probabilities[qid] > threshold else score for qid, score in raw.items()
        }

    exact, f1 = thresholded(raw_exact), thresholded(raw_f1)
    out: dict[str, float] = {}
    for prefix, ids in (
        ("", list(gold)),
        ("HasAns_", [q for q in gold if has_answer[q]]),
        ("NoAns_", [q for q in gold if not has_answer[q]]),
    ):
        if ids or not prefix:
            out[f"{prefix}exact"] = sum(exact[q] for q in ids) / max(len(ids), 1)
            out[f"{prefix}f1"] = sum(f1[q] for q in ids) / max(len(ids), 1)
            out[f"{prefix}total"] = float(len(ids))
    if no_answer_probability is not None:  # with equal probabilities the sweep would follow the id order
        out["best_exact"], out["best_exact_thresh"] = _best_threshold(predictions, raw_exact, probabilities, has_answer)
        out["best_f1"], out["best_f1_thresh"] = _best_threshold(predictions, raw_f1, probabilities, has_answer)
    return out
