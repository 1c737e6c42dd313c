"""Every method trains the QA head: AdaLoRA, and LoRA with ranks allocated by svd-energy (on the
ΔW of a brief full fine-tune of the QA model) and by Fisher (gradients of the QA loss)."""

import json

import pytest

from lorascope.analysis.run_models import RunModels
from lorascope.config import parse_config
from lorascope.training import run_training

pytestmark = pytest.mark.slow


def qa_config(**changes):
    raw = {
        "model": "tiny-bert",
        "task": "synthetic_qa",
        "seed": 2,
        "data": {"synthetic_size": 64},
        "qa": {"max_question_length": 32},
        "ranks": {"min_r": 1, "max_r": 8, "finetune": {"max_steps": 6}, "fisher_samples": 8},
        "train": {"epochs": 1, "max_length": 96, "batch_size": 16, "learning_rate": 3e-3},
    }
    return parse_config(raw | changes).resolved()


@pytest.mark.parametrize(
    "changes",
    [
        {"method": "adalora", "adalora": {"tinit": 0.0, "tfinal": 0.0, "delta_t": 1}},
        {"method": "lora", "lora": {"r": 4, "strategy": "svd-energy"}},
        {"method": "lora", "lora": {"r": 4, "strategy": "fisher"}},
    ],
    ids=["adalora", "svd-energy", "fisher"],
)
def test_each_method_trains_and_keeps_the_qa_head(tmp_path, changes):
    results = run_training(qa_config(**changes), tmp_path)
    assert results.main_metric == "f1" and "answerable_auroc" in results.metrics
    saved = json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())
    assert saved["task_type"] == "QUESTION_ANS" and "answerability" in saved["modules_to_save"]
    if changes["method"] == "lora":
        ranks = json.loads((tmp_path / "ranks" / "lora_rank_config.json").read_text())
        assert ranks["strategy"] == changes["lora"]["strategy"] and ranks["layers"]
    tuned = RunModels(tmp_path).tuned()  # the adapter merged back into the QA model, head included
    assert hasattr(tuned, "answerability") and hasattr(tuned, "qa_outputs")


def test_a_full_qa_model_reloads_from_its_run_folder(tmp_path):
    run_training(qa_config(method="full"), tmp_path)
    tuned = RunModels(tmp_path).tuned()
    assert (
        type(tuned).__name__ == "BertForQuestionAnsweringWithAnswerability" and tuned.config.qa_head == "answerability"
    )
