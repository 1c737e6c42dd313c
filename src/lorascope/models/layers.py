"""Which modules of a model LoRA can adapt, and how a target name picks them: one matcher for all.

A target names a module exactly or by a dotted suffix (``query`` picks ``bert.encoder.layer.0.
attention.self.query``; ``layer.0.attention.self.query`` picks only that one), as PEFT matches
``target_modules``. Adaptable layers are found by type with ``isinstance``, so subclasses of
``nn.Linear`` (quantized linears, for one) count as linear layers too.
"""

from __future__ import annotations

import torch
from transformers.pytorch_utils import Conv1D

ADAPTABLE_TYPES: tuple[type[torch.nn.Module], ...] = (torch.nn.Linear, Conv1D)  # GPT-2's Conv1D is a transposed linear


def matches(name: str, target: str) -> bool:
    """Whether the module ``name`` is ``target`` or ends with ``.target``."""
    return name == target or name.endswith("." + target)


def matching(names, target: str) -> list[str]:
    """The names ``target`` picks, in their order."""
    return [n for n in names if matches(n, target)]


def is_adaptable(module: torch.nn.Module) -> bool:
    return isinstance(module, ADAPTABLE_TYPES)


def target_layers(model: torch.nn.Module, targets: list[str]) -> dict[str, torch.nn.Module]:
    """Full name -> module for every linear-like layer a target names (by name or name suffix), in model order."""
    return {
        name: module
        for name, module in model.named_modules()
        if is_adaptable(module) and any(matches(name, t) for t in targets)
    }
