"""Serving measurements from recorded timestamps, following the conventions of vLLM's benchmarks:
end-to-end latency per request, time to first token (TTFT), time per output token after the
first (TPOT), throughput in output and total tokens per second and requests per second."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

PERCENTILES = (50, 95, 99)


@dataclass(frozen=True)
class RequestTiming:
    """One request: when it was sent, when its first output token and its last arrived (seconds,
    one clock), and its token counts."""

    sent: float
    first_token: float
    done: float
    input_tokens: int
    output_tokens: int

    @property
    def latency(self) -> float:
        return self.done - self.sent

    @property
    def ttft(self) -> float:
        return self.first_token - self.sent

    @property
    def tpot(self) -> float | None:
        """Mean time per output token after the first; None for a one-token answer."""
        if self.output_tokens < 2:
            return None
        return (self.done - self.first_token) / (self.output_tokens - 1)


def _stats(values: Sequence[float], name: str) -> dict[str, float]:
    array = np.asarray(values, dtype=float)
    out = {f"mean_{name}": float(array.mean())}
    out |= {f"p{p}_{name}": float(np.percentile(array, p)) for p in PERCENTILES}
    return out


def summarize(timings: Sequence[RequestTiming]) -> dict[str, float]:
    """Means and percentiles (50, 95, 99) of latency, TTFT and TPOT in milliseconds, and the
    throughputs over the span from the first request sent to the last one done."""
    if not timings:
        raise ValueError("no requests were timed")
    span = max(t.done for t in timings) - min(t.sent for t in timings)
    tpots = [t.tpot for t in timings if t.tpot is not None]
    out_tokens = sum(t.output_tokens for t in timings)
    summary = {"requests": float(len(timings)), "duration_s": span}
    summary |= _stats([1000 * t.latency for t in timings], "latency_ms")
    summary |= _stats([1000 * t.ttft for t in timings], "ttft_ms")
    if tpots:
        summary |= _stats([1000 * v for v in tpots], "tpot_ms")
    summary |= {
        "request_throughput": len(timings) / span,
        "output_throughput": out_tokens / span,
        "total_token_throughput": (out_tokens + sum(t.input_tokens for t in timings)) / span,
    }
    return summary
