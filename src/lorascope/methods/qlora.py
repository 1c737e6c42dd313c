"""QLoRA (Dettmers et al., 2023): LoRA adapters over a frozen 4-bit base (bitsandbytes through
transformers, ``models.quantization``), prepared with PEFT's ``prepare_model_for_kbit_training``."""

from __future__ import annotations

import torch
from peft import prepare_model_for_kbit_training

from lorascope.errors import LorascopeError
from lorascope.methods.base import MethodContext
from lorascope.methods.lora import LoraHooks, apply_lora
from lorascope.models.loading import HEAD_MODULES
from lorascope.models.quantization import bnb_config, compute_dtype, guard_cpu_repacking


def _bitsandbytes() -> None:
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        raise LorascopeError("method qlora needs bitsandbytes: pip install 'lorascope[qlora]'") from None


class QloraHooks(LoraHooks):
    """``method: qlora``: the base quantized as it loads, LoRA as ``method: lora`` over it."""

    def quantization(self, cfg, precision: str):
        _bitsandbytes()
        q = cfg.qlora
        return bnb_config(q.quant_type, q.double_quant, compute_dtype(q.compute_dtype, precision), list(HEAD_MODULES))

    def trainer_options(self, cfg) -> dict[str, object]:
        """The optimizer: paged AdamW on CUDA with ``auto``; on a CPU ``speed.fused_optimizer`` decides."""
        optimizer = cfg.qlora.optimizer
        if optimizer == "auto":
            return {"optim": "paged_adamw_32bit"} if torch.cuda.is_available() else {}
        return {"optim": optimizer}

    def prepare(self, model: torch.nn.Module, ctx: MethodContext) -> tuple[torch.nn.Module, list]:
        checkpointing = ctx.cfg.qlora.gradient_checkpointing
        kwargs = {"use_reentrant": False} if checkpointing else None
        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=checkpointing, gradient_checkpointing_kwargs=kwargs
        )
        wrapped = apply_lora(model, ctx.cfg.lora, ctx.targets or [], ctx.head, ctx.unfreeze_modules, ctx.ranks)
        guard_cpu_repacking(wrapped)  # PEFT wraps the 4-bit layers; the flag stays on each base layer
        return wrapped, []
