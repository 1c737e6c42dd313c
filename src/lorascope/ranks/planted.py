"""A task whose answer is known by construction: a teacher that differs from the base model by
planted low-rank updates, and a student that learns to match it.

The teacher is a copy of a small random causal language model (Llama architecture) in which a few
chosen linear layers get a rank-k update; every other layer is unchanged. The task is to match
the teacher's next-token distributions on random token sequences (loss: KL divergence per
token). Which layers changed and by how much rank is known, so an allocation can be checked
against it, and LoRA with allocated ranks can be compared with uniform LoRA at the same budget.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from peft import get_peft_model
from transformers import LlamaConfig, LlamaForCausalLM

from lorascope.config import RanksConfig
from lorascope.models.layers import target_layers
from lorascope.ranks.analysis import analyze_layers, rank_config
from lorascope.ranks.pipeline import allocated_config
from lorascope.ranks.rank_config import RankConfig, peft_lora_config
from lorascope.ranks.spectrum import LayerSpectrum

TARGETS = ["q_proj", "v_proj", "up_proj", "down_proj"]
PLAN = {"model.layers.0.self_attn.q_proj": 16, "model.layers.1.mlp.up_proj": 16, "model.layers.3.self_attn.v_proj": 2}
VOCAB, LENGTH = 64, 16


def planted_model_config() -> LlamaConfig:
    """A 4-layer Llama, hidden size 64, with weights large enough (std 0.1) for changes to show."""
    return LlamaConfig(
        vocab_size=VOCAB,
        hidden_size=64,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=4,
        intermediate_size=128,
        initializer_range=0.1,
        pad_token_id=0,
    )


def plant(model: torch.nn.Module, plan: dict[str, int], seed: int, strength: float = 2.0) -> None:
    """Add to each planned layer a rank-k update U Vᵀ (orthonormal U, V) whose k equal singular
    values are ``strength`` times the layer's largest singular value."""
    rng = np.random.default_rng(seed)
    layers = dict(model.named_modules())
    with torch.no_grad():
        for name, rank in plan.items():
            weight = layers[name].weight
            u, _ = np.linalg.qr(rng.standard_normal((weight.shape[0], rank)))
            v, _ = np.linalg.qr(rng.standard_normal((weight.shape[1], rank)))
            scale = strength * float(torch.linalg.matrix_norm(weight, ord=2))
            weight += torch.from_numpy(scale * u @ v.T).to(weight.dtype)


def token_kl(model: torch.nn.Module, inputs: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
    """KL(teacher ‖ model) per token, averaged over sequences and positions."""
    log_q = torch.log_softmax(model(input_ids=inputs).logits, -1)
    log_p = torch.log_softmax(teacher_logits, -1)
    return F.kl_div(log_q, log_p, log_target=True, reduction="batchmean") / inputs.shape[1]


@dataclass
class PlantedTask:
    """Base model, teacher, and token sequences with the teacher's logits (train and eval)."""

    base: LlamaForCausalLM
    teacher: LlamaForCausalLM
    plan: dict[str, int]
    train_inputs: torch.Tensor
    train_logits: torch.Tensor
    eval_inputs: torch.Tensor
    eval_logits: torch.Tensor

    @classmethod
    def make(
        cls, seed: int, plan: dict[str, int] | None = None, train_size: int = 2000, eval_size: int = 500
    ) -> PlantedTask:
        torch.manual_seed(seed)
        base = LlamaForCausalLM(planted_model_config()).eval()
        teacher = copy.deepcopy(base)
        plan = dict(PLAN if plan is None else plan)
        plant(teacher, plan, seed)
        generator = torch.Generator().manual_seed(seed)
        inputs = torch.randint(5, VOCAB, (train_size + eval_size, LENGTH), generator=generator)
        with torch.no_grad():
            logits = teacher(input_ids=inputs).logits
        return cls(
            base, teacher, plan, inputs[:train_size], logits[:train_size], inputs[train_size:], logits[train_size:]
        )

    def layers(self, model: torch.nn.Module | None = None) -> dict[str, torch.nn.Module]:
        """The target layers (q, v, up and down projections) of ``model`` (default: the base)."""
        return target_layers(self.base if model is None else model, TARGETS)

    def train(self, model: torch.nn.Module, steps: int, lr: float, seed: int, examples: int | None = None):
        """Adam on the per-token KL to the teacher, batches of 32 drawn from the first ``examples``."""
        pool = self.train_inputs.shape[0] if examples is None else examples
        generator = torch.Generator().manual_seed(seed)
        optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr)
        model.train()
        for _ in range(steps):
            batch = torch.randint(0, pool, (32,), generator=generator)
            loss = token_kl(model, self.train_inputs[batch], self.train_logits[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        return model.eval()

    def eval_loss(self, model: torch.nn.Module) -> float:
        with torch.no_grad():
            return float(token_kl(model, self.eval_inputs, self.eval_logits))


@dataclass
class Trial:
    """One seed of the equal-budget comparison on a planted task."""

    plan: dict[str, int]
    raw: dict[str, int]  # r_global (or r_raw) per layer from the brief fine-tune's ΔW
    ranks: dict[str, int]  # allocated, at the budget of uniform rank budget_r
    eval_loss: dict[str, float]  # base, brief-full, uniform, svd-energy
    lora_params: dict[str, int]
    config: RankConfig  # the svd-energy rank config, with its evidence
    spectra: dict[str, LayerSpectrum]


def equal_budget_trial(
    seed: int,
    budget_r: int = 4,
    energy: float = 0.5,
    scope: str = "global",
    min_r: int = 1,
    max_r: int = 32,
    finetune_steps: int = 150,
    lora_steps: int = 300,
) -> Trial:
    """Brief full fine-tune → ΔW spectra → ranks at the budget of uniform rank ``budget_r``; then
    LoRA with those ranks and uniform LoRA, trained alike, scored by eval KL to the teacher."""
    settings = RanksConfig(energy=energy, energy_scope=scope, min_r=min_r, max_r=max_r, alpha_ratio=2.0)
    task = PlantedTask.make(seed)
    tuned = task.train(copy.deepcopy(task.base), finetune_steps, 1e-3, seed, examples=task.train_inputs.shape[0] // 2)
    before, after = task.layers(), task.layers(tuned)
    spectra = analyze_layers(
        list(before),
        lambda n: (before[n].weight.detach(), after[n].weight.detach()),
        settings.energy,
        settings.svd,
        settings.energy_scope,
    )
    checkpoints = {"base": f"planted seed {seed}"}
    allocated = allocated_config(
        settings, "svd-energy", checkpoints, spectra=spectra, budget_r=budget_r, targets=TARGETS
    )
    shapes = {name: s.shape for name, s in spectra.items()}
    configs = {
        "uniform": rank_config(
            "uniform", shapes, dict.fromkeys(shapes, budget_r), 2.0, allocated.settings, checkpoints
        ),
        "svd-energy": allocated,
    }
    losses = {"base": task.eval_loss(task.base), "brief-full": task.eval_loss(tuned)}
    params = {}
    for name, config in configs.items():
        torch.manual_seed(1000 + seed)
        model = get_peft_model(copy.deepcopy(task.base), peft_lora_config(config, lora_dropout=0.0))
        losses[name] = task.eval_loss(task.train(model, lora_steps, 3e-3, seed))
        params[name] = config.total_lora_params
    layers = allocated.layers
    raw = {n: layer.r_global if settings.energy_scope == "global" else layer.r_raw for n, layer in layers.items()}
    ranks = {n: layer.r for n, layer in layers.items()}
    return Trial(task.plan, raw, ranks, losses, params, allocated, spectra)
