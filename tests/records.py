"""Records built by hand for tests that need a finished run, a drift table or a benchmark without
training one; every field a test does not name gets a plausible value."""

from __future__ import annotations

from typing import Any

from lorascope.records import PlanEntry, RunResults, ServingRow
from lorascope.studies.folder import Entry


def run_results(metrics: dict[str, float | None] | None = None, **fields: Any) -> RunResults:
    """A finished run's results: ``metrics`` (default accuracy 0.8) and any field overridden."""
    metrics = {"accuracy": 0.8} if metrics is None else metrics
    defaults: dict[str, Any] = {
        "seed": 0,
        "device": "cpu",
        "precision": "fp32",
        "platform": "test",
        "versions": {"lorascope": "test"},
        "task": "sst2",
        "model": "tiny-bert",
        "method": "lora",
        "metrics": metrics,
        "main_metric": next(iter(metrics), "accuracy"),
        "trainable_params": 100,
        "total_params": 1000,
        "steps": 10,
        "epochs": 1.0,
        "train_seconds": 1.0,
        "train_examples": 32,
        "eval_examples": 16,
    }
    return RunResults(**(defaults | fields))


def entry(
    task: str,
    method: str,
    seed: int,
    results: RunResults | None = None,
    status: str | None = None,
    kind: str = "run",
    **group: Any,
) -> Entry:
    """A planned grid run of ``task`` × ``method`` (and other axes), done when it has ``results``."""
    planned = PlanEntry(
        id=f"{task}-{method}-{seed}",
        kind=kind,
        label=f"{task} · {method} · seed {seed}",
        folder=f"runs/{task}-{method}-{seed}",
        group={"task": task, "method": method, **group},
        seed=seed,
        config={"task": task, "method": method, "seed": seed},
    )
    return Entry(planned, status or ("done" if results else "pending"), results)


def serving_row(mode: str, batch_size: int, repetition: int, mean_latency_ms: float, **fields: Any) -> ServingRow:
    """One repetition of a serve-bench mode, its other latencies equal to the mean."""
    latency = {f"{s}_latency_ms": mean_latency_ms for s in ("mean", "p50", "p95", "p99")}
    ttft = {f"{s}_ttft_ms": mean_latency_ms / 4 for s in ("mean", "p50", "p95", "p99")}
    defaults = {
        "requests": 8.0,
        "duration_s": 1.0,
        "request_throughput": 8.0,
        "output_throughput": 64.0,
        "total_token_throughput": 128.0,
    }
    return ServingRow(mode=mode, batch_size=batch_size, repetition=repetition, **(latency | ttft | defaults | fields))
