"""In-process serving with transformers generation and PEFT: one base model with several LoRA
adapters serving mixed batches (``adapter_names``), each adapter merged into its own model, or
the bare base model. Greedy decoding to exactly the requested number of tokens."""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass

import torch
from transformers import AutoModelForCausalLM, LogitsProcessor, LogitsProcessorList, set_seed

from lorascope.data.instruction_encoding import left_padded
from lorascope.serving.metrics import RequestTiming
from lorascope.serving.workload import Workload

BASE = "__base__"  # PEFT's name for "no adapter" in a mixed batch


class _StepClock(LogitsProcessor):
    """Records when each generated token's logits are ready (the first call follows the prefill)."""

    def __init__(self):
        self.times: list[float] = []

    def __call__(self, input_ids, scores):
        if scores.is_cuda:
            torch.cuda.synchronize()
        self.times.append(time.perf_counter())
        return scores


def _dtype(name: str) -> torch.dtype:
    if name == "auto":
        return torch.bfloat16 if torch.cuda.is_available() else torch.float32
    return getattr(torch, name)


def base_config(workload: Workload):
    """The base model's config without its weights: a built-in's with ``base_config`` applied, or the
    hub's or folder's."""
    from lorascope.errors import LorascopeError
    from lorascope.models.loading import is_builtin, load_model_config
    from lorascope.models.tiny import tiny_config_and_tokenizer

    if not is_builtin(workload.base):
        return load_model_config(workload.base)
    config, _ = tiny_config_and_tokenizer(workload.base)
    for key, value in workload.base_config.items():
        if not hasattr(config, key):
            raise LorascopeError(f"base_config.{key}: {type(config).__name__} has no field {key}")
        setattr(config, key, value)
    if config.hidden_size % config.num_attention_heads:
        raise LorascopeError(
            f"base_config: hidden_size {config.hidden_size} is not a multiple of num_attention_heads "
            f"{config.num_attention_heads}"
        )
    if getattr(config, "head_dim", None) and "head_dim" not in workload.base_config:
        config.head_dim = config.hidden_size // config.num_attention_heads  # set from the old shape
    return config


def load_base(workload: Workload) -> tuple[torch.nn.Module, object]:
    """The causal LM and its tokenizer; a built-in tiny model is seeded with ``workload.seed``."""
    from lorascope.models.loading import _source, is_builtin, load_tokenizer

    dtype = _dtype(workload.dtype)
    set_seed(workload.seed)
    tokenizer = load_tokenizer(workload.base)
    if is_builtin(workload.base):
        model = AutoModelForCausalLM.from_config(base_config(workload)).to(dtype)
    else:
        model = AutoModelForCausalLM.from_pretrained(_source(workload.base), dtype=dtype)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    device = "cuda" if torch.cuda.is_available() else "cpu"
    return model.to(device).eval(), tokenizer


def with_adapters(model: torch.nn.Module, workload: Workload) -> torch.nn.Module:
    """A PeftModel holding every adapter of the workload, saved ones loaded, random ones drawn."""
    from peft import LoraConfig, PeftModel, get_peft_model

    peft_model = None
    for adapter in workload.adapters:
        if peft_model is None:
            peft_model = PeftModel.from_pretrained(model, str(adapter.path), adapter_name=adapter.name)
        else:
            peft_model.load_adapter(str(adapter.path), adapter_name=adapter.name)
    spec = workload.random_adapters
    if spec is not None:
        for i in range(spec.count):
            set_seed(workload.seed + 1 + i)
            config = LoraConfig(
                r=spec.r,
                lora_alpha=spec.alpha or 2 * spec.r,
                target_modules=spec.target_modules,
                init_lora_weights=False,  # random B as well as A: every adapter changes the output
                task_type="CAUSAL_LM",
            )
            name = f"random-{i}"
            if peft_model is None:
                peft_model = get_peft_model(model, config, adapter_name=name)
            else:
                peft_model.add_adapter(name, config)
    return peft_model.eval()


def merged_models(peft_model, names: list[str]) -> dict[str, torch.nn.Module]:
    """Each adapter merged into its own copy of the base (``merge_and_unload``)."""
    merged = {}
    for name in names:
        copy_ = copy.deepcopy(peft_model)
        copy_.set_adapter(name)
        merged[name] = copy_.merge_and_unload(adapter_names=[name]).eval()
    return merged


@dataclass
class Generated:
    tokens: list[list[int]]
    timings: list[RequestTiming]


@torch.no_grad()
def generate(
    model,
    tokenizer,
    prompts: list[list[int]],
    new_tokens: int,
    adapter_names: list[str] | None = None,
    sent: float | None = None,
) -> Generated:
    """Greedy generation of exactly ``new_tokens`` for a batch of prompts (token ids, left-padded
    together). Every request of the batch shares its token times; it was sent at ``sent``
    (default: now)."""
    device = next(model.parameters()).device
    input_ids, attention_mask = (t.to(device) for t in left_padded(prompts, tokenizer.pad_token_id))
    clock = _StepClock()
    kwargs = {"adapter_names": adapter_names} if adapter_names is not None else {}
    sent = time.perf_counter() if sent is None else sent
    output = model.generate(
        input_ids=input_ids,
        attention_mask=attention_mask,
        max_new_tokens=new_tokens,
        min_new_tokens=new_tokens,
        do_sample=False,
        pad_token_id=tokenizer.pad_token_id,
        logits_processor=LogitsProcessorList([clock]),
        **kwargs,
    )
    if output.is_cuda:
        torch.cuda.synchronize()
    done = time.perf_counter()
    generated = output[:, input_ids.shape[1] :].tolist()
    timings = [RequestTiming(sent, clock.times[0], done, len(p), new_tokens) for p in prompts]
    return Generated(generated, timings)
