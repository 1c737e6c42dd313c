"""Figures of a drift analysis, from its tidy rows: drift per layer and over training, a layer ×
step heatmap per method, and intruder-dimension counts. PNG and PDF, matplotlib's
non-interactive backend."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from lorascope.plotting import save_figure  # noqa: E402

LAYER_AXIS = "layer (0 = embeddings)"


def final_by_layer(rows: list[dict], measure: str, method: str) -> tuple[list[int], np.ndarray]:
    """(layers, runs × layers) of one method's final-model values of ``measure``."""
    final = [r for r in rows if r.measure == measure and r.method == method and r.step == "final"]
    layers = sorted({r.layer for r in final})
    values = {(r.run, r.layer): r.value for r in final}
    runs = sorted({r.run for r in final})
    return layers, np.array([[values[run, layer] for layer in layers] for run in runs], dtype=float)


def _band(ax, x, per_run: np.ndarray, label: str) -> None:
    """Mean over runs, with the min–max band."""
    ax.plot(x, per_run.mean(axis=0), marker="o", label=f"{label} (n={len(per_run)})")
    ax.fill_between(x, per_run.min(axis=0), per_run.max(axis=0), alpha=0.2)


def _save(fig, ax, path: Path, xlabel: str, ylabel: str, title: str) -> Path:
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    return save_figure(fig, path)  # with a PDF for papers (lorascope report)


def plot_drift(rows: list[dict], out: Path) -> list[Path]:
    """``drift_per_layer.png`` (final model; methods overlaid, mean ± min–max band over seeds);
    for methods with snapshots during training, ``drift_over_steps.png`` (mean over layers) and
    ``drift_heatmap_<method>.png`` (layer × step)."""
    out.mkdir(parents=True, exist_ok=True)
    cka = [r for r in rows if r.measure == "drift_linear_cka"]
    methods = sorted({r.method for r in cka})
    paths = []
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for method in methods:
        layers, per_run = final_by_layer(cka, "drift_linear_cka", method)
        if per_run.size:
            _band(ax, layers, per_run, method)
    ax.legend()
    ax.grid(alpha=0.3)
    title = "Drift per layer of the final model (band: min–max over seeds)"
    paths.append(_save(fig, ax, out / "drift_per_layer.png", LAYER_AXIS, "drift = 1 − linear CKA with the base", title))

    over_steps = {  # runs analysed after the fact have the base and the final model only
        method: sorted({r.step for r in cka if r.method == method and r.step != "final"}) for method in methods
    }
    over_steps = {method: steps for method, steps in over_steps.items() if len(steps) > 1}
    if over_steps:
        fig, ax = plt.subplots(figsize=(6.5, 4))
        for method, steps in over_steps.items():
            means = [np.mean([r.value for r in cka if r.method == method and r.step == s]) for s in steps]
            ax.plot(steps, means, marker="o", label=method)
        ax.legend()
        ax.grid(alpha=0.3)
        ylabel = "mean drift over layers and seeds"
        paths.append(_save(fig, ax, out / "drift_over_steps.png", "training step", ylabel, "Drift over training"))

    for method, steps in over_steps.items():  # layer × step, mean over the method's runs
        mine = [r for r in cka if r.method == method and r.step != "final"]
        layers = sorted({r.layer for r in mine})
        grid = np.array(
            [
                [np.mean([r.value for r in mine if r.layer == layer and r.step == step]) for step in steps]
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
        paths.append(_save(fig, ax, out / f"drift_heatmap_{method}.png", "training step", LAYER_AXIS, title))
    return paths


def plot_intruders(rows: list[dict], out: Path, measure_prefix: str = "intruders@") -> Path | None:
    """``intruders.png``: intruder dimensions of the final models against ε (summed over layers),
    and per layer at the middle ε of the sweep; methods overlaid, mean ± min–max band over seeds.
    None when the rows hold no intruder counts."""
    measures = sorted({r.measure for r in rows if r.measure.startswith(measure_prefix)})
    if not measures:
        return None
    epsilons = sorted(float(m.removeprefix(measure_prefix)) for m in measures)
    middle = epsilons[len(epsilons) // 2]
    methods = sorted({r.method for r in rows if r.measure in measures})
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for method in methods:
        totals = np.stack(
            [final_by_layer(rows, f"{measure_prefix}{eps:g}", method)[1].sum(axis=1) for eps in epsilons], axis=1
        )
        _band(left, epsilons, totals, method)
        layers, per_run = final_by_layer(rows, f"{measure_prefix}{middle:g}", method)
        _band(right, layers, per_run, method)
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    left.set_xlabel("ε (intruder: best |cos| with any base direction < ε)")
    left.set_ylabel("intruder dimensions, all layers")
    left.set_title("Intruder dimensions of the final model")
    return _save(fig, right, out / "intruders.png", LAYER_AXIS, "intruder dimensions", f"Per layer at ε = {middle:g}")
