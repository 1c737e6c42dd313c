"""Scheduled unfreezing: named base modules start frozen and join training after N epochs."""

from __future__ import annotations

import torch
from transformers import TrainerCallback

from lorascope.errors import LorascopeError


def scheduled_parameters(model: torch.nn.Module, names: list[str]) -> dict[str, torch.nn.Parameter]:
    """Base-model parameters under modules whose name is, or ends with, each of ``names``."""
    found: dict[str, torch.nn.Parameter] = {}
    modules = dict(model.named_modules())
    for wanted in names:
        hits = [n for n in modules if n == wanted or n.endswith("." + wanted)]
        if not hits:
            raise LorascopeError(f"unfreeze.modules: '{wanted}' matches no module of the model")
        for hit in hits:
            for pname, param in modules[hit].named_parameters(prefix=hit):
                if "lora_" not in pname:
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
