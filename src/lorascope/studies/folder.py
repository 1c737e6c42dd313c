"""A study folder's reading rules: each planned run with its status, its results or error, and
its variant label. The paths and file names are ``records.StudyFolder``'s."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lorascope.errors import LorascopeError
from lorascope.records import Plan, PlanEntry, RunFolder, RunResults, StudyFolder
from lorascope.records.folders import Status
from lorascope.studies.spec import method_label


@dataclass(frozen=True)
class Entry:
    """A planned run as the folder has it now."""

    planned: PlanEntry
    status: Status
    results: RunResults | None = None
    error: str | None = None

    @property
    def id(self) -> str:
        return self.planned.id

    @property
    def kind(self) -> str:
        return self.planned.kind

    @property
    def label(self) -> str:
        return self.planned.label

    @property
    def folder(self) -> str:
        return self.planned.folder

    @property
    def group(self) -> dict:
        return self.planned.group

    @property
    def seed(self) -> int:
        return self.planned.seed

    @property
    def config(self) -> dict:
        return self.planned.config

    @property
    def variant(self) -> str:
        """The table row's method and its other axes but the task: ``lora-r8``."""
        return method_label(self.planned.group)


def study_entries(study: StudyFolder, plan: Plan | None = None) -> list[Entry]:
    """Each planned run of ``plan`` (default: the folder's) with its status, and its results or error
    where it has them (each file read once)."""
    entries = []
    for planned in (plan or study.plan()).runs:
        run = study.run(planned.folder)
        status = run.status()
        results = run.results() if status == "done" else None
        error = run.error().error if status == "failed" else None
        entries.append(Entry(planned, status, results, error))
    return entries


def drift_runs(folder: Path) -> list[tuple[RunFolder, str | None]]:
    """What a drift analysis of ``folder`` covers, as (run folder, method label): the finished
    grid runs of a study folder, labelled by ``method_label``; or the run folder itself."""
    study = StudyFolder(folder)
    if not study.is_study():
        return [(RunFolder(folder), None)]
    runs = {}
    for planned in study.plan().runs:
        if planned.kind == "run" and study.run(planned.folder).status() == "done":
            runs[planned.folder] = method_label(planned.group)
    if not runs:
        raise LorascopeError(f"{folder}: the study has no finished runs yet")
    return [(study.run(run), label) for run, label in runs.items()]
