"""LoRA through PEFT: per-family default targets, a pre-flight check of module names."""

from __future__ import annotations

import torch
from peft import LoraConfig as PeftLoraConfig
from peft import PeftModel, TaskType, get_peft_model
from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING
from transformers.pytorch_utils import Conv1D

from lorascope.config import LoraConfig
from lorascope.errors import LorascopeError
from lorascope.methods.base import MethodContext, MethodHooks
from lorascope.models.layers import is_adaptable, matching, target_layers
from lorascope.models.loading import HEAD_MODULES
from lorascope.models.qa import CLASSIFIER
from lorascope.ranks.rank_config import RankConfig, peft_lora_config

# PEFT's table, plus families it leaves out.
EXTRA_DEFAULT_TARGETS = {"distilbert": ["q_lin", "v_lin"]}

HEAD_TASK_TYPES = {
    "sequence-classification": TaskType.SEQ_CLS,
    "question-answering": TaskType.QUESTION_ANS,
    "causal-lm": TaskType.CAUSAL_LM,
}


def linear_names(model: torch.nn.Module) -> list[str]:
    """Short names of every linear-like layer but the task head (QLoRA's targets)."""
    names = {n.rsplit(".", 1)[-1] for n, m in model.named_modules() if n and is_adaptable(m)}
    heads = {n.rsplit(".", 1)[-1] for n, _ in model.named_modules() if n.split(".", 1)[0] in HEAD_MODULES}
    return sorted(names - heads)


def saved_modules(model: torch.nn.Module, fully_trained: list[str] | None) -> list[str] | None:
    """PEFT ``modules_to_save``: the base modules trained in full, and head modules PEFT does not add
    itself (its QA wrapper adds ``qa_outputs``, not the answerability classifier)."""
    names = list(fully_trained or []) + ([CLASSIFIER] if hasattr(model, CLASSIFIER) else [])
    return names or None


def fan_in_fan_out(model: torch.nn.Module, targets: list[str]) -> bool:
    """Whether the targets are transformers' ``Conv1D`` layers (GPT-2's ``c_attn``, ``c_proj``), whose
    weight is stored (in, out): PEFT's ``fan_in_fan_out``, set here rather than corrected with a warning."""
    return any(isinstance(m, Conv1D) for m in target_layers(model, targets).values())


def adaptable_names(model: torch.nn.Module) -> list[str]:
    """Short names of the linear-like layers LoRA can adapt (for error messages)."""
    return sorted(
        {
            n.rsplit(".", 1)[-1]
            for n, m in model.named_modules()
            if n and (is_adaptable(m) or isinstance(m, torch.nn.Embedding))
        }
    )


def resolve_targets(model: torch.nn.Module, cfg: LoraConfig, all_linear: bool = False) -> list[str]:
    """The configured targets, or the default (every linear layer but the head with ``all_linear``,
    else the family's); every target must name a module of the model."""
    model_type = getattr(getattr(model, "config", None), "model_type", None)
    targets = cfg.target_modules
    if targets is None and all_linear:
        targets = linear_names(model)
    if targets is None:
        targets = TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING.get(model_type) or EXTRA_DEFAULT_TARGETS.get(
            model_type
        )
        if targets is None:
            raise LorascopeError(
                f"lora.target_modules: no default for model type '{model_type}'; "
                f"name them (layers here: {', '.join(adaptable_names(model))})"
            )
    names = [n for n, _ in model.named_modules()]
    for target in targets:
        if not matching(names, target):
            raise LorascopeError(
                f"lora.target_modules: '{target}' matches no module of this {model_type} model "
                f"(layers here: {', '.join(adaptable_names(model))})"
            )
    return list(targets)


def apply_lora(
    model: torch.nn.Module,
    cfg: LoraConfig,
    targets: list[str],
    head: str,
    fully_trained: list[str] | None = None,
    rank_config: RankConfig | None = None,
) -> PeftModel:
    """Wrap ``model`` with LoRA adapters: rank ``cfg.r`` on every target, or each layer's r and
    alpha from a ``rank_config``.

    The task head and the ``fully_trained`` base modules (scheduled unfreezing) become PEFT
    ``modules_to_save``: trainable copies that are saved with the adapter and its checkpoints.
    """
    common = {
        "task_type": HEAD_TASK_TYPES[head],
        "lora_dropout": cfg.dropout,
        "use_rslora": cfg.use_rslora,
        "bias": cfg.bias,
        "modules_to_save": saved_modules(model, fully_trained),
        "fan_in_fan_out": fan_in_fan_out(model, targets),
    }
    if rank_config is not None:
        return get_peft_model(model, peft_lora_config(rank_config, **common))
    peft_config = PeftLoraConfig(r=cfg.r, lora_alpha=cfg.alpha, target_modules=targets, **common)
    return get_peft_model(model, peft_config)


def adapter_parameters(model: torch.nn.Module) -> int:
    """LoRA parameters the adapters use: Σ r · (in + out) over adapted layers. An AdaLoRA layer
    counts the ranks its last allocation kept (``init_r`` before the first allocation)."""
    patterns = {
        adapter: getattr(config, "rank_pattern", None) or {}
        for adapter, config in getattr(model, "peft_config", {}).items()
    }
    total = 0
    for name, module in model.named_modules():
        lora_a, lora_e = getattr(module, "lora_A", None), getattr(module, "lora_E", None)
        for adapter in getattr(module, "active_adapters", []) if lora_a is not None else []:
            if isinstance(lora_e, torch.nn.ParameterDict) and adapter in lora_e:  # AdaLoRA: ΔW = P Λ Q
                inner = name.removeprefix("base_model.model.")
                mask = next((m for k, m in patterns.get(adapter, {}).items() if k.startswith(f"{inner}.lora_E")), None)
                rank = sum(mask) if mask is not None else lora_e[adapter].shape[0]
                total += rank * (lora_a[adapter].shape[1] + module.lora_B[adapter].shape[0])
            elif isinstance(lora_a, torch.nn.ModuleDict) and adapter in lora_a:
                total += lora_a[adapter].weight.numel() + module.lora_B[adapter].weight.numel()
    return total


def lora_factors(model: torch.nn.Module) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    """(module name, A, B) for every active LoRA adapter: ΔW = scale · B @ A."""
    factors = []
    for name, module in model.named_modules():
        lora_a = getattr(module, "lora_A", None)
        if not isinstance(lora_a, torch.nn.ModuleDict):
            continue
        for adapter in module.active_adapters:
            if adapter in lora_a:
                factors.append((name, lora_a[adapter].weight, module.lora_B[adapter].weight))
    return factors


class LoraHooks(MethodHooks):
    """``method: lora``: PEFT LoRA on the targets, uniform rank or per-layer ranks."""

    def prepare(self, model: torch.nn.Module, ctx: MethodContext) -> tuple[torch.nn.Module, list]:
        wrapped = apply_lora(model, ctx.cfg.lora, ctx.targets or [], ctx.head, ctx.unfreeze_modules, ctx.ranks)
        return wrapped, []

    def lora_penalty(self, cfg) -> float:
        return cfg.lora.penalty

    def rank_strategy(self, cfg) -> str | None:
        return "file" if cfg.lora.rank_config is not None else cfg.lora.strategy

    def adapter_parameters(self, model: torch.nn.Module) -> int | None:
        return adapter_parameters(model)
