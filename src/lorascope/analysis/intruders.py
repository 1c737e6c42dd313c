"""Intruder dimensions (Shuttleworth et al. 2024, "LoRA vs Full Fine-tuning: An Illusion of
Equivalence"): top singular vectors of a fine-tuned weight that resemble none of the base
weight's singular vectors.

For a layer with base weight W₀ and fine-tuned weight W, take the left singular vectors of both.
The j-th of W's top ``k`` is an intruder at threshold ε when max_i |cos(u_j(W), u_i(W₀))| < ε, the
maximum running over *all* of W₀'s left singular vectors. Singular vectors have unit norm, so
the cosine is their dot product. The counts over a sweep of ε are what methods are compared by.
"""

from __future__ import annotations

import re

import numpy as np
import torch
from transformers.pytorch_utils import Conv1D

from lorascope.analysis.similarity import ArrayLike, as_float64

DEFAULT_TOP_K = 10
DEFAULT_EPSILONS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def max_cosines(base: ArrayLike, tuned: ArrayLike, k: int = DEFAULT_TOP_K, device=None) -> np.ndarray:
    """For each of the tuned weight's top ``k`` left singular vectors (output space), its largest
    |cosine| with any left singular vector of the base weight (1.0 means it is one of them)."""
    w0, w = as_float64(base, "base", device, "weight matrix"), as_float64(tuned, "tuned", device, "weight matrix")
    if w0.shape != w.shape:
        raise ValueError(f"base and tuned weights differ in shape: {tuple(w0.shape)} vs {tuple(w.shape)}")
    if not 1 <= k <= min(w.shape):
        raise ValueError(f"k must be in [1, {min(w.shape)}], got {k}")
    u0 = torch.linalg.svd(w0, full_matrices=False).U
    u = torch.linalg.svd(w, full_matrices=False).U[:, :k]
    return (u0.T @ u).abs().max(dim=0).values.cpu().numpy()


def intruder_counts(
    base: ArrayLike,
    tuned: ArrayLike,
    k: int = DEFAULT_TOP_K,
    epsilons: tuple[float, ...] = DEFAULT_EPSILONS,
    device=None,
) -> dict[float, int]:
    """ε → how many of the tuned weight's top ``k`` singular vectors are intruders at ε."""
    cosines = max_cosines(base, tuned, k, device)
    return {float(eps): int((cosines < eps).sum()) for eps in epsilons}


def block_weights(model: torch.nn.Module) -> dict[str, tuple[int, torch.Tensor]]:
    """Module name → (layer, out × in weight) for every linear layer inside the numbered
    transformer blocks (GPT-2's Conv1D transposed); layer is the block index + 1, the index of
    the block's output among the hidden states (0 is the embeddings). Heads, poolers and
    embeddings are left out."""
    found = {}
    for name, module in model.named_modules():
        block = re.search(r"\.(\d+)\.", name)
        if block is None:
            continue
        if isinstance(module, torch.nn.Linear):
            found[name] = (int(block.group(1)) + 1, module.weight.detach())
        elif isinstance(module, Conv1D):
            found[name] = (int(block.group(1)) + 1, module.weight.detach().T)
    return found


def model_intruders(
    base: torch.nn.Module,
    tuned: torch.nn.Module,
    k: int = DEFAULT_TOP_K,
    epsilons: tuple[float, ...] = DEFAULT_EPSILONS,
    device=None,
) -> dict[str, tuple[int, dict[float, int]]]:
    """Module name → (layer, {ε: intruder count}) for every block weight of two models of one
    architecture. A weight fine-tuning left unchanged (a module LoRA did not adapt) has none,
    without an SVD."""
    if not all(0 < eps <= 1 for eps in epsilons):
        raise ValueError(f"every ε must be in (0, 1], got {epsilons}")
    before, after = block_weights(base), block_weights(tuned)
    missing = sorted(set(before) - set(after))
    if missing:
        raise ValueError(f"the fine-tuned model lacks {len(missing)} layers of the base, e.g. {missing[0]}")
    counts = {}
    for name, (layer, w0) in before.items():
        w = after[name][1]
        if torch.equal(w0, w):
            counts[name] = (layer, {float(eps): 0 for eps in epsilons})
        else:
            counts[name] = (layer, intruder_counts(w0, w, min(k, *w0.shape), epsilons, device))
    return counts
