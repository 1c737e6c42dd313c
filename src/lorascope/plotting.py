"""Figures as papers want them: PNG for reading, PDF for LaTeX, drawn with matplotlib's file backend."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def save_figure(fig: Figure, path: Path, pdf: bool = True) -> Path:
    """Lay out, write ``path`` (PNG, 150 dpi) and with ``pdf`` its PDF twin, close the figure; returns ``path``."""
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    if pdf:
        fig.savefig(path.with_suffix(".pdf"))
    plt.close(fig)
    return path
