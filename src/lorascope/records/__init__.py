"""Typed, versioned records of every file the layers exchange, and the folder objects that own
their paths. Readers validate and upgrade older files (no ``schema_version``: version 0)."""

from lorascope.records.base import Record, read_record, write_record
from lorascope.records.drift import DriftRow, DriftTable
from lorascope.records.folders import (
    BenchFolder,
    DriftFolder,
    RunFolder,
    StudyFolder,
    TuneFolder,
    removed_if_failed,
)
from lorascope.records.run import Environment, RunError, RunResults
from lorascope.records.serving import OverheadRow, ServingResults, ServingRow
from lorascope.records.study import Plan, PlanEntry, TunedRow
from lorascope.records.tuning import SearchSummary, TrialCounts, TuningSummary

__all__ = [
    "BenchFolder",
    "DriftFolder",
    "DriftRow",
    "DriftTable",
    "Environment",
    "OverheadRow",
    "Plan",
    "PlanEntry",
    "Record",
    "RunError",
    "RunFolder",
    "RunResults",
    "SearchSummary",
    "ServingResults",
    "ServingRow",
    "StudyFolder",
    "TrialCounts",
    "TuneFolder",
    "TunedRow",
    "TuningSummary",
    "read_record",
    "removed_if_failed",
    "write_record",
]
