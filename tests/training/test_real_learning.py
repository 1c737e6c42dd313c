"""Real learning: the offline MiniLM fine-tuned on real GLUE data (tens of seconds each)."""

import json

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import accuracy_score

from lorascope.config import parse_config
from lorascope.training import run_training

pytestmark = pytest.mark.slow

ALL_LINEAR = ["query", "key", "value", "dense"]


def run(tmp_path, minilm, glue_dir, task, method, learning_rate, **settings):
    """One epoch on 2,000 stratified training examples, batch 16."""
    raw = {
        "model": minilm,
        "data_dir": str(glue_dir),
        "seed": 0,
        "task": task,
        "method": method,
        "max_train_samples": 2000,
        "train": {"epochs": 1, "batch_size": 16, "learning_rate": learning_rate},
    } | settings
    return run_training(parse_config(raw).resolved(), tmp_path)


def saved_predictions(folder):
    rows = [json.loads(line) for line in (folder / "eval_predictions.jsonl").read_text().splitlines()]
    return np.array([r["label"] for r in rows]), np.array([r["prediction"] for r in rows])


def test_lora_learns_sst2(tmp_path, minilm, glue_dir):
    results = run(tmp_path, minilm, glue_dir, "sst2", "lora", 2e-3, lora={"target_modules": ALL_LINEAR})
    labels, predictions = saved_predictions(tmp_path)
    assert len(labels) == 872
    assert results.metrics["accuracy"] == pytest.approx(accuracy_score(labels, predictions), abs=1e-6)
    assert results.metrics["accuracy"] >= 0.78
    assert results.trainable_params < 0.02 * results.total_params


def test_full_fine_tuning_learns_sst2(tmp_path, minilm, glue_dir):
    results = run(tmp_path, minilm, glue_dir, "sst2", "full", 1e-4)
    labels, predictions = saved_predictions(tmp_path)
    assert results.metrics["accuracy"] == pytest.approx(accuracy_score(labels, predictions), abs=1e-6)
    assert results.metrics["accuracy"] >= 0.75
    assert results.trainable_params == results.total_params


def test_lora_learns_stsb_regression(tmp_path, minilm, glue_dir):
    results = run(
        tmp_path, minilm, glue_dir, "stsb", "lora", 5e-4, max_eval_samples=500, lora={"target_modules": ALL_LINEAR}
    )
    labels, predictions = saved_predictions(tmp_path)
    assert results.metrics["pearson"] == pytest.approx(stats.pearsonr(predictions, labels)[0], abs=1e-6)
    assert results.metrics["spearmanr"] == pytest.approx(stats.spearmanr(predictions, labels)[0], abs=1e-6)
    assert results.metrics["pearson"] > 0.5
    assert stats.pearsonr(predictions, labels).pvalue < 1e-6  # far from zero, not by luck
