"""Figures as papers want them: PNG for reading, PDF for LaTeX; and the report's metric figure."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from lorascope.plotting import save_figure  # noqa: E402

if TYPE_CHECKING:
    from lorascope.stats.descriptive import Interval


def metric_by_method(
    panels: dict[str, tuple[str, dict[str, Interval], dict[str, list[float]]]], path: Path
) -> tuple[Path, Path]:
    """One panel per task: ``panels[task] = (metric, variant → interval, variant → per-seed values)``.
    Bars are means, error bars the 95% intervals, dots the seeds. Writes PNG and PDF."""
    fig, axes = plt.subplots(1, len(panels), figsize=(max(4.0, 3.2 * len(panels)), 3.6), squeeze=False)
    for ax, (task, (metric, intervals, seeds)) in zip(axes[0], panels.items(), strict=True):
        names = list(intervals)
        means = [intervals[n].estimate for n in names]
        errors = [
            [max(intervals[n].estimate - intervals[n].low, 0) for n in names],
            [max(intervals[n].high - intervals[n].estimate, 0) for n in names],
        ]
        errors = [[0.0 if e != e else e for e in side] for side in errors]  # NaN (one seed): no bar
        ax.bar(range(len(names)), means, color="#9ecae1", edgecolor="#3182bd")
        ax.errorbar(range(len(names)), means, yerr=errors, fmt="none", ecolor="#08306b", capsize=4)
        for i, name in enumerate(names):
            values = seeds.get(name, [])
            ax.plot([i] * len(values), values, "o", color="#08306b", markersize=3, alpha=0.7)
        ax.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
        ax.set_title(task)
        ax.set_ylabel(metric)
        lows = [intervals[n].low for n in names if intervals[n].low == intervals[n].low]
        floor = min(lows + [min(v) for v in seeds.values() if v] + means)
        ax.set_ylim(bottom=max(0.0, floor - 0.1 * abs(floor)) if floor > 0 else floor * 1.1)
        ax.grid(axis="y", alpha=0.3)
    return save_figure(fig, path), path.with_suffix(".pdf")
