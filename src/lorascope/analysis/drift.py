"""Representational drift of a run: how far each layer's probe-set representation has moved from
the model the run started from, at every snapshot.

drift(layer, step) = 1 − CKA(H_layer(step 0), H_layer(step)); step 0 is the base model (LoRA
starts at ΔW = 0, and the hidden states do not depend on the new task head). The per-example
cosine between the same rows (centred) is reported beside it.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import yaml

from lorascope.analysis.probes import load_snapshot, snapshot_name
from lorascope.analysis.similarity import cosine_per_example, linear_cka
from lorascope.errors import LorascopeError

FIELDS = ("run", "task", "method", "seed", "layer", "step", "measure", "value")


def snapshot_steps(drift_dir: Path) -> list[int | None]:
    """The snapshot steps in a run's ``drift/`` folder, in order, None (the final model) last."""
    steps: list[int | None] = sorted(int(p.stem.removeprefix("step-")) for p in drift_dir.glob("step-*.safetensors"))
    if (drift_dir / snapshot_name(None)).is_file():
        steps.append(None)
    return steps


def run_drift(run_dir: Path | str) -> list[dict]:
    """Tidy rows (run, task, method, seed, layer, step, measure, value) for every snapshot of a run:
    ``drift_linear_cka`` = 1 − linear CKA with step 0, and ``cosine_centred`` = mean centred cosine."""
    run_dir = Path(run_dir)
    drift_dir = run_dir / "drift"
    steps = snapshot_steps(drift_dir)
    if 0 not in steps:
        raise LorascopeError(
            f"{run_dir}: no drift snapshots (drift/step-000000.safetensors); train with drift.enabled=true"
        )
    if not (run_dir / "config.yaml").is_file():
        raise LorascopeError(f"{run_dir}: no config.yaml (not a run folder)")
    config = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8"))
    base = load_snapshot(drift_dir / snapshot_name(0))
    identity = {"run": run_dir.name, "task": config["task"], "method": config["method"], "seed": config["seed"]}
    rows = []
    for step in steps:
        states = base if step == 0 else load_snapshot(drift_dir / snapshot_name(step))
        for layer in sorted(base):
            before, after = base[layer].double(), states[layer].double()
            values = {
                "drift_linear_cka": 1.0 - linear_cka(before, after),
                "cosine_centred": float(np.nanmean(cosine_per_example(before, after, centred=True))),
            }
            for measure, value in values.items():
                rows.append(
                    identity
                    | {"layer": layer, "step": "final" if step is None else step, "measure": measure, "value": value}
                )
    return rows


def write_csv(rows: list[dict], path: Path) -> Path:
    """Rows as CSV (the tidy drift table: one row per run × layer × step × measure)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]) if rows else list(FIELDS))
        writer.writeheader()
        writer.writerows(rows)
    return path


def plot_drift(rows: list[dict], out: Path) -> list[Path]:
    """``drift_per_layer.png`` (final model; methods overlaid, mean ± min–max band over seeds),
    ``drift_over_steps.png`` (mean over layers, per method) and ``drift_heatmap_<method>.png``
    (layer × step)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    cka = [r for r in rows if r["measure"] == "drift_linear_cka"]
    methods = sorted({r["method"] for r in cka})
    paths = []
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for method in methods:
        final = [r for r in cka if r["method"] == method and r["step"] == "final"]
        layers = sorted({r["layer"] for r in final})
        per_seed = np.array(
            [
                [next(r["value"] for r in final if r["layer"] == layer and r["run"] == run) for layer in layers]
                for run in sorted({r["run"] for r in final})
            ]
        )
        if per_seed.size == 0:
            continue
        ax.plot(layers, per_seed.mean(axis=0), marker="o", label=f"{method} (n={len(per_seed)})")
        ax.fill_between(layers, per_seed.min(axis=0), per_seed.max(axis=0), alpha=0.2)
    ax.legend()
    ax.grid(alpha=0.3)
    labels = ("layer (0 = embeddings)", "drift = 1 − linear CKA with the base")
    paths.append(
        _save(
            fig,
            ax,
            out / "drift_per_layer.png",
            *labels,
            "Drift per layer of the final model (band: min–max over seeds)",
        )
    )

    fig, ax = plt.subplots(figsize=(6.5, 4))
    for method in methods:
        steps = sorted({r["step"] for r in cka if r["method"] == method and r["step"] != "final"})
        means = [np.mean([r["value"] for r in cka if r["method"] == method and r["step"] == s]) for s in steps]
        ax.plot(steps, means, marker="o", label=method)
    ax.legend()
    ax.grid(alpha=0.3)
    paths.append(
        _save(
            fig,
            ax,
            out / "drift_over_steps.png",
            "training step",
            "mean drift over layers and seeds",
            "Drift over training",
        )
    )

    for method in methods:  # layer × step, mean over the method's runs
        mine = [r for r in cka if r["method"] == method and r["step"] != "final"]
        steps, layers = sorted({r["step"] for r in mine}), sorted({r["layer"] for r in mine})
        grid = np.array(
            [
                [np.mean([r["value"] for r in mine if r["layer"] == layer and r["step"] == step]) for step in steps]
                for layer in layers
            ]
        )
        fig, ax = plt.subplots(figsize=(6.5, 3.5))
        image = ax.imshow(grid, aspect="auto", origin="lower", cmap="magma")
        ax.set_xticks(
            range(len(steps)), [str(step) for step in steps], fontsize=7, rotation=90 if len(steps) > 12 else 0
        )
        ax.set_yticks(range(len(layers)), [str(layer) for layer in layers], fontsize=7)
        fig.colorbar(image, ax=ax)
        title = f"{method}: drift = 1 − linear CKA with the base"
        paths.append(
            _save(fig, ax, out / f"drift_heatmap_{method}.png", "training step", "layer (0 = embeddings)", title)
        )
    return paths


def _save(fig, ax, path: Path, xlabel: str, ylabel: str, title: str) -> Path:
    import matplotlib.pyplot as plt

    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)
    return path


def compare_methods(rows: list[dict], reference: str = "full", measure: str = "drift_linear_cka") -> list[dict]:
    """Per task, the reference method against each other method, on the final model's drift
    averaged over layers, one value per run (the seeds are the unit of replication).

    Reports both means, the drift reduction 100 · (reference − method) / reference, and the
    two-sided p-value (twice the smaller one-sided one) of a permutation test of the difference in
    means, exact when there are at most 9,999 relabellings (``scipy.stats.permutation_test``); NaN
    unless each group has two runs or more.
    """
    from scipy import stats

    per_run: dict[tuple[str, str], dict[str, list[float]]] = {}
    for r in rows:
        if r["measure"] == measure and r["step"] == "final":
            per_run.setdefault((r["task"], r["method"]), {}).setdefault(r["run"], []).append(float(r["value"]))
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
                "reference": reference,
                "method": method,
                "runs_reference": len(base),
                "runs_method": len(values),
                "drift_reference": ref_mean,
                "drift_method": mean,
                "reduction_percent": 100.0 * (ref_mean - mean) / ref_mean if ref_mean else float("nan"),
                "p_value": float(p_value),
            }
        )
    return table
