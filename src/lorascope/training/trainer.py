"""The HF Trainer with the LoRA penalty in the loss, the causal-LM loss from labelled rows, and room for
scheduled parameters."""

from __future__ import annotations

import math

import torch
from transformers import Trainer

from lorascope.data.sampling import LengthBuckets, length_slices
from lorascope.methods.penalty import lora_norm_squared
from lorascope.training.lm_loss import SupervisedLogitsLoss

SEQUENCE_INPUTS = ("input_ids", "attention_mask", "token_type_ids", "position_ids")
# What one more slice costs, in padded tokens of compute (speed.slice_batches): measured on MiniLM
# (width 384) LoRA steps on a CPU, where a pass costs about a fixed part (per operation) plus a part
# per token (per operation, as the width squared) (docs/speed.md).
SLICE_OVERHEAD_TOKENS = 100.0
SLICE_CALIBRATION_WIDTH = 384


def slice_overhead(config) -> float:
    """The cost of one more slice, in tokens, for a model of ``config``'s width on a CPU: a narrower
    model's tokens are cheaper against the same fixed cost (tiny-bert's, width 64: 3,600 tokens, so
    its batches stay whole). 0 (no slicing) on a GPU, where a short batch's pass costs its kernel
    launches more than its tokens, until it is measured there (bench/gpu_check.sh)."""
    if torch.cuda.is_available():
        return 0.0
    return SLICE_OVERHEAD_TOKENS * (SLICE_CALIBRATION_WIDTH / config.hidden_size) ** 2


class LorascopeTrainer(Trainer):
    """``Trainer`` plus λ·Σ‖B A‖²_F on training batches, an optimizer that holds frozen-for-now params,
    the causal-LM loss from labelled rows, length-bucketed training batches, and padded batches
    computed in length-sorted slices (``slice_overhead``: see ``training_step``)."""

    def __init__(
        self,
        *args,
        lora_penalty: float = 0.0,
        scheduled_params: tuple[torch.nn.Parameter, ...] = (),
        lm_loss: SupervisedLogitsLoss | None = None,
        length_groups: int = 0,
        slice_overhead: float = 0.0,
        **kw,
    ):
        super().__init__(*args, **kw)
        self.lora_penalty = lora_penalty
        self.scheduled_params = scheduled_params
        self.lm_loss = lm_loss
        self.length_groups = length_groups
        self.slice_overhead = slice_overhead
        self._loss_share = 1.0
        self._penalty_sum = 0.0
        self._penalty_count = 0

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        found = None
        if self.lm_loss is not None and model.training and "labels" in inputs:  # evaluations want every logit
            found = self.lm_loss(model, inputs, num_items_in_batch if self.model_accepts_loss_kwargs else None)
        if found is None:
            found = super().compute_loss(model, inputs, return_outputs=True, num_items_in_batch=num_items_in_batch)
        loss, outputs = found
        if self.lora_penalty > 0 and model.training:
            penalty = lora_norm_squared(model)
            loss = loss + self.lora_penalty * penalty.to(loss.dtype)
            self._penalty_sum += float(penalty.detach())
            self._penalty_count += 1
        if self._loss_share != 1.0:
            loss = loss * self._loss_share
        return (loss, outputs) if return_outputs else loss

    def training_step(self, model, inputs, num_items_in_batch=None):
        """With ``slice_overhead`` (speed.slice_batches), a right-padded batch of per-example losses is
        computed as slices of similar lengths (``length_slices``), each padded only to its own longest:
        each slice's mean loss weighted by its share of the batch, the gradients summed, so the batch
        and its gradient are the unsliced ones up to rounding and dropout's draws."""
        parts = self._slices(inputs) if self.slice_overhead else None
        if parts is None:
            return super().training_step(model, inputs, num_items_in_batch)
        total = None
        for part, share in parts:
            self._loss_share = share
            try:
                loss = super().training_step(model, part, None)  # None: each slice's loss is its mean
            finally:
                self._loss_share = 1.0
            total = loss if total is None else total + loss
        return total

    def _slices(self, inputs) -> list[tuple[dict, float]] | None:
        mask = inputs.get("attention_mask")
        if not isinstance(mask, torch.Tensor) or mask.dim() != 2:
            return None
        rows, width = mask.shape
        lengths = mask.sum(1)
        if not torch.equal(mask.bool(), torch.arange(width, device=mask.device) < lengths[:, None]):
            return None  # padded on the left, or holes: leave it whole
        slices = length_slices(lengths.tolist(), self.slice_overhead)
        if len(slices) == 1:
            return None
        parts = []
        for members in slices:
            index = torch.tensor(members, device=mask.device)
            longest = int(lengths[index].max())
            part = {}
            for key, value in inputs.items():
                if isinstance(value, torch.Tensor) and value.dim() >= 1 and value.shape[0] == rows:
                    value = value.index_select(0, index)
                    if key in SEQUENCE_INPUTS and value.dim() == 2:
                        value = value[:, :longest]
                part[key] = value
            parts.append((part, len(members) / rows))
        return parts

    def _get_train_sampler(self, train_dataset=None):
        """``LengthBuckets`` of ``length_groups`` batches per group (speed.group_by_length: batches of
        similar lengths in random order), else (0) the Trainer's random sampler."""
        dataset = train_dataset if train_dataset is not None else self.train_dataset
        if not self.length_groups or dataset is None:
            return super()._get_train_sampler(train_dataset)
        lengths = [len(dataset[i]["input_ids"]) for i in range(len(dataset))]
        seed = self.args.data_seed if self.args.data_seed is not None else self.args.seed
        return LengthBuckets(lengths, self.args.per_device_train_batch_size, seed, self.length_groups)

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
