"""AdaLoRA runs: PEFT's allocator is driven every step and prunes to an average rank of lora.r."""

import json
import math

import torch
from transformers import TrainerCallback

from lorascope.config import parse_config
from lorascope.methods.adalora import planned_steps, schedule
from lorascope.training import run_training
from tests.conftest import tiny_run_config


class StepRecorder(TrainerCallback):
    """The steps the Trainer took and the number of kept AdaLoRA triplets after each."""

    def __init__(self):
        self.kept: list[int] = []

    def on_step_end(self, args, state, control, model=None, **kwargs):
        masks = [p for n, p in model.named_parameters() if "lora_E" in n]
        self.kept.append(int(sum((m != 0).sum() for m in masks)))


def test_adalora_prunes_to_the_target_budget(tmp_path):
    cfg = parse_config(tiny_run_config(method="adalora", lora__r=2, adalora__delta_t=2, train__epochs=2)).resolved()
    recorder = StepRecorder()
    results = run_training(cfg, tmp_path / "run", callbacks=[recorder])
    layers, init_r = 4, math.ceil(1.5 * 2)
    assert max(recorder.kept[:4]) == layers * init_r  # nothing pruned at first (step 1 has lr 0: warmup)
    assert recorder.kept[-1] == layers * 2  # the final budget: an average rank of lora.r
    saved = json.loads((tmp_path / "run" / "adapter" / "adapter_config.json").read_text())
    assert saved["peft_type"] == "ADALORA" and saved["total_step"] == results.steps == len(recorder.kept)
    assert sum(sum(mask) for mask in saved["rank_pattern"].values()) == layers * 2
    assert results.lora_params == layers * 2 * (64 + 64) and results.rank_strategy == "adalora"
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_planned_steps_and_the_schedule_in_steps():
    cfg = parse_config(tiny_run_config(method="adalora", train__epochs=2, train__batch_size=16)).resolved()
    assert planned_steps(cfg, 320) == 40 and planned_steps(cfg, 321) == 42
    assert schedule(cfg, 40) == (4, 8) and schedule(cfg, 3) == (0, 0)


def test_adalora_counts_its_kept_parameters():
    from peft import AdaLoraConfig, get_peft_model

    from lorascope.methods.lora import adapter_parameters

    model = torch.nn.Sequential(torch.nn.Linear(8, 6), torch.nn.ReLU(), torch.nn.Linear(6, 4))
    config = AdaLoraConfig(init_r=3, target_r=2, total_step=10, tinit=1, tfinal=1, target_modules=["0", "2"])
    peft_model = get_peft_model(model, config)
    assert adapter_parameters(peft_model) == 3 * (8 + 6) + 3 * (6 + 4)  # before allocation: init_r everywhere
    names = [n for n, _ in peft_model.base_model.model.named_parameters() if "lora_E" in n]
    peft_model.peft_config["default"].rank_pattern = {names[0]: [True, False, False], names[1]: [True, True, False]}
    assert adapter_parameters(peft_model) == 1 * (8 + 6) + 2 * (6 + 4)
