"""The spectrum of a weight update ΔW: how much rank it needs to keep a share of its energy.

The energy of ΔW is its squared Frobenius norm, Σ σ_i². ``r_raw`` is the smallest rank whose
top singular values keep at least the asked share of it. The total energy is computed exactly
(in float64) from ΔW itself, so a randomized SVD that finds only the top singular values still
gives exact shares; it finds them with ``torch.svd_lowrank`` (Halko et al. 2009, a range finder
with oversampling and power iterations), widening its search until the share is reached.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

Method = Literal["randomized", "exact"]


@dataclass(frozen=True)
class LayerSpectrum:
    """What the ΔW analysis reports for one layer."""

    shape: tuple[int, int]
    r_raw: int  # smallest rank keeping `energy` of the squared Frobenius norm
    energy_retained: float  # share actually kept by r_raw singular values
    decay_rate: float  # see ``decay_rate``
    singular_values: list[float]  # all that were computed, largest first (the top ones when randomized)
    total_energy: float  # ‖ΔW‖²_F


def decay_rate(singular_values: np.ndarray, count: int = 32) -> float:
    """How fast the spectrum falls: minus the least-squares slope of ln σ_i against i over the
    top ``count`` non-zero singular values, so σ_i ≈ σ_0 · exp(−rate · i). 0 for fewer than two."""
    s = np.asarray(singular_values, dtype=np.float64)[:count]
    s = s[s > 0]
    if s.size < 2:
        return 0.0
    slope = np.polyfit(np.arange(s.size, dtype=np.float64), np.log(s), 1)[0]
    return float(-slope)


def energy_rank(singular_values: np.ndarray, total_energy: float, energy: float) -> tuple[int, float] | None:
    """(smallest k whose top-k energy share reaches ``energy``, that share), or None if these values fall short."""
    if total_energy <= 0:
        return 0, 1.0
    shares = np.cumsum(np.asarray(singular_values, dtype=np.float64) ** 2) / total_energy
    reached = np.flatnonzero(shares >= energy - 1e-12)
    if reached.size == 0:
        return None
    k = int(reached[0])
    return k + 1, float(min(shares[k], 1.0))


def _top_singular_values(delta: torch.Tensor, q: int, power_iters: int, seed: int) -> np.ndarray:
    devices = [delta.device] if delta.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        _, s, _ = torch.svd_lowrank(delta, q=q, niter=power_iters)
    return s.double().cpu().numpy()


def analyze_delta(
    delta: torch.Tensor,
    energy: float = 0.90,
    method: Method = "randomized",
    oversample: int = 10,
    power_iters: int = 2,
    initial_rank: int = 32,
    seed: int = 0,
) -> LayerSpectrum:
    """Spectrum of one ΔW (out × in). ``method: exact`` runs a full float64 SVD."""
    if not 0 < energy <= 1:
        raise ValueError(f"energy must be in (0, 1], got {energy}")
    exact64 = delta.detach().double()  # float64 wherever accuracy needs it: the energy, the exact SVD
    matrix = delta.detach().float()
    full = min(matrix.shape)
    total = float(exact64.pow(2).sum())
    if method == "exact":
        values = torch.linalg.svdvals(exact64).cpu().numpy()
        found = energy_rank(values, total, energy)
    else:
        rank = min(initial_rank, full)
        while True:
            q = min(rank + oversample, full)
            values = _top_singular_values(matrix, q, power_iters, seed)
            found = energy_rank(values[:rank] if q < full else values, total, energy)
            if found is not None or q >= full:
                break
            rank = min(2 * rank, full)
        if found is None:  # float32 rounding can leave the share a hair short of 1
            values = torch.linalg.svdvals(exact64).cpu().numpy()
            found = energy_rank(values, total, energy)
    assert found is not None
    r_raw, kept = found
    return LayerSpectrum(
        shape=(int(matrix.shape[0]), int(matrix.shape[1])),
        r_raw=r_raw,
        energy_retained=kept,
        decay_rate=decay_rate(values),
        singular_values=[float(v) for v in values],
        total_energy=total if math.isfinite(total) else float("nan"),
    )
