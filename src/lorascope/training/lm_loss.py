"""The causal-LM training loss from the rows that carry a label (``speed.fused_loss``).

The model runs as usual, except that its LM head is handed no rows (a forward pre-hook keeps its
input, the final hidden states, and passes on an empty slice); the loss is then the chunked
linear cross-entropy of ``models.losses`` over the positions whose next token is a target,
normalised as transformers' ``ForCausalLMLoss`` is. On the first batch it is checked against the
model's own loss, with dropout off; a model whose head does more than its linear layer (logit
soft-capping or scaling) fails the check, and the run goes on with the model's own loss.
"""

from __future__ import annotations

import sys

import torch

from lorascope.data.instruction_encoding import IGNORE
from lorascope.models.losses import linear_cross_entropy_sum, module_cross_entropy_sum

TOLERANCE = 1e-3  # relative; the two sums differ only by their order of addition


def _shifted_labels(inputs: dict) -> torch.Tensor:
    if "shift_labels" in inputs:
        return inputs["shift_labels"]
    return torch.nn.functional.pad(inputs["labels"], (0, 1), value=IGNORE)[..., 1:]


class SupervisedLogitsLoss:
    """``(model, inputs, num_items) → (loss, outputs)`` for a causal LM in training."""

    def __init__(self, precision: str) -> None:
        self.dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
        self.checked = False
        self.enabled = True

    def __call__(self, model: torch.nn.Module, inputs: dict, num_items: torch.Tensor | int | None):
        if not self.checked:
            self.checked = True
            self.enabled = self._agrees(model, inputs, num_items)
        if not self.enabled:
            return None
        return self._loss(model, inputs, num_items)

    def _loss(self, model: torch.nn.Module, inputs: dict, num_items: torch.Tensor | int | None):
        head = model.get_output_embeddings()
        captured: list[torch.Tensor] = []

        def capture(module, args):
            captured.append(args[0])
            return (args[0][..., :0, :],)  # the head computes no logits; ours below does, where needed

        handle = head.register_forward_pre_hook(capture)
        try:
            outputs = model(**{k: v for k, v in inputs.items() if k not in ("labels", "shift_labels")})
        finally:
            handle.remove()
        targets = _shifted_labels(inputs)
        chosen = targets != IGNORE
        hidden, targets = captured[0][chosen], targets[chosen]
        # the head's products in the dtype the model's own forward computes them in (the Trainer's
        # autocast covers only the model's forward)
        with torch.autocast(hidden.device.type, dtype=self.dtype, enabled=self.dtype is not None):
            if type(head) is torch.nn.Linear:
                total = linear_cross_entropy_sum(hidden, head.weight, targets, head.bias)
            else:  # a wrapped or adapted head
                total = module_cross_entropy_sum(hidden, head, targets)
        count = num_items if num_items is not None else chosen.sum()
        return total / count, outputs

    def _agrees(self, model: torch.nn.Module, inputs: dict, num_items: torch.Tensor | int | None) -> bool:
        """Whether this loss equals the model's own on ``inputs``, both without dropout."""
        if model.get_output_embeddings() is None:
            return False
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                extra = {"num_items_in_batch": num_items} if num_items is not None else {}
                own = model(**inputs, **extra).loss.float()
                ours, _ = self._loss(model, inputs, num_items)
        finally:
            model.train(was_training)
        if bool(torch.isclose(ours, own, rtol=TOLERANCE, atol=1e-6)):
            return True
        print(
            f"note: the model's loss ({float(own):.6f}) is not the cross-entropy of its LM head ({float(ours):.6f}) "
            "on the first batch; this run uses the model's own loss (speed.fused_loss off)",
            file=sys.stderr,
        )
        return False
