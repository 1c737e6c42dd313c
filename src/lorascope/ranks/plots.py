"""Figures of a rank analysis: singular-value decay of key layers, and per-layer numbers over
depth × module type as heatmaps. PNG, written with matplotlib's non-interactive backend."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from lorascope.plotting import save_figure  # noqa: E402
from lorascope.ranks.allocation import module_type  # noqa: E402
from lorascope.ranks.spectrum import LayerSpectrum  # noqa: E402


def key_layers(spectra: dict[str, LayerSpectrum], count: int = 6) -> list[str]:
    """The ``count`` layers whose ΔW carries the most energy, in model order."""
    largest = sorted(spectra, key=lambda n: -spectra[n].total_energy)[:count]
    return [n for n in spectra if n in largest]


def plot_decay(spectra: dict[str, LayerSpectrum], path: Path, layers: list[str]) -> Path:
    """σ_i / σ_0 against i (log scale) for the given layers, with each layer's r_raw marked."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name in layers:
        s = np.asarray(spectra[name].singular_values)
        if s.size == 0 or s[0] <= 0:
            continue
        (line,) = ax.semilogy(np.arange(1, s.size + 1), s / s[0], label=name, linewidth=1.2)
        r = spectra[name].r_raw
        if 0 < r <= s.size:
            ax.plot([r], [s[r - 1] / s[0]], "o", color=line.get_color(), markersize=4)
    ax.set_xlabel("index i")
    ax.set_ylabel("σ_i / σ_1")
    ax.set_title("Singular values of ΔW (dots: r_raw)")
    ax.legend(fontsize=7, loc="upper right")
    ax.grid(True, which="both", alpha=0.3)
    return save_figure(fig, path, pdf=False)


def _grid(values: dict[str, float]) -> tuple[list[str], list[int], np.ndarray]:
    """Rows: module types; columns: depths; NaN where a type has no layer at a depth."""
    placed = {name: module_type(name) for name in values}
    kinds = list(dict.fromkeys(kind for kind, _ in placed.values()))
    depths = sorted({d for _, d in placed.values() if d is not None}) or [0]
    grid = np.full((len(kinds), len(depths)), np.nan)
    for name, (kind, depth) in placed.items():
        grid[kinds.index(kind), depths.index(depth if depth is not None else depths[0])] = values[name]
    return kinds, depths, grid


def plot_heatmaps(panels: dict[str, dict[str, float]], path: Path) -> Path:
    """One heatmap per panel (title -> value per layer), module types down, depth across, values written in."""
    fig, axes = plt.subplots(len(panels), 1, figsize=(8, 1.2 + 1.9 * len(panels)), squeeze=False)
    for ax, (title, values) in zip(axes[:, 0], panels.items(), strict=True):
        kinds, depths, grid = _grid(values)
        image = ax.imshow(grid, aspect="auto", cmap="viridis")
        ax.set_yticks(range(len(kinds)), [k.split(".*.", 1)[-1] for k in kinds], fontsize=7)
        ax.set_xticks(range(len(depths)), [str(d) for d in depths], fontsize=7)
        ax.set_xlabel("depth (layer index)", fontsize=8)
        ax.set_title(title, fontsize=9)
        if grid.size <= 400:
            finite = grid[np.isfinite(grid)]
            middle = (finite.min() + finite.max()) / 2 if finite.size else 0
            for (i, j), value in np.ndenumerate(grid):
                if np.isfinite(value):
                    text = f"{value:.0f}" if float(value).is_integer() else f"{value:.2g}"
                    colour = "black" if value > middle else "white"
                    ax.text(j, i, text, ha="center", va="center", fontsize=6, color=colour)
        fig.colorbar(image, ax=ax, fraction=0.03)
    return save_figure(fig, path, pdf=False)
