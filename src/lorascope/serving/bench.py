"""``lorascope serve-bench``: the same requests served by one base model with mixed adapter
batches, by each adapter's merged model, and by the bare base model; latency and throughput per
batch size, and the overhead of mixed adapters over merged models with a bootstrap interval.

Output folder::

    workload.yaml      the workload as run
    environment.json   versions, device
    results.csv        one row per mode × batch size × repetition (metrics of serving.metrics)
    results.json       the same rows and the overhead table
    overhead.csv       per batch size: mean latency of mixed adapters / merged, 95% Welch–Fieller interval
    serving.png/.pdf   latency and throughput against batch size, per mode
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from lorascope.errors import LorascopeError
from lorascope.records import BenchFolder, OverheadRow, ServingRow
from lorascope.serving.metrics import RequestTiming, summarize
from lorascope.serving.openai_http import run_requests
from lorascope.serving.peft_backend import generate, load_base, merged_models, with_adapters
from lorascope.serving.workload import MODES, Workload, dataset_texts, needs_adapters
from lorascope.training.environment import environment, peak_memory_mb, reset_peak_memory


def assign(names: list[str], assignment: str, count: int, rng: np.random.Generator) -> list[str]:
    """The adapter (or model) of each of ``count`` requests: in turn (``round-robin``), uniformly at
    random, or ``skewed`` (the k-th name drawn with weight 1/k)."""
    if assignment == "round-robin":
        return [names[i % len(names)] for i in range(count)]
    weights = np.ones(len(names)) if assignment == "random" else 1.0 / np.arange(1, len(names) + 1)
    return [str(n) for n in rng.choice(names, size=count, p=weights / weights.sum())]


def token_prompts(workload: Workload, tokenizer, vocab_size: int, rng: np.random.Generator) -> list[list[int]]:
    """The prompts as token ids: a dataset's texts tokenized and cut to ``input_tokens``, or
    ``count`` × ``input_tokens`` ids drawn uniformly from the non-special vocabulary."""
    spec = workload.prompts
    if spec.file is not None:
        return [tokenizer(text)["input_ids"][: spec.input_tokens] for text in dataset_texts(spec)]
    special = set(tokenizer.all_special_ids)
    allowed = np.array([t for t in range(vocab_size) if t not in special])
    return rng.choice(allowed, size=(spec.count, spec.input_tokens)).tolist()


def serve_once(
    mode: str, models: dict, tokenizer, prompts: list[list[int]], names: list[str], batch_size: int, new_tokens: int
) -> list[RequestTiming]:
    """Every prompt served once in batches of ``batch_size``; merged models take their share of a
    batch in turn (a batch's requests all arrive when it starts)."""

    timings: list[RequestTiming] = []
    for start in range(0, len(prompts), batch_size):
        batch, adapters = prompts[start : start + batch_size], names[start : start + batch_size]
        if mode == "adapters":
            timings += generate(models["peft"], tokenizer, batch, new_tokens, adapter_names=adapters).timings
        elif mode == "base":
            with models["peft"].disable_adapter():
                timings += generate(models["peft"], tokenizer, batch, new_tokens).timings
        else:
            sent = time.perf_counter()
            for name in dict.fromkeys(adapters):
                rows = [i for i, a in enumerate(adapters) if a == name]
                share = [batch[i] for i in rows]
                timings += generate(models["merged"][name], tokenizer, share, new_tokens, sent=sent).timings
    return timings


def run_bench(workload: Workload, out: Path, echo: Callable[[str], None] = print) -> list[dict]:
    """Run every mode × batch size × repetition (after warm-up) and write the output folder."""
    needs_adapters(workload, "peft")
    _start(workload, out)
    rng = np.random.default_rng(workload.seed)
    base, tokenizer = load_base(workload)
    prompts = token_prompts(workload, tokenizer, base.config.vocab_size, rng)
    peft_model = with_adapters(base, workload)
    models = {"peft": peft_model, "merged": merged_models(peft_model, workload.adapter_names)}
    mixed = workload.adapter_names[: workload.adapters_per_batch or None]
    names = assign(mixed, workload.assignment, len(prompts), rng)
    rows = []
    for batch_size in workload.batch_sizes:
        for mode in MODES:
            reset_peak_memory()
            for repetition in range(-workload.warmup, workload.repetitions):
                timings = serve_once(
                    mode, models, tokenizer, prompts, names, batch_size, workload.prompts.output_tokens
                )
                if repetition >= 0:
                    row = {"mode": mode, "batch_size": batch_size, "repetition": repetition} | summarize(timings)
                    rows.append(row | {"peak_memory_mb": peak_memory_mb()})  # GPU, or the process's RSS on CPU
            mean = np.mean([r["mean_latency_ms"] for r in rows if r["mode"] == mode and r["batch_size"] == batch_size])
            echo(f"batch {batch_size:>3} · {mode:<8} mean latency {mean:9.1f} ms")
    return _finish(out, rows)


def run_vllm_bench(workload: Workload, out: Path, echo: Callable[[str], None] = print) -> list[dict]:
    """The peft backend's requests through vLLM's offline engine (``serving.vllm_backend``)."""
    from lorascope.serving.peft_backend import base_config
    from lorascope.serving.vllm_backend import (
        base_folder,
        check_head_size,
        cpu_head_sizes,
        import_vllm,
        output_to,
        run_vllm,
    )

    import_vllm()  # a clear message before any work when vLLM is missing
    needs_adapters(workload, "vllm")
    check_head_size(base_config(workload), workload.base, cpu_head_sizes())
    _start(workload, out)
    rng = np.random.default_rng(workload.seed)
    base, tokenizer = load_base(workload)
    prompts = token_prompts(workload, tokenizer, base.config.vocab_size, rng)
    folder = base_folder(workload, base, tokenizer, out)
    peft_model = with_adapters(base.cpu(), workload)
    names = assign(
        workload.adapter_names[: workload.adapters_per_batch or None], workload.assignment, len(prompts), rng
    )
    log = out / "vllm.log"
    echo(f"vLLM engines: their output goes to {log}")
    try:
        with output_to(log):
            rows = run_vllm(workload, out, prompts, names, peft_model, folder)
    except LorascopeError:
        raise
    except Exception as exc:  # the output folder goes, and the log with it: its end goes in the message
        tail = log.read_text(encoding="utf-8", errors="replace").splitlines()[-12:]
        raise LorascopeError(f"vLLM failed: {exc}; the end of its output:\n    " + "\n    ".join(tail)) from exc
    for size in workload.batch_sizes:
        for mode in MODES:
            mean = np.mean([r["mean_latency_ms"] for r in rows if r["mode"] == mode and r["batch_size"] == size])
            echo(f"batch {size:>3} · {mode:<8} mean latency {mean:9.1f} ms")
    return _finish(out, rows)


def _start(workload: Workload, out: Path) -> None:
    folder = BenchFolder(out)
    folder.write_environment(environment(workload.seed, workload.dtype))
    folder.write_workload(workload.model_dump(mode="json"))


def _finish(out: Path, rows: list[dict]) -> list[dict]:
    """Write the benchmark's record (results.json), its CSV copies and the figure."""
    folder = BenchFolder(out)
    records = [ServingRow(**row) for row in rows]
    folder.write_results(records, overheads(records))
    plot(rows, folder.figure)
    return rows


def run_http_bench(workload: Workload, out: Path, echo: Callable[[str], None] = print) -> list[dict]:
    """The same text prompts sent to every HTTP target at each concurrency level (``batch_sizes``)."""
    if workload.http is None:
        raise LorascopeError("--backend openai-http: the workload has no http: section with targets")
    BenchFolder(out).write_workload(workload.model_dump(mode="json"))
    rng = np.random.default_rng(workload.seed)
    if workload.prompts.file is not None:
        prompts = dataset_texts(workload.prompts)
    else:
        words = rng.choice(WORDS, size=(workload.prompts.count, workload.prompts.input_tokens))
        prompts = [" ".join(row) for row in words]
    rows = []
    for concurrency in workload.batch_sizes:
        for label, target in workload.http.targets.items():
            models = assign(target.models, workload.assignment, len(prompts), rng)
            for repetition in range(-workload.warmup, workload.repetitions):
                timings = run_requests(
                    target.url,
                    models,
                    prompts,
                    workload.prompts.output_tokens,
                    concurrency,
                    workload.http.request_rate,
                    workload.seed + workload.warmup + repetition,  # warm-up repetitions count from -warmup
                    workload.http.fixed_length,
                )
                if repetition >= 0:
                    rows.append(
                        {"mode": label, "batch_size": concurrency, "repetition": repetition} | summarize(timings)
                    )
            mean = np.mean(
                [r["mean_latency_ms"] for r in rows if r["mode"] == label and r["batch_size"] == concurrency]
            )
            echo(f"concurrency {concurrency:>3} · {label:<10} mean latency {mean:9.1f} ms")
    return _finish(out, rows)


WORDS = np.array(
    [
        "the",
        "of",
        "and",
        "to",
        "in",
        "is",
        "was",
        "for",
        "on",
        "that",
        "with",
        "as",
        "by",
        "at",
        "from",
        "it",
        "an",
        "be",
        "this",
        "are",
        "or",
        "which",
    ]
)


def overheads(rows: list[ServingRow], bound: float = 1.3) -> list[OverheadRow]:
    """Per batch size: mean latency with mixed adapters over merged models, with a 95%
    Welch–Fieller interval over repetitions (``lorascope.stats.overhead``; needs 2+ repetitions)."""
    from lorascope.stats.inference import overhead

    table = []
    for batch_size in sorted({r.batch_size for r in rows}):
        adapters = [r.mean_latency_ms for r in rows if r.mode == "adapters" and r.batch_size == batch_size]
        merged = [r.mean_latency_ms for r in rows if r.mode == "merged" and r.batch_size == batch_size]
        if not adapters or not merged:
            continue
        fields: dict = {}
        if len(adapters) >= 2 and len(merged) >= 2:
            result = overhead(adapters, merged, bound, alpha=0.025)
            fields = {"ci_low": result.low, "ci_high": result.high, "p_value": result.p_value}
        ratio = float(np.mean(adapters) / np.mean(merged))
        table.append(OverheadRow(batch_size=batch_size, latency_ratio=ratio, bound=bound, **fields))
    return table


def plot(rows: list[dict], path: Path) -> Path:
    """Mean latency and output throughput against batch size, one line per mode (mean over repetitions)."""
    import matplotlib.pyplot as plt

    from lorascope.plotting import save_figure  # selects matplotlib's file backend

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))

    def mean(key: str, mode: str, size: int) -> float:
        return float(np.mean([r[key] for r in rows if r["mode"] == mode and r["batch_size"] == size]))

    for mode in dict.fromkeys(r["mode"] for r in rows):
        sizes = sorted({r["batch_size"] for r in rows if r["mode"] == mode})
        left.plot(sizes, [mean("mean_latency_ms", mode, b) for b in sizes], marker="o", label=mode)
        right.plot(sizes, [mean("output_throughput", mode, b) for b in sizes], marker="o", label=mode)
    for ax, label in ((left, "mean latency per request (ms)"), (right, "output tokens / s")):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("batch size")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    return save_figure(fig, path)
