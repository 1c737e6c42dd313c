"""The drift stage of a study: after the grid, every finished run is analysed against the base,
labelled by its variant, with base snapshots shared through the study's cache."""

import csv

import pytest

from lorascope.cli.main import main
from lorascope.config import parse_config
from lorascope.studies import load_study, run_study
from lorascope.studies.sanity import SanityConfig, sanity_config
from tests.conftest import tiny_run_config
from tests.studies.conftest import study_raw, write_study


@pytest.fixture(scope="module")
def drift_study(tmp_path_factory, mini_glue):
    folder = tmp_path_factory.mktemp("drift-study")
    raw = study_raw(mini_glue, grid={"task": ["sst2"], "seed": [0, 1]}, baselines=[])
    raw["base"]["drift"] = {"enabled": True, "every_steps": 4, "probe_size": 16}
    raw["drift"] = {"reference": "lora-r4", "intruders": True}
    study = load_study(write_study(folder / "study.yaml", raw))
    lines = []
    run_study(study, folder / "out", echo=lines.append)
    return study, folder / "out", lines


@pytest.mark.slow  # shares a study of eight runs with drift (about 20 s)
def test_the_stage_analyses_every_run_by_variant_against_the_chosen_reference(drift_study):
    study, out, lines = drift_study
    rows = list(csv.DictReader((out / "drift" / "drift.csv").open()))
    assert {r["method"] for r in rows} == {"full", "lora-r4"}
    assert {r["run"] for r in rows} == {run.folder.split("/")[1] for run in study.of_kind("run")}
    assert {r["step"] for r in rows} >= {"0", "4", "8", "final"} and any(r["measure"] == "intruders@0.5" for r in rows)
    [comparison] = list(csv.DictReader((out / "drift" / "drift_comparison.csv").open()))[:1]
    assert comparison["reference"] == "lora-r4" and comparison["method"] == "full"
    assert comparison["runs_reference"] == comparison["runs_method"] == "2"
    assert any(line.startswith("drift: 4 runs against the base model") for line in lines)
    assert any("sst2: full vs lora-r4, drift: " in line for line in lines)
    assert (out / "drift" / "drift_heatmap_lora-r4.png").is_file()


@pytest.mark.slow  # shares a study of eight runs with drift (about 20 s)
def test_runs_of_one_seed_share_the_cached_base_snapshot(drift_study):
    study, out, _ = drift_study
    cached = {p.read_bytes() for p in (out / "drift" / "base-cache").iterdir()}
    assert len(cached) == 2  # tiny-bert's random weights depend on the seed: one base per seed
    for run in study.of_kind("run"):
        assert (out / run.folder / "drift" / "step-000000.safetensors").read_bytes() in cached


@pytest.mark.slow  # shares a study of eight runs with drift (about 20 s)
def test_the_drift_command_takes_a_study_folder(drift_study, tmp_path, capsys):
    _, out, _ = drift_study
    assert main(["drift", str(out), "--out", str(tmp_path / "again"), "--no-intruders"]) == 0
    rows = list(csv.DictReader((tmp_path / "again" / "drift.csv").open()))
    assert {r["method"] for r in rows} == {"full", "lora-r4"} and len({r["run"] for r in rows}) == 4
    assert "sst2: lora-r4 vs full, drift: " in capsys.readouterr().out


def test_sanity_checks_take_no_snapshots():
    cfg = parse_config(tiny_run_config(drift__enabled=True)).resolved()
    assert not sanity_config(cfg, SanityConfig()).drift.enabled
