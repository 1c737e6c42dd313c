"""Cross-entropy of a linear head over only the rows that carry a label, chunk by chunk.

A causal LM's loss needs logits only where a token is predicted (instruction tuning: the response
and EOS), and never all of a batch's logits at once: for each chunk of rows the logits are made,
turned into the loss and its gradients, and dropped. This is the fused linear cross-entropy of
Liger-Kernel and of torchtune's chunked loss, in plain PyTorch so that it runs on any device.
The products are computed in the autocast dtype when autocast is on (as ``lm_head`` would be),
the log-softmax in float32 (as transformers' ``ForCausalLMLoss`` does).
"""

from __future__ import annotations

import torch

CHUNK_ROWS = 4096  # rows whose logits exist at one time: 4,096 × a 32,000-token vocabulary is 0.5 GB in float32


def _compute_dtype(hidden: torch.Tensor) -> torch.dtype:
    device = hidden.device.type
    if torch.is_autocast_enabled(device):
        return torch.get_autocast_dtype(device)
    return hidden.dtype


class _LinearCrossEntropy(torch.autograd.Function):
    """Σ over rows of −log softmax(h W^T + b)[target]; the gradients are made in the forward pass, chunk
    by chunk, and scaled in the backward pass, so no chunk's logits outlive it."""

    @staticmethod
    def forward(ctx, hidden, weight, bias, targets, chunk, dtype):
        need_h, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        need_b = bias is not None and ctx.needs_input_grad[2]
        total = torch.zeros((), dtype=torch.float32, device=hidden.device)
        grad_h = torch.empty_like(hidden) if need_h else None
        grad_w = torch.zeros(weight.shape, dtype=torch.float32, device=weight.device) if need_w else None
        grad_b = torch.zeros(bias.shape, dtype=torch.float32, device=bias.device) if need_b else None
        with torch.autocast(hidden.device.type, enabled=False):
            w = weight.to(dtype)
            for start in range(0, hidden.shape[0], chunk):
                h = hidden[start : start + chunk].to(dtype)
                t = targets[start : start + chunk]
                logits = (h @ w.T).float()  # rounded to the product's dtype first, as lm_head's output is
                if bias is not None:
                    logits += bias.float()
                lse = torch.logsumexp(logits, dim=-1)
                total += (lse - logits.gather(1, t.unsqueeze(1)).squeeze(1)).sum()
                if not (need_h or need_w or need_b):
                    continue
                g = torch.exp(logits.sub_(lse.unsqueeze(1)))  # softmax, in place of the logits
                g[torch.arange(len(t), device=g.device), t] -= 1
                if need_b:
                    grad_b += g.sum(0)
                g = g.to(dtype)
                if need_h:
                    grad_h[start : start + chunk] = (g @ w).to(hidden.dtype)
                if need_w:
                    grad_w += (g.T @ h).float()
        ctx.save_for_backward(*(x if x is not None else torch.empty(0) for x in (grad_h, grad_w, grad_b)))
        ctx.present = (need_h, need_w, need_b)
        ctx.dtypes = (weight.dtype, bias.dtype if bias is not None else None)
        return total

    @staticmethod
    def backward(ctx, grad_total):
        grad_h, grad_w, grad_b = ctx.saved_tensors
        need_h, need_w, need_b = ctx.present
        return (
            grad_h * grad_total.to(grad_h.dtype) if need_h else None,
            (grad_w * grad_total).to(ctx.dtypes[0]) if need_w else None,
            (grad_b * grad_total).to(ctx.dtypes[1]) if need_b else None,
            None,
            None,
            None,
        )


def linear_cross_entropy_sum(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    targets: torch.Tensor,
    bias: torch.Tensor | None = None,
    chunk: int = CHUNK_ROWS,
) -> torch.Tensor:
    """Σ_i −log softmax(hidden_i · weightᵀ + bias)[targets_i] over every row of ``hidden`` (rows × width),
    never holding more than ``chunk`` rows of logits. Differentiable in ``hidden``, ``weight`` and ``bias``."""
    if hidden.shape[0] != targets.shape[0]:
        raise ValueError(f"{hidden.shape[0]} rows of hidden states, {targets.shape[0]} targets")
    return _LinearCrossEntropy.apply(hidden, weight, bias, targets, chunk, _compute_dtype(hidden))


def module_cross_entropy_sum(
    hidden: torch.Tensor, head: torch.nn.Module, targets: torch.Tensor, chunk: int = CHUNK_ROWS
) -> torch.Tensor:
    """The same sum through any head module (a LoRA-adapted or wrapped head), chunk by chunk; autograd
    keeps each chunk's logits for the backward pass."""
    total = hidden.new_zeros((), dtype=torch.float32)
    for start in range(0, hidden.shape[0], chunk):
        logits = head(hidden[start : start + chunk]).float()
        total = total + torch.nn.functional.cross_entropy(logits, targets[start : start + chunk], reduction="sum")
    return total
