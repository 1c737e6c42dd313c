"""vLLM's offline engine: one engine with ``enable_lora`` and a ``LoRARequest`` per prompt, against
one engine per merged model. Unverified: vLLM is a CUDA-only wheel that could not be installed
where lorascope is developed (see docs/serving.md); the checks of ``vllm_check`` run first.

Adapters and merged models are folders: saved adapters as given, random ones written first
(PEFT ``save_pretrained``), merged ones by ``merge_and_unload``.
"""

from __future__ import annotations

import time
from pathlib import Path

from lorascope.errors import LorascopeError
from lorascope.serving.metrics import RequestTiming
from lorascope.serving.vllm_check import check_vllm
from lorascope.serving.workload import Workload


def import_vllm():
    try:
        import vllm
    except ImportError:
        raise LorascopeError(
            "--backend vllm: vLLM is not installed (a CUDA-only package: pip install vllm on a GPU machine); "
            "or start `vllm serve --enable-lora --lora-modules …` and use --backend openai-http"
        ) from None
    return vllm


def adapter_folders(workload: Workload, peft_model, folder: Path) -> dict[str, Path]:
    """Every adapter of the workload as a PEFT folder vLLM can load; refused adapters stop here."""
    folders = {a.name: a.path for a in workload.adapters}
    for name in workload.adapter_names:
        if name not in folders:
            peft_model.save_pretrained(folder / "adapters", selected_adapters=[name])
            folders[name] = folder / "adapters" / name
    model_type = getattr(peft_model.get_base_model().config, "model_type", None)
    problems = [p for f in folders.values() for p in check_vllm(f, max_lora_rank(folders), model_type)]
    if problems:
        raise LorascopeError("vLLM would refuse these adapters:\n  " + "\n  ".join(problems))
    return folders


def max_lora_rank(folders: dict[str, Path]) -> int:
    """The smallest ``max_lora_rank`` vLLM accepts that covers every adapter's rank."""
    from lorascope.serving.vllm_check import VLLM_MAX_LORA_RANKS, read_adapter_config

    ranks = []
    for folder in folders.values():
        config = read_adapter_config(folder)
        ranks += [config.get("r", 0), *(config.get("rank_pattern") or {}).values()]
    return next((r for r in VLLM_MAX_LORA_RANKS if r >= max(ranks)), VLLM_MAX_LORA_RANKS[-1])


def serve(llm, prompts: list[list[int]], new_tokens: int, lora_requests=None) -> list[RequestTiming]:
    """One batch through ``llm.generate``; first-token times from vLLM's request metrics when it
    reports them, else the batch's end."""
    vllm = import_vllm()
    params = vllm.SamplingParams(temperature=0.0, max_tokens=new_tokens, min_tokens=new_tokens, ignore_eos=True)
    sent = time.perf_counter()
    outputs = llm.generate(
        [{"prompt_token_ids": p} for p in prompts], params, lora_request=lora_requests, use_tqdm=False
    )
    done = time.perf_counter()
    timings = []
    for prompt, output in zip(prompts, outputs, strict=True):
        metrics = getattr(output, "metrics", None)
        first = getattr(metrics, "first_token_time", None)
        arrival = getattr(metrics, "arrival_time", None)
        ttft = (first - arrival) if first and arrival else done - sent
        timings.append(RequestTiming(sent, sent + ttft, done, len(prompt), len(output.outputs[0].token_ids)))
    return timings


def run_vllm(workload: Workload, out: Path, prompts: list[list[int]], names: list[str], peft_model) -> list[dict]:
    """Rows (mode, batch size, repetition, metrics) for vLLM: the LoRA engine serves mixed batches
    and the bare base; then each merged model's engine serves its adapter's share of every batch."""
    import gc

    from lorascope.serving.metrics import summarize
    from lorascope.serving.peft_backend import merged_models

    vllm = import_vllm()
    from vllm.lora.request import LoRARequest

    folders = adapter_folders(workload, peft_model, out)
    dtype = "auto" if workload.dtype == "auto" else workload.dtype
    collected: dict[tuple[str, int, int], list[RequestTiming]] = {}

    def batches(size: int):
        for start in range(0, len(prompts), size):
            yield prompts[start : start + size], names[start : start + size]

    engine = vllm.LLM(
        model=workload.base, enable_lora=True, max_lora_rank=max_lora_rank(folders), max_loras=len(folders), dtype=dtype
    )
    requests = {name: LoRARequest(name, i + 1, str(path)) for i, (name, path) in enumerate(folders.items())}
    for size in workload.batch_sizes:
        for repetition in range(-workload.warmup, workload.repetitions):
            for batch, adapters in batches(size):
                mixed = serve(engine, batch, workload.prompts.output_tokens, [requests[a] for a in adapters])
                plain = serve(engine, batch, workload.prompts.output_tokens)
                collected.setdefault(("adapters", size, repetition), []).extend(mixed)
                collected.setdefault(("base", size, repetition), []).extend(plain)
    del engine
    gc.collect()
    for name in folders:
        target = out / "merged" / name
        if not target.is_dir():
            merged_models(peft_model, [name])[name].save_pretrained(target)  # merges a copy
        engine = vllm.LLM(model=str(target), tokenizer=workload.base, dtype=dtype)
        for size in workload.batch_sizes:
            for repetition in range(-workload.warmup, workload.repetitions):
                for batch, adapters in batches(size):
                    mine = [p for p, a in zip(batch, adapters, strict=True) if a == name]
                    if mine:
                        timings = serve(engine, mine, workload.prompts.output_tokens)
                        collected.setdefault(("merged", size, repetition), []).extend(timings)
        del engine
        gc.collect()
    return [
        {"mode": mode, "batch_size": size, "repetition": repetition} | summarize(timings)
        for (mode, size, repetition), timings in collected.items()
        if repetition >= 0
    ]
