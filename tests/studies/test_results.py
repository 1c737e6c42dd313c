import csv
import json
from collections import defaultdict

import numpy as np
import pytest

from lorascope.errors import LorascopeError
from lorascope.records import RunError, RunFolder
from lorascope.studies import format_summary, load_study, write_tables
from lorascope.studies.runner import prepare_folder
from tests.records import run_results
from tests.studies.conftest import study_raw, write_study


@pytest.fixture
def fabricated(tmp_path, mini_glue):
    """A planned study whose results.json files hold known random numbers (no training)."""
    raw = study_raw(mini_glue, grid={"task": ["sst2", "stsb"], "method": ["full", "lora"], "seed": [0, 1, 2]})
    raw["sanity"] = {"mode": "warn", "min_score": 0.9}
    del raw["methods"]
    study = load_study(write_study(tmp_path / "s.yaml", raw))
    out = tmp_path / "out"
    prepare_folder(study, out)
    rng = np.random.default_rng(0)
    for run in study.unique("baseline") + study.unique("sanity") + study.unique("run"):
        if run.label == "stsb · lora · seed 2":
            continue  # still pending
        folder = out / run.folder
        folder.mkdir(parents=True)
        if run.label == "sst2 · lora · seed 1":
            RunFolder(folder).write_error(RunError(label=run.label, error="CUDA out of memory"))
            continue
        cfg = run.config
        names = ("pearson", "spearmanr") if cfg.task == "stsb" else ("accuracy",)
        metrics = {m: float(rng.uniform(0.3, 1.0)) for m in names}
        if run.kind == "sanity":
            metrics[names[0]] = 0.95 if cfg.method == "full" else 0.5
        if run.kind == "baseline" and cfg.task == "stsb" and cfg.method == "majority":
            metrics = {m: None for m in names}  # a constant prediction has no correlation
        baseline = run.kind == "baseline"
        results = run_results(
            metrics,
            task=cfg.task,
            model=cfg.model,
            method=cfg.method,
            seed=cfg.seed,
            main_metric=names[0],
            trainable_params=0 if baseline else int(rng.integers(1000, 5000)),
            lora_params=int(rng.integers(500, 900)) if cfg.method == "lora" else None,
            total_params=10000,
            eval_examples=40,
            train_examples=64,
            steps=0 if baseline else 12,
            train_seconds=float(rng.uniform(1, 10)),
            peak_memory_mb=None if baseline else float(rng.uniform(100, 900)),
        )
        RunFolder(folder).write_results(results)
    return study, out


def floats(value):
    return None if value == "" else float(value)


def test_summary_equals_means_and_stds_computed_from_the_json_files(fabricated):
    study, out = fabricated
    write_tables(out)
    expected = defaultdict(lambda: defaultdict(list))
    for path in [*out.glob("runs/*/results.json"), *out.glob("baselines/*/results.json")]:
        r = json.loads(path.read_text())
        key = (r["task"], r["method"])
        for name, value in r["metrics"].items():
            if value is not None:
                expected[key][name].append(value)
        for field in ("train_seconds", "peak_memory_mb", "trainable_params", "lora_params"):
            if r[field] is not None:
                expected[key][field].append(r[field])
    rows = list(csv.DictReader((out / "summary.csv").open()))
    assert len(rows) == 2 * 4  # tasks × (majority, random, full, lora)
    for row in rows:
        values = expected[(row["task"], row["method"])]
        fields = ("train_seconds", "peak_memory_mb", "trainable_params", "lora_params")
        for name in ("accuracy", "pearson", "spearmanr", *fields):
            got_mean, got_std = floats(row[f"{name}_mean"]), floats(row[f"{name}_std"])
            if not values[name]:
                assert got_mean is None and got_std is None, (row["task"], row["method"], name)
                continue
            assert got_mean == pytest.approx(np.mean(values[name]), rel=1e-12)
            assert got_std == pytest.approx(np.std(values[name], ddof=1), rel=1e-12)
    by_key = {(r["task"], r["method"]): r for r in rows}
    assert (by_key["sst2", "lora"]["seeds_done"], by_key["sst2", "lora"]["failed"]) == ("2", "1")
    assert (by_key["stsb", "lora"]["seeds_done"], by_key["stsb", "lora"]["seeds_planned"]) == ("2", "3")
    assert by_key["stsb", "majority"]["pearson_n"] == "0"  # undefined for every seed, not averaged as 0
    assert [by_key[t, m]["sanity"] for t in ("sst2", "stsb") for m in ("full", "lora")] == ["pass", "FAIL"] * 2
    assert by_key["sst2", "majority"]["sanity"] == ""


def test_results_csv_has_one_row_per_run_with_its_json_numbers(fabricated):
    study, out = fabricated
    write_tables(out)
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert (
        len(rows) == len({r.id for r in study.runs}) == 12 + 4 + 12
    )  # baselines (tasks × seeds × 2), sanity checks, runs
    by_label = {r["label"]: r for r in rows}
    for label, row in by_label.items():
        folder = out / row["folder"]
        if row["status"] == "done":
            r = json.loads((folder / "results.json").read_text())
            metric = r["main_metric"]
            assert floats(row[metric]) == r["metrics"][metric], label
            assert floats(row["train_seconds"]) == r["train_seconds"]
    assert by_label["sst2 · lora · seed 1"]["status"] == "failed"
    assert by_label["sst2 · lora · seed 1"]["error"] == "CUDA out of memory"
    assert by_label["stsb · lora · seed 2"]["status"] == "pending"


def test_the_printed_table_shows_mean_std_seeds_and_flags(fabricated):
    study, out = fabricated
    _, summary = write_tables(out)
    table = format_summary(summary, "mini")
    full = next(r for r in summary if (r["task"], r["method"]) == ("sst2", "full"))
    line = next(
        line for line in table.splitlines() if line.startswith("full") and f"{full['accuracy_mean']:.3f}" in line
    )
    assert f"{full['accuracy_mean']:.3f} ± {full['accuracy_std']:.3f}" in line
    assert line.rstrip().endswith("3/3  pass 0.950")
    lora = [line for line in table.splitlines() if line.startswith("lora")]
    assert lora[0].rstrip().endswith("2/3  FAIL 0.500  1 run(s) FAILED")
    lora_row = next(r for r in summary if (r["task"], r["method"]) == ("sst2", "lora"))
    assert "LoRA params" in table and f"{lora_row['lora_params_mean']:,.0f}" in lora[0]
    assert "stsb" in table.splitlines() and "sst2" in table.splitlines()
    majority_stsb = [line for line in table.split("\nstsb\n")[1].splitlines() if line.startswith("majority")][0]
    assert "—" in majority_stsb  # undefined correlation shown as a dash


def test_results_of_a_folder_that_is_not_a_study(tmp_path):
    with pytest.raises(LorascopeError, match="not a study folder"):
        write_tables(tmp_path)


def test_other_axes_make_their_own_blocks(tmp_path, mini_glue):
    raw = study_raw(mini_glue, grid={"model": ["tiny-bert", "tiny-gpt2"], "task": ["sst2"], "seed": [0, 1]})
    study = load_study(write_study(tmp_path / "s.yaml", raw))
    out = tmp_path / "out"
    prepare_folder(study, out)
    for i, run in enumerate(study.unique("baseline") + study.unique("run")):
        (out / run.folder).mkdir(parents=True)
        results = run_results({"accuracy": i / 100}, train_seconds=1.0, trainable_params=0, peak_memory_mb=None)
        RunFolder(out / run.folder).write_results(results)
    _, summary = write_tables(out)
    assert {(r["model"], r["method"]) for r in summary} == {
        (m, v) for m in ("tiny-bert", "tiny-gpt2") for v in ("majority", "random", "full", "lora-r4")
    }
    table = format_summary(summary, "mini").splitlines()
    assert "sst2 · model=tiny-bert" in table and "sst2 · model=tiny-gpt2" in table
    gpt2 = table[table.index("sst2 · model=tiny-gpt2") :]
    lora = next(line for line in gpt2 if line.startswith("lora-r4"))
    row = next(r for r in summary if (r["model"], r["method"]) == ("tiny-gpt2", "lora-r4"))
    assert f"{row['accuracy_mean']:.3f} ± {row['accuracy_std']:.3f}" in lora


def test_long_metric_names_and_values_keep_their_columns_apart(fabricated):
    _, out = fabricated
    _, summary = write_tables(out)
    long = "response_perplexity_high"  # longer than a column's usual 17 characters, as its values are
    for row in summary:
        row |= {f"{long}_mean": 16226.615, f"{long}_std": 2289.171, f"{long}_n": 2}
    table = format_summary(summary, "mini").splitlines()
    header = next(line for line in table if line.startswith("method"))
    assert {"accuracy", long, "trainable"} <= set(header.split())
    full = next(line for line in table if line.startswith("full"))
    assert "  16226.615 ± 2289.171  " in full
    assert header.index(long) + len(long) == full.index("16226.615 ± 2289.171") + len("16226.615 ± 2289.171")
