"""The spectrum of a weight update ΔW: how much rank it needs to keep a share of its energy.

The energy of ΔW is its squared Frobenius norm, Σ σ_i². ``r_raw`` is the smallest rank whose
top singular values keep at least the asked share of it. The total energy is computed exactly
(in float64) from ΔW itself.

The randomized method finds a basis Q of ΔW's dominant column space with ``torch.svd_lowrank``
(Halko et al. 2011: a range finder with oversampling and power iterations) refined by one float64
power step, widening its search until the share is reached, then computes the singular values s_i
of QᵀΔW in float64. It checks its own answer: with ε² a posterior bound on ‖(I − QQᵀ)ΔW‖₂² (twice
a power-method estimate, which fails with probability under 10⁻¹⁰), every true value lies in
s_i ≤ σ_i ≤ √(s_i² + ε²) (Weyl) and the top-k energy in [Σ s_i², Σ s_i² + min(k ε², residual
energy)] (Ky Fan). The answer is accepted only when these bounds decide ``r_raw`` and hold the
reported values to ``TOLERANCE``; otherwise the search widens, and past half the matrix size
(where the exact SVD costs about as much) the layer is analysed by the exact float64 SVD, and the
spectrum says so.

Shares within ``SHARE_TIE`` of the asked energy count as reaching it, so an exact tie (a flat
spectrum whose share lands on the energy) is decided the same way by both methods. ``energy = 1``
asks for the numerical rank: the number of singular values above σ₁ · max(m, n) · ε_dtype of
ΔW's dtype (numpy's ``matrix_rank`` rule), from the exact SVD, so rounding noise never counts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

Method = Literal["randomized", "exact"]

TOLERANCE = 1e-4  # relative accuracy of each reported singular value above NEGLIGIBLE · σ₁
NEGLIGIBLE = 1e-3  # values below this share of σ₁ (under 1e-6 of its energy) are held to TOLERANCE · σ₁ · this
SHARE_TIE = 1e-9  # an energy share within this of the asked one reaches it
FAILURE = 1e-10  # probability that the posterior error bound does not hold


@dataclass(frozen=True)
class LayerSpectrum:
    """What the ΔW analysis reports for one layer."""

    shape: tuple[int, int]
    r_raw: int  # smallest rank keeping `energy` of the squared Frobenius norm
    energy_retained: float  # share actually kept by r_raw singular values
    decay_rate: float  # see ``decay_rate``
    singular_values: list[float]  # all that were computed, largest first (the top ones when randomized)
    total_energy: float  # ‖ΔW‖²_F
    method: str = "exact"  # "exact", "randomized", or "exact (…)" when the randomized answer was not certain
    error_bound: float = 0.0  # ε: every true σ_i lies in [s_i, √(s_i² + ε²)] (0 for the exact SVD)


def decay_rate(singular_values: np.ndarray, count: int = 32) -> float:
    """How fast the spectrum falls: minus the least-squares slope of ln σ_i against i over the
    top ``count`` non-zero singular values, so σ_i ≈ σ_0 · exp(−rate · i). 0 for fewer than two."""
    s = np.asarray(singular_values, dtype=np.float64)[:count]
    s = s[s > 0]
    if s.size < 2:
        return 0.0
    slope = np.polyfit(np.arange(s.size, dtype=np.float64), np.log(s), 1)[0]
    return float(-slope)


def energy_rank(
    singular_values: np.ndarray, total_energy: float, energy: float, slack: float = 0.0
) -> tuple[int, float] | None:
    """(smallest k whose top-k energy share reaches ``energy``, that share), or None if these values
    fall short. ``slack`` is energy that may be missing from each top-k sum (an error bound)."""
    if total_energy <= 0:
        return 0, 1.0
    squared = np.asarray(singular_values, dtype=np.float64) ** 2
    kept = np.cumsum(squared)
    slacks = np.minimum(np.arange(1, squared.size + 1) * slack, total_energy - kept) if slack else 0.0
    shares = (kept + np.maximum(slacks, 0.0)) / total_energy
    reached = np.flatnonzero(shares >= energy - SHARE_TIE)
    if reached.size == 0:
        return None
    k = int(reached[0])
    return k + 1, float(min(kept[k] / total_energy, 1.0))


def numerical_rank(singular_values: np.ndarray, shape: tuple[int, int], dtype: torch.dtype) -> int:
    """Singular values above σ₁ · max(m, n) · ε of ``dtype`` (numpy's ``matrix_rank`` tolerance)."""
    s = np.asarray(singular_values, dtype=np.float64)
    if s.size == 0 or s[0] == 0:
        return 0
    return int(np.count_nonzero(s > s[0] * max(shape) * torch.finfo(dtype).eps))


def _basis(matrix: torch.Tensor, exact64: torch.Tensor, q: int, power_iters: int, seed: int) -> torch.Tensor:
    """An orthonormal float64 basis of the dominant q-dimensional column space: ``torch.svd_lowrank``
    in float32, then one power step in float64, so an exactly low-rank ΔW leaves no float32 residue."""
    devices = [matrix.device] if matrix.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        u, _, _ = torch.svd_lowrank(matrix, q=q, niter=power_iters)
    basis = torch.linalg.qr(u.double()).Q
    return torch.linalg.qr(exact64 @ (exact64.T @ basis)).Q


def _residual_bound(residual: torch.Tensor, seed: int) -> float:
    """An upper bound on ‖C‖₂² for the residual C = (I − QQᵀ)ΔW: twice the power method's estimate
    after enough steps that it is below half of ‖C‖₂² with probability under ``FAILURE``
    (Kuczyński & Woźniakowski 1992: at most 0.824 √n · 2^−(k − ½)), and never above ‖C‖²_F."""
    n = residual.shape[1]
    steps = math.ceil(0.5 + math.log(0.824 * math.sqrt(n) / FAILURE, 2))
    generator = torch.Generator(device=residual.device).manual_seed(seed + 1)
    x = torch.randn(n, dtype=torch.float64, device=residual.device, generator=generator)
    estimate = 0.0
    for _ in range(steps):
        x = x / x.norm().clamp_min(1e-300)
        image = residual @ x
        estimate = float(image.pow(2).sum())
        x = residual.T @ image
    return min(2 * estimate, float(residual.pow(2).sum()))


def _certain(values: np.ndarray, found: tuple[int, float], squared: float, total: float, energy: float) -> bool:
    """With ‖(I − QQᵀ)ΔW‖₂² ≤ ``squared``, do the bounds leave r_raw as it is and every reported
    value within TOLERANCE?"""
    earliest = energy_rank(values, total, energy, slack=squared)
    if earliest is None or earliest[0] != found[0]:
        return False
    top = values[: min(values.size, 16)]
    error = np.sqrt(top**2 + squared) - top
    allowed = TOLERANCE * np.maximum(top, NEGLIGIBLE * top[0]) if top.size else np.zeros(0)
    return bool(np.all(error <= allowed))


def _exact(exact64: torch.Tensor, total: float, energy: float) -> tuple[np.ndarray, tuple[int, float]]:
    values = torch.linalg.svdvals(exact64).cpu().numpy()
    found = energy_rank(values, total, energy)
    assert found is not None  # every value is there: the share reaches the energy up to SHARE_TIE
    return values, found


def analyze_delta(
    delta: torch.Tensor,
    energy: float = 0.90,
    method: Method = "randomized",
    oversample: int = 10,
    power_iters: int = 2,
    initial_rank: int = 32,
    seed: int = 0,
) -> LayerSpectrum:
    """Spectrum of one ΔW (out × in). ``method: exact`` runs a full float64 SVD; ``randomized``
    falls back to it where its own error bounds cannot certify the answer (see the module)."""
    if not 0 < energy <= 1:
        raise ValueError(f"energy must be in (0, 1], got {energy}")
    exact64 = delta.detach().double()  # float64 wherever accuracy needs it: the energy, the exact SVD
    shape = (int(delta.shape[0]), int(delta.shape[1]))
    total = float(exact64.pow(2).sum())
    used, bound = "exact", 0.0
    if energy == 1 or total == 0:
        values, found = _exact(exact64, total, energy)
        used = "exact" if method == "exact" or total == 0 else "exact (energy 1: the numerical rank)"
    elif method == "exact":
        values, found = _exact(exact64, total, energy)
    else:
        values, found, used, bound = _randomized(
            exact64, delta.detach().float(), total, energy, oversample, power_iters, initial_rank, seed
        )
    r_raw, kept = found
    if energy == 1:
        r_raw = numerical_rank(values, shape, delta.dtype)
        kept = float(min(np.sum(values[:r_raw] ** 2) / total, 1.0)) if total > 0 else 1.0
    return LayerSpectrum(
        shape=shape,
        r_raw=r_raw,
        energy_retained=kept,
        decay_rate=decay_rate(values),
        singular_values=[float(v) for v in values],
        total_energy=total if math.isfinite(total) else float("nan"),
        method=used,
        error_bound=bound,
    )


def _randomized(
    exact64: torch.Tensor,
    matrix: torch.Tensor,
    total: float,
    energy: float,
    oversample: int,
    power_iters: int,
    initial_rank: int,
    seed: int,
) -> tuple[np.ndarray, tuple[int, float], str, float]:
    """The widening, self-checking randomized search; (values, (r_raw, share), method, ε)."""
    full = min(matrix.shape)
    rank = min(initial_rank, full)
    checks = 0
    while 2 * min(rank + oversample, full) <= full and checks < 2:
        basis = _basis(matrix, exact64, min(rank + oversample, full), power_iters, seed)
        projected = basis.T @ exact64
        values = torch.linalg.svdvals(projected).cpu().numpy()
        found = energy_rank(values, total, energy)
        if found is not None:  # the share is reached: check the answer; widen once if it is not certain
            squared = _residual_bound(exact64 - basis @ projected, seed)
            if _certain(values, found, squared, total, energy):
                return values, found, "randomized", math.sqrt(squared)
            checks += 1
        rank = min(2 * rank, full)
    # past half the matrix the exact SVD costs about as much; a second uncertain answer means the
    # spectrum decays too slowly for the bounds to decide
    values, found = _exact(exact64, total, energy)
    return values, found, "exact (the randomized answer could not be certified)", 0.0
