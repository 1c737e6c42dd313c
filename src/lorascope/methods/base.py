"""The behaviour a method entry supplies (``MethodSpec.hooks``); override what differs.

The defaults describe full fine-tuning: the model is trained as it is, with no penalty, no rank
strategy and no adapter parameters to count.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import torch
    from transformers import TrainerCallback

    from lorascope.config import RunConfig
    from lorascope.ranks.rank_config import RankConfig


@dataclass
class MethodContext:
    """What a method may use to wrap the starting model of a run."""

    cfg: RunConfig
    head: str  # the task's model head, e.g. sequence-classification
    targets: list[str] | None  # resolved lora.target_modules (adapter methods)
    unfreeze_modules: list[str]  # full names of modules trained alongside the adapters
    ranks: RankConfig | None  # per-layer ranks (methods that allocate ranks)
    train_examples: int


class MethodHooks:
    """Full fine-tuning's behaviour; methods subclass it."""

    def prepare(self, model: torch.nn.Module, ctx: MethodContext) -> tuple[torch.nn.Module, list[TrainerCallback]]:
        """The model to train (wrapped as the method needs) and the Trainer callbacks it needs.

        Args:
            model: the starting model, with its task head.
            ctx: the run's config and what preflight resolved.

        Returns:
            The model to hand to the Trainer, and callbacks to add.
        """
        return model, []

    def quantization(self, cfg: RunConfig, precision: str):
        """How the starting model's base is quantized as it loads (a ``BitsAndBytesConfig``), or None."""
        return None

    def trainer_options(self, cfg: RunConfig) -> dict[str, object]:
        """``TrainingArguments`` the method sets itself (e.g. a paged optimizer)."""
        return {}

    def lora_penalty(self, cfg: RunConfig) -> float:
        """Weight of the penalty on the adapters' update added to the loss (0: none)."""
        return 0.0

    def rank_strategy(self, cfg: RunConfig) -> str | None:
        """The name recorded as ``rank_strategy`` in results (None: ranks are not allocated)."""
        return None

    def adapter_parameters(self, model: torch.nn.Module) -> int | None:
        """The ``lora_params`` of results: trainable adapter parameters (None for other methods)."""
        return None

    def predict(self, cfg: RunConfig, train_labels: np.ndarray, n: int, regression: bool) -> np.ndarray:
        """Baselines only: ``n`` predictions from the training labels."""
        raise NotImplementedError(f"method {cfg.method} trains a model; only baselines predict from labels")
