"""Hidden states of a fixed probe set, taken from a model before, during and after training.

The probe set is a stratified subset of the task's evaluation inputs drawn with
``drift.probe_seed``: the same for every run and method of a task whose evaluation set is the
same. A snapshot holds, for every layer's
output (index 0 is the embeddings), one row per probe example (pooled) or per token, in float16,
in a safetensors file ``step-000100.safetensors`` (``final.safetensors`` for the model the run
keeps).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import torch
from safetensors.torch import load_file, save_file
from transformers import TrainerCallback

from lorascope.data.sampling import stratified_indices
from lorascope.models.loading import is_builtin

if TYPE_CHECKING:
    from lorascope.config import RunConfig
    from lorascope.data.tasks import TaskData

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
        batch = {k: v.to(device) for k, v in batch.items()}
        pool_mask = batch.pop("pool_mask", batch["attention_mask"])
        outputs = model(**batch, output_hidden_states=True)
        room = max_tokens - kept if pooling == "tokens" else None
        for i, hidden in enumerate(outputs.hidden_states):
            rows = pool(hidden.float(), pool_mask, pooling)
            layers.setdefault(i, []).append(rows[:room].half().cpu())
        kept += len(layers[0][-1])
        if room is not None and kept >= max_tokens:
            break
        del outputs
    model.train(was_training)
    return {f"layer.{i}": torch.cat(parts) for i, parts in layers.items()}


def save_snapshot(states: dict[str, torch.Tensor], path: Path, step: int | str, pooling: str) -> Path:
    """Write ``states`` (name → rows × width) so that ``path`` is never seen half-written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    save_file({k: v.contiguous() for k, v in states.items()}, partial, metadata={"step": str(step), "pooling": pooling})
    partial.replace(path)
    return path


def load_snapshot(path: Path) -> dict[int, torch.Tensor]:
    """Layer index → rows × width (float16)."""
    return {int(key.split(".")[1]): value for key, value in load_file(path).items()}


def snapshot_name(step: int | None) -> str:
    return "final.safetensors" if step is None else f"step-{step:06d}.safetensors"


def probe_set(cfg: RunConfig, data: TaskData) -> list[dict]:
    """The probe examples: a stratified subset of ``data.eval`` drawn with ``drift.probe_seed``."""
    indices = stratified_indices(data.task.strata(data.eval), cfg.drift.probe_size, cfg.drift.probe_seed)
    return [data.eval[i] for i in indices]


def probe_batches(cfg: RunConfig, data: TaskData, tokenizer) -> list[dict[str, torch.Tensor]]:
    """The probe set encoded as the run encodes its inputs, in padded batches of ``train.eval_batch_size``.
    An encoded set with ``pool_masks`` (instruction data: the response tokens) says what pooling covers."""
    encoded = data.task.encode(probe_set(cfg, data), tokenizer, cfg.train.max_length)
    collate, size = data.task.collator(tokenizer), cfg.train.eval_batch_size
    inputs = [{k: v for k, v in encoded[j].items() if k not in data.task.label_keys} for j in range(len(encoded))]
    if hasattr(encoded, "pool_masks"):
        for item, mask in zip(inputs, encoded.pool_masks(), strict=True):
            item["pool_mask"] = mask
    return [collate(inputs[i : i + size]) for i in range(0, len(inputs), size)]


def base_key(cfg: RunConfig, data: TaskData, quantized: str | None = None) -> str:
    """What the base model's snapshot depends on, hashed: the model (and, for a built-in random
    model, the seed that initialises it), its 4-bit form if any (``quantized``, e.g. ``nf4+dq``), the
    task, the probe examples and how they are encoded and pooled."""
    drift = cfg.drift
    identity = {
        "model": cfg.model,
        "init_seed": cfg.seed if is_builtin(cfg.model) else None,
        "task": cfg.task,
        "probe": probe_set(cfg, data),  # the examples themselves, whatever file they came from
        "max_length": cfg.train.max_length,
        "pooling": drift.pooling,
        "max_tokens": drift.max_tokens if drift.pooling == "tokens" else None,
    }
    if quantized is not None:  # absent otherwise, so that keys cached before 4-bit bases existed still match
        identity["quantized"] = quantized
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode("utf-8")).hexdigest()[:16]


class BaseCache:
    """Base-model snapshots shared by every run of the same model and probe set: ``<key>.safetensors``."""

    def __init__(self, folder: Path | str):
        self.folder = Path(folder)

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.safetensors"

    def add(self, key: str, snapshot: Path) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        _copy(snapshot, self.path(key))


def _copy(source: Path, destination: Path) -> None:
    """Copy so that ``destination`` is never seen half-written."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".partial")
    shutil.copyfile(source, partial)
    partial.replace(destination)


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

    def take_base(self, model: torch.nn.Module, key: str, cache: BaseCache | None) -> Path:
        """The step-0 snapshot (the model as it starts, which is the base model): from ``cache``
        when it holds ``key``, else taken now and added to it."""
        path = self.folder / snapshot_name(0)
        if cache is not None and cache.path(key).is_file():
            _copy(cache.path(key), path)
            return path
        self.take(model, 0)
        if cache is not None:
            cache.add(key, path)
        return path

    def take(self, model: torch.nn.Module, step: int | None) -> Path:
        states = hidden_states(model, self.batches, self.pooling, self.max_tokens)
        return save_snapshot(states, self.folder / snapshot_name(step), "final" if step is None else step, self.pooling)

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if state.global_step % self.every == 0:
            self.take(model, state.global_step)
        return control
