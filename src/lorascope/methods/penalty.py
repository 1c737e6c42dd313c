"""The LoRA penalty Σ‖B A‖²_F, computed from r×r Gram matrices without forming B A."""

from __future__ import annotations

import torch

from lorascope.methods.lora import lora_factors


def lora_norm_squared(model: torch.nn.Module) -> torch.Tensor:
    """Σ over adapted layers of ‖B A‖²_F = Σ_ij (BᵀB)_ij (A Aᵀ)_ij, differentiable.

    Costs O(r²·(d_in + d_out)) per layer instead of O(d_in·d_out) for the product.
    """
    total = None
    for _, a, b in lora_factors(model):
        a32, b32 = a.float(), b.float()
        term = ((b32.T @ b32) * (a32 @ a32.T)).sum()
        total = term if total is None else total + term
    if total is None:
        raise ValueError("the model has no LoRA adapters to penalise")
    return total
