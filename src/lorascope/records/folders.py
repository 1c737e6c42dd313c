"""The folders lorascope writes, and the only code that knows their paths and file names.

``RunFolder``: one training run. ``StudyFolder``: a study (plan, runs, drift, serving, search,
report). ``TuneFolder``: a study's ``tune/``. ``DriftFolder`` and ``BenchFolder``: the outputs of
``lorascope drift`` and ``lorascope serve-bench``. Each reads and writes its records through
``read_record`` / ``write_record``."""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

import yaml

from lorascope.config import RunConfig, load_config, load_yaml
from lorascope.errors import LorascopeError
from lorascope.io import write_atomically, write_csv
from lorascope.records.base import read_record, write_record
from lorascope.records.drift import FIELDS, DriftRow, DriftTable, read_drift_csv
from lorascope.records.run import Environment, RunError, RunResults
from lorascope.records.serving import OverheadRow, ServingResults, ServingRow
from lorascope.records.study import Plan
from lorascope.records.tuning import TuningSummary

Status = Literal["done", "failed", "partial", "pending"]


LOCK = ".lock"


@contextmanager
def removed_if_failed(path: Path) -> Iterator[Path]:
    """A command's output folder that goes again when the command stops at an error of its input
    (``LorascopeError``), if the command created it: a clean error leaves nothing behind. A folder
    that was there before is left to what the command's own checks allow."""
    existed = Path(path).exists()
    try:
        yield Path(path)
    except LorascopeError:
        if not existed:
            shutil.rmtree(path, ignore_errors=True)
        raise


class _Folder:
    def __init__(self, path: Path | str):
        self.path = Path(path)

    @contextmanager
    def lock(self, writer: str) -> Iterator[None]:
        """Hold the folder against a second ``writer`` (another process, or this one twice) until the
        block ends; a folder already held is refused with one line naming its holder. The lock is the
        kernel's (``flock``), so it goes with the process that holds it, however that process ends. The
        lock file, and the folder when this created it and nothing else was written, go at the end."""
        created = not self.path.exists()
        self.path.mkdir(parents=True, exist_ok=True)
        handle = (self.path / LOCK).open("a+", encoding="utf-8")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise LorascopeError(
                f"{self.path}: {holder} is writing here; wait for it to finish, or choose another folder"
            ) from None
        handle.truncate(0)
        handle.write(f"{writer} (pid {os.getpid()} on {socket.gethostname()})\n")
        handle.flush()
        try:
            yield
        finally:
            (self.path / LOCK).unlink(missing_ok=True)  # while held: a newcomer locks a new file, never this one
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()
            if created and not any(self.path.iterdir()):
                self.path.rmdir()

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r})"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.path == self.path  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self), self.path))


class RunFolder(_Folder):
    """``config.yaml``, ``environment.json``, ``train_log.jsonl``, ``eval_predictions.jsonl``,
    ``checkpoints/``, ``drift/``, ``ranks/``, the adapter or model, and last ``results.json``
    (or ``error.json`` when the run raised inside a study or search)."""

    @property
    def config_path(self) -> Path:
        return self.path / "config.yaml"

    @property
    def results_path(self) -> Path:
        return self.path / "results.json"

    @property
    def error_path(self) -> Path:
        return self.path / "error.json"

    @property
    def environment_path(self) -> Path:
        return self.path / "environment.json"

    @property
    def train_log(self) -> Path:
        return self.path / "train_log.jsonl"

    @property
    def predictions(self) -> Path:
        return self.path / "eval_predictions.jsonl"

    def output(self, name: str) -> Path:
        """A file a task writes in its own format beside the predictions (``squad_predictions.json``)."""
        return self.path / name

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def drift(self) -> Path:
        """The probe-set snapshots the run took (``drift.enabled``)."""
        return self.path / "drift"

    @property
    def ranks(self) -> Path:
        """What rank allocation left: spectra, evidence, the rank config."""
        return self.path / "ranks"

    def status(self) -> Status:
        """done (results.json), failed (error.json), partial (started, not finished) or pending."""
        if self.results_path.is_file():
            return "done"
        if self.error_path.is_file():
            return "failed"
        return "partial" if self.path.is_dir() else "pending"

    def has_config(self) -> bool:
        return self.config_path.is_file()

    def is_ours(self) -> bool:
        """Absent, empty, or a run folder: its environment.json (a run writes it first), or the failure
        record of a run that raised before. A folder with only a config.yaml is someone's project."""
        if not self.path.exists():
            return True
        if not self.path.is_dir():
            return False
        return (
            self.environment_path.is_file()
            or self.error_path.is_file()
            or not any(p.name != LOCK for p in self.path.iterdir())
        )

    def config(self) -> RunConfig:
        return load_config(self.config_path)

    def raw_config(self) -> dict:
        """The written config as a mapping, without validating it (a plug-in method may be gone)."""
        return load_yaml(self.config_path.read_text(encoding="utf-8")) or {}

    def write_config(self, cfg: RunConfig) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        write_atomically(self.config_path, cfg.to_yaml())

    def results(self) -> RunResults:
        return read_record(RunResults, self.results_path)

    def write_results(self, results: RunResults) -> None:
        write_record(self.results_path, results)

    def environment(self) -> Environment:
        return read_record(Environment, self.environment_path)

    def write_environment(self, env: Environment) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        write_record(self.environment_path, env)

    def error(self) -> RunError:
        return read_record(RunError, self.error_path)

    def write_error(self, error: RunError) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        write_record(self.error_path, error)

    def clear_error(self) -> None:
        self.error_path.unlink(missing_ok=True)


class DriftFolder(_Folder):
    """``drift.json`` (the record) and ``drift.csv`` (its copy for people), the comparison and figures."""

    @property
    def table_path(self) -> Path:
        return self.path / "drift.json"

    @property
    def csv_path(self) -> Path:
        return self.path / "drift.csv"

    @property
    def comparison_path(self) -> Path:
        return self.path / "drift_comparison.csv"

    def exists(self) -> bool:
        return self.table_path.is_file() or self.csv_path.is_file()

    def rows(self) -> list[DriftRow]:
        """The drift table; a folder from before records has only drift.csv."""
        if self.table_path.is_file():
            return read_record(DriftTable, self.table_path).rows
        return read_drift_csv(self.csv_path).rows

    def write_rows(self, rows: list[DriftRow]) -> Path:
        self.path.mkdir(parents=True, exist_ok=True)
        write_csv(self.csv_path, [r.model_dump() for r in rows], FIELDS)
        write_record(self.table_path, DriftTable(rows=rows))
        return self.csv_path


class BenchFolder(_Folder):
    """One ``lorascope serve-bench``: the workload, environment, the record and its CSV copies, figure."""

    @property
    def workload_path(self) -> Path:
        return self.path / "workload.yaml"

    @property
    def environment_path(self) -> Path:
        return self.path / "environment.json"

    @property
    def record_path(self) -> Path:
        return self.path / "results.json"

    @property
    def figure(self) -> Path:
        return self.path / "serving.png"

    @property
    def results_table(self) -> Path:
        return self.path / "results.csv"

    @property
    def overhead_table(self) -> Path:
        return self.path / "overhead.csv"

    def write_environment(self, env: Environment) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        write_record(self.environment_path, env)

    def write_workload(self, workload: dict) -> None:
        """The workload as resolved: the benchmark reproduces from it."""
        self.path.mkdir(parents=True, exist_ok=True)
        write_atomically(self.workload_path, yaml.safe_dump(workload, sort_keys=False))

    def write_results(self, rows: list[ServingRow], overhead: list[OverheadRow]) -> None:
        write_csv(self.results_table, [r.csv_row() for r in rows])
        write_csv(self.overhead_table, [r.csv_row() for r in overhead])
        write_record(self.record_path, ServingResults(results=rows, overhead=overhead))

    def results(self) -> ServingResults:
        return read_record(ServingResults, self.record_path)


class TuneFolder(_Folder):
    """A study's ``tune/``: the Optuna journal, ``summary.json`` and one folder per search."""

    @property
    def summary_path(self) -> Path:
        return self.path / "summary.json"

    @property
    def journal(self) -> Path:
        return self.path / "journal.log"

    def search(self, name: str) -> Path:
        return self.path / name

    def best(self, name: str) -> Path:
        """A search's chosen values, read by ``lorascope study``."""
        return self.path / name / "best.yaml"

    def trials_table(self, name: str) -> Path:
        return self.path / name / "trials.csv"

    def trial(self, name: str, number: int) -> RunFolder:
        return RunFolder(self.path / name / "trials" / f"trial-{number:04d}")

    def summary(self) -> TuningSummary:
        return read_record(TuningSummary, self.summary_path)

    def write_summary(self, summary: TuningSummary) -> Path:
        self.path.mkdir(parents=True, exist_ok=True)
        return write_record(self.summary_path, summary)


class StudyFolder(_Folder):
    """``study.yaml``, ``plan.json``, ``study_log.jsonl``, one RunFolder per planned run,
    ``results.csv``/``summary.csv``, ``drift/``, ``serving/<bench>/``, ``tune/`` and ``report/``."""

    @property
    def plan_path(self) -> Path:
        return self.path / "plan.json"

    @property
    def study_file(self) -> Path:
        return self.path / "study.yaml"

    @property
    def log(self) -> Path:
        return self.path / "study_log.jsonl"

    @property
    def results_table(self) -> Path:
        return self.path / "results.csv"

    @property
    def summary_table(self) -> Path:
        return self.path / "summary.csv"

    @property
    def base_cache(self) -> Path:
        """Base-model snapshots shared by the runs of one model and probe set."""
        return self.path / "drift" / "base-cache"

    @property
    def report(self) -> Path:
        return self.path / "report"

    @property
    def drift(self) -> DriftFolder:
        return DriftFolder(self.path / "drift")

    @property
    def tune(self) -> TuneFolder:
        return TuneFolder(self.path / "tune")

    def bench(self, name: str) -> BenchFolder:
        return BenchFolder(self.path / "serving" / name)

    def benches(self) -> dict[str, ServingResults]:
        """The serve-bench folders saved under ``serving/``, by name."""
        found = sorted(p.parent.name for p in (self.path / "serving").glob("*/results.json"))
        return {name: self.bench(name).results() for name in found}

    def is_study(self) -> bool:
        return self.plan_path.is_file()

    def is_ours(self) -> bool:
        """Absent or empty, a study folder, or one holding only a study's search (``tune/``)."""
        if not self.path.exists():
            return True
        if not self.path.is_dir():
            return False
        return self.is_study() or self.tune.path.is_dir() or not any(p.name != LOCK for p in self.path.iterdir())

    def plan(self) -> Plan:
        if not self.is_study():
            raise LorascopeError(f"{self.path}: not a study folder (no plan.json); start it with lorascope study")
        return read_record(Plan, self.plan_path)

    def write_plan(self, plan: Plan, study_yaml: dict) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        write_atomically(self.study_file, yaml.safe_dump(study_yaml, sort_keys=False))
        write_record(self.plan_path, plan)

    def spec(self) -> dict:
        """``study.yaml`` as written (the study file with its base config inlined)."""
        if not self.study_file.is_file():
            return {}
        return load_yaml(self.study_file.read_text(encoding="utf-8")) or {}

    def run(self, folder: str) -> RunFolder:
        """A planned run's folder (``folder`` relative to the study, as in the plan)."""
        return RunFolder(self.path / folder)
