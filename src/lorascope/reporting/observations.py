"""What a declared hypothesis is tested on, collected from a study's records for the pure
``stats.hypotheses.evaluate``: task → variant → seed → value, a ``Missing`` (with its reason)
where a planned seed has no value. Grid runs give their metrics and results numbers, the drift
table its measures (final model, mean over layers), the serve-bench folders their latencies."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lorascope.records import DriftRow, RunResults, ServingResults
from lorascope.serving.workload import MODES
from lorascope.stats.hypotheses import Hypothesis, Missing, Values

if TYPE_CHECKING:
    from lorascope.studies.folder import Entry


def is_serving_claim(h: Hypothesis) -> bool:
    """An overhead claim between serve-bench modes (e.g. adapters over merged), not study variants."""
    return h.kind == "overhead" and h.treatment in MODES and h.reference in MODES


def run_value(results: RunResults, metric: str | None) -> float | Missing:
    """A run's ``metric`` (default: its main metric) or results number, or why it has none."""
    name = metric or results.main_metric
    value = results.number(name)
    if value is None:
        return Missing(f"no {name}")
    if math.isnan(value):
        return Missing(f"{name} is NaN (undefined, e.g. for constant predictions)")
    return value


def _drift_measure(metric: str | None) -> str | None:
    from lorascope.analysis.drift import DRIFT

    return {"drift": DRIFT}.get(metric or "", metric)


def study_values(entries: list[Entry], drift: list[DriftRow] | None, metric: str | None) -> Values:
    """task → variant → seed → value for every planned grid run of ``entries``. A run that did not
    finish, or whose value is absent or NaN, gives a ``Missing`` with the reason. A drift measure
    (``drift``: linear-CKA drift, or a measure of the table such as ``intruders@0.5``) comes from
    the ``drift`` rows of the run's folder: the final model's mean over layers."""
    values: Values = defaultdict(lambda: defaultdict(dict))
    measure = _drift_measure(metric)
    from_drift = measure is not None and drift is not None and any(r.measure == measure for r in drift)
    per_run: dict[str, list[float]] = defaultdict(list)
    if from_drift:
        for r in drift or []:
            if r.measure == measure and r.step == "final":
                per_run[r.run].append(r.value)
    for e in entries:
        if e.kind != "run":
            continue
        if e.status != "done" or e.results is None:
            value: float | Missing = Missing(f"the run is {e.status}", unfinished=True)
        elif from_drift:
            layers = per_run.get(Path(e.folder).name)
            value = Missing(f"no {measure} rows in the drift table") if not layers else float(np.mean(layers))
            if isinstance(value, float) and math.isnan(value):
                value = Missing(f"{measure} is NaN")
        else:
            value = run_value(e.results, metric)
        values[e.group["task"]][e.variant][e.seed] = value
    return values


def serving_values(benches: dict[str, ServingResults], metric: str | None) -> Values:
    """task (``<bench> · batch N``) → mode → repetition → value (default: mean latency) of each
    serve-bench's rows."""
    values: Values = defaultdict(lambda: defaultdict(dict))
    name = metric or "mean_latency_ms"
    for bench, results in benches.items():
        for r in results.results:
            raw = getattr(r, name, None)
            value = float(raw) if isinstance(raw, int | float) else math.nan
            values[f"{bench} · batch {r.batch_size}"][r.mode][r.repetition] = (
                Missing(f"{name} is missing or NaN") if math.isnan(value) else value
            )
    return values


def lower_is_better(entries: list[Entry]) -> Callable[[Hypothesis, str], bool]:
    """``lower(h, task)`` for ``evaluate``: whether the task's finished runs record the claim's
    metric (default: their main metric) as one where lower is better."""

    def lower(h: Hypothesis, task: str) -> bool:
        if is_serving_claim(h):
            return False
        return any(
            e.results.lower(h.metric)
            for e in entries
            if e.kind == "run" and e.results is not None and e.group["task"] == task
        )

    return lower


def observer(
    entries: list[Entry], drift: list[DriftRow] | None = None, benches: dict[str, ServingResults] | None = None
) -> Callable[[Hypothesis], Values]:
    """``observe(h)`` for ``evaluate``: an overhead between serving modes reads the ``benches``, each
    batch size a task; any other claim reads the grid runs of ``entries`` and the ``drift`` rows."""

    def observe(h: Hypothesis) -> Values:
        if is_serving_claim(h):
            return serving_values(benches or {}, h.metric)
        return study_values(entries, drift, h.metric)

    return observe
