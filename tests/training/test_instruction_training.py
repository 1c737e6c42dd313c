"""Instruction tuning through a run, a study, tuning and the statistics: every method, lower is better."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

from lorascope.config import parse_config
from lorascope.records import RunFolder
from lorascope.stats.hypotheses import HypothesesConfig, Hypothesis, evaluate
from lorascope.stats.inference import non_inferiority
from lorascope.training.run import run_training
from tests.conftest import with_changes

ALPACA = Path(__file__).resolve().parents[3] / "shared" / "data" / "alpaca"
TEMPLATE = "{instruction} {input} => {response}"


def instruction_config(**overrides) -> dict:
    raw = {
        "model": "tiny-llama",
        "task": "synthetic_instruction",
        "method": "lora",
        "seed": 3,
        "data": {"synthetic_size": 96},
        "instruction": {"template": TEMPLATE, "generate": 4, "max_new_tokens": 8, "bootstrap": 200},
        "train": {"epochs": 1, "batch_size": 16, "max_length": 48, "logging_steps": 5, "learning_rate": 3e-3},
    }
    return with_changes(raw, overrides)


@pytest.mark.parametrize(
    "overrides",
    [
        {"model": "tiny-gpt2", "lora__target_modules": ["c_attn", "c_proj"]},
        {"method": "full", "instruction__packing": True},
        {"method": "adalora"},
        {"instruction__loss_on": "all", "speed__padding_free": False},
    ],
    ids=["gpt2-lora", "llama-full-packed", "llama-adalora", "loss-on-all"],
)
def test_a_run_writes_exact_perplexities_generations_and_its_settings(tmp_path, overrides):
    cfg = parse_config(instruction_config(**overrides), source="test").resolved()
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*fan_in_fan_out.*")  # set for Conv1D, not corrected by PEFT
        results = run_training(cfg, tmp_path / "run")
    m = results.metrics
    assert results.main_metric == "response_perplexity" and results.lower()
    assert m["response_perplexity_low"] <= m["response_perplexity"] <= m["response_perplexity_high"]
    assert 1 < m["response_perplexity"] < 400 and 0 <= m["stop_rate"] <= 1
    assert results.task_settings["loss_on"] == cfg.instruction.loss_on
    folder = RunFolder(tmp_path / "run")
    generations = json.loads(folder.output("generations.json").read_text(encoding="utf-8"))
    assert len(generations) == 4 and all(g["prompt"].endswith("=> ") for g in generations)
    lines = [json.loads(x) for x in folder.predictions.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == results.eval_examples and sum(x["prediction"] is not None for x in lines) == 4
    assert sum(x["response_tokens"] for x in lines) == m["response_tokens"]


def test_the_best_checkpoint_is_the_lowest_perplexity(tmp_path):
    raw = instruction_config(method="full", train__epochs=3, train__learning_rate=1e-2, train__warmup_ratio=0.0)
    results = run_training(parse_config(raw, source="test").resolved(), tmp_path / "run")
    log = [json.loads(x) for x in RunFolder(tmp_path / "run").train_log.read_text(encoding="utf-8").splitlines()]
    scores = {x["step"]: x["eval_response_perplexity"] for x in log if "eval_response_perplexity" in x}
    assert len(scores) == 3
    assert results.best_checkpoint == f"checkpoint-{min(scores, key=scores.get)}"
    saved = json.loads((tmp_path / "run" / results.artifact / "config.json").read_text(encoding="utf-8"))
    assert saved["use_cache"] is True  # training's no-cache batches leave the model's own setting


def test_baselines_are_refused_for_instruction_data():
    from lorascope.errors import LorascopeError

    with pytest.raises(LorascopeError, match="method majority.*has none"):
        parse_config(instruction_config(method="majority"), source="study.yaml")


def test_lower_is_better_turns_non_inferiority_round():
    reference = [10.0, 10.2, 9.9, 10.1, 10.0]
    better = [9.0, 9.1, 8.9, 9.2, 9.0]  # lower perplexity
    worse = [12.0, 12.3, 11.8, 12.1, 12.2]
    assert non_inferiority(better, reference, 0.03, lower_is_better=True).holds
    assert not non_inferiority(worse, reference, 0.03, lower_is_better=True).holds
    assert non_inferiority(worse, reference, 0.03).holds  # read as higher-is-better, the claim would flip
    values = {"synthetic_instruction": {"lora": dict(enumerate(better)), "full": dict(enumerate(reference))}}
    settings = HypothesesConfig(
        claims=[Hypothesis(kind="non-inferiority", treatment="lora", reference="full", margin=0.03)]
    )
    rows = evaluate(settings, lambda h: values, lambda h, task: True)
    assert rows[0]["holds"] and "≤ 103%" in rows[0]["claim"]


def test_tuning_minimises_perplexity(tmp_path):
    from lorascope.studies.spec import study_from_mapping
    from lorascope.tuning.search import run_tuning

    raw = {
        "name": "tune-instruction",
        "base": instruction_config(method="full"),
        "grid": {"seed": [0]},
        "methods": {"full": {"method": "full"}},
        "baselines": [],
        "sanity": {"mode": "off"},
        "tune": {
            "trials": 3,
            "holdout": 0.25,
            "sampler": {"n_startup_trials": 3},
            "spaces": {"full": {"train.learning_rate": {"choices": [1e-5, 3e-3, 1e-2]}}},
        },
    }
    outcome = run_tuning(study_from_mapping(raw, raw["name"]), tmp_path / "study", echo=lambda line: None)
    study = outcome.searches[0].study
    values = [t.value for t in study.get_trials(deepcopy=False)]
    assert study.direction.name == "MINIMIZE" and study.best_value == min(values) < max(values)


@pytest.mark.skipif(not ALPACA.is_dir(), reason="../shared/data/alpaca is absent")
def test_the_shared_alpaca_file_trains_with_a_holdout(tmp_path):
    """The torchtune copy (an extra ``text`` field) with one file: eval is held out of it."""
    raw = instruction_config(
        task="instruction",
        data={
            "train_file": str(ALPACA / "alpaca_tiny.first100.torchtune.json"),
            "eval_split": "holdout",
            "holdout": 16,
        },
        max_train_samples=48,
        instruction={"template": TEMPLATE, "generate": 2, "max_new_tokens": 4, "bootstrap": 200},
        train__max_length=512,
    )
    results = run_training(parse_config(raw, source="test").resolved(), tmp_path / "run")
    assert results.train_examples == 32 and results.eval_examples == 16
    assert results.metrics["response_tokens"] > 16


@pytest.mark.parametrize("pooling", ["mean", "last"])
def test_drift_snapshots_pool_over_the_response_tokens(tmp_path, pooling):
    import torch

    from lorascope.analysis.probes import load_snapshot, probe_batches
    from lorascope.data.tasks import load_task_data
    from lorascope.training.run import starting_model

    raw = instruction_config(method="full", drift={"enabled": True, "probe_size": 8, "pooling": pooling})
    cfg = parse_config(raw, source="test").resolved()
    run_training(cfg, tmp_path / "run")
    final = load_snapshot(RunFolder(tmp_path / "run").drift / "final.safetensors")
    assert all(rows.shape[0] == 8 for rows in final.values())
    data = load_task_data(cfg)
    model, tokenizer = starting_model(cfg, *_config_and_head(cfg))
    batch = probe_batches(cfg, data, tokenizer)[0]
    response = batch["pool_mask"].bool()
    assert (response <= batch["attention_mask"].bool()).all() and (
        response.sum(1) < batch["attention_mask"].sum(1)
    ).all()
    hidden = model(**{k: v for k, v in batch.items() if k != "pool_mask"}, output_hidden_states=True).hidden_states[-1]
    last = response.shape[1] - 1 - response.flip(1).int().argmax(1)
    expected = (
        (hidden * response[..., None]).sum(1) / response.sum(1, keepdim=True)
        if pooling == "mean"
        else hidden[torch.arange(8), last]
    )
    from lorascope.analysis.probes import hidden_states

    pooled = hidden_states(model, [batch], pooling)[f"layer.{len(final) - 1}"]
    assert torch.allclose(pooled.float(), expected.half().float(), atol=1e-2)


def _config_and_head(cfg):
    from lorascope.training.run import preflight

    checked = preflight(cfg)
    return checked.model_config, checked.data.task.head


@pytest.mark.parametrize("strategy", ["svd-energy", "fisher"])
def test_rank_strategies_allocate_from_instruction_data(tmp_path, strategy):
    raw = instruction_config(
        lora__strategy=strategy,
        lora__target_modules=["q_proj", "v_proj"],
        ranks={"finetune": {"max_steps": 4, "train_samples": 48}, "fisher_samples": 8, "min_r": 2, "max_r": 16},
    )
    results = run_training(parse_config(raw, source="test").resolved(), tmp_path / "run")
    ranks = json.loads((tmp_path / "run" / "ranks" / "lora_rank_config.json").read_text(encoding="utf-8"))
    assert results.rank_strategy == strategy and len(ranks["layers"]) == 4


def test_an_instruction_adapter_is_exported_and_served_on_its_base(tmp_path, capsys):
    """A LoRA run on a saved decoder: serve-export finds nothing vLLM objects to (no task head),
    its merged model answers as the adapter does, and serve-bench serves the adapter."""
    import csv

    import torch
    from transformers import AutoModelForCausalLM

    from lorascope.analysis.run_models import RunModels
    from lorascope.cli.main import main
    from lorascope.models.tiny import tiny_config_and_tokenizer

    config, tokenizer = tiny_config_and_tokenizer("tiny-llama")
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(config).save_pretrained(tmp_path / "base")
    tokenizer.save_pretrained(tmp_path / "base")
    run = tmp_path / "run"
    run_training(parse_config(instruction_config(model=str(tmp_path / "base")), source="test").resolved(), run)

    assert main(["serve-export", str(run), "--out", str(tmp_path / "export"), "--merged"]) == 0
    [record] = json.loads((tmp_path / "export" / "exported.json").read_text(encoding="utf-8"))
    assert record["vllm_problems"] == []
    merged = AutoModelForCausalLM.from_pretrained(record["merged"]).eval()
    ids = torch.randint(10, 200, (2, 12), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        tuned = RunModels(run).tuned().eval()(input_ids=ids).logits
        torch.testing.assert_close(merged(input_ids=ids).logits, tuned)
        assert not torch.allclose(AutoModelForCausalLM.from_pretrained(tmp_path / "base")(input_ids=ids).logits, tuned)

    workload = {
        "base": str(tmp_path / "base"),
        "adapters": [{"name": "instruction", "path": record["adapter"]}],
        "prompts": {"count": 2, "input_tokens": 8, "output_tokens": 4},
        "batch_sizes": [2],
        "repetitions": 1,
        "warmup": 0,
    }
    (tmp_path / "w.yaml").write_text(json.dumps(workload), encoding="utf-8")
    assert main(["serve-bench", str(tmp_path / "w.yaml"), "--out", str(tmp_path / "bench")]) == 0
    rows = list(csv.DictReader((tmp_path / "bench" / "results.csv").open(encoding="utf-8")))
    assert {r["mode"] for r in rows} == {"adapters", "merged", "base"} and all(float(r["requests"]) == 2 for r in rows)
