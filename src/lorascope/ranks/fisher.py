"""Layer importance from the diagonal of the empirical Fisher information, and ranks from it.

The empirical Fisher of a weight θ is the mean over training examples of (∂ log p(y | x) / ∂θ)²,
each example's gradient taken alone at the pretrained weights. A layer's importance is the sum of
its weights' Fisher values: the expected squared norm of the per-example gradient of its weight.
"""

from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm

from lorascope.ranks.allocation import lora_parameters


def layer_fisher(
    model: torch.nn.Module, layers: dict[str, torch.nn.Module], batches: list[dict[str, torch.Tensor]]
) -> dict[str, float]:
    """Σ over a layer's weight of the per-example squared gradient of the loss, averaged over examples.

    ``batches`` hold one example each (with its label) so that every gradient is per-example; the
    model runs in eval mode, so dropout does not add noise.
    """
    was_training = model.training
    model.eval()
    weights = {name: module.weight for name, module in layers.items()}
    sums = dict.fromkeys(weights, 0.0)
    for batch in tqdm(batches, desc="Fisher", unit="example", disable=len(batches) < 16):
        model.zero_grad(set_to_none=True)
        model(**batch).loss.backward()
        for name, weight in weights.items():
            if weight.grad is not None:
                sums[name] += float(weight.grad.double().pow(2).sum())
    model.zero_grad(set_to_none=True)
    model.train(was_training)
    return {name: total / max(len(batches), 1) for name, total in sums.items()}


def fisher_ranks(importance: dict[str, float], shapes: dict[str, tuple[int, int]], budget_r: int) -> dict[str, int]:
    """Ranks that give each layer LoRA parameters in proportion to its importance, with the total
    of uniform rank ``budget_r``: r_l = budget_r · Σ(out+in) · I_l / (Σ I · (out_l + in_l)), rounded
    half up (clipping and exact budget matching come after)."""
    names = list(importance)
    sizes = np.array([lora_parameters(1, shapes[n]) for n in names], dtype=np.float64)
    values = np.array([importance[n] for n in names], dtype=np.float64)
    if values.sum() <= 0:
        return dict.fromkeys(names, budget_r)
    ideal = budget_r * sizes.sum() * values / (values.sum() * sizes)
    return {name: int(np.floor(r + 0.5)) for name, r in zip(names, ideal, strict=True)}
