"""Instruction tuning in a study: sanity checks on token accuracy, the grid, drift, a claim on
response perplexity (lower is better) and the report, on the generated task with tiny Llama."""

import csv

import pytest

from lorascope.records import StudyFolder
from lorascope.reporting import build_report
from lorascope.studies import run_study
from lorascope.studies.results import write_tables
from lorascope.studies.spec import study_from_mapping
from tests.training.test_instruction_training import instruction_config

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    out = tmp_path_factory.mktemp("instruction-study") / "out"
    base = instruction_config(drift={"enabled": True, "every_steps": 4, "probe_size": 8})
    raw = {
        "name": "instruction",
        "base": base,
        "grid": {"seed": [0, 1, 2]},
        "methods": {
            "full": {"method": "full", "train.learning_rate": 3e-3},
            "lora-r4": {"method": "lora", "lora.r": 4, "train.learning_rate": 1e-5},  # barely moves: worse
        },
        "baselines": [],
        "sanity": {"mode": "warn", "train_samples": 16, "max_steps": 10, "min_score": 0.0},
        "hypotheses": {
            "claims": [
                {
                    "name": "LoRA non-inferior",
                    "kind": "non-inferiority",
                    "treatment": "lora-r4",
                    "reference": "full",
                    "margin": 0.01,
                },
                {
                    "name": "full non-inferior",
                    "kind": "non-inferiority",
                    "treatment": "full",
                    "reference": "lora-r4",
                    "margin": 0.01,
                },
            ]
        },
    }
    run_study(study_from_mapping(raw, "instruction"), out, echo=lambda line: None)
    write_tables(out)
    return out, build_report(out, formats=("md",))


def test_the_grid_scores_response_perplexity_and_the_claims_read_lower_as_better(study):
    out, written = study
    folder = StudyFolder(out)
    scores = {}
    for entry in folder.plan().runs:
        if entry.kind != "run":
            continue
        results = folder.run(entry.folder).results()
        assert results.main_metric == "response_perplexity" and results.lower()
        scores.setdefault(entry.group["method"], []).append(results.metrics["response_perplexity"])
    assert max(scores["full"]) < min(scores["lora-r4"])  # full learned, lora at 1e-5 barely moved
    text = written["md"].read_text()
    assert "| method | n | response_perplexity |" in text
    claims = [r for r in csv.DictReader((out / "report" / "tables" / "hypotheses.csv").open()) if r["task"] == "all"]
    assert {r["hypothesis"]: r["holds"] for r in claims} == {"LoRA non-inferior": "False", "full non-inferior": "True"}
    assert all("lower is better" in r["claim"] for r in claims)
    drift = list(csv.DictReader((out / "drift" / "drift.csv").open()))
    assert {r["task"] for r in drift} == {"synthetic_instruction"}
