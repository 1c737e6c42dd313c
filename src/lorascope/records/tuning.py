"""``tune/summary.json``: the searches of ``lorascope tune``, their spaces, counts and choices."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from lorascope.records.base import Record


class TrialCounts(BaseModel):
    model_config = ConfigDict(extra="forbid")
    complete: int
    pruned: int
    failed: int


class SearchSummary(BaseModel):
    """One search (a table row of the study): its space, trial counts and best trial."""

    model_config = ConfigDict(extra="forbid")
    label: str
    group: dict[str, Any]
    folder: str
    metric: str
    space: dict[str, str]  # parameter → its distribution, described
    fixed: list[str]
    trials: TrialCounts
    importance: dict[str, float]
    figures: list[str]
    complete: bool  # the trial budget is met
    best_value: float | None = None
    best_trial: int | None = None
    values: dict[str, Any] | None = None
    at_edge: list[str] = []


class TuningSummary(Record):
    study: str
    optuna: str
    storage: str | None
    objective: str  # where the objective was measured, in words
    settings: dict[str, Any]  # the tune: section, without spaces and storage
    searches: list[SearchSummary]
