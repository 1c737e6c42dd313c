"""A real search on a tiny model: pruning, the chosen values, reproducibility, failures, stale trials,
two workers on one journal, and the final phase trained with the winners."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import optuna
import pytest
import yaml
from optuna.trial import TrialState

from lorascope.config import load_config
from lorascope.errors import LorascopeError
from lorascope.records import TuneFolder
from lorascope.studies import run_study
from lorascope.studies.spec import study_from_mapping
from lorascope.tuning.results import NotTuned, apply_tuning, read_tuned, write_tuning_outputs
from lorascope.tuning.search import Search, run_tuning
from lorascope.tuning.storage import open_store
from lorascope.tuning.units import tuning_units
from tests.tuning.conftest import HOPELESS, tune_raw, write_study


def tuned(out: Path, raw: dict) -> tuple[list[str], list[optuna.trial.FrozenTrial]]:
    """Tune ``raw`` into ``out``; (progress lines, the trials of its only search)."""
    study = study_from_mapping(raw, raw["name"])
    lines: list[str] = []
    outcome = run_tuning(study, out, echo=lines.append)
    write_tuning_outputs(study, outcome.searches, out)
    return lines, outcome.searches[0].study.get_trials(deepcopy=False)


def signature(trials) -> list[tuple]:
    return [(t.number, t.state.name, t.params, t.value, dict(t.intermediate_values)) for t in trials]


@pytest.fixture(scope="module")
def search(tmp_path_factory):
    out = tmp_path_factory.mktemp("tune") / "study"
    raw = tune_raw()
    lines, trials = tuned(out, raw)
    return out, raw, lines, trials


def test_the_budget_is_met_and_a_hopeless_trial_is_pruned(search):
    out, raw, lines, trials = search
    finished = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(finished) == len(trials) == raw["tune"]["trials"]
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    assert pruned, "no trial was pruned"
    assert all(t.params["train.learning_rate"] == HOPELESS for t in pruned)
    assert all(len(t.intermediate_values) < raw["base"]["train"]["epochs"] for t in pruned)  # stopped early
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert all(len(t.intermediate_values) == raw["base"]["train"]["epochs"] for t in complete)
    assert not (out / "tune" / "synthetic-full" / "trials" / f"trial-{pruned[0].number:04d}" / "checkpoints").exists()
    assert any("pruned" in line for line in lines)
    assert lines[-1].startswith(f"[tune synthetic · full {len(trials)}/{len(trials)} · {len(pruned)} pruned")


def test_the_best_config_is_the_best_complete_trial_on_the_holdout(search):
    out, raw, _, trials = search
    best = max((t for t in trials if t.state == TrialState.COMPLETE), key=lambda t: t.value)
    record = yaml.safe_load((out / "tune" / "synthetic-full" / "best.yaml").read_text())
    assert record["trial"] == best.number and record["values"] == best.params
    assert best.params["train.learning_rate"] != HOPELESS
    results = yaml.safe_load((out / "tune" / "synthetic-full" / best.user_attrs["folder"] / "results.json").read_text())
    assert results["metrics"]["accuracy"] == pytest.approx(record["objective"]["value"])
    # the objective is a holdout of the training examples: 25% of 240, disjoint from what the trial trained on
    assert results["eval_examples"] == 60 and results["train_examples"] == 180
    config = load_config(out / "tune" / "synthetic-full" / best.user_attrs["folder"] / "config.yaml")
    assert config.data.eval_split == "holdout" and config.seed == raw["tune"]["seed"]
    assert config.train.learning_rate == best.params["train.learning_rate"]
    assert config.train.warmup_ratio == best.params["train.warmup_ratio"]


def test_trials_csv_and_figures_match_the_storage(search):
    out, _, _, trials = search
    with (out / "tune" / "synthetic-full" / "trials.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["trial"]) for r in rows] == [t.number for t in trials]
    assert [r["state"] for r in rows] == [t.state.name.lower() for t in trials]
    assert [float(r["train.learning_rate"]) for r in rows] == [t.params["train.learning_rate"] for t in trials]
    for row, trial in zip(rows, trials, strict=True):
        if trial.state == TrialState.COMPLETE:
            assert float(row["value"]) == pytest.approx(trial.value)
    assert (out / "tune" / "synthetic-full" / "history.png").stat().st_size > 10_000
    assert (out / "tune" / "synthetic-full" / "history.pdf").is_file()


@pytest.mark.slow  # searches the study a second time (about 13 s)
def test_the_same_seed_and_one_worker_give_the_same_trials(search, tmp_path):
    _, raw, _, trials = search
    _, again = tuned(tmp_path / "again", tune_raw())
    assert signature(again) == signature(trials)


def test_another_seed_samples_other_values(search, tmp_path):
    _, _, _, trials = search
    _, other = tuned(tmp_path / "other", tune_raw(tune__seed=6, tune__trials=3))
    assert [t.params for t in other] != [t.params for t in trials[:3]]


def test_the_final_phase_trains_with_the_chosen_values(search, tmp_path):
    out, raw, _, _ = search
    study = study_from_mapping(raw, raw["name"])
    chosen = read_tuned(study, out)[(("task", "synthetic"), ("method", "full"))]
    outcome = run_study(study, out, echo=lambda line: None)
    assert len(outcome.ran) == 1 and not outcome.failed
    run = apply_tuning(study, out).of_kind("run")[0]
    config = load_config(out / run.folder / "config.yaml")
    assert config.train.learning_rate == chosen["train.learning_rate"]
    assert config.train.warmup_ratio == chosen["train.warmup_ratio"]
    assert config.data.eval_split == "eval" and config.seed == 0  # the final phase reports on dev, per seed
    plan = yaml.safe_load((out / "plan.json").read_text())
    assert plan["tuned"] == [{"row": {"task": "synthetic", "method": "full"}, "values": chosen}]


def test_the_report_states_spaces_trials_and_chosen_values(search, tmp_path):
    from lorascope.reporting.report import build_report

    out, raw, _, trials = search
    if not (out / "plan.json").is_file():
        run_study(study_from_mapping(raw, raw["name"]), out, echo=lambda line: None)
    text = build_report(out, tmp_path / "report", ("md",))["md"].read_text()
    section = text.split("## Hyperparameter search")[1].split("\n## ")[0]
    assert "| full | train.learning_rate | one of 1e-07, 0.003, 0.005 |" in section
    pruned = sum(t.state == TrialState.PRUNED for t in trials)
    assert f"| {len(trials) - pruned} / {pruned} / 0 |" in section
    assert f"Optuna {optuna.__version__}" in section and "holdout of the training examples (25%)" in section
    best = max((t for t in trials if t.state == TrialState.COMPLETE), key=lambda t: t.value)
    chosen = f"learning_rate = {best.params['train.learning_rate']:.3g}, warmup_ratio = {best.params['train.warmup_ratio']:.3g}"
    assert f"| {best.value:.3f} | {chosen} |" in section


def test_a_study_with_a_tune_section_needs_its_search_first(tmp_path):
    raw = tune_raw()
    study = study_from_mapping(raw, raw["name"])
    with pytest.raises(NotTuned, match="run `lorascope tune` on the study file first"):
        run_study(study, tmp_path / "out", echo=lambda line: None)


def test_a_search_run_for_other_settings_is_not_reused(search, tmp_path):
    out, _, _, _ = search
    changed = study_from_mapping(tune_raw(tune__holdout=0.2), "tiny-tune")
    with pytest.raises(LorascopeError, match="tuned for a different config"):
        read_tuned(changed, out)
    with pytest.raises(LorascopeError, match="holds trials of a different config"):
        run_tuning(changed, out, echo=lambda line: None)


def test_failing_trials_are_retried_then_given_up_without_hanging(tmp_path):
    raw = tune_raw(tune__holdout=10_000, tune__retries=1, tune__max_failures=3)  # holds out more than there is
    study = study_from_mapping(raw, raw["name"])
    outcome = run_tuning(study, tmp_path, echo=lambda line: None)
    trials = outcome.searches[0].study.get_trials(deepcopy=False)
    assert outcome.given_up == ["synthetic · full"]
    assert [t.state for t in trials] == [TrialState.FAIL] * 3
    assert trials[1].params == trials[0].params and trials[1].user_attrs["retry_of"] == 0  # the retry
    write_tuning_outputs(study, outcome.searches, tmp_path)
    with (tmp_path / "tune" / "synthetic-full" / "trials.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["state"] for r in rows] == ["fail"] * 3 and [r["retry_of"] for r in rows] == ["", "0", ""]
    assert all("holds out 10000 of 240" in r["error"] for r in rows)
    assert not (tmp_path / "tune" / "synthetic-full" / "best.yaml").exists()


def test_a_trial_whose_worker_died_is_failed_and_run_again(tmp_path):
    raw = tune_raw(tune__trials=2, tune__heartbeat_seconds=0.1, tune__stale_after_seconds=0.5)
    raw["base"]["train"]["epochs"] = 1
    study = study_from_mapping(raw, raw["name"])
    (unit,) = tuning_units(study)
    store = open_store(None, tmp_path / "tune" / "journal.log")
    dead = Search(unit, study.spec.tune, store, TuneFolder(tmp_path / "tune"))
    orphan = dead.study.ask()  # a worker that took a trial, sampled, and was killed
    for key, param in unit.space.items():
        param.suggest(orphan, key)
    time.sleep(0.6)
    outcome = run_tuning(study, tmp_path, echo=lambda line: None)
    trials = outcome.searches[0].study.get_trials(deepcopy=False)
    assert trials[0].state == TrialState.FAIL
    assert [t.state for t in trials[1:]] == [TrialState.COMPLETE] * 2
    assert trials[1].params == orphan.params and trials[1].user_attrs["retry_of"] == orphan.number


def test_a_trial_interrupted_in_the_last_slot_is_run_again_not_waited_for(tmp_path):
    raw = tune_raw(tune__trials=2)
    raw["base"]["train"]["epochs"] = 1
    study = study_from_mapping(raw, raw["name"])
    (unit,) = tuning_units(study)
    search = Search(
        unit, study.spec.tune, open_store(None, tmp_path / "tune" / "journal.log"), TuneFolder(tmp_path / "tune")
    )
    search.study.tell(search.claim(), 0.5)  # the first slot is done
    last = search.claim()  # Ctrl-C in the last slot: failed, and queued again with its values
    values = {key: param.suggest(last, key) for key, param in unit.space.items()}
    with search.store.lock():
        search._fail(last.number, interrupted=True)
    again = search.claim()
    assert again not in ("busy", "done"), "the queued retry was taken for another worker's trial"
    assert {key: param.suggest(again, key) for key, param in unit.space.items()} == values
    search.study.tell(again, 0.6)
    assert search.claim() == "done" and search.counts().complete == 2  # the exact budget


@pytest.mark.slow  # trains a study several times (15-30 s)
def test_two_workers_on_one_journal_meet_the_budget_exactly(tmp_path):
    raw = tune_raw(tune__trials=5, tune__pruner__enabled=False)
    raw["base"]["train"]["epochs"] = 1
    study_file = write_study(tmp_path / "study.yaml", raw)
    out = tmp_path / "out"
    env = os.environ | {"PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}  # one core each, as docs/tuning.md says
    command = [sys.executable, "-m", "lorascope", "tune", str(study_file), "--out", str(out)]
    workers = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env) for _ in range(2)]
    logs = [w.communicate(timeout=600)[0].decode() for w in workers]
    assert [w.returncode for w in workers] == [0, 0], logs
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(out / "tune/journal.log")))
    loaded = optuna.load_study(study_name="synthetic-full", storage=storage)
    trials = loaded.trials
    assert [t.number for t in trials] == list(range(5))
    assert all(t.state == TrialState.COMPLETE for t in trials)
    assert loaded.user_attrs["workers"] == 2
    ran = [sum(f"] trial {n} complete" in log for log in logs) for n in range(5)]
    assert ran == [1] * 5  # each trial run by exactly one worker
    assert all(any(f"] trial {n} " in log for n in range(5)) for log in logs), "one worker did nothing"
    folders = sorted(p.name for p in (out / "tune" / "synthetic-full" / "trials").iterdir())
    assert folders == [f"trial-{n:04d}" for n in range(5)]
    assert all((out / "tune" / "synthetic-full" / "trials" / f / "results.json").is_file() for f in folders)


def test_racing_workers_never_start_more_trials_than_the_budget(tmp_path, monkeypatch):
    raw = tune_raw(tune__trials=3)
    study = study_from_mapping(raw, raw["name"])
    (unit,) = tuning_units(study)
    ask = optuna.Study.ask

    def slow_ask(self, *args, **kwargs):  # widen the gap between counting the trials and starting one
        time.sleep(0.2)
        return ask(self, *args, **kwargs)

    monkeypatch.setattr(optuna.Study, "ask", slow_ask)

    def worker() -> None:
        search = Search(
            unit, study.spec.tune, open_store(None, tmp_path / "tune" / "journal.log"), TuneFolder(tmp_path / "tune")
        )
        while (claimed := search.claim()) != "done":
            if claimed == "busy":
                time.sleep(0.05)
            else:
                search.study.tell(claimed, 0.5)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(tmp_path / "tune/journal.log"))
    )
    trials = optuna.load_study(study_name=unit.folder, storage=storage).trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 3


def test_ctrl_c_fails_the_trial_which_runs_again_without_counting_as_a_failure(tmp_path, monkeypatch):
    raw = tune_raw(tune__trials=2, tune__max_failures=1)
    raw["base"]["train"]["epochs"] = 1
    study = study_from_mapping(raw, raw["name"])

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("lorascope.tuning.search.run_training", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_tuning(study, tmp_path, echo=lambda line: None)
    monkeypatch.undo()
    outcome = run_tuning(study, tmp_path, echo=lambda line: None)
    trials = outcome.searches[0].study.get_trials(deepcopy=False)
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.COMPLETE, TrialState.COMPLETE]
    assert trials[1].params == trials[0].params and trials[1].user_attrs["retry_of"] == 0
    assert not outcome.given_up and outcome.searches[0].counts().failed == 0
