"""Training runs on the HF Trainer."""

from lorascope.training.run import preflight, run_training

__all__ = ["preflight", "run_training"]
