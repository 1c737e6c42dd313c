"""Training extractive QA end to end: the run folder's official-format files re-score to the
results, baselines answer from the training labels alone, and every method trains the head."""

import json

import pytest

from lorascope.config import parse_config
from lorascope.training import run_training
from tests.squad_reference import DEV, TRAIN, official

needs_squad = pytest.mark.skipif(not DEV.is_file(), reason=f"SQuAD v2 subsets not found at {DEV.parent}")


def squad_config(**changes):
    raw = {
        "model": "tiny-bert",
        "task": "squad_v2",
        "method": "lora",
        "seed": 1,
        "data": {"train_file": str(TRAIN), "eval_file": str(DEV)},
        "max_train_samples": 40,
        "max_eval_samples": 24,
        "train": {"epochs": 1, "max_length": 128, "batch_size": 16, "eval_batch_size": 64, "learning_rate": 3e-3},
    }
    return parse_config(raw | changes).resolved()


def subset_of_dev(ids):
    document = json.loads(DEV.read_text(encoding="utf-8"))
    for article in document["data"]:
        for paragraph in article["paragraphs"]:
            paragraph["qas"] = [qa for qa in paragraph["qas"] if qa["id"] in ids]
    return document["data"]


@needs_squad
def test_a_qa_run_writes_official_files_that_rescore_to_its_results(tmp_path):
    results = run_training(squad_config(), tmp_path)
    metrics = results.metrics
    assert results.main_metric == "f1" and results.eval_examples == 24
    predictions = json.loads((tmp_path / "squad_predictions.json").read_text())
    spans = json.loads((tmp_path / "squad_spans.json").read_text())
    na_probs = json.loads((tmp_path / "squad_na_probs.json").read_text())
    assert set(predictions) == set(spans) == set(na_probs) and len(predictions) == 24
    dataset = subset_of_dev(set(predictions))
    as_is = official(dataset, predictions, None)
    thresholded = official(dataset, spans, na_probs, metrics["null_threshold"])
    for key in ("exact", "f1", "HasAns_f1", "NoAns_exact"):
        assert metrics[key] == pytest.approx(as_is[key] / 100, abs=1e-6)
        assert metrics[key] == pytest.approx(thresholded[key] / 100, abs=1e-6)
    assert metrics["best_f1_oracle"] == pytest.approx(thresholded["best_f1"] / 100, abs=1e-6)
    assert metrics["HasAns_total"] + metrics["NoAns_total"] == 24
    assert 0 <= metrics["answerable_auroc"] <= 1 and metrics["always_empty_f1"] == pytest.approx(
        metrics["NoAns_total"] / 24
    )
    lines = [json.loads(line) for line in (tmp_path / "eval_predictions.jsonl").read_text().splitlines()]
    assert [line["prediction"] for line in lines] == [predictions[line["id"]] for line in lines]
    assert all(line["best_span"] == spans[line["id"]] for line in lines)
    assert sorted(p.name for p in (tmp_path / "adapter").iterdir() if p.suffix == ".safetensors") == [
        "adapter_model.safetensors"
    ]


@needs_squad
@pytest.mark.parametrize("method", ["majority", "random"])
def test_qa_baselines_answer_from_the_training_labels_alone(tmp_path, method):
    results = run_training(squad_config(method=method), tmp_path)
    predictions = json.loads((tmp_path / "squad_predictions.json").read_text())
    answered = [p for p in predictions.values() if p]
    if method == "majority":  # most training questions have an answer: every question is answered
        assert len(answered) == len(predictions)
    dataset = subset_of_dev(set(predictions))
    assert results.metrics["f1"] == pytest.approx(official(dataset, predictions, None)["f1"] / 100, abs=1e-6)


def test_the_null_token_head_trains_and_reports_the_same_metrics(tmp_path):
    raw = {
        "model": "tiny-llama",
        "task": "synthetic_qa",
        "method": "full",
        "data": {"synthetic_size": 64},
        "qa": {"head": "null-token", "max_question_length": 32},
        "train": {"epochs": 1, "max_length": 96, "batch_size": 16},
    }
    results = run_training(parse_config(raw).resolved(), tmp_path)
    assert {"f1", "answerable_auroc", "never_empty_f1", "always_empty_f1"} <= set(results.metrics)
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    assert config["qa_head"] == "null-token"
