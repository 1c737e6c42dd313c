"""``drift.json``: the drift table (``drift.csv`` is its human copy; a folder from before records has
only the CSV, which is read as version 0)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from lorascope.records.base import Record


class DriftRow(BaseModel):
    """One measure of one layer of one run at one snapshot step (``final``: the trained model)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    run: str
    task: str
    method: str
    seed: int
    layer: int
    step: int | Literal["final"]
    measure: str
    value: float


FIELDS = tuple(DriftRow.model_fields)


class DriftTable(Record):
    rows: list[DriftRow]


def read_drift_csv(path: Path) -> DriftTable:
    """A ``drift.csv`` of a folder from before records, validated row by row."""
    with Path(path).open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return DriftTable.parse({"rows": rows}, str(path))
