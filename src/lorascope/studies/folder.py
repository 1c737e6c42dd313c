"""A study folder's layout and its reading rules: the plan, each planned run's status, results
and error. Everything that reads a study folder goes through here."""

from __future__ import annotations

import json
from pathlib import Path

from lorascope.errors import LorascopeError
from lorascope.studies.spec import method_label


def run_status(folder: Path) -> str:
    """done (results.json), failed (error.json), partial (started, not finished) or pending."""
    if (folder / "results.json").is_file():
        return "done"
    if (folder / "error.json").is_file():
        return "failed"
    return "partial" if folder.is_dir() else "pending"


def read_results(folder: Path) -> dict:
    path = folder / "results.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise LorascopeError(f"{path}: unreadable results ({exc})") from None


def load_plan(study_dir: Path) -> dict:
    path = Path(study_dir) / "plan.json"
    if not path.is_file():
        raise LorascopeError(f"{study_dir}: not a study folder (no plan.json); start it with lorascope study")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise LorascopeError(f"{path}: unreadable ({exc})") from None


def drift_runs(folder: Path) -> list[tuple[Path, str | None]]:
    """What a drift analysis of ``folder`` covers, as (run folder, method label): the finished
    grid runs of a study folder, labelled by ``method_label``; or the run folder itself."""
    folder = Path(folder)
    if not (folder / "plan.json").is_file():
        return [(folder, None)]
    runs = {}
    for planned in load_plan(folder)["runs"]:
        if planned["kind"] == "run" and run_status(folder / planned["folder"]) == "done":
            runs[planned["folder"]] = method_label(planned["group"])
    if not runs:
        raise LorascopeError(f"{folder}: the study has no finished runs yet")
    return [(folder / run, label) for run, label in runs.items()]


def study_entries(study_dir: Path, plan: dict) -> list[dict]:
    """Each planned run with its status, and its results or error where it has them."""
    entries = []
    for planned in plan["runs"]:
        folder = study_dir / planned["folder"]
        status = run_status(folder)
        entry = dict(planned, status=status, results=None, error=None)
        if status == "done":
            entry["results"] = read_results(folder)
        elif status == "failed":
            entry["error"] = json.loads((folder / "error.json").read_text(encoding="utf-8"))["error"]
        entries.append(entry)
    return entries
