"""Scheduled unfreezing: named base modules start frozen and join training after N epochs."""

from __future__ import annotations

import torch
from transformers import TrainerCallback

from lorascope.errors import LorascopeError
from lorascope.models.layers import matching


def _hits(modules: dict[str, torch.nn.Module], wanted: str) -> list[str]:
    hits = matching(modules, wanted)
    if not hits:
        raise LorascopeError(f"unfreeze.modules: '{wanted}' matches no module of the model")
    return hits


def check_unfreeze_modules(model: torch.nn.Module, names: list[str], lora_targets: list[str] | None) -> list[str]:
    """Full names of the modules to unfreeze; each name must match, and none may hold a LoRA layer."""
    modules = dict(model.named_modules())
    resolved: list[str] = []
    for wanted in names:
        for hit in _hits(modules, wanted):
            resolved.append(hit)
            inner = [n for n in modules if n.startswith(hit + ".") or n == hit]
            clash = [t for t in lora_targets or [] if matching(inner, t)]
            if clash:
                raise LorascopeError(
                    f"unfreeze.modules: '{wanted}' contains LoRA-adapted {clash}; name modules without adapters"
                )
    return resolved


def scheduled_parameters(model: torch.nn.Module, names: list[str]) -> dict[str, torch.nn.Parameter]:
    """Parameters to train later: under each named module, or under its PEFT trainable copy."""
    found: dict[str, torch.nn.Parameter] = {}
    modules = dict(model.named_modules())
    for wanted in names:
        for hit in _hits(modules, wanted):
            for pname, param in modules[hit].named_parameters(prefix=hit):
                if "original_module" not in pname:  # PEFT keeps the frozen original beside the copy
                    found[pname] = param
    return found


class ScheduledUnfreeze(TrainerCallback):
    """Sets ``requires_grad`` on the scheduled parameters at the first epoch ≥ ``after_epochs``.

    The optimizer already holds these parameters (see ``LorascopeTrainer.create_optimizer``);
    until they get gradients AdamW leaves them untouched. Works on resume too: the check uses
    the restored epoch counter.
    """

    def __init__(self, params: dict[str, torch.nn.Parameter], after_epochs: int):
        self.params = params
        self.after_epochs = after_epochs

    def freeze_until_due(self) -> None:
        for p in self.params.values():
            p.requires_grad_(self.after_epochs == 0)

    def on_epoch_begin(self, args, state, control, **kwargs):
        if state.epoch is not None and state.epoch + 1e-9 >= self.after_epochs:
            for p in self.params.values():
                p.requires_grad_(True)
        return control
