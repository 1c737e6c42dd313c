"""Rank strategies inside runs: svd-energy, fisher and uniform allocate, LoRA trains with the result."""

import json

import pytest
from safetensors import safe_open

from lorascope.cli.main import main
from lorascope.config import parse_config
from lorascope.errors import LorascopeError
from lorascope.ranks.allocation import lora_parameters
from lorascope.ranks.strategies import STRATEGIES, allocate_ranks, brief_finetune_config
from lorascope.training import preflight, run_training
from tests.conftest import tiny_run_config

LAYERS = [f"bert.encoder.layer.{i}.attention.self.{kind}" for i in (0, 1) for kind in ("query", "value")]


def strategy_config(strategy: str, **changes):
    raw = tiny_run_config(
        lora__r=4,
        lora__strategy=strategy,
        ranks__min_r=1,
        ranks__max_r=12,
        ranks__finetune__max_steps=12,
        ranks__fisher_samples=16,
        train__epochs=1,
        **changes,
    )
    return parse_config(raw).resolved()


def adapter_ranks(folder) -> dict[str, int]:
    """Rank of every LoRA A matrix saved in an adapter folder, by module name."""
    ranks = {}
    with safe_open(folder / "adapter_model.safetensors", framework="pt") as handle:
        for key in handle.keys():  # noqa: SIM118 (a safetensors handle is not iterable)
            if key.endswith("lora_A.weight"):
                name = key.removeprefix("base_model.model.").removesuffix(".lora_A.weight")
                ranks[name] = handle.get_slice(key).get_shape()[0]
    return ranks


def test_the_registry_names_every_strategy():
    assert set(STRATEGIES) == {"uniform", "svd-energy", "fisher"}


@pytest.mark.parametrize("strategy", ["svd-energy", "fisher"])
def test_a_run_allocates_its_ranks_and_trains_with_them(tmp_path, strategy):
    cfg = strategy_config(strategy, ranks__save_delta=["layer.0.attention.self.query"])
    results = run_training(cfg, tmp_path / "run")
    folder = tmp_path / "run" / "ranks"
    config = json.loads((folder / "lora_rank_config.json").read_text())
    ranks = {name: layer["r"] for name, layer in config["layers"].items()}
    assert list(ranks) == LAYERS and config["strategy"] == strategy
    assert all(1 <= r <= 12 for r in ranks.values())
    budget = sum(lora_parameters(4, (64, 64)) for _ in LAYERS)
    assert config["total_lora_params"] <= budget and config["settings"]["budget_r"] == 4
    assert adapter_ranks(tmp_path / "run" / "adapter") == ranks  # the trained adapter has the allocated shapes
    assert results.lora_params == config["total_lora_params"] and results.rank_strategy == strategy
    if strategy == "svd-energy":
        brief = json.loads((folder / "finetune" / "results.json").read_text())
        assert brief["method"] == "full" and brief["steps"] == 12
        assert (folder / "finetune" / "model" / "model.safetensors").is_file()
        layer = config["layers"][LAYERS[0]]
        assert layer["r_raw"] >= 1 and layer["r_global"] is not None and len(layer["singular_values"]) <= 16
        with safe_open(folder / "svd" / "delta.safetensors", framework="pt") as handle:
            assert list(handle.keys()) == [LAYERS[0]] and handle.get_slice(LAYERS[0]).get_shape() == [64, 64]
        assert (folder / "svd" / "decay.png").is_file() and (folder / "svd" / "r_raw_heatmap.png").is_file()
    else:
        shares = [layer["importance"] for layer in config["layers"].values()]
        assert sum(shares) == pytest.approx(1.0) and (folder / "fisher" / "importance_heatmap.png").is_file()


def test_an_allocation_already_made_is_reused(tmp_path):
    cfg = strategy_config("fisher")
    checked = preflight(cfg)
    folder = tmp_path / "ranks"
    first = allocate_ranks(cfg, folder, checked.data, checked.lora_targets, checked.model_config)
    stamp = first.stat().st_mtime_ns
    again = allocate_ranks(cfg, folder, checked.data, checked.lora_targets, checked.model_config)
    assert again == first and again.stat().st_mtime_ns == stamp


def test_the_brief_finetune_is_a_short_full_run_on_a_subset():
    cfg = strategy_config("svd-energy", max_train_samples=300, ranks__finetune__train_samples=100)
    brief = brief_finetune_config(cfg)
    assert (brief.method, brief.max_train_samples, brief.train.max_steps) == ("full", 100, 12)
    assert brief.train.learning_rate == cfg.ranks.finetune.learning_rate and brief.train.weight_decay == 0.01
    assert (brief.model, brief.task, brief.seed, brief.data) == (cfg.model, cfg.task, cfg.seed, cfg.data)


def test_a_run_with_a_rank_config_file_uses_and_records_it(tmp_path):
    first = run_training(strategy_config("fisher"), tmp_path / "first")
    path = tmp_path / "first" / "ranks" / "lora_rank_config.json"
    cfg = parse_config(tiny_run_config(lora__rank_config=str(path), train__epochs=1)).resolved()
    second = run_training(cfg, tmp_path / "second")
    saved = json.loads(path.read_text())
    assert json.loads((tmp_path / "second" / "lora_rank_config.json").read_text()) == saved
    assert adapter_ranks(tmp_path / "second" / "adapter") == {n: layer["r"] for n, layer in saved["layers"].items()}
    assert second.rank_strategy == "file" and second.lora_params == first.lora_params


def test_a_rank_config_that_does_not_fit_the_model_is_rejected_before_training(tmp_path):
    path = tmp_path / "lora_rank_config.json"
    layers = {name: {"r": 2, "alpha": 4.0} for name in LAYERS[:3]}  # layer 1's value has no entry
    path.write_text(json.dumps({"schema_version": 1, "strategy": "test", "layers": layers}))
    cfg = parse_config(tiny_run_config(lora__rank_config=str(path))).resolved()
    with pytest.raises(LorascopeError, match="target layer 'bert.encoder.layer.1.attention.self.value' has no entry"):
        preflight(cfg)
    layers["bert.encoder.layer.7.attention.self.query"] = {"r": 2, "alpha": 4.0}
    path.write_text(json.dumps({"schema_version": 1, "strategy": "test", "layers": layers}))
    with pytest.raises(LorascopeError, match="does not exist in this model"):
        preflight(cfg)


def test_the_ranks_command_allocates_from_a_run_config(tmp_path, capsys):
    config = tmp_path / "run.yaml"
    config.write_text(json.dumps(tiny_run_config(lora__r=4, lora__strategy="fisher", ranks__fisher_samples=16)))
    out = tmp_path / "ranks"
    assert main(["ranks", str(config), "ranks.min_r=2", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "importance" in printed and "strategy fisher" in printed
    saved = json.loads((out / "lora_rank_config.json").read_text())
    assert saved["settings"]["min_r"] == 2 and (out / "config.yaml").is_file()
    assert main(["ranks", str(config), "method=full"]) == 2
    assert "method lora" in capsys.readouterr().err
    assert main(["ranks"]) == 2
