"""Every shipped example is valid; the offline study's runs pass preflight on the real data."""

from pathlib import Path

import pytest

from lorascope.config import load_config
from lorascope.studies import load_study
from lorascope.training import preflight

ROOT = Path(__file__).resolve().parents[1]
RUN_CONFIGS = sorted((ROOT / "examples").glob("*.yaml"))
STUDIES = [
    ROOT / "examples" / "studies" / f"{name}.yaml"
    for name in ("glue_bert_base", "glue_tinyllama", "offline_minilm_glue")
]


@pytest.mark.parametrize("path", RUN_CONFIGS, ids=lambda p: p.name)
def test_run_examples_are_valid(path):
    cfg = load_config(path)
    assert cfg.method in ("full", "lora")
    assert cfg.task != "instruction" or cfg.data.eval_split == "holdout"  # Alpaca has one split


@pytest.mark.parametrize("path", STUDIES, ids=lambda p: p.name)
def test_study_examples_are_the_plans_grid(path):
    study = load_study(path)
    runs = study.of_kind("run")
    assert len(runs) == 30 and len(study.unique("baseline")) == 30 and len(study.unique("sanity")) == 10
    assert {(r.config.task, r.config.method, r.config.seed) for r in runs} == {
        (t, m, s) for t in ("mrpc", "sst2", "rte", "stsb", "squad_v2") for m in ("full", "lora") for s in (0, 1, 2)
    }
    lengths = {r.config.task: r.config.train.max_length for r in study.runs if r.kind != "baseline"}
    assert lengths["squad_v2"] > lengths["mrpc"] == 128  # the tasks: section sets the QA runs only
    assert {r.config.lora.r for r in runs if r.config.method == "lora"} == {8}


def test_offline_study_passes_preflight_on_the_real_data(monkeypatch, glue_dir, minilm):
    monkeypatch.chdir(ROOT)
    if glue_dir.resolve() != (ROOT / "../shared/data/glue").resolve():
        pytest.skip("the example's data_dir ../shared/data/glue is not where the data is")
    study = load_study(ROOT / "examples/studies/offline_minilm_glue.yaml", [f"base.model={minilm}"])
    for run in study.runs:
        if run.config.seed == 0 and run.kind == "run":
            checked = preflight(run.config)
            assert len(checked.data.train) + len(checked.data.calibration) == 2000


def test_the_rank_strategy_study_compares_at_one_budget():
    study = load_study(ROOT / "examples" / "studies" / "rank_strategies_minilm.yaml")
    runs = study.of_kind("run")
    variants = {(r.config.method, r.config.lora.strategy) for r in runs}
    assert variants == {("lora", "uniform"), ("lora", "svd-energy"), ("lora", "fisher"), ("adalora", "uniform")}
    assert len(runs) == 4 * 2 * 3 and {r.config.lora.r for r in runs} == {8}
    assert len({r.id for r in runs}) == len(runs) and not study.of_kind("sanity")  # mode: off, unquoted


def test_the_drift_study_probes_every_run_on_the_same_examples():
    study = load_study(ROOT / "examples" / "studies" / "drift_minilm_sst2.yaml")
    runs = study.of_kind("run")
    assert len(runs) == 8 and all(r.config.drift.enabled for r in runs)
    assert {r.config.max_eval_samples for r in runs} == {None}  # the whole dev set: one probe set
    assert study.spec.drift.reference in {dict(r.group)["method"] for r in runs}


@pytest.mark.parametrize("path", sorted((ROOT / "examples" / "serving").glob("*.yaml")), ids=lambda p: p.name)
def test_serving_workloads_are_valid(path):
    from lorascope.serving import load_workload

    workload = load_workload(path)
    assert workload.repetitions >= 2  # an overhead interval needs repetitions
    assert workload.adapter_names or "adapters" in workload.http.targets  # adapters in process, or served


def test_the_tuning_study_searches_each_method_in_its_own_space():
    from lorascope.tuning.units import tuning_units

    study = load_study(ROOT / "examples" / "studies" / "tune_minilm_sst2.yaml")
    full, lora = tuning_units(study)
    assert (full.label, lora.label) == ("sst2 · full", "sst2 · lora")
    lr_full, lr_lora = full.space["train.learning_rate"], lora.space["train.learning_rate"]
    assert lr_lora.low > lr_full.low and lr_lora.high > lr_full.high and lr_full.log and lr_lora.log
    assert lora.space["train.gradient_accumulation_steps"].type == "int"
    cfg = lora.trial_config({"lora.r": 16}, study.spec.tune, "example")
    assert cfg.data.eval_split == "holdout" and cfg.train.eval_strategy == "steps"


def test_the_alpaca_study_compares_rank_strategies_and_passes_preflight(monkeypatch):
    monkeypatch.chdir(ROOT)
    study = load_study(ROOT / "examples" / "studies" / "alpaca_rank_strategies.yaml")
    runs = study.of_kind("run")
    assert {(r.config.method, r.config.lora.strategy) for r in runs} == {
        ("lora", "uniform"),
        ("lora", "svd-energy"),
        ("lora", "fisher"),
        ("adalora", "uniform"),
    }
    assert {r.config.task for r in runs} == {"instruction"} and len(runs) == 12
    if not (ROOT / "../shared/data/alpaca").is_dir():
        pytest.skip("../shared/data/alpaca is absent")
    checked = preflight(runs[0].config)
    assert (len(checked.data.train), len(checked.data.eval)) == (80, 20)
