"""``serving/<bench>/results.json``: one row per mode, batch size and repetition, and the overhead
of mixed adapters over merged models per batch size."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict

from lorascope.records.base import Record


class ServingRow(BaseModel):
    """One repetition of one mode at one batch size (``serving.metrics.summarize``'s columns)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    mode: str
    batch_size: int
    repetition: int
    requests: float
    duration_s: float
    mean_latency_ms: float
    p50_latency_ms: float
    p95_latency_ms: float
    p99_latency_ms: float
    mean_ttft_ms: float
    p50_ttft_ms: float
    p95_ttft_ms: float
    p99_ttft_ms: float
    mean_tpot_ms: float | None = None
    p50_tpot_ms: float | None = None
    p95_tpot_ms: float | None = None
    p99_tpot_ms: float | None = None
    request_throughput: float
    output_throughput: float
    total_token_throughput: float
    peak_memory_mb: float | None = None

    def csv_row(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class OverheadRow(BaseModel):
    """Mean latency with adapters over merged at one batch size, with the Welch–Fieller interval and
    the p-value of "the ratio is above ``bound``" (2+ repetitions each)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    batch_size: int
    latency_ratio: float
    bound: float
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None

    def csv_row(self) -> dict[str, Any]:
        row: dict[str, Any] = {"batch_size": self.batch_size, "latency_ratio": self.latency_ratio}
        if self.ci_low is not None:
            row |= {"ci_low": self.ci_low, "ci_high": self.ci_high, f"p_ratio_above_{self.bound:g}": self.p_value}
        return row


class ServingResults(Record):
    results: list[ServingRow]
    overhead: list[OverheadRow]

    @classmethod
    def upgrade(cls, payload: dict[str, Any], version: int) -> dict[str, Any]:
        overhead = []
        for row in payload.get("overhead", []):
            row = dict(row)
            for key in [k for k in row if k.startswith("p_ratio_above_")]:
                row["p_value"], row["bound"] = row.pop(key), float(re.sub("^p_ratio_above_", "", key))
            overhead.append({"bound": 1.3} | row)
        return payload | {"overhead": overhead}
