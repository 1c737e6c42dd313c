"""From logits to answers: the best span, the no-answer probability per question, the threshold
chosen on held-out questions, and the metrics — each against brute force or the official rules."""

import itertools

import numpy as np
import pytest

from lorascope.config import QaConfig
from lorascope.data import metrics
from lorascope.data.evaluation import Predictor
from lorascope.data.qa import Answers, answers, best_span, qa_metrics, tuned_threshold
from lorascope.data.qa_windows import Window, WindowDataset
from lorascope.data.squad_metrics import squad_v2_scores
from tests.squad_reference import official


def brute_best(start, end, valid, max_answer_length, allowed_starts=None, allowed_ends=None):
    best = None
    for s, e in itertools.product(range(len(start)), repeat=2):
        if not (valid[s] and valid[e] and s <= e < s + max_answer_length):
            continue
        if allowed_starts is not None and (s not in allowed_starts or e not in allowed_ends):
            continue
        score = start[s] + end[e]
        if best is None or score > best[0]:
            best = (score, s, e)
    return best


@pytest.mark.parametrize("seed", range(20))
def test_the_best_span_is_the_brute_force_best(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 40))
    start, end = rng.normal(size=n), rng.normal(size=n)
    valid = rng.random(n) < 0.7
    length = int(rng.integers(1, 8))
    found = best_span(start, end, valid, length, n_best=n)
    expected = brute_best(start, end, valid, length)
    assert (found is None) == (expected is None)
    if found:
        assert found[0] == pytest.approx(expected[0]) and found[1:] == expected[1:]
    tokens = np.flatnonzero(valid)
    if tokens.size:  # with n_best = 3: the best among the 3 best starts and the 3 best ends
        top = lambda x: set(tokens[np.argsort(-x[tokens], kind="stable")[:3]].tolist())  # noqa: E731
        restricted = brute_best(start, end, valid, length, top(start), top(end))
        found = best_span(start, end, valid, length, n_best=3)
        assert found is not None  # a valid token is always a span
        assert found[1:] == (restricted or expected)[1:]  # none among the best three: the best of all


def two_window_dataset():
    """Question a in two windows (its answer in the second), question b in one."""
    records = [
        {"id": "a", "context": "abcdefghij", "answers": [{"text": "hij", "answer_start": 7}], "label": 1},
        {"id": "b", "context": "klmnop", "answers": [], "label": 0},
    ]
    # token 0 is [CLS], token 1 the question; then one token per two characters of context
    offsets = [
        (None, None, (0, 2), (2, 4), (4, 6), (6, 8)),
        (None, None, (4, 6), (6, 8), (8, 10)),
        (None, None, (0, 2), (2, 4), (4, 6)),
    ]
    windows = [
        Window(example, o, answer, tuple(x is not None for x in o))
        for example, o, answer in zip((0, 0, 1), offsets, (None, (3, 4), None), strict=True)
    ]
    return WindowDataset([{}] * 3, windows, records)


def test_answers_take_the_best_span_over_windows_and_the_null_rule_of_each_head():
    dataset = two_window_dataset()
    start = np.full((3, 6), -5.0)
    end = np.full((3, 6), -5.0)
    start[0, 2], end[0, 3] = 1.0, 1.0  # window 1: "abcd", score 2
    start[1, 3], end[1, 4] = 2.0, 2.0  # window 2: "ghij", score 4: the best of question a
    start[2, 4], end[2, 4] = 0.5, 0.5  # question b: "op", score 1
    start[:, 0], end[:, 0] = [3.0, 1.0, 2.0], [0.0, 0.0, 0.5]  # null scores 3, 1 and 2.5
    answerable = np.array([-1.0, 2.0, -3.0])
    found = answers((start, end, answerable), dataset, QaConfig(max_answer_length=3))
    assert found.spans == {"a": "ghij", "b": "op"}
    sigmoid = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
    assert found.no_answer["a"] == pytest.approx(1 - sigmoid(2.0))  # the most answerable window
    assert found.no_answer["b"] == pytest.approx(1 - sigmoid(-3.0))
    null = answers((start, end), dataset, QaConfig(head="null-token", max_answer_length=3))
    assert null.spans == found.spans
    assert null.no_answer["a"] == pytest.approx(sigmoid(1.0 - 4.0))  # the lowest null score − the best span
    assert null.no_answer["b"] == pytest.approx(sigmoid(2.5 - 1.0))
    short = answers((start, end), dataset, QaConfig(head="null-token", max_answer_length=1))
    assert short.spans["a"] in {"ab", "cd", "ef", "gh", "ij"}  # one token at most


@pytest.mark.parametrize("seed", range(5))
def test_auroc_is_the_share_of_correctly_ordered_pairs(seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, 60)
    scores = np.round(rng.random(60), 1)  # ties count half
    pairs = [(p, n) for p in scores[labels == 1] for n in scores[labels == 0]]
    expected = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in pairs) / len(pairs)
    assert metrics.auroc(labels, scores) == pytest.approx(expected, abs=1e-12)
    assert np.isnan(metrics.auroc(np.ones(5), np.arange(5)))


def random_answers(rng, n):
    records, spans, probs = [], {}, {}
    for i in range(n):
        qid = f"q{i}"
        answerable = rng.random() < 0.6
        gold = ["the red fox", "red fox"] if answerable else []
        records.append({"id": qid, "answers": [{"text": t, "answer_start": 0} for t in gold], "label": int(answerable)})
        spans[qid] = str(rng.choice(["red fox", "the fox", "blue hat", "red"]))
        probs[qid] = float(np.round(rng.random(), 2))
    return records, Answers(spans, probs)


@pytest.mark.parametrize("seed", range(5))
def test_the_tuned_threshold_maximises_f1_on_the_held_out_questions(seed):
    rng = np.random.default_rng(seed)
    records, found = random_answers(rng, 80)
    gold = {r["id"]: [a["text"] for a in r["answers"]] for r in records}
    threshold = tuned_threshold(found, records)
    candidates = [0.0, 1.0, *found.no_answer.values()]
    brute = max(squad_v2_scores(gold, found.decided(t))["f1"] for t in candidates)
    assert squad_v2_scores(gold, found.decided(threshold))["f1"] == pytest.approx(brute, abs=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_qa_metrics_rescore_by_the_official_rules(seed):
    rng = np.random.default_rng(seed)
    records, found = random_answers(rng, 60)
    threshold = float(rng.random())
    ours = qa_metrics(found, records, threshold)
    dataset = [{"paragraphs": [{"qas": [{"id": r["id"], "answers": r["answers"]} for r in records]}]}]
    decided = official(dataset, found.decided(threshold), None)  # predictions.json, scored as is
    spans = official(dataset, found.spans, found.no_answer, threshold)  # spans + na_probs at the threshold
    for key in ("exact", "f1", "HasAns_f1", "NoAns_exact"):
        assert ours[key] == pytest.approx(decided[key] / 100, abs=1e-9)
        assert ours[key] == pytest.approx(spans[key] / 100, abs=1e-9)
    assert ours["best_f1_oracle"] == pytest.approx(spans["best_f1"] / 100, abs=1e-9)
    at_half = official(dataset, found.spans, found.no_answer, 0.5)
    assert ours["f1_at_half"] == pytest.approx(at_half["f1"] / 100, abs=1e-9)
    nothing = official(dataset, dict.fromkeys(found.spans, ""), None)
    everything = official(dataset, found.spans, None)
    assert ours["always_empty_f1"] == pytest.approx(nothing["f1"] / 100)
    assert ours["never_empty_f1"] == pytest.approx(everything["f1"] / 100)
    has = np.array([r["label"] for r in records])
    assert ours["answerable_auroc"] == pytest.approx(metrics.auroc(has, 1 - np.array(list(found.no_answer.values()))))


def test_when_the_best_starts_all_follow_the_best_ends_a_span_is_still_found():
    start = np.array([0.0, 0.1, 0.2, 5.0, 6.0])
    end = np.array([6.5, 5.0, 0.2, 0.1, 0.0])
    valid = np.ones(5, dtype=bool)
    assert best_span(start, end, valid, 30, n_best=2) == pytest.approx(brute_best(start, end, valid, 30))


def test_the_threshold_is_chosen_on_the_held_out_questions_not_on_eval():
    """On the held-out questions the classifier is right, on eval exactly wrong: the held-out threshold,
    applied to eval, gets F1 0, where a threshold chosen on eval (the oracle) would get 0.5."""
    from types import SimpleNamespace

    from lorascope.data.qa import QuestionAnsweringTask
    from lorascope.models.tiny import tiny_config_and_tokenizer

    tokenizer = tiny_config_and_tokenizer("tiny-bert")[1]

    def questions(prefix, n, answered):
        context = "alpha beta gamma"
        answers = [{"text": "alpha", "answer_start": 0}] if answered else []
        return [
            {"id": f"{prefix}{i}", "question": "q?", "context": context, "answers": answers, "label": int(answered)}
            for i in range(n)
        ]

    held = questions("h", 6, True) + questions("n", 4, False)
    evaluation = questions("e", 5, False) + questions("f", 5, True)
    task = QuestionAnsweringTask("squad_v2")

    def predict(dataset):
        """Spans at "alpha"; the answerable logit: confident for h* (answerable) and e* (not), low otherwise."""
        length = max(len(w.offsets) for w in dataset.windows)
        start, end = np.full((len(dataset), length), -9.0), np.full((len(dataset), length), -9.0)
        logit = np.zeros(len(dataset))
        for w, window in enumerate(dataset.windows):
            first = next(i for i, o in enumerate(window.offsets) if o is not None)
            start[w, first], end[w, first + 4] = 5.0, 5.0  # byte tokens: "alpha" is 5 of them
            qid = dataset.records[window.example]["id"]
            logit[w] = 3.0 if qid[0] in "he" else -0.2
        return start, end, logit

    data = SimpleNamespace(calibration=held, eval=evaluation, train=held)
    predictor = Predictor(predict, None, 8, "fp32")
    result = task.evaluate(predictor, data, task.encode(evaluation, tokenizer, 128), tokenizer, 128)
    held_probabilities = 1 / (1 + np.exp(np.array([3.0, -0.2])))  # h*: 0.047, n*: 0.55
    assert held_probabilities[0] <= result.metrics["null_threshold"] < held_probabilities[1]
    assert result.metrics["f1"] == pytest.approx(0.0) and result.metrics["best_f1_oracle"] == pytest.approx(0.5)
    assert result.metrics["HasAns_f1"] == 0.0 and result.metrics["NoAns_exact"] == 0.0
