"""lorascope: rigorous research on LoRA and parameter-efficient fine-tuning."""

__version__ = "0.1.0"
