"""QA as a first-class task of a study: baselines, sanity checks, the grid, drift, hypotheses on F1,
the report and tuning, on the generated QA task with the built-in tiny BERT."""

import csv

import pytest

from lorascope.records import StudyFolder
from lorascope.reporting import build_report
from lorascope.studies import run_study
from lorascope.studies.results import write_tables
from lorascope.studies.spec import study_from_mapping
from lorascope.tuning.results import write_tuning_outputs
from lorascope.tuning.search import run_tuning

pytestmark = pytest.mark.slow

BASE = {
    "model": "tiny-bert",
    "task": "synthetic_qa",
    "data": {"synthetic_size": 96},
    "qa": {"max_question_length": 32},
    "train": {"epochs": 2, "batch_size": 16, "max_length": 96, "logging_steps": 2},
}


def qa_study(**changes):
    raw = {
        "name": "qa",
        "base": BASE,
        "grid": {"seed": [0, 1]},
        "methods": {
            "full": {"method": "full", "train.learning_rate": 1e-3},
            "lora-r4": {"method": "lora", "lora.r": 4, "train.learning_rate": 3e-3},
        },
        "baselines": ["majority", "random"],
        "sanity": {"mode": "warn", "train_samples": 16, "max_steps": 10, "min_score": 0.0},
        "hypotheses": {
            "claims": [
                {
                    "name": "LoRA non-inferior",
                    "kind": "non-inferiority",
                    "treatment": "lora-r4",
                    "reference": "full",
                    "margin": 0.5,
                }
            ]
        },
    }
    return raw | changes


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    out = tmp_path_factory.mktemp("qa-study") / "out"
    raw = qa_study()
    raw["base"] = BASE | {"drift": {"enabled": True, "every_steps": 4, "probe_size": 8}}
    study = study_from_mapping(raw, "qa")
    run_study(study, out, echo=lambda line: None)
    write_tables(out)
    return out, build_report(out, formats=("md",))


def test_every_phase_ran_and_scored_with_the_qa_metrics(study):
    out, _ = study
    rows = list(csv.DictReader((out / "results.csv").open()))
    kinds = {(r["kind"], r["method"]) for r in rows}
    assert {("baseline", "majority"), ("baseline", "random"), ("run", "full"), ("run", "lora-r4")} <= kinds
    folder = StudyFolder(out)
    for entry in folder.plan().runs:
        results = folder.run(entry.folder).results()
        assert results.main_metric == "f1" and "f1" in results.metrics
        if entry.kind != "baseline":
            assert {"always_empty_f1", "never_empty_f1", "answerable_auroc"} <= set(results.metrics)
    drift = list(csv.DictReader((out / "drift" / "drift.csv").open()))
    assert drift and {r["task"] for r in drift} == {"synthetic_qa"}


def test_the_report_tests_the_claim_on_f1_and_shows_the_headline_metrics(study):
    out, written = study
    text = written["md"].read_text()
    assert "LoRA non-inferior" in text and "synthetic_qa" in text
    header = next(line for line in text.splitlines() if line.startswith("| method") and "f1" in line)
    assert "never_empty_f1" in header and "HasAns_total" not in header  # the task's metrics, not every number


def test_tuning_searches_a_qa_row_on_a_training_holdout(tmp_path):
    raw = qa_study(
        grid={"seed": [0]},
        methods={"full": {"method": "full"}},
        baselines=[],
        sanity={"mode": "off"},
        hypotheses={"claims": []},
        tune={
            "trials": 2,
            "holdout": 0.25,
            "seed": 1,
            "spaces": {"full": {"train.learning_rate": {"choices": [1e-3, 3e-3]}}},
        },
    )
    study = study_from_mapping(raw, "qa-tune")
    outcome = run_tuning(study, tmp_path, echo=lambda line: None)
    write_tuning_outputs(study, outcome.searches, tmp_path)
    summary = StudyFolder(tmp_path).tune.summary()
    assert summary.searches[0].metric == "f1" and summary.searches[0].best_value is not None
