"""lorascope's SQuAD 2.0 scores against the official evaluate-v2.0.py's rules, reimplemented here
as that script states them (percentages, dataset JSON in, one pass per rule)."""

import collections
import json
import random
import re
import string
from pathlib import Path

import pytest

from lorascope.data.squad_metrics import normalize_answer, squad_v2_scores

DEV = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "squad_v2" / "dev-v2.0.Normans+Rhine.json"


def official(dataset: list[dict], preds: dict[str, str], na_probs: dict[str, float] | None, thresh: float = 1.0):
    """The official script's steps: normalise, raw scores, no-answer threshold, averages, best threshold."""

    def norm(s):
        s = s.lower()
        s = "".join(ch for ch in s if ch not in set(string.punctuation))
        s = re.sub(re.compile(r"\b(a|an|the)\b", re.UNICODE), " ", s)
        return " ".join(s.split())

    def tokens(s):
        return norm(s).split() if s else []

    def f1(gold, pred):
        g, p = tokens(gold), tokens(pred)
        same = sum((collections.Counter(g) & collections.Counter(p)).values())
        if len(g) == 0 or len(p) == 0:
            return int(g == p)
        if same == 0:
            return 0
        precision, recall = same / len(p), same / len(g)
        return 2 * precision * recall / (precision + recall)

    has_ans = {qa["id"]: bool(qa["answers"]) for a in dataset for p in a["paragraphs"] for qa in p["qas"]}
    exact_raw, f1_raw = {}, {}
    for article in dataset:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                golds = [a["text"] for a in qa["answers"] if norm(a["text"])] or [""]
                exact_raw[qa["id"]] = max(int(norm(g) == norm(preds[qa["id"]])) for g in golds)
                f1_raw[qa["id"]] = max(f1(g, preds[qa["id"]]) for g in golds)
    probs = na_probs if na_probs is not None else {k: 0.0 for k in preds}

    def apply(scores):
        return {q: float(not has_ans[q]) if probs[q] > thresh else s for q, s in scores.items()}

    exact, f1s = apply(exact_raw), apply(f1_raw)
    out = {"exact": 100.0 * sum(exact.values()) / len(exact), "f1": 100.0 * sum(f1s.values()) / len(f1s)}
    for name, ids in (
        ("HasAns", [q for q in has_ans if has_ans[q]]),
        ("NoAns", [q for q in has_ans if not has_ans[q]]),
    ):
        if ids:
            out[f"{name}_exact"] = 100.0 * sum(exact[q] for q in ids) / len(ids)
            out[f"{name}_f1"] = 100.0 * sum(f1s[q] for q in ids) / len(ids)
    if na_probs is not None:
        for name, raw in (("exact", exact_raw), ("f1", f1_raw)):
            cur = best = sum(1 for q in has_ans if not has_ans[q])
            best_thresh = 0.0
            for q in sorted(probs, key=lambda k: probs[k]):
                diff = raw[q] if has_ans[q] else (-1 if preds[q] else 0)
                cur += diff
                if cur > best:
                    best, best_thresh = cur, probs[q]
            out[f"best_{name}"], out[f"best_{name}_thresh"] = 100.0 * best / len(raw), best_thresh
    return out


def dataset_of(questions: dict[str, list[str]]) -> list[dict]:
    qas = [{"id": q, "answers": [{"text": t} for t in answers]} for q, answers in questions.items()]
    return [{"paragraphs": [{"qas": qas}]}]


def compare(dataset, gold, preds, probs, thresh=1.0):
    ours = squad_v2_scores(gold, preds, probs, thresh)
    theirs = official(dataset, preds, probs, thresh)
    for key, value in theirs.items():
        expected = value if key.endswith("_thresh") else value / 100
        assert ours[key] == pytest.approx(expected, abs=1e-9), key
    return ours


def test_hand_built_predictions_score_as_the_official_rules_say():
    gold = {
        "a": ["The Normans", "Normans"],  # articles and case do not count
        "b": ["in the 10th century"],
        "c": [],  # unanswerable
        "d": [],
        "e": ["the"],  # normalises to nothing: scored against ""
        "f": ["Rollo, Duke of Normandy!"],
    }
    preds = {"a": "normans", "b": "10th century", "c": "", "d": "Rollo", "e": "", "f": "duke of normandy"}
    ours = compare(dataset_of(gold), gold, preds, None)
    assert ours["exact"] == pytest.approx(3 / 6) and ours["NoAns_exact"] == pytest.approx(1 / 2)  # a, c, e
    assert ours["HasAns_total"] == 4 and ours["NoAns_total"] == 2 and "best_f1" not in ours
    probs = {"a": 0.1, "b": 0.2, "c": 0.9, "d": 0.95, "e": 0.3, "f": 0.4}
    compare(dataset_of(gold), gold, preds, probs, thresh=0.5)  # d's answer is withdrawn: right now


def test_normalisation_removes_articles_punctuation_and_spaces():
    assert normalize_answer("  The  cat, a dog & AN owl!") == "cat dog owl"


@pytest.mark.skipif(not DEV.is_file(), reason=f"SQuAD v2 dev subset not found at {DEV} (see ../shared/data/README.md)")
@pytest.mark.parametrize("seed", range(5))
def test_random_predictions_on_the_shared_dev_subset_score_as_the_official_rules_say(seed):
    dataset = json.loads(DEV.read_text(encoding="utf-8"))["data"]
    rng = random.Random(seed)
    gold, preds, probs = {}, {}, {}
    for article in dataset:
        for paragraph in article["paragraphs"]:
            words = paragraph["context"].split()
            for qa in paragraph["qas"]:
                gold[qa["id"]] = [a["text"] for a in qa["answers"]]
                start = rng.randrange(len(words))
                choice = rng.random()
                if choice < 0.3 and qa["answers"]:
                    preds[qa["id"]] = rng.choice(qa["answers"])["text"]  # a gold answer
                elif choice < 0.6:
                    preds[qa["id"]] = " ".join(words[start : start + rng.randint(1, 6)])  # a random span
                else:
                    preds[qa["id"]] = ""  # abstain
                probs[qa["id"]] = round(rng.random(), 2)  # ties, as a real head's rounded outputs have
    compare(dataset, gold, preds, None)
    compare(dataset, gold, preds, probs, thresh=rng.random())


def test_a_question_without_a_prediction_is_an_error_not_a_zero():
    with pytest.raises(ValueError, match="no prediction for 1 question"):
        squad_v2_scores({"a": ["x"], "b": []}, {"a": "x"})
