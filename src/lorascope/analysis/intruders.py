"""Intruder dimensions (Shuttleworth et al. 2024, "LoRA vs Full Fine-tuning: An Illusion of
Equivalence"): top singular vectors of a fine-tuned weight that resemble none of the base
weight's singular vectors.

For a layer with base weight W₀ and fine-tuned weight W, take the left singular vectors of both.
The j-th of W's top ``k`` is an intruder at threshold ε when max_i |cos(u_j(W), u_i(W₀))| < ε, the
maximum running over *all* of W₀'s left singular vectors. Singular vectors have unit norm, so
the cosine is their dot product. The counts over a sweep of ε are what methods are compared by.
"""

from __future__ import annotations

import numpy as np
import torch

from lorascope.analysis.similarity import ArrayLike, as_float64

DEFAULT_TOP_K = 10
DEFAULT_EPSILONS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def max_cosines(base: ArrayLike, tuned: ArrayLike, k: int = DEFAULT_TOP_K, device=None) -> np.ndarray:
    """For each of the tuned weight's top ``k`` left singular vectors, its largest |cosine| with any
    left singular vector of the base weight (1.0 means it is one of them)."""
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
