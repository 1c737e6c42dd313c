"""A study folder written by lorascope at commit 48d3789 (before versioned records: no
``schema_version`` anywhere) is read, resumed and reported by this version. The fixture holds 12
planned runs: 10 finished, one failed (``error.json``), one interrupted (no results); model
weights and drift snapshots were left out to keep it small."""

import csv
import json
import shutil
from collections import Counter
from pathlib import Path

import pytest

from lorascope.records import StudyFolder
from lorascope.reporting import build_report
from lorascope.studies import load_study, run_study, write_tables
from lorascope.studies.folder import study_entries

LEGACY = Path(__file__).resolve().parents[1] / "fixtures" / "study-48d3789"
STUDY_FILE = LEGACY.with_name(LEGACY.name + ".yaml")  # the study file it was run from


@pytest.fixture
def legacy(tmp_path):
    return shutil.copytree(LEGACY, tmp_path / "study")


def test_every_record_of_the_old_folder_reads_as_written(legacy):
    folder = StudyFolder(legacy)
    raw_plan = json.loads(folder.plan_path.read_text())
    assert "schema_version" not in raw_plan
    plan = folder.plan()
    assert plan.name == "legacy" and [e.model_dump() for e in plan.runs] == raw_plan["runs"]
    entries = study_entries(folder)
    assert Counter(e.status for e in entries) == {"done": 10, "failed": 1, "partial": 1}
    failed = next(e for e in entries if e.status == "failed")
    assert failed.error == json.loads((legacy / failed.folder / "error.json").read_text())["error"]
    for e in entries:
        if e.status == "done":
            raw = json.loads((legacy / e.folder / "results.json").read_text())
            assert e.results.model_dump(exclude={"schema_version"}, exclude_unset=True) == raw, e.folder
    with (legacy / "drift" / "drift.csv").open(newline="") as handle:
        table = list(csv.DictReader(handle))
    rows = folder.drift.rows()
    assert len(rows) == len(table) and rows[0].value == float(table[0]["value"])
    assert {r.step for r in rows} == {int(r["step"]) if r["step"] != "final" else "final" for r in table}


def test_the_old_folder_gets_its_tables_and_report(legacy, tmp_path):
    _, summary = write_tables(legacy)
    full = next(r for r in summary if r["method"] == "full")
    done = [json.loads(p.read_text())["metrics"]["accuracy"] for p in legacy.glob("runs/synthetic-full-*/results.json")]
    assert full["seeds_done"] == len(done) == 2 and full["failed"] == 1
    assert full["accuracy_mean"] == pytest.approx(sum(done) / 2)
    text = build_report(legacy, tmp_path / "report", ("md",))["md"].read_text()
    assert "## Hypotheses" in text and "## Representational drift" in text
    assert "2 planned run(s) did not finish" in text


@pytest.mark.slow  # trains the two unfinished runs (about a minute)
def test_the_old_folder_resumes_where_it_stopped(legacy, tmp_path):
    study = load_study(STUDY_FILE)
    assert {r.folder for r in study.runs} == {e.folder for e in StudyFolder(legacy).plan().runs}  # same run ids
    before = {p: p.read_bytes() for p in legacy.glob("*/*/results.json")}
    outcome = run_study(study, legacy, echo=lambda line: None, drift=False)
    assert sorted(outcome.ran) == sorted(
        r.id for r in study.runs if r.folder.endswith(("full-seed2-09520bca6a", "lora-seed2-60be743c37"))
    )
    assert {p: p.read_bytes() for p in before} == before  # finished runs untouched
    assert json.loads(StudyFolder(legacy).plan_path.read_text())["schema_version"] == 1
    assert Counter(e.status for e in study_entries(StudyFolder(legacy))) == {"done": 12}
    text = build_report(legacy, tmp_path / "report", ("md",))["md"].read_text()
    assert "planned run(s) did not finish" not in text
