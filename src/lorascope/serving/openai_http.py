"""Any OpenAI-compatible server (``vllm serve --enable-lora --lora-modules …``, ``transformers
serve``): streaming ``/v1/completions`` requests at a fixed concurrency or at a Poisson request
rate, each timed from send to first streamed text and to the end of the stream.

The adapter of a request is the ``model`` it names, as vLLM serves LoRA modules by name; merged
models are other names (or another server). Token counts come from the server's ``usage`` when it
sends one, else from the number of streamed chunks.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlparse

import numpy as np

from lorascope.errors import LorascopeError
from lorascope.serving.metrics import RequestTiming


def stream_completion(
    url: str, model: str, prompt: str, max_tokens: int, fixed_length: bool = True, timeout: float = 300.0
) -> RequestTiming:
    """One streaming completion, timed. ``fixed_length`` sends vLLM's ``min_tokens`` and
    ``ignore_eos`` so every answer is ``max_tokens`` long, and ``skip_special_tokens: false`` so a
    token that decodes to nothing still arrives as text (servers that reject unknown fields, such as
    ``transformers serve``, need it off)."""
    parts = urlparse(url)
    connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = connection_class(parts.hostname, parts.port, timeout=timeout)
    body = {
        "model": model,
        "prompt": prompt,
        "max_tokens": max_tokens,
        "temperature": 0.0,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if fixed_length:  # and special tokens as text, so that every token's arrival is seen
        body |= {"min_tokens": max_tokens, "ignore_eos": True, "skip_special_tokens": False}
    sent = time.perf_counter()
    first, chunks, usage = None, 0, None
    try:
        connection.request(
            "POST", f"{parts.path.rstrip('/')}/v1/completions", json.dumps(body), {"Content-Type": "application/json"}
        )
        response = connection.getresponse()
        if response.status != 200:
            raise LorascopeError(f"{url}: HTTP {response.status} for model '{model}': {response.read()[:300]!r}")
        for raw in response:
            line = raw.decode("utf-8").strip()
            if not line.startswith("data:"):
                continue
            data = line.removeprefix("data:").strip()
            if data == "[DONE]":
                break
            event = json.loads(data)
            usage = event.get("usage") or usage
            if event.get("choices"):  # a generated token (its text may still be empty: part of a character)
                chunks += 1
                if first is None:
                    first = time.perf_counter()
    except OSError as exc:
        raise LorascopeError(f"{url}: {exc}") from None
    finally:
        connection.close()
    done = time.perf_counter()
    output_tokens = usage["completion_tokens"] if usage else chunks
    input_tokens = usage["prompt_tokens"] if usage else 0
    return RequestTiming(sent, first if first is not None else done, done, input_tokens, output_tokens)


def run_requests(
    url: str,
    models: list[str],
    prompts: list[str],
    max_tokens: int,
    concurrency: int,
    request_rate: float | None = None,
    seed: int = 0,
    fixed_length: bool = True,
) -> list[RequestTiming]:
    """Send every prompt (request i names ``models[i]``) with at most ``concurrency`` in flight;
    with ``request_rate``, sends follow a Poisson process of that many requests per second."""
    rng = np.random.default_rng(seed)
    gaps = rng.exponential(1.0 / request_rate, len(prompts)) if request_rate else np.zeros(len(prompts))
    lock = threading.Lock()
    timings: list[RequestTiming] = []

    def one(i: int) -> None:
        timing = stream_completion(url, models[i], prompts[i], max_tokens, fixed_length)
        with lock:
            timings.append(timing)

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        futures = []
        for i, gap in enumerate(gaps):
            if gap:
                time.sleep(gap)
            futures.append(pool.submit(one, i))
        for future in futures:
            future.result()  # re-raises a failed request's error
    return timings
