"""Will vLLM load this adapter? The checks vLLM makes when it loads a PEFT LoRA adapter, made
before a benchmark starts, each failure with a message saying what to change.

vLLM serves plain LoRA: no DoRA, no bias, no ``modules_to_save`` (a task head trained with the
adapter cannot be served), a rank (every layer's, with ``rank_pattern``) at most the engine's
``max_lora_rank``, which must be one of the values vLLM accepts, and target modules the model's
vLLM implementation can adapt. Inits that rewrite the base weights (PiSSA, OLoRA, CorDA, LoftQ)
give adapters that only fit the rewritten base.
"""

from __future__ import annotations

import json
from pathlib import Path

VLLM_MAX_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)
# Linear layers vLLM's implementations adapt, by model type (packed layers listed by their parts).
VLLM_TARGETS = {
    "llama": {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"},
    "mistral": {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"},
    "qwen2": {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"},
    "gpt2": {"c_attn", "c_proj", "c_fc"},
}
BASE_REWRITING_INITS = ("pissa", "olora", "corda", "loftq")


def read_adapter_config(adapter_dir: Path | str) -> dict:
    path = Path(adapter_dir) / "adapter_config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{adapter_dir}: no adapter_config.json (not a PEFT adapter folder)")
    return json.loads(path.read_text(encoding="utf-8"))


def check_vllm(adapter_dir: Path | str, max_lora_rank: int = 16, model_type: str | None = None) -> list[str]:
    """Every reason vLLM would refuse the adapter in ``adapter_dir`` (empty when it would load it)."""
    config = read_adapter_config(adapter_dir)
    problems = []
    where = f"{adapter_dir}/adapter_config.json"
    if config.get("peft_type", "LORA") != "LORA":
        problems.append(f"{where}: peft_type {config.get('peft_type')}: vLLM serves LoRA adapters only")
    if max_lora_rank not in VLLM_MAX_LORA_RANKS:
        problems.append(f"max_lora_rank {max_lora_rank}: vLLM accepts {', '.join(map(str, VLLM_MAX_LORA_RANKS))}")
    ranks = [config.get("r", 0), *(config.get("rank_pattern") or {}).values()]
    if max(ranks) > max_lora_rank:
        problems.append(f"{where}: rank {max(ranks)} exceeds max_lora_rank {max_lora_rank}; raise max_lora_rank")
    if config.get("use_dora"):
        problems.append(f"{where}: use_dora is true; vLLM does not serve DoRA (merge the adapter instead)")
    if config.get("bias", "none") != "none":
        problems.append(f"{where}: bias '{config['bias']}'; vLLM serves adapters with bias 'none' only")
    if config.get("modules_to_save"):
        problems.append(
            f"{where}: modules_to_save {config['modules_to_save']}: vLLM cannot serve modules trained in full "
            "with the adapter (e.g. a classification head); serve the merged model"
        )
    init = config.get("init_lora_weights")
    if isinstance(init, str) and init.lower().startswith(BASE_REWRITING_INITS):
        problems.append(
            f"{where}: init_lora_weights '{init}' rewrote the base weights; convert the adapter to plain LoRA "
            "(PEFT's path_initial_model_for_weight_conversion) before serving it on the original base"
        )
    supported = VLLM_TARGETS.get(model_type or "")
    targets = config.get("target_modules") or []
    if isinstance(targets, str):
        problems.append(f"{where}: target_modules is a regex ('{targets}'); list module names for vLLM")
    elif supported is not None:
        unsupported = sorted(set(t.split(".")[-1] for t in targets) - supported)
        if unsupported:
            problems.append(
                f"{where}: target modules {unsupported} are not adapted by vLLM's {model_type} "
                f"(supported: {', '.join(sorted(supported))})"
            )
    return problems
