"""Representational drift of runs: how far each layer's probe-set representation has moved from
the model a run started from, at every snapshot; and the intruder dimensions of its final weights.

drift(layer, step) = 1 − CKA(H_layer(step 0), H_layer(step)); step 0 is the base model (LoRA
starts at ΔW = 0, and the hidden states do not depend on the new task head). The per-example
cosine between the same rows (centred) is reported beside it. A run trained without
``drift.enabled`` is analysed after the fact: the base model's and its kept model's snapshots
are computed from their weights, so it has the base and the final model only.
"""

from __future__ import annotations

import gc
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from lorascope.analysis.intruders import DEFAULT_EPSILONS, DEFAULT_TOP_K
from lorascope.analysis.probes import BaseCache, load_snapshot, snapshot_name
from lorascope.analysis.similarity import cosine_per_example, linear_cka
from lorascope.errors import LorascopeError
from lorascope.io import write_csv
from lorascope.records import DriftFolder, DriftRow, RunFolder

DRIFT = "drift_linear_cka"
INTRUDERS = "intruders@"  # + ε, e.g. intruders@0.5
FROM_ORIGINAL = "@original"  # 4-bit bases: the measure against the full-precision base, not the dequantized one


def snapshot_steps(drift_dir: Path) -> list[int | None]:
    """The snapshot steps in a run's ``drift/`` folder, in order, None (the final model) last."""
    steps: list[int | None] = sorted(int(p.stem.removeprefix("step-")) for p in drift_dir.glob("step-*.safetensors"))
    if (drift_dir / snapshot_name(None)).is_file():
        steps.append(None)
    return steps


def run_identity(run: RunFolder, method: str | None = None) -> dict:
    """run, task, method (or the given label, e.g. a study's variant name) and seed of a run folder."""
    if not run.has_config():
        raise LorascopeError(f"{run.path}: no config.yaml (not a run folder)")
    config = run.raw_config()
    return {"run": run.path.name, "task": config["task"], "method": method or config["method"], "seed": config["seed"]}


def drift_rows(
    identity: dict,
    snapshots: dict[int | None, dict[int, object]],
    base: dict[int, object] | None = None,
    suffix: str = "",
) -> list[DriftRow]:
    """Tidy rows for every snapshot against step 0 (which ``snapshots`` must hold), or against
    ``base`` with ``suffix`` on the measures' names; None is the final model. Measures:
    ``drift_linear_cka`` = 1 − linear CKA with step 0, ``cosine_centred`` = mean centred cosine of
    each example with itself at step 0."""
    base = snapshots[0] if base is None else base
    rows = []
    for step, states in snapshots.items():
        for layer in sorted(base):
            before, after = base[layer], states[layer]  # converted to float64 on the compute device
            values = {
                DRIFT: 1.0 - linear_cka(before, after),
                "cosine_centred": float(np.nanmean(cosine_per_example(before, after, centred=True))),
            }
            for measure, value in values.items():
                step_name = "final" if step is None else step
                rows.append(DriftRow(**identity, layer=layer, step=step_name, measure=measure + suffix, value=value))
    return rows


def _run_folder(run: Path | str | RunFolder) -> RunFolder:
    return run if isinstance(run, RunFolder) else RunFolder(run)


def run_drift(run_dir: Path | str | RunFolder, method: str | None = None) -> list[DriftRow]:
    """Drift rows from the snapshots a run took while training (``drift.enabled``)."""
    run = _run_folder(run_dir)
    snapshots = _snapshots(run)
    return drift_rows(run_identity(run, method), snapshots)


def _snapshots(run: RunFolder) -> dict[int | None, dict[int, object]]:
    steps = snapshot_steps(run.drift)
    if 0 not in steps:
        raise LorascopeError(
            f"{run.path}: no drift snapshots (drift/step-000000.safetensors); train with drift.enabled=true"
        )
    return {step: load_snapshot(run.drift / snapshot_name(step)) for step in steps}


def intruder_rows(identity: dict, counts: dict[str, tuple[int, dict[float, int]]]) -> list[DriftRow]:
    """Rows ``intruders@ε`` of the final model: per layer, the intruder count summed over the
    layer's weight matrices (from ``model_intruders``)."""
    per_layer: dict[tuple[int, float], int] = {}
    for layer, by_eps in counts.values():
        for eps, count in by_eps.items():
            per_layer[layer, eps] = per_layer.get((layer, eps), 0) + count
    return [
        DriftRow(**identity, layer=layer, step="final", measure=f"{INTRUDERS}{eps:g}", value=count)
        for (layer, eps), count in sorted(per_layer.items())
    ]


def analyze_runs(
    runs: list[tuple[Path | RunFolder, str | None]],
    base_cache: Path | None = None,
    intruders: bool = True,
    top_k: int = DEFAULT_TOP_K,
    epsilons: tuple[float, ...] = DEFAULT_EPSILONS,
) -> list[DriftRow]:
    """Drift rows (and intruder rows) for each (run folder, method label or None).

    A run with snapshots uses them; one without is analysed from its weights, its base-model
    snapshot taken from ``base_cache`` when present there (and added to it when not).
    """
    from lorascope.analysis.intruders import model_intruders
    from lorascope.analysis.run_models import RunModels

    cache = BaseCache(base_cache) if base_cache else None
    rows: list[DriftRow] = []
    for given, method in tqdm(runs, desc="drift", unit="run", disable=len(runs) < 2):
        run = _run_folder(given)
        identity = run_identity(run, method)
        has_snapshots = (run.drift / snapshot_name(0)).is_file()
        quantized = run.status() == "done" and run.results().quantization is not None  # a 4-bit base (QLoRA)
        models = RunModels(run) if intruders or quantized or not has_snapshots else None  # loaded once
        snapshots = _snapshots(run) if has_snapshots else {0: models.base_states(cache), None: models.final_states()}
        rows += drift_rows(identity, snapshots)
        original = models.original_states(cache) if quantized else None
        if original is not None:  # also against the full-precision base (step 0: what quantizing alone moved)
            final = None if None in snapshots else max(k for k in snapshots if k is not None)
            ends = {0: snapshots[0], None: snapshots[final]}
            rows += drift_rows(identity, ends, base=original, suffix=FROM_ORIGINAL)
        if intruders:
            counts = model_intruders(models.base()[0], models.tuned(), top_k, epsilons)
            rows += intruder_rows(identity, counts)
        gc.collect()
    return rows


def compare_methods(rows: list[DriftRow], reference: str = "full", measure: str = DRIFT) -> list[dict]:
    """Per task, the reference method against each other method, on the final model's ``measure``
    averaged over layers, one value per run (the seeds are the unit of replication).

    Reports both means, the reduction 100 · (reference − method) / reference in %, and the
    two-sided p-value (twice the smaller one-sided one) of a permutation test of the difference in
    means, exact when there are at most 9,999 relabellings (``scipy.stats.permutation_test``); NaN
    unless each group has two runs or more.
    """
    from scipy import stats

    per_run: dict[tuple[str, str], dict[str, list[float]]] = {}
    for r in rows:
        if r.measure == measure and r.step == "final":
            per_run.setdefault((r.task, r.method), {}).setdefault(r.run, []).append(r.value)
    means = {key: [float(np.mean(v)) for v in runs.values()] for key, runs in per_run.items()}
    table = []
    for (task, method), values in sorted(means.items()):
        base = means.get((task, reference))
        if method == reference or base is None:
            continue
        p_value = float("nan")  # a test needs two runs in each group
        if len(base) >= 2 and len(values) >= 2:
            p_value = stats.permutation_test(
                (np.array(base), np.array(values)),
                lambda a, b, axis=-1: np.mean(a, axis=axis) - np.mean(b, axis=axis),
                permutation_type="independent",
                alternative="two-sided",
                n_resamples=9999,
                random_state=0,
            ).pvalue
        ref_mean, mean = float(np.mean(base)), float(np.mean(values))
        table.append(
            {
                "task": task,
                "measure": measure,
                "reference": reference,
                "method": method,
                "runs_reference": len(base),
                "runs_method": len(values),
                "mean_reference": ref_mean,
                "mean_method": mean,
                "reduction_percent": 100.0 * (ref_mean - mean) / ref_mean if ref_mean else float("nan"),
                "p_value": float(p_value),
            }
        )
    return table


@dataclass
class DriftReport:
    """What ``report`` wrote, and the lines to print."""

    table: Path
    comparison: Path | None
    figures: list[Path] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)


def _middle_intruder_measure(rows: list[DriftRow]) -> str | None:
    measures = sorted({r.measure for r in rows if r.measure.startswith(INTRUDERS)}, key=lambda m: float(m[10:]))
    return measures[len(measures) // 2] if measures else None


def report(rows: list[DriftRow], out: Path | DriftFolder, reference: str = "full") -> DriftReport:
    """Write ``drift.json`` and ``drift.csv``, the figures and ``drift_comparison.csv`` (``reference``
    against every other method: drift, and intruders at the middle ε of the sweep) into ``out``."""
    from lorascope.analysis.plots import plot_drift, plot_intruders

    folder = out if isinstance(out, DriftFolder) else DriftFolder(out)
    done = DriftReport(folder.write_rows(rows), None, plot_drift(rows, folder.path))
    intruder_figure = plot_intruders(rows, folder.path, INTRUDERS)
    if intruder_figure is not None:
        done.figures.append(intruder_figure)
    intruders = _middle_intruder_measure(rows)
    for measure, what in ((DRIFT, "mean drift of the final model over layers"), (intruders, "intruders per layer")):
        if measure is None:
            continue
        finals = [r for r in rows if r.measure == measure and r.step == "final"]
        for method in sorted({r.method for r in finals}):
            values = [r.value for r in finals if r.method == method]
            label = (
                what
                if measure == DRIFT
                else f"{what} at ε = {measure.removeprefix(INTRUDERS)} (top {DEFAULT_TOP_K} per matrix)"
            )
            runs = len({r.run for r in finals if r.method == method})
            done.lines.append(f"{method}: {label}: {np.mean(values):.4g} ({runs} run{'s' * (runs != 1)})")
    comparison = [c for m in (DRIFT, intruders) if m for c in compare_methods(rows, reference, m)]
    for c in comparison:
        what = "drift" if c["measure"] == DRIFT else c["measure"]
        change = c["reduction_percent"]
        parts = [] if math.isnan(change) else [f"{abs(change):.1f}% {'less' if change >= 0 else 'more'}"]
        parts.append(f"{c['runs_method']} vs {c['runs_reference']} runs")
        parts.append(
            "permutation test: needs 2+ runs per method"
            if math.isnan(c["p_value"])
            else f"permutation test p = {c['p_value']:.3f}"
        )
        done.lines.append(
            f"{c['task']}: {c['method']} vs {c['reference']}, {what}: "
            f"{c['mean_method']:.4g} vs {c['mean_reference']:.4g} ({'; '.join(parts)})"
        )
    if comparison:
        done.comparison = write_csv(folder.comparison_path, comparison)
    elif rows and reference not in {r.method for r in rows}:
        done.lines.append(f"no comparison: no runs of the reference method '{reference}'")
    return done
