"""Fine-tuning methods: full, LoRA (with penalty and scheduled unfreezing)."""
