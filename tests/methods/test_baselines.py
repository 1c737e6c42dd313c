import json

import numpy as np
import pytest

from lorascope.config import parse_config
from lorascope.methods.baselines import majority_predictions, random_predictions
from lorascope.training import run_training


def test_majority_is_the_most_frequent_train_class_or_the_mean_score():
    assert majority_predictions(np.array([0, 2, 2, 1, 2, 0]), 3, regression=False).tolist() == [2, 2, 2]
    assert majority_predictions(np.array([1, 0, 1, 0]), 2, regression=False).tolist() == [0, 0]  # tie: lowest index
    assert majority_predictions(np.array([1.0, 2.0, 4.5]), 2, regression=True).tolist() == [2.5, 2.5]


def test_random_draws_follow_the_train_distribution_and_the_seed():
    train = np.array([0] * 700 + [1] * 300)
    draws = random_predictions(train, 20000, seed=0)
    assert abs(draws.mean() - 0.3) < 4 * np.sqrt(0.3 * 0.7 / 20000)
    assert np.array_equal(draws, random_predictions(train, 20000, seed=0))
    assert not np.array_equal(draws, random_predictions(train, 20000, seed=1))
    scores = np.array([0.5, 1.0, 4.2])
    assert set(random_predictions(scores, 500, seed=3).tolist()) == {0.5, 1.0, 4.2}


def _write(path, header, rows):
    path.write_text("\n".join([header] + rows) + "\n", encoding="utf-8")
    return str(path)


def test_baseline_runs_score_the_eval_set_as_computed_by_hand(tmp_path):
    train = _write(tmp_path / "train.csv", "text,label", ["a,neg", "b,neg", "c,pos", "d,neg", "e,pos"])
    dev = _write(tmp_path / "dev.csv", "text,label", ["f,pos", "g,neg", "h,pos", "i,pos"])
    raw = {"model": "unused", "task": "text-classification", "data": {"train_file": train, "eval_file": dev}}
    majority = run_training(parse_config(raw | {"method": "majority"}).resolved(), tmp_path / "majority")
    # labels sort as neg=0, pos=1; train majority is neg, right on 1 of 4; no positive predictions → F1 0
    assert majority.metrics == {"accuracy": 0.25, "f1": 0.0}
    assert (majority.trainable_params, majority.steps, majority.artifact) == (0, 0, None)
    predictions = [json.loads(line) for line in (tmp_path / "majority" / "eval_predictions.jsonl").open()]
    assert [p["prediction"] for p in predictions] == [0, 0, 0, 0]
    assert {p.name for p in (tmp_path / "majority").iterdir()} == {
        "config.yaml",
        "environment.json",
        "eval_predictions.jsonl",
        "results.json",
    }
    # the random baseline is scored by the same metrics on its own predictions
    rnd = run_training(parse_config(raw | {"method": "random", "seed": 5}).resolved(), tmp_path / "random")
    predicted = np.array(
        [json.loads(line)["prediction"] for line in (tmp_path / "random" / "eval_predictions.jsonl").open()]
    )
    gold = np.array([1, 0, 1, 1])
    assert rnd.metrics["accuracy"] == pytest.approx(float(np.mean(predicted == gold)))
    tp = int(np.sum((predicted == 1) & (gold == 1)))
    assert rnd.metrics["f1"] == pytest.approx(2 * tp / (np.sum(predicted == 1) + 3))


def test_mean_score_baseline_has_no_correlation_and_random_scores_have_one(tmp_path):
    train = _write(tmp_path / "train.csv", "text,label", ["a,1.0", "b,2.0", "c,4.5", "d,0.5"])
    dev = _write(tmp_path / "dev.csv", "text,label", ["e,1.0", "f,3.0", "g,2.0", "h,5.0", "i,0.0"])
    raw = {"model": "unused", "task": "text-regression", "data": {"train_file": train, "eval_file": dev}}
    mean = run_training(parse_config(raw | {"method": "majority"}).resolved(), tmp_path / "mean")
    assert mean.metrics == {"pearson": None, "spearmanr": None}
    predictions = [json.loads(line)["prediction"] for line in (tmp_path / "mean" / "eval_predictions.jsonl").open()]
    assert predictions == [2.0] * 5
    rnd = run_training(parse_config(raw | {"method": "random"}).resolved(), tmp_path / "random")
    drawn = [json.loads(line)["prediction"] for line in (tmp_path / "random" / "eval_predictions.jsonl").open()]
    assert set(drawn) <= {1.0, 2.0, 4.5, 0.5}
    assert len(set(drawn)) > 1  # seed 42 draws more than one value here
    assert rnd.metrics["pearson"] == pytest.approx(float(np.corrcoef(drawn, [1.0, 3.0, 2.0, 5.0, 0.0])[0, 1]), abs=1e-6)
