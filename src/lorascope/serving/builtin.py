"""The built-in serving backends (``lorascope serve-bench --backend``). Each is named by path and
imported only when a benchmark runs with it, so building the command line stays light."""

from __future__ import annotations

from lorascope.registry import register_backend

register_backend("peft", "lorascope.serving.bench:run_bench", "in-process transformers + PEFT")
register_backend("vllm", "lorascope.serving.bench:run_vllm_bench", "vLLM's offline engine (GPU, or its CPU build)")
register_backend("openai-http", "lorascope.serving.bench:run_http_bench", "the workload's http targets")
