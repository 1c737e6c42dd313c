"""The built-in methods: full fine-tuning, LoRA, AdaLoRA, QLoRA and the two baselines. Each entry's
behaviour is named by path and imported only when a run needs it, so validating a config stays
light. Defaults follow common practice: full fine-tuning at lr 2e-5 (tuned over 1e-5–1e-4),
adapters at MethodSpec's defaults (lr 5e-4, no weight decay, tuned over 1e-4–1e-3)."""

from __future__ import annotations

from lorascope.registry import MethodSpec, register_method

SHARED_SPACE = {
    "train.batch_size": {"choices": [16, 32]},
    "train.warmup_ratio": {"low": 0.0, "high": 0.1},
    "train.weight_decay": {"low": 0.0, "high": 0.1},
}
ADAPTER_SPACE = {
    "train.learning_rate": {"low": 1e-4, "high": 1e-3, "log": True},
    "lora.r": {"choices": [4, 8, 16, 32]},
    "lora.alpha": {"choices": [8, 16, 32]},
    "lora.dropout": {"low": 0.0, "high": 0.1},
}

register_method(
    MethodSpec(
        name="full",
        kind="full",
        hooks="lorascope.methods.base:MethodHooks",
        learning_rate=2e-5,
        weight_decay=0.01,
        tuning_space={"train.learning_rate": {"low": 1e-5, "high": 1e-4, "log": True}, **SHARED_SPACE},
        description="full fine-tuning: every weight is trained",
    )
)
register_method(
    MethodSpec(
        name="lora",
        kind="adapter",
        hooks="lorascope.methods.lora:LoraHooks",
        tuning_space={**ADAPTER_SPACE, **SHARED_SPACE},
        allocates_ranks=True,
        description="LoRA adapters (PEFT), uniform or per-layer ranks",
    )
)
register_method(  # PEFT saves AdaLoRA adapters pruned, which cannot be loaded back: no checkpoints
    MethodSpec(
        name="adalora",
        kind="adapter",
        hooks="lorascope.methods.adalora:AdaLoraHooks",
        checkpoints=False,
        tuning_space={**ADAPTER_SPACE, **SHARED_SPACE},
        description="AdaLoRA (PEFT): ranks pruned during training to an average of lora.r",
    )
)
register_method(  # the QLoRA paper's recipe: lr 2e-4, constant schedule, 3% warm-up, gradients clipped at 0.3
    MethodSpec(
        name="qlora",
        kind="adapter",
        hooks="lorascope.methods.qlora:QloraHooks",
        learning_rate=2e-4,
        train_defaults={"scheduler": "constant_with_warmup", "warmup_ratio": 0.03, "max_grad_norm": 0.3},
        all_linear=True,
        tuning_space={**ADAPTER_SPACE, **SHARED_SPACE},
        allocates_ranks=True,
        description="QLoRA: LoRA over a 4-bit (NF4) base, every linear layer but the head (bitsandbytes)",
    )
)
register_method(
    MethodSpec(
        name="majority",
        kind="baseline",
        hooks="lorascope.methods.baselines:Majority",
        description="baseline: the most frequent training class, or the mean training score",
    )
)
register_method(
    MethodSpec(
        name="random",
        kind="baseline",
        hooks="lorascope.methods.baselines:Random",
        description="baseline: draws from the training labels",
    )
)
