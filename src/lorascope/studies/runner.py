"""Running a study: baselines, then sanity checks, then the grid — resumable at any moment.

Study folder::

    study.yaml         the study file as run (overrides applied, base config inlined)
    plan.json          every planned run: id, kind, label, folder, table row, resolved config
    study_log.jsonl    one line per event: start, done, failed (with times)
    baselines/ sanity/ runs/   one ordinary run folder each, named <label>-<id>
    results.csv        one row per run;  summary.csv: one row per task × method
    drift/             when the runs take drift snapshots: drift.csv, drift_comparison.csv,
                       figures, and base-cache/ (the base model's snapshots, shared by the runs)
"""

from __future__ import annotations

import contextlib
import gc
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import torch
from transformers import TrainerCallback

from lorascope.errors import LorascopeError, os_error
from lorascope.io import format_metrics
from lorascope.records import Plan, PlanEntry, RunError, RunFolder, RunResults, StudyFolder, TunedRow
from lorascope.registry import TASKS
from lorascope.studies.sanity import sanity_verdict
from lorascope.studies.spec import Kind, PlannedRun, Study
from lorascope.training.run import preflight, run_training

PHASES: tuple[Kind, ...] = ("baseline", "sanity", "run")
NOUNS = {"baseline": "baselines", "sanity": "sanity checks", "run": "runs"}


class SanityFailed(LorascopeError):
    """A required sanity check failed, so the grid was not started."""

    exit_code = 1


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


@dataclass
class StudyLog:
    """Appends one JSON line per event to study_log.jsonl."""

    path: Path

    def write(self, event: str, run: PlannedRun, **extra) -> None:
        record = {"time": _now(), "event": event, "kind": run.kind, "id": run.id, "label": run.label, **extra}
        with contextlib.suppress(OSError), self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")  # a log line lost to a full disk is not worth a study


@dataclass
class Outcome:
    """What one invocation did."""

    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # label -> error
    sanity_failures: list[str] = field(default_factory=list)


def run_status(folder: Path) -> str:
    """done, failed, partial or pending (``RunFolder.status``)."""
    return RunFolder(folder).status()


def refuse_foreign_folder(out: Path) -> None:
    """Refuse a file, or a folder holding something else than a study (plan.json) or its search (tune/)."""
    if not StudyFolder(out).is_ours():
        raise LorascopeError(f"--out {out}: not empty and not a study folder (no plan.json); choose another folder")


def prepare_folder(study: Study, out: Path) -> None:
    """Create or reopen the study folder and write study.yaml and plan.json."""
    refuse_foreign_folder(out)
    plan = Plan(
        name=study.name,
        sanity=study.spec.sanity.model_dump(mode="json"),
        tuned=[TunedRow(row=dict(group), values=values) for group, values in (study.tuned or {}).items()],
        runs=[PlanEntry(**run.record()) for run in study.runs],
    )
    StudyFolder(out).write_plan(plan, study.raw)


def describe(study: Study, out: Path) -> str:
    """The plan as a table (``--dry-run``): kind, status on disk, id, label."""
    lines = [f"study {study.name} → {out}"]
    rows = [(kind, run, run_status(out / run.folder)) for kind in PHASES for run in study.unique(kind)]
    for kind in PHASES:
        statuses = [status for k, _, status in rows if k == kind]
        counts = ", ".join(
            f"{statuses.count(s)} {s}" for s in ("done", "partial", "failed", "pending") if s in statuses
        )
        lines.append(f"{len(statuses)} {NOUNS[kind]}: {counts or 'none'}")
    lines.append("")
    lines.append(f"{'kind':<9}{'status':<9}{'id':<12}label")
    for kind, run, status in rows:
        lines.append(f"{kind:<9}{status:<9}{run.id:<12}{run.label}")
    return "\n".join(lines)


def _execute(run: PlannedRun, out: Path, callbacks: list[TrainerCallback] | None) -> RunResults:
    study = StudyFolder(out)
    folder = study.run(run.folder)
    folder.clear_error()
    resume = folder.checkpoints.is_dir()
    try:
        return run_training(run.config, folder, resume=resume, callbacks=callbacks, base_cache=study.base_cache)
    finally:
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def _record_failure(run: PlannedRun, out: Path, exc: Exception) -> str:
    """The failure's message, recorded in the run's error.json when the disk lets it be."""
    error = RunError.of(run.label, exc)
    try:
        StudyFolder(out).run(run.folder).write_error(error)
    except OSError as unwritable:  # a full disk fails the run and its record alike: say so, go on
        return f"{error.error} (its error.json could not be written: {os_error(unwritable)})"
    return error.error


class Progress:
    """One line per run: its position, the runs done and failed, and an ETA from the runs timed so far."""

    def __init__(self, kind: Kind, runs: list[PlannedRun], out: Path, echo: Callable[[str], None]):
        self.kind, self.total, self.echo = kind, len(runs), echo
        done = [run for run in runs if run_status(out / run.folder) == "done"]
        self.finished, self.failed = len(done), 0
        self.earlier = [RunFolder(out / run.folder).results().train_seconds for run in done]
        self.timed: list[float] = []
        if done:
            echo(f"{kind}: {len(done)} of {self.total} already done, skipped")

    def eta(self) -> float | None:
        times = self.timed or self.earlier
        remaining = self.total - self.finished - self.failed
        return sum(times) / len(times) * remaining if times else None

    def start(self, run: PlannedRun) -> None:
        position = self.finished + self.failed + 1
        self.echo(
            f"[{self.kind} {position}/{self.total} · {self.finished} done, {self.failed} failed · "
            f"ETA {_duration(self.eta())}] {run.label}  ({run.folder})"
        )

    def finish(self, seconds: float, ok: bool) -> None:
        self.timed.append(seconds)
        if ok:
            self.finished += 1
        else:
            self.failed += 1


def sanity_report(study: Study, out: Path) -> list[tuple[bool, str]]:
    """(passed, line) for every sanity check of the study, from its results.json."""
    settings = study.spec.sanity
    report = []
    for run in study.unique("sanity"):
        folder = RunFolder(out / run.folder)
        if folder.status() != "done":
            report.append((False, f"{run.label}: did not finish ({folder.status()})"))
            continue
        results = folder.results()
        metric, passed, score = sanity_verdict(results, settings.min_score)
        shown = "undefined" if score is None else f"{score:.3f}"
        relation = "≥" if passed else "<"
        report.append(
            (
                passed,
                f"{run.label}: {metric} {shown} {relation} {settings.min_score} on "
                f"{results.train_examples} training examples after {results.steps} steps",
            )
        )
    return report


def _check_sanity(study: Study, out: Path, outcome: Outcome, echo: Callable[[str], None]) -> None:
    outcome.sanity_failures = [line for passed, line in sanity_report(study, out) if not passed]
    if not outcome.sanity_failures:
        echo(f"sanity: all {len(study.unique('sanity'))} checks passed")
        return
    listing = "\n  ".join(outcome.sanity_failures)
    if study.spec.sanity.mode == "required":
        raise SanityFailed(
            f"sanity checks failed, so the study stopped before its runs (sanity.mode: required):\n  {listing}\n"
            "fix the setup, or set sanity.mode: warn to run anyway"
        )
    echo(f"WARNING: sanity checks FAILED — these setups could not overfit a few training examples:\n  {listing}")


def check_runs(study: Study, out: Path, phases: tuple[Kind, ...] = PHASES) -> int:
    """Preflight every unfinished run (data, model source, module names) before anything trains.

    Raises one error listing each distinct problem with the runs it affects; returns the number checked.
    """
    problems: dict[str, list[str]] = {}
    pending = [run for kind in phases for run in study.unique(kind) if run_status(out / run.folder) != "done"]
    for run in pending:
        try:
            preflight(run.config)
        except LorascopeError as exc:
            problems.setdefault(str(exc), []).append(run.label)
    if problems:
        lines = [
            f"{message} — {labels[0]}" + (f" and {len(labels) - 1} more" if len(labels) > 1 else "")
            for message, labels in problems.items()
        ]
        raise LorascopeError("the study cannot start; nothing was run:\n  " + "\n  ".join(lines))
    return len(pending)


def run_study(
    study: Study,
    out: Path,
    fail_fast: bool = False,
    callbacks: list[TrainerCallback] | None = None,
    echo: Callable[[str], None] = print,
    phases: tuple[Kind, ...] = PHASES,
    drift: bool = True,
) -> Outcome:
    """Run every planned run not yet done: baselines, sanity checks (which may stop the study), the
    grid; then, with ``drift`` and runs that take drift snapshots, the drift stage. A study with a ``tune:``
    section trains its runs with the values ``lorascope tune`` chose (``out/tune``).

    Args:
        study: a loaded study file (``load_study``).
        out: the study folder; finished runs in it are skipped, interrupted ones resumed.
        fail_fast: stop at the first failed run instead of recording it and going on.
        callbacks: extra Trainer callbacks for every run.
        echo: where progress lines go.
        phases: which kinds of runs to run (baselines, sanity checks, the grid).
        drift: run the drift stage at the end.

    Returns:
        What was done, skipped and failed.
    """
    out = Path(out)
    refuse_foreign_folder(out)
    with StudyFolder(out).lock("lorascope study"):
        return _run_study(study, out, fail_fast, callbacks, echo, phases, drift)


def _run_study(
    study: Study,
    out: Path,
    fail_fast: bool,
    callbacks: list[TrainerCallback] | None,
    echo: Callable[[str], None],
    phases: tuple[Kind, ...],
    drift: bool,
) -> Outcome:
    if study.spec.tune is not None:
        from lorascope.tuning.results import apply_tuning

        study = apply_tuning(study, out)
    checked = check_runs(study, out, phases)
    if checked:
        echo(f"checked {checked} unfinished run(s): data, model sources, module names")
    prepare_folder(study, out)
    log = StudyLog(StudyFolder(out).log)
    outcome = Outcome()
    for kind in phases:
        runs = study.unique(kind)
        progress = Progress(kind, runs, out, echo)
        for run in runs:
            if run_status(out / run.folder) == "done":
                outcome.skipped.append(run.id)
                continue
            if kind != "baseline":
                progress.start(run)
            log.write("start", run, resume=RunFolder(out / run.folder).checkpoints.is_dir())
            started = time.perf_counter()
            try:
                results = _execute(run, out, callbacks if kind != "baseline" else None)
            except Exception as exc:  # noqa: BLE001 — recorded, and the study goes on
                message = _record_failure(run, out, exc)
                seconds = time.perf_counter() - started
                progress.finish(seconds, ok=False)
                log.write("failed", run, seconds=round(seconds, 3), error=message)
                outcome.failed[run.label] = message
                echo(f"  FAILED {run.label}: {message.splitlines()[0]}  (details: {run.folder}/error.json)")
                if fail_fast:
                    raise LorascopeError(f"{run.label} failed (--fail-fast): {message}") from None
                continue
            seconds = time.perf_counter() - started
            progress.finish(seconds, ok=True)
            log.write("done", run, seconds=round(seconds, 3))
            outcome.ran.append(run.id)
            if kind != "baseline":
                echo(
                    f"  done in {_duration(seconds)}: {format_metrics(results.metrics, TASKS[run.config.task].metric_names)}"
                )
        scored = progress.finished - len(progress.earlier)
        if kind == "baseline" and scored:
            echo(f"baselines: {scored} ({', '.join(study.spec.baselines)}) scored on the evaluation sets")
        if kind == "sanity" and runs:
            _check_sanity(study, out, outcome, echo)
    if drift and "run" in phases and any(run.config.drift.enabled for run in study.of_kind("run")):
        drift_stage(study, out, echo)
    return outcome


def drift_stage(study: Study, out: Path, echo: Callable[[str], None] = print) -> None:
    """Drift of every finished grid run, labelled by its variant, into ``out/drift``."""
    from lorascope.analysis.drift import analyze_runs, report
    from lorascope.studies.folder import drift_runs

    settings = study.spec.drift
    if not any(run_status(out / run.folder) == "done" for run in study.of_kind("run")):
        echo("drift: no finished runs to analyse")
        return
    runs = drift_runs(out)
    echo(
        f"drift: {len(runs)} runs against the base model" + (", with intruder dimensions" if settings.intruders else "")
    )
    study_folder = StudyFolder(out)
    rows = analyze_runs(runs, study_folder.base_cache, settings.intruders)
    done = report(rows, study_folder.drift, settings.reference)
    for line in done.lines:
        echo(f"  {line}")
    echo(f"drift: table {done.table}, figures in {done.table.parent}")
