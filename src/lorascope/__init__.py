"""lorascope: rigorous research on LoRA and parameter-efficient fine-tuning."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["create_peft_model_from_config"]


def __getattr__(name: str):
    """Heavy exports load on first use, so ``import lorascope`` (and the CLI) stays fast."""
    if name == "create_peft_model_from_config":
        from lorascope.ranks.rank_config import create_peft_model_from_config

        return create_peft_model_from_config
    raise AttributeError(f"module 'lorascope' has no attribute {name!r}")
