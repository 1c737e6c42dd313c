"""lorascope's SQuAD 2.0 scores against the official evaluate-v2.0.py's rules, reimplemented
independently in tests/squad_reference.py."""

import json
import random

import pytest

from lorascope.data.squad_metrics import normalize_answer, prior_weighted_threshold, squad_v2_scores
from tests.squad_reference import DEV, official


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


@pytest.mark.parametrize("prior", [0.05, 0.1, 0.3, 0.5, 0.9])
def test_a_no_answer_prior_chooses_the_threshold_of_the_best_reweighted_f1(prior):
    """Brute force: every candidate threshold scored by the reference's F1 per question, re-weighted
    so that the unanswerable questions make up ``prior`` of the weight."""
    rng = random.Random(7)
    gold = {f"q{i}": [] if i < 6 else [f"answer {i}"] for i in range(60)}  # 10% unanswerable
    preds = {q: rng.choice([f"answer {q[1:]}", "answer", "else", ""]) for q in gold}
    probs = {q: rng.random() for q in gold}
    chosen = prior_weighted_threshold(gold, preds, probs, prior)
    share = 6 / 60
    weight = {q: prior / share if not g else (1 - prior) / (1 - share) for q, g in gold.items()}

    def weighted_f1(threshold: float) -> float:
        per_question = {}
        for q in gold:  # the reference scores one question at a time
            one = dataset_of({q: gold[q]})
            per_question[q] = official(one, {q: preds[q]}, {q: probs[q]}, threshold)["f1"] / 100
        return sum(weight[q] * per_question[q] for q in gold) / sum(weight.values())

    candidates = [0.0, *probs.values()]
    assert weighted_f1(chosen) == pytest.approx(max(weighted_f1(t) for t in candidates), abs=1e-12)
    if prior == pytest.approx(share):  # no re-weighting: the official rule's own threshold
        assert chosen == squad_v2_scores(gold, preds, probs)["best_f1_thresh"]


def test_the_prior_needs_questions_of_both_kinds():
    with pytest.raises(ValueError, match="with and without an answer"):
        prior_weighted_threshold({"a": ["x"]}, {"a": "x"}, {"a": 0.2}, 0.5)
