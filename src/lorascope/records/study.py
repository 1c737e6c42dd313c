"""``plan.json``: what a study folder is planned to hold, written before the first run."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from lorascope.records.base import Record

Kind = Literal["baseline", "sanity", "run"]


class PlanEntry(BaseModel):
    """One planned run: its id, phase, label, folder (relative to the study), grid row and config."""

    model_config = ConfigDict(extra="forbid")
    id: str
    kind: Kind
    label: str
    folder: str
    group: dict[str, Any]
    seed: int
    config: dict[str, Any]


class TunedRow(BaseModel):
    model_config = ConfigDict(extra="forbid")
    row: dict[str, Any]
    values: dict[str, Any]


class Plan(Record):
    name: str
    sanity: dict[str, Any]
    tuned: list[TunedRow] = []
    runs: list[PlanEntry]
