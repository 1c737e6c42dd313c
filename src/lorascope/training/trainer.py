"""The HF Trainer with the LoRA penalty in the loss and room for scheduled parameters."""

from __future__ import annotations

import math

import torch
from transformers import Trainer

from lorascope.methods.penalty import lora_norm_squared


class LorascopeTrainer(Trainer):
    """``Trainer`` plus λ·Σ‖B A‖²_F on training batches and an optimizer that holds frozen-for-now params."""

    def __init__(self, *args, lora_penalty: float = 0.0, scheduled_params: tuple[torch.nn.Parameter, ...] = (), **kw):
        super().__init__(*args, **kw)
        self.lora_penalty = lora_penalty
        self.scheduled_params = scheduled_params
        self._penalty_sum = 0.0
        self._penalty_count = 0

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        loss, outputs = super().compute_loss(model, inputs, return_outputs=True, num_items_in_batch=num_items_in_batch)
        if self.lora_penalty > 0 and model.training:
            penalty = lora_norm_squared(model)
            loss = loss + self.lora_penalty * penalty.to(loss.dtype)
            self._penalty_sum += float(penalty.detach())
            self._penalty_count += 1
        return (loss, outputs) if return_outputs else loss

    def create_optimizer(self, model=None):
        """Build the optimizer with the scheduled parameters included (they get gradients later)."""
        states = [p.requires_grad for p in self.scheduled_params]
        for p in self.scheduled_params:
            p.requires_grad_(True)
        try:
            return super().create_optimizer(model)
        finally:
            for p, state in zip(self.scheduled_params, states, strict=True):
                p.requires_grad_(state)

    def log(self, logs: dict[str, float], *args, **kwargs) -> None:
        if self._penalty_count and "loss" in logs:
            logs["lora_norm_sq"] = self._penalty_sum / self._penalty_count
            self._penalty_sum, self._penalty_count = 0.0, 0
        super().log(logs, *args, **kwargs)


def selection_metrics(task, eval_set):
    """``compute_metrics`` for the Trainer on ``eval_set``: undefined correlations count as 0 when
    picking checkpoints."""

    def compute(eval_prediction) -> dict[str, float]:
        scores = task.selection_scores(eval_prediction.predictions, eval_prediction.label_ids, eval_set)
        return {k: 0.0 if math.isnan(v) else v for k, v in scores.items()}

    return compute
