"""AdaLoRA through PEFT: ranks start at ``init_r`` and are pruned during training to an average
of ``lora.r`` per layer, with ``update_and_allocate`` called after every optimizer step."""

from __future__ import annotations

import math

import torch
from peft import AdaLoraConfig as PeftAdaLoraConfig
from peft import PeftModel, get_peft_model
from transformers import TrainerCallback

from lorascope.config import RunConfig
from lorascope.methods.base import MethodContext, MethodHooks
from lorascope.methods.lora import HEAD_TASK_TYPES, adapter_parameters, fan_in_fan_out, saved_modules


def planned_steps(cfg: RunConfig, train_examples: int) -> int:
    """Optimizer steps the Trainer will take: ``train.max_steps``, or epochs × updates per epoch."""
    t = cfg.train
    if t.max_steps:
        return t.max_steps
    per_epoch = max(math.ceil(train_examples / t.batch_size) // t.gradient_accumulation_steps, 1)
    return math.ceil(t.epochs * per_epoch)


def schedule(cfg: RunConfig, total_steps: int) -> tuple[int, int]:
    """(tinit, tfinal) in steps: their shares of ``total_steps``, rounded down (the config keeps
    tinit + tfinal below 1, so steps remain for reallocating)."""
    return int(cfg.adalora.tinit * total_steps), int(cfg.adalora.tfinal * total_steps)


def init_rank(cfg: RunConfig) -> int:
    return cfg.adalora.init_r or math.ceil(1.5 * cfg.lora.r)


def apply_adalora(
    model: torch.nn.Module,
    cfg: RunConfig,
    targets: list[str],
    head: str,
    total_steps: int,
    fully_trained: list[str] | None = None,
) -> PeftModel:
    """Wrap ``model`` with AdaLoRA adapters on ``targets``; the average final rank is ``lora.r``."""
    tinit, tfinal = schedule(cfg, total_steps)
    ada = cfg.adalora
    peft_config = PeftAdaLoraConfig(
        task_type=HEAD_TASK_TYPES[head],
        fan_in_fan_out=fan_in_fan_out(model, targets),
        init_r=init_rank(cfg),
        target_r=cfg.lora.r,
        tinit=tinit,
        tfinal=tfinal,
        deltaT=ada.delta_t,
        beta1=ada.beta1,
        beta2=ada.beta2,
        orth_reg_weight=ada.orth_reg_weight,
        total_step=total_steps,
        lora_alpha=cfg.lora.alpha,
        lora_dropout=cfg.lora.dropout,
        target_modules=targets,
        modules_to_save=saved_modules(model, fully_trained),
    )
    return get_peft_model(model, peft_config)


class AdaLoraAllocation(TrainerCallback):
    """Calls PEFT's ``update_and_allocate`` after each optimizer step, while the gradients still
    exist; the schedule is fixed to the Trainer's own step count when training begins."""

    def __init__(self, cfg: RunConfig) -> None:
        self.cfg = cfg

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        config = model.peft_config[model.active_adapter]
        config.total_step = state.max_steps
        config.tinit, config.tfinal = schedule(self.cfg, state.max_steps)

    def on_optimizer_step(self, args, state, control, model=None, **kwargs):
        model.base_model.update_and_allocate(state.global_step)


class AdaLoraHooks(MethodHooks):
    """``method: adalora``: PEFT's AdaLoRA, its budget reallocated after every optimizer step."""

    def prepare(self, model: torch.nn.Module, ctx: MethodContext) -> tuple[torch.nn.Module, list]:
        steps = planned_steps(ctx.cfg, ctx.train_examples)
        wrapped = apply_adalora(model, ctx.cfg, ctx.targets or [], ctx.head, steps, ctx.unfreeze_modules)
        return wrapped, [AdaLoraAllocation(ctx.cfg)]

    def rank_strategy(self, cfg) -> str | None:
        return "adalora"

    def adapter_parameters(self, model: torch.nn.Module) -> int | None:
        return adapter_parameters(model)
