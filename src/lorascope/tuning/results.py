"""What a search leaves behind, and how the study's final phase picks it up.

``STUDY_DIR/tune/``::

    journal.log            the Optuna storage (default)
    summary.json           settings, spaces, and per row: trial counts, best value, chosen values
    <row>/best.yaml        the chosen values as run-config keys (read by ``lorascope study``)
    <row>/trials.csv       one line per trial: state, value, values tried, pruning, folder
    <row>/history.png      objective per trial and best so far (and .pdf)
    <row>/importance.png   parameter importances (PED-ANOVA; and .pdf)
    <row>/trials/trial-NNNN/   each trial's run folder
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import optuna  # noqa: E402
import yaml  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
from optuna.trial import TrialState  # noqa: E402

from lorascope.config import read_yaml  # noqa: E402
from lorascope.errors import LorascopeError  # noqa: E402
from lorascope.io import short_value, write_atomically, write_csv  # noqa: E402
from lorascope.plotting import save_figure  # noqa: E402
from lorascope.records import RunFolder, SearchSummary, StudyFolder, TrialCounts, TuningSummary  # noqa: E402
from lorascope.studies.spec import Study, retune  # noqa: E402
from lorascope.tuning.search import Counts, Search  # noqa: E402
from lorascope.tuning.units import tuning_units  # noqa: E402


class NotTuned(LorascopeError):
    """A study with a ``tune:`` section whose searches have not all finished."""


def trial_error(folder: RunFolder) -> str | None:
    """The first line of a failed trial's error, from its ``error.json``."""
    return folder.error().first_line if folder.status() == "failed" else None


def trial_rows(trials: list[optuna.trial.FrozenTrial], folder: Path) -> list[dict[str, Any]]:
    """One row per trial: number, state, value, the values tried, where it was pruned, its folder, its error."""
    rows = []
    for t in sorted(trials, key=lambda t: t.number):
        run = t.user_attrs.get("folder")
        pruned = t.user_attrs.get("pruned_at") or {}
        duration = t.duration.total_seconds() if t.duration else None
        rows.append(
            {
                "trial": t.number,
                "state": t.state.name.lower(),
                "value": t.value,
                **t.params,
                "evaluations": len(t.intermediate_values),
                "pruned_at_evaluation": pruned.get("evaluation"),
                "seconds": round(duration, 1) if duration is not None else None,
                "retry_of": t.user_attrs.get("retry_of"),
                "folder": run,
                "error": trial_error(RunFolder(folder / run)) if run and t.state == TrialState.FAIL else None,
            }
        )
    return rows


def plot_history(
    trials: list[optuna.trial.FrozenTrial], label: str, metric: str, path: Path, lower_is_better: bool = False
) -> Path:
    """``history_figure`` saved as PNG and PDF."""
    return save_figure(history_figure(trials, label, metric, lower_is_better), path)


def history_figure(
    trials: list[optuna.trial.FrozenTrial], label: str, metric: str, lower_is_better: bool = False
) -> plt.Figure:
    """Each trial's value (pruned trials at their last report, as ×) and the best so far."""
    fig, ax = plt.subplots(figsize=(6.5, 4))
    done = [t for t in trials if t.state == TrialState.COMPLETE]
    pruned = [t for t in trials if t.state == TrialState.PRUNED and t.intermediate_values]
    ax.scatter([t.number for t in done], [t.value for t in done], label="complete", zorder=3)
    if pruned:
        last = [t.intermediate_values[max(t.intermediate_values)] for t in pruned]
        ax.scatter([t.number for t in pruned], last, marker="x", color="grey", label="pruned (last report)", zorder=3)
    best, steps = None, []
    for t in sorted(done, key=lambda t: t.number):
        best = t.value if best is None else (min if lower_is_better else max)(best, t.value)
        steps.append((t.number, best))
    if steps:
        steps.append((max(t.number for t in trials), best))  # on to the last trial
        ax.step(*zip(*steps, strict=True), where="post", color="C1", label="best so far")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("trial")
    ax.set_ylabel(metric)
    ax.set_title(f"Search of {label}")
    ax.grid(alpha=0.3)
    ax.legend()
    return fig


def importances(study: optuna.Study) -> dict[str, float]:
    """PED-ANOVA importances (no extra dependencies); empty until three complete trials differ in value."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len({t.value for t in complete}) < 3:
        return {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        warnings.simplefilter("ignore", UserWarning)  # "importances will be equal" on near-ties: shown as such
        evaluator = optuna.importance.PedAnovaImportanceEvaluator()
        return optuna.importance.get_param_importances(study, evaluator=evaluator)


def plot_importance(values: dict[str, float], label: str, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(6.5, 0.5 * len(values) + 1.5))
    keys = list(values)[::-1]
    ax.barh(keys, [values[k] for k in keys])
    ax.set_xlabel("importance (PED-ANOVA)")
    ax.set_title(f"Parameter importance, {label}")
    return save_figure(fig, path)


def write_search(search: Search) -> SearchSummary:
    """best.yaml (when the budget is met), trials.csv and figures of one search; its summary entry."""
    unit, tune, folder = search.unit, search.tune, search.folder
    folder.mkdir(parents=True, exist_ok=True)
    trials = search.study.get_trials(deepcopy=False)
    counts = Counts.of(trials)
    write_csv(search.root.trials_table(unit.folder), trial_rows(trials, folder), ("trial",))
    metric = unit.metric
    figures = [plot_history(trials, unit.label, metric, folder / "history.png", unit.direction == "minimize").name]
    weights = importances(search.study)
    if weights:
        figures.append(plot_importance(weights, unit.label, folder / "importance.png").name)
    entry = SearchSummary(
        label=unit.label,
        group=dict(unit.group),
        folder=unit.folder,
        metric=metric,
        space={key: param.describe() for key, param in unit.space.items()},
        fixed=list(unit.fixed),
        trials=TrialCounts(complete=counts.complete, pruned=counts.pruned, failed=counts.failed),
        importance={k: round(v, 4) for k, v in weights.items()},
        figures=figures,
        complete=counts.finished >= tune.trials,
    )
    if counts.best_trial is not None:
        best = next(t for t in trials if t.number == counts.best_trial)
        entry.best_value, entry.best_trial, entry.values = best.value, best.number, dict(best.params)
        entry.at_edge = [key for key, value in best.params.items() if unit.space[key].at_edge(value)]
        if entry.complete:
            record = {
                "row": unit.label,
                "fingerprint": unit.fingerprint(tune),
                "objective": {"metric": metric, "on": _objective_split(tune), "value": best.value},
                "trial": best.number,
                "trials": entry.trials.model_dump(),
                "values": dict(best.params),
            }
            text = "# Chosen by `lorascope tune`; `lorascope study` trains the final phase with `values`.\n"
            write_atomically(search.root.best(unit.folder), text + yaml.safe_dump(record, sort_keys=False))
    return entry


def _objective_split(tune) -> str:
    if tune.objective == "eval":
        return "the evaluation set"
    share = f"{tune.holdout:.0%}" if tune.holdout < 1 else f"{int(tune.holdout)} examples"
    return f"a stratified holdout of the training examples ({share})"


def write_tuning_outputs(study: Study, searches: list[Search], out: Path) -> TuningSummary:
    """Every search's files and ``tune/summary.json``; returns the summary."""
    tune = study.spec.tune
    summary = TuningSummary(
        study=study.name,
        optuna=optuna.__version__,
        storage=searches[0].store.where if searches else None,
        objective=_objective_split(tune),
        settings=tune.model_dump(mode="json", exclude={"spaces", "storage"}),
        searches=[write_search(search) for search in searches],
    )
    StudyFolder(out).tune.write_summary(summary)
    return summary


def read_tuned(study: Study, out: Path) -> dict[tuple, dict[str, Any]]:
    """The chosen values of every search of ``study`` from ``out/tune/<row>/best.yaml``, checked to belong
    to the study as it is now."""
    tune = study.spec.tune
    tuned, missing = {}, []
    for unit in tuning_units(study):
        path = StudyFolder(out).tune.best(unit.folder)
        if not path.is_file():
            missing.append(unit.label)
            continue
        record = read_yaml(path)
        if record.get("fingerprint") != unit.fingerprint(tune):
            raise LorascopeError(
                f"{path}: tuned for a different config, space or tune settings than the study now has; "
                f"run `lorascope tune` again (with another --out to keep the old search)"
            )
        tuned[unit.group] = record["values"]
    if missing:
        shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        raise NotTuned(
            f"study {study.name} has a tune: section, but {len(missing)} of its rows have no finished search "
            f"in {Path(out) / 'tune'} ({shown}); run `lorascope tune` on the study file first"
        )
    return tuned


def apply_tuning(study: Study, out: Path) -> Study:
    """The study with each row's runs trained with its tuned values (the two-phase protocol's final phase)."""
    if study.spec.tune is None or study.tuned is not None:
        return study
    return retune(study, read_tuned(study, out))


def format_tuning(summary: TuningSummary) -> str:
    """The searches of a summary.json as console lines: counts, best value, chosen values."""
    lines = [f"{summary.study}: hyperparameter search, objective on {summary.objective}"]
    for search in summary.searches:
        counts = search.trials
        state = "" if search.complete else "  (budget not met)"
        best = (
            f"best {search.metric} {search.best_value:.4f} (trial {search.best_trial})"
            if search.values and search.best_value is not None
            else "no complete trial"
        )
        lines.append(
            f"  {search.label}: {counts.complete} complete, {counts.pruned} pruned, {counts.failed} failed; {best}{state}"
        )
        if search.values:
            lines.append("      " + ", ".join(f"{k}={short_value(v)}" for k, v in search.values.items()))
        for key in search.at_edge:
            lines.append(f"      note: {key} is at the edge of {search.space[key]}; the best may lie outside it")
    return "\n".join(lines)
