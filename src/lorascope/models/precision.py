"""Mixed precision where it changes nothing but speed and memory, and float32 where bf16 would round results.

- ``float32_head``: a classification, regression or QA head computes in float32 even under
  autocast. Its outputs are the predictions: in bf16 a regression score near 3 is rounded to a
  multiple of 1/64, and near-equal scores become ties.
- ``store_frozen_linears``: a frozen linear layer's weight and bias are stored in the autocast
  dtype. Autocast rounds them to it for every product anyway, so the products are bit for bit the
  same; what goes is the float32 copy and its per-step cast.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from transformers.pytorch_utils import Conv1D


class Float32Linear(torch.nn.Linear):
    """``nn.Linear`` that computes in float32 under autocast (same parameters and state dict)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, enabled=False):
            return F.linear(x.float(), self.weight.float(), None if self.bias is None else self.bias.float())


def float32_head(model: torch.nn.Module, heads: tuple[str, ...]) -> int:
    """Make every ``nn.Linear`` inside the top-level modules named ``heads`` compute in float32;
    returns how many were changed. The class is swapped in place, so parameter names, copies (PEFT's
    ``modules_to_save``) and saved files stay as they were."""
    changed = 0
    for name, module in model.named_modules():
        if type(module) is torch.nn.Linear and name.split(".", 1)[0] in heads:
            module.__class__ = Float32Linear
            changed += 1
    return changed


def store_frozen_linears(model: torch.nn.Module, dtype: torch.dtype) -> int:
    """Store the weight and bias of every frozen linear layer (``nn.Linear``, GPT-2's ``Conv1D``) in
    ``dtype``; returns the layers cast. Trainable layers stay, and so do subclasses: float32 heads, and
    quantized linears, which store their weights their own way; and so does a layer whose weight another
    module shares (an LM head tied to the embeddings, whose lookups would be rounded too)."""
    owners: dict[int, int] = {}
    for module in model.modules():
        for p in module.parameters(recurse=False):
            owners[id(p)] = owners.get(id(p), 0) + 1
    cast = 0
    for module in model.modules():
        if type(module) not in (torch.nn.Linear, Conv1D):
            continue
        params = list(module.parameters(recurse=False))
        if params and not any(p.requires_grad or owners[id(p)] > 1 for p in params):
            module.to(dtype)
            cast += 1
    return cast
