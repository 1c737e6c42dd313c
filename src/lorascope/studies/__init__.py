"""Studies: a grid of runs from one file — baselines, sanity checks, seeds, one results table."""

from lorascope.studies.results import format_summary, write_tables
from lorascope.studies.runner import describe, run_study, sanity_report
from lorascope.studies.spec import load_sanity, load_study, study_from_mapping

__all__ = [
    "describe",
    "format_summary",
    "load_sanity",
    "load_study",
    "run_study",
    "sanity_report",
    "study_from_mapping",
    "write_tables",
]
