"""A tuning worker: trials of every search of a study until each has its budget, sharing the storage with
any other workers.

A trial is an ordinary run (``run_training``) in ``STUDY_DIR/tune/<row>/trials/trial-NNNN``. It reports
its main metric after every evaluation, so the median pruner can stop it; its objective is that metric
on the holdout (or dev) set, from its best checkpoint.
"""

from __future__ import annotations

import gc
import math
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import optuna
from optuna.trial import TrialState
from transformers import TrainerCallback

from lorascope.errors import LorascopeError
from lorascope.records import RunError, StudyFolder, TuneFolder
from lorascope.studies.spec import Study
from lorascope.training.run import run_training
from lorascope.tuning.config import TuneConfig
from lorascope.tuning.storage import Heartbeat, TrialStore, is_stale, open_store
from lorascope.tuning.units import Unit, tuning_units

POLL_SECONDS = 2.0


class ReportEvaluations(TrainerCallback):
    """Reports the main metric of every evaluation to the trial (step k: its k-th evaluation, counted from 0,
    so trials with different batch sizes are compared after the same number of epochs) and prunes."""

    def __init__(self, trial: optuna.Trial, metric: str):
        self.trial, self.metric, self.evaluations = trial, metric, 0

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        value = (metrics or {}).get(f"eval_{self.metric}")
        if value is None:
            return control
        step, self.evaluations = self.evaluations, self.evaluations + 1
        self.trial.report(float(value), step)
        if self.trial.should_prune():
            self.trial.set_user_attr("pruned_at", {"evaluation": step, "global_step": state.global_step})
            raise optuna.TrialPruned(f"{self.metric} {value:.4f} at evaluation {step} is worse than the median")
        return control


def objective_value(metrics: dict[str, float | None], metric: str, lower_is_better: bool = False) -> float:
    """The trial's value: an undefined correlation (constant predictions; NaN, or null in results.json)
    counts as 0, as in checkpoint choice; an undefined lower-is-better metric as +∞."""
    value = metrics[metric]
    if value is None or math.isnan(value):
        return math.inf if lower_is_better else 0.0
    return float(value)


@dataclass
class Counts:
    finished: int = 0
    complete: int = 0
    pruned: int = 0
    failed: int = 0
    running: int = 0  # held by a worker (this one or another)
    best: float | None = None
    best_trial: int | None = None

    @classmethod
    def of(cls, trials: list[optuna.trial.FrozenTrial]) -> Counts:
        counts = cls()
        for trial in trials:
            if trial.state == TrialState.COMPLETE:
                counts.complete += 1
                if counts.best is None or trial.value > counts.best:
                    counts.best, counts.best_trial = trial.value, trial.number
            counts.pruned += trial.state == TrialState.PRUNED
            counts.failed += trial.state == TrialState.FAIL and not trial.user_attrs.get("interrupted")
            counts.running += trial.state == TrialState.RUNNING
        counts.finished = counts.complete + counts.pruned
        return counts


@dataclass
class Search:
    """The Optuna study of one row, as seen by this worker."""

    unit: Unit
    tune: TuneConfig
    store: TrialStore
    root: TuneFolder
    study: optuna.Study = field(init=False)
    worker: int = field(init=False)

    def __post_init__(self) -> None:
        fingerprint = self.unit.fingerprint(self.tune)
        with self.store.lock():
            study = optuna.create_study(
                study_name=self.unit.folder,
                storage=self.store.storage,
                direction=self.unit.direction,
                load_if_exists=True,
            )
            recorded = study.user_attrs.get("fingerprint")
            if recorded is None:
                study.set_user_attr("fingerprint", fingerprint)
                study.set_user_attr("label", self.unit.label)
            elif recorded != fingerprint:
                raise LorascopeError(
                    f"tune {self.unit.label}: {self.store.where} holds trials of a different config, space or "
                    "tune settings; give another --out (or tune.storage), or delete that storage to start over"
                )
            self.worker = study.user_attrs.get("workers", 0)
            study.set_user_attr("workers", self.worker + 1)
        p = self.tune.pruner
        pruner = (
            optuna.pruners.MedianPruner(
                n_startup_trials=p.n_startup_trials,
                n_warmup_steps=p.n_warmup_steps,
                interval_steps=p.interval_steps,
                n_min_trials=p.n_min_trials,
            )
            if p.enabled
            else optuna.pruners.NopPruner()
        )
        s = self.tune.sampler
        sampler = optuna.samplers.TPESampler(
            seed=self.tune.seed + self.worker,  # the first worker samples as a lone worker would, others differ
            n_startup_trials=s.n_startup_trials,
            n_ei_candidates=s.n_ei_candidates,
            multivariate=s.multivariate,
            group=s.group,
            constant_liar=s.constant_liar,
        )
        self.study = optuna.load_study(
            study_name=self.unit.folder, storage=self.store.storage, sampler=sampler, pruner=pruner
        )

    @property
    def folder(self) -> Path:
        """This search's folder: best.yaml, trials.csv, figures, trials/."""
        return self.root.search(self.unit.folder)

    def counts(self) -> Counts:
        return Counts.of(self.study.get_trials(deepcopy=False))

    def _fail(self, number: int, interrupted: bool = False) -> None:
        """Fail a trial and queue it again with the same values: always when it was interrupted (Ctrl-C, which
        does not count as a failure), else up to ``tune.retries`` times and until the search is given up.
        Call under the lock."""
        self.study.tell(number, state=TrialState.FAIL, skip_if_finished=True)
        trials = self.study.get_trials(deepcopy=False)
        frozen = next(t for t in trials if t.number == number)
        if frozen.state != TrialState.FAIL:  # its worker told a result just before
            return
        original = frozen.user_attrs.get("retry_of", number)
        retries = sum(t.user_attrs.get("retry_of") == original for t in trials)
        if interrupted or (retries < self.tune.retries and Counts.of(trials).failed < self.tune.max_failures):
            self.study.enqueue_trial(frozen.params, user_attrs={"retry_of": original})

    def fail_stale(self) -> None:
        """Fail (and retry) running trials whose worker stopped marking them alive. Call under the lock."""
        now = time.time()
        for trial in self.study.get_trials(deepcopy=True, states=(TrialState.RUNNING,)):
            if is_stale(trial, self.tune.stale_after_seconds, now):
                self._fail(trial.number)

    def claim(self) -> optuna.Trial | str:
        """A trial to run, or why there is none: ``done``, ``given up`` or ``busy`` (others hold the rest)."""
        with self.store.lock():
            self.fail_stale()
            counts = self.counts()
            if counts.finished >= self.tune.trials:
                return "done"
            if counts.failed >= self.tune.max_failures:
                return "given up"
            if counts.finished + counts.running >= self.tune.trials:
                return "busy"
            trial = self.study.ask()  # a queued retry (WAITING) first: it is nobody's until asked for
            trial.set_user_attr("heartbeat", time.time())  # alive from the start (a retry inherits an old one)
            return trial

    def run(self, trial: optuna.Trial) -> tuple[TrialState, str]:
        """Train one trial and tell Optuna how it ended; (state, a short description)."""
        unit, tune = self.unit, self.tune
        folder = self.root.trial(unit.folder, trial.number)
        trial.set_user_attr("folder", str(folder.path.relative_to(self.folder)))
        try:
            params = {key: param.suggest(trial, key) for key, param in unit.space.items()}
            cfg = unit.trial_config(params, tune, f"tune {unit.label} trial {trial.number}")
            with Heartbeat(trial, tune.heartbeat_seconds):
                results = run_training(cfg, folder, callbacks=[ReportEvaluations(trial, unit.metric)])
        except KeyboardInterrupt:  # the next worker runs it again rather than waiting for it to go stale
            trial.set_user_attr("interrupted", True)
            with self.store.lock():
                self._fail(trial.number, interrupted=True)
            raise
        except optuna.TrialPruned as pruned:
            if sys.stderr.isatty():
                print(file=sys.stderr)  # end the line of the live progress bar, left open by the stop
            shutil.rmtree(folder.checkpoints, ignore_errors=True)
            self.study.tell(trial, state=TrialState.PRUNED, skip_if_finished=True)
            return TrialState.PRUNED, str(pruned)
        except Exception as exc:  # noqa: BLE001 — recorded in the trial folder; the search goes on
            error = RunError.of(f"trial {trial.number}", exc)
            folder.write_error(error)
            with self.store.lock():
                self._fail(trial.number)
            return TrialState.FAIL, error.first_line
        finally:
            gc.collect()
        value = objective_value(results.metrics, results.main_metric, results.lower())
        self.study.tell(trial, value, skip_if_finished=True)
        return TrialState.COMPLETE, f"{results.main_metric} {value:.4f}"


@dataclass
class TuneOutcome:
    """What one worker did, and how each search stands."""

    given_up: list[str] = field(default_factory=list)
    searches: list[Search] = field(default_factory=list)


def run_tuning(study: Study, out: Path, echo: Callable[[str], None] = print) -> TuneOutcome:
    """Run trials of every search of ``study`` until each has ``tune.trials`` finished trials (or has failed
    ``tune.max_failures`` times); other workers may share the storage. Writes nothing but trials; see
    ``write_tuning_outputs`` for the results."""
    tune = study.spec.tune
    units = tuning_units(study)
    folder = StudyFolder(out).tune
    store = open_store(tune.storage, folder.journal)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    searches = [Search(unit, tune, store, folder) for unit in units]
    outcome = TuneOutcome(searches=searches)
    echo(f"tune: {len(units)} search(es) × {tune.trials} trials, storage {store.where}")
    pending = list(searches)
    while pending:
        started = False
        for search in list(pending):
            claimed = search.claim()
            if claimed in ("done", "given up"):
                pending.remove(search)
                if claimed == "given up":
                    outcome.given_up.append(search.unit.label)
                    echo(f"tune {search.unit.label}: given up after {search.tune.max_failures} failed trials")
                continue
            if claimed == "busy":
                continue
            started = True
            state, note = search.run(claimed)
            echo(_progress_line(search, claimed.number, state, note))
        if pending and not started:  # the open trials belong to other workers: wait for them
            time.sleep(POLL_SECONDS)
    return outcome


def _progress_line(search: Search, number: int, state: TrialState, note: str) -> str:
    counts = search.counts()
    best = f"best {counts.best:.4f} (trial {counts.best_trial})" if counts.best is not None else "no best yet"
    return (
        f"[tune {search.unit.label} {counts.finished}/{search.tune.trials} · {counts.pruned} pruned · "
        f"{counts.failed} failed · {best}] trial {number} {state.name.lower()}: {note}"
    )
