"""Drift and intruders of finished runs: rebuilt models agree with the snapshots taken while
training, the base-model cache is shared by training and analysis, and runs trained without
snapshots are analysed from their weights."""

import csv

import pytest
import torch

from lorascope.analysis.drift import analyze_runs, run_drift
from lorascope.analysis.probes import BaseCache, load_snapshot
from lorascope.analysis.run_models import RunModels
from lorascope.cli.main import main
from lorascope.config import parse_config
from lorascope.errors import LorascopeError
from lorascope.training import run_training
from tests.conftest import tiny_run_config

DRIFT = {"drift__enabled": True, "drift__every_steps": 1000, "drift__probe_size": 24}


def train(folder, method: str, drift: bool = True, base_cache=None, **changes):
    raw = tiny_run_config(method=method, train__epochs=1, **(DRIFT if drift else {"drift__probe_size": 24}), **changes)
    if method == "full":
        raw["train"]["learning_rate"] = 1e-3
    run_training(parse_config(raw).resolved(), folder, base_cache=base_cache)
    return folder


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    cache = root / "cache"
    return {
        "lora": train(root / "lora", "lora", base_cache=cache),
        "full": train(root / "full", "full", base_cache=cache),
        "full-plain": train(root / "full-plain", "full", drift=False),
        "cache": cache,
    }


@pytest.mark.parametrize("method", ["lora", "full"])
def test_rebuilt_models_give_the_snapshots_taken_while_training(runs, method):
    models = RunModels(runs[method])
    recorded = {0: load_snapshot(runs[method] / "drift" / "step-000000.safetensors")}
    recorded["final"] = load_snapshot(runs[method] / "drift" / "final.safetensors")
    rebuilt = {0: models.base_states(None), "final": models.final_states()}  # LoRA: the adapter merged by PEFT
    for step in (0, "final"):
        assert sorted(rebuilt[step]) == sorted(recorded[step]) == [0, 1, 2]
        for layer, states in recorded[step].items():
            torch.testing.assert_close(rebuilt[step][layer].float(), states.float(), atol=2e-2, rtol=1e-2)
    assert not torch.equal(recorded[0][2], recorded["final"][2])  # training moved the last layer


def test_runs_of_one_model_and_probe_set_share_one_cached_base_snapshot(runs):
    [cached] = list(runs["cache"].iterdir())
    for method in ("lora", "full"):  # the first run stored it, the second copied it
        assert (runs[method] / "drift" / "step-000000.safetensors").read_bytes() == cached.read_bytes()


def test_a_run_without_snapshots_is_analysed_from_its_weights_with_the_cached_base(runs, monkeypatch):
    def no_base_model(*args, **kwargs):
        raise AssertionError("the base model was loaded although its snapshot is cached")

    monkeypatch.setattr("lorascope.analysis.run_models.starting_model", no_base_model)
    rows = analyze_runs([(runs["full-plain"], None)], runs["cache"], intruders=False)
    cka = {(r.layer, r.step): r.value for r in rows if r.measure == "drift_linear_cka"}
    assert set(cka) == {(layer, step) for layer in (0, 1, 2) for step in (0, "final")}
    assert cka[0, 0] == 0.0 and cka[2, "final"] > 0.0
    # the same seed and data as the full run with snapshots: the same training, so the same drift
    recorded = {
        r.layer: r.value for r in run_drift(runs["full"]) if r.step == "final" and r.measure == "drift_linear_cka"
    }
    assert cka[2, "final"] == pytest.approx(recorded[2], abs=1e-3)


def test_without_a_cache_the_base_snapshot_is_computed_and_the_cache_filled(runs, tmp_path):
    cache = tmp_path / "cache"
    rows = analyze_runs([(runs["full-plain"], "plain")], cache, intruders=True)
    assert [p.suffix for p in cache.iterdir()] == [".safetensors"] and {r.method for r in rows} == {"plain"}
    intruders = {r.layer: r.value for r in rows if r.measure == "intruders@0.9"}
    assert sorted(intruders) == [1, 2] and all(v >= 0 for v in intruders.values())
    key = next(iter(cache.iterdir())).stem
    assert BaseCache(runs["cache"]).path(key).is_file()  # the key the training runs used


def test_lora_adds_intruders_only_where_it_adapts(runs):
    from lorascope.analysis.intruders import model_intruders

    models = RunModels(runs["lora"])
    counts = model_intruders(models.base()[0], models.tuned(), epsilons=(0.5, 0.99))
    assert len(counts) == 12  # two tiny-bert blocks of six matrices
    moved = {name for name, (_, c) in counts.items() if c[0.99]}
    assert moved and all(name.endswith((".query", ".value")) for name in moved)  # LoRA's default targets
    rows = analyze_runs([(runs["lora"], None)], intruders=True, epsilons=(0.5, 0.99))
    per_layer = {r.layer: r.value for r in rows if r.measure == "intruders@0.99"}
    assert per_layer == {layer: sum(c[0.99] for lay, c in counts.values() if lay == layer) for layer in (1, 2)}
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        model_intruders(models.base()[0], models.tuned(), epsilons=(1.5,))


def test_the_drift_command_analyses_runs_with_and_without_snapshots(runs, tmp_path, capsys):
    out = tmp_path / "out"
    folders = [str(runs[m]) for m in ("lora", "full", "full-plain")]
    assert main(["drift", *folders, "--out", str(out), "--base-cache", str(runs["cache"]), "--no-intruders"]) == 0
    rows = list(csv.DictReader((out / "drift.csv").open()))
    assert {r["run"] for r in rows} == {"lora", "full", "full-plain"}
    assert not any(r["measure"].startswith("intruders") for r in rows)
    printed = capsys.readouterr().out
    assert "synthetic: lora vs full, drift: " in printed and "full: mean drift of the final model" in printed


def test_a_run_that_kept_no_model_cannot_be_analysed_from_its_weights(tmp_path):
    run = train(tmp_path / "run", "lora", drift=False, train__save_model=False)
    with pytest.raises(LorascopeError, match="kept no model"):
        analyze_runs([(run, None)])


def test_an_adalora_run_is_rebuilt_with_its_pruned_ranks(tmp_path):
    run = train(tmp_path / "adalora", "adalora")
    models = RunModels(run)
    recorded = load_snapshot(run / "drift" / "final.safetensors")
    rebuilt = models.final_states()
    for layer, states in recorded.items():
        torch.testing.assert_close(rebuilt[layer].float(), states.float(), atol=2e-2, rtol=1e-2)
