"""What a run folder holds for other layers: its environment, its results, or why it failed."""

from __future__ import annotations

import math
import traceback
from datetime import datetime, timezone
from typing import Any

from lorascope.errors import LorascopeError
from lorascope.records.base import Record


class Environment(Record):
    """``environment.json``: what a run or benchmark ran on."""

    seed: int
    device: str
    precision: str
    platform: str
    versions: dict[str, str]


class RunResults(Environment):
    """``results.json``, written last: the run counts as done from this file on. The environment's
    fields are repeated, so one file reproduces the run's setting."""

    task: str
    model: str
    method: str
    metrics: dict[str, float | None]
    main_metric: str
    best_checkpoint: str | None = None
    trainable_params: int
    total_params: int
    lora_params: int | None = None
    rank_strategy: str | None = None
    steps: int
    epochs: float
    train_seconds: float
    peak_memory_mb: float | None = None
    artifact: str | None = None
    resumed_from: str | None = None
    lora_targets: list[str] | None = None
    label_names: list[str] | None = None
    train_examples: int
    eval_examples: int
    lower_is_better: list[str] = []  # metrics where lower is better (perplexity); the rest: higher
    task_settings: dict[str, str | int | float | bool | None] = {}  # how the task trained and scored (loss_on)
    memory_bytes: dict[str, int] = {}  # model (as stored), trainable, adapters, optimizer_state, quantized_base
    quantization: dict[str, str | int | float | bool | None] | None = None  # a 4-bit base: settings and error

    def lower(self, name: str | None = None) -> bool:
        """Whether lower is better for ``name`` (default: the main metric)."""
        return (name or self.main_metric) in self.lower_is_better

    def number(self, name: str | None = None) -> float | None:
        """A metric (default: the main one) or a numeric field (``train_seconds``); None when the run has
        no such number, NaN when the metric is undefined (a correlation of constant predictions)."""
        name = name or self.main_metric
        if name in self.metrics:
            value = self.metrics[name]
            return math.nan if value is None else float(value)
        value = getattr(self, name, None) if name in type(self).model_fields else None
        return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None

    @property
    def main_score(self) -> float | None:
        """The main metric, None where it is undefined."""
        return self.metrics.get(self.main_metric)


class RunError(Record):
    """``error.json`` of a study run or a tuning trial that raised: the one failure record."""

    time: str | None = None
    label: str  # the study run's label, or "trial N"
    error: str
    traceback: str | None = None

    @classmethod
    def upgrade(cls, payload: dict[str, Any], version: int) -> dict[str, Any]:
        payload = dict(payload)
        trial = payload.pop("trial", None)  # a tuning trial's error.json before records
        payload.setdefault("label", f"trial {trial}")
        return payload

    @classmethod
    def of(cls, label: str, exc: BaseException) -> RunError:
        """The record of ``exc``, being handled now: our own errors by their message, others with their type."""
        message = str(exc) if isinstance(exc, LorascopeError) else f"{type(exc).__name__}: {exc}"
        return cls(
            time=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            label=label,
            error=message,
            traceback=traceback.format_exc(),
        )

    @property
    def first_line(self) -> str:
        return self.error.splitlines()[0] if self.error else ""
