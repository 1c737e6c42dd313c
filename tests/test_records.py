"""Records: validated on read, naming file and field; older files upgraded; newer ones refused."""

import json

import pytest

from lorascope.errors import LorascopeError
from lorascope.records import (
    OverheadRow,
    RunError,
    RunFolder,
    RunResults,
    ServingResults,
    StudyFolder,
    read_record,
    write_record,
)
from tests.records import run_results, serving_row


def test_a_record_round_trips_with_its_schema_version(tmp_path):
    results = run_results({"accuracy": 0.75, "f1": None}, lora_params=64)
    path = write_record(tmp_path / "results.json", results)
    assert json.loads(path.read_text())["schema_version"] == RunResults.SCHEMA_VERSION
    assert read_record(RunResults, path) == results
    assert not list(tmp_path.glob("*.tmp"))  # the temporary file was renamed


def test_a_bad_file_is_refused_naming_the_file_and_the_field(tmp_path):
    path = tmp_path / "results.json"
    payload = run_results().model_dump(mode="json") | {"steps": "many"}
    path.write_text(json.dumps(payload))
    with pytest.raises(LorascopeError, match=r"results.json: steps: Input should be a valid integer"):
        read_record(RunResults, path)
    path.write_text('{"task": ')
    with pytest.raises(LorascopeError, match=r"results.json line 1: invalid JSON"):
        read_record(RunResults, path)
    with pytest.raises(LorascopeError, match="cannot be read"):
        read_record(RunResults, tmp_path / "missing.json")


def test_a_file_from_a_newer_lorascope_is_refused(tmp_path):
    path = tmp_path / "results.json"
    path.write_text(json.dumps(run_results().model_dump(mode="json") | {"schema_version": 99}))
    with pytest.raises(LorascopeError, match="schema_version 99 is newer than this lorascope reads"):
        read_record(RunResults, path)


def test_studies_and_tuning_share_one_failure_record_and_old_trial_errors_upgrade(tmp_path):
    folder = RunFolder(tmp_path / "trial-0003")
    try:
        raise ValueError("bad value")
    except ValueError as exc:
        folder.write_error(RunError.of("trial 3", exc))
    error = folder.error()
    assert folder.status() == "failed" and error.label == "trial 3" and error.error == "ValueError: bad value"
    assert "raise ValueError" in error.traceback
    old = {"trial": 7, "error": "RuntimeError: CUDA out of memory\nmore", "traceback": "..."}  # before records
    folder.error_path.write_text(json.dumps(old))
    assert folder.error().label == "trial 7" and folder.error().first_line == "RuntimeError: CUDA out of memory"


def test_old_serving_overheads_upgrade_from_the_column_named_after_the_bound(tmp_path):
    rows = [serving_row("adapters", 1, 0, 110.0), serving_row("merged", 1, 0, 100.0)]
    old = {
        "results": [r.csv_row() for r in rows],
        "overhead": [{"batch_size": 1, "latency_ratio": 1.1, "ci_low": 1.0, "ci_high": 1.2, "p_ratio_above_1.5": 0.01}],
    }
    bench = StudyFolder(tmp_path).bench("tiny")
    bench.path.mkdir(parents=True)
    bench.record_path.write_text(json.dumps(old))
    [overhead] = StudyFolder(tmp_path).benches()["tiny"].overhead
    assert overhead == OverheadRow(batch_size=1, latency_ratio=1.1, bound=1.5, ci_low=1.0, ci_high=1.2, p_value=0.01)
    bench.write_results(rows, [overhead])
    assert read_record(ServingResults, bench.record_path).overhead == [overhead]
    header = (bench.path / "overhead.csv").read_text().splitlines()[0]
    assert header == "batch_size,latency_ratio,ci_low,ci_high,p_ratio_above_1.5"  # the CSV copy keeps its columns
