"""Training runs on the HF Trainer."""

from lorascope.training.run import brief_finetune, preflight, run_training

__all__ = ["brief_finetune", "preflight", "run_training"]
