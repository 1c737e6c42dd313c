"""Data-driven LoRA ranks: the spectrum of ΔW per layer, and ranks allocated from it."""
