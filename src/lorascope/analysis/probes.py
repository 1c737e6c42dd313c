"""Hidden states of a fixed probe set, taken from a model before, during and after training.

The probe set is a stratified, seeded subset of the task's evaluation inputs (the same for every
run of a task and every method, whatever the run's seed). A snapshot holds, for every layer's
output (index 0 is the embeddings), one row per probe example (pooled) or per token, in float16,
in a safetensors file ``step-000100.safetensors`` (``final.safetensors`` for the model the run
keeps).
"""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Literal

import torch
from safetensors.torch import load_file, save_file
from transformers import TrainerCallback

Pooling = Literal["mean", "first", "last", "tokens"]


def pool(hidden: torch.Tensor, mask: torch.Tensor, pooling: Pooling) -> torch.Tensor:
    """(batch, tokens, width) → one row per example (mean over real tokens, first or last real
    token, whatever the padding side) or one row per real token (``tokens``)."""
    mask = mask.bool()
    if pooling == "mean":
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp_min(1)
    if pooling == "tokens":
        return hidden[mask]
    rows = torch.arange(hidden.shape[0], device=hidden.device)
    if pooling == "first":
        return hidden[rows, mask.int().argmax(dim=1)]
    last = mask.shape[1] - 1 - mask.flip(1).int().argmax(dim=1)
    return hidden[rows, last]


@torch.no_grad()
def hidden_states(
    model: torch.nn.Module, batches: list[dict[str, torch.Tensor]], pooling: Pooling, max_tokens: int = 4096
) -> dict[str, torch.Tensor]:
    """``layer.<i>`` → rows × width (float16, on the CPU) for every hidden layer of ``model``.
    With ``tokens`` pooling the first ``max_tokens`` real tokens of the probe set are kept."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    layers: dict[int, list[torch.Tensor]] = {}
    kept = 0
    for batch in batches:
        batch = {k: v.to(device) for k, v in batch.items() if k != "labels"}
        outputs = model(**batch, output_hidden_states=True)
        room = max_tokens - kept if pooling == "tokens" else None
        for i, hidden in enumerate(outputs.hidden_states):
            rows = pool(hidden.float(), batch["attention_mask"], pooling)
            layers.setdefault(i, []).append(rows[:room].half().cpu())
        kept += len(layers[0][-1])
        if room is not None and kept >= max_tokens:
            break
        del outputs
    model.train(was_training)
    return {f"layer.{i}": torch.cat(parts) for i, parts in layers.items()}


def save_snapshot(states: dict[str, torch.Tensor], path: Path, step: int | str, pooling: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in states.items()}, path, metadata={"step": str(step), "pooling": pooling})
    return path


def load_snapshot(path: Path) -> dict[int, torch.Tensor]:
    """Layer index → rows × width (float16)."""
    return {int(key.split(".")[1]): value for key, value in load_file(path).items()}


def snapshot_name(step: int | None) -> str:
    return "final.safetensors" if step is None else f"step-{step:06d}.safetensors"


class DriftSnapshots(TrainerCallback):
    """Every ``every`` optimizer steps, the probe set's hidden states into ``folder``; memory is
    released after each snapshot."""

    def __init__(
        self, folder: Path, batches: list[dict[str, torch.Tensor]], pooling: Pooling, every: int, max_tokens: int
    ):
        self.folder, self.batches, self.pooling, self.every, self.max_tokens = (
            folder,
            batches,
            pooling,
            every,
            max_tokens,
        )

    def take(self, model: torch.nn.Module, step: int | None) -> Path:
        states = hidden_states(model, self.batches, self.pooling, self.max_tokens)
        path = save_snapshot(states, self.folder / snapshot_name(step), "final" if step is None else step, self.pooling)
        del states
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        return path

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if state.global_step % self.every == 0:
            self.take(model, state.global_step)
        return control
