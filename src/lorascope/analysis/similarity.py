"""Similarity of two sets of representations of the same n examples (rows): CKA and friends.

Every function takes numpy arrays or torch tensors of shape (n, features), computes in float64
(on the GPU when the input is there, or when ``device`` says so), centres features before any
product, and returns a Python float (or a numpy array for per-example measures).

- Linear CKA (Kornblith et al. 2019) uses the feature-space form ‖Yᵀ X‖²_F / (‖Xᵀ X‖_F ‖Yᵀ Y‖_F)
  when there are at least as many examples as features, and the Gram-space form otherwise; both
  are exact. ``debiased=True`` replaces HSIC by its unbiased estimator (Song et al. 2012).
- RBF CKA uses Gram matrices with bandwidth σ² = threshold² · (median squared distance), the median
  over the full n × n matrix as in Kornblith et al.'s code (``bandwidth="pairs"``: over i < j).
- Minibatch CKA (Nguyen et al. 2021) sums unbiased HSIC over batches of examples.
- Orthogonal Procrustes distance (Ding et al. 2021) between centred, unit-norm representations.

``device`` defaults to the GPU when there is one, else the input's device.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import numpy as np
import torch

ArrayLike = np.ndarray | torch.Tensor
MIN_EXAMPLES = 4  # the unbiased HSIC divides by n − 3


def as_float64(
    x: ArrayLike, name: str, device: str | torch.device | None, what: str = "array (examples × features)"
) -> torch.Tensor:
    """A 2-D float64 tensor on ``device`` (default: the GPU when there is one, else the input's device)."""
    tensor = torch.as_tensor(x)
    if tensor.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D {what}, got shape {tuple(tensor.shape)}")
    if device is None:
        device = "cuda" if torch.cuda.is_available() else tensor.device
    return tensor.to(device=device, dtype=torch.float64)


def _pair(x: ArrayLike, y: ArrayLike, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Both inputs as float64 matrices with the same examples, at least ``MIN_EXAMPLES`` of them."""
    a = as_float64(x, "X", device)
    b = as_float64(y, "Y", device if device is not None else a.device)
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"X and Y must hold the same examples: X has {a.shape[0]} rows, Y has {b.shape[0]}")
    if a.shape[0] < MIN_EXAMPLES:
        raise ValueError(f"need at least {MIN_EXAMPLES} examples, got {a.shape[0]}")
    return a, b


def _centre(x: torch.Tensor) -> torch.Tensor:
    return x - x.mean(dim=0, keepdim=True)


def _debiased(cross: torch.Tensor, diag_x: torch.Tensor, diag_y: torch.Tensor, n: int) -> torch.Tensor:
    """n(n−3) · unbiased HSIC of linear kernels of centred features, from Σ_{i,j} K_ij L_ij (``cross``)
    and the diagonals: ⟨K, L⟩ − n/(n−2) Σ K_ii L_ii + tr K tr L / ((n−1)(n−2))."""
    return cross - n / (n - 2) * (diag_x * diag_y).sum() + diag_x.sum() * diag_y.sum() / ((n - 1) * (n - 2))


def linear_cka(x: ArrayLike, y: ArrayLike, debiased: bool = False, device=None) -> float:
    """Linear CKA of two representations of the same examples, in [0, 1] (debiased: can dip below 0)."""
    a, b = _pair(x, y, device)
    a, b = _centre(a), _centre(b)
    n = a.shape[0]
    if n >= a.shape[1] + b.shape[1]:  # feature space: products of size features × features
        xy, xx, yy = (b.T @ a).pow(2).sum(), (a.T @ a).pow(2).sum(), (b.T @ b).pow(2).sum()
    else:  # Gram space: n × n
        k, l_ = a @ a.T, b @ b.T
        xy, xx, yy = (k * l_).sum(), (k * k).sum(), (l_ * l_).sum()
    if debiased:
        dx, dy = a.pow(2).sum(dim=1), b.pow(2).sum(dim=1)
        xy, xx, yy = _debiased(xy, dx, dy, n), _debiased(xx, dx, dx, n), _debiased(yy, dy, dy, n)
    return _ratio(xy, xx, yy)


def _ratio(xy: torch.Tensor, xx: torch.Tensor, yy: torch.Tensor) -> float:
    denominator = torch.sqrt(xx.clamp_min(0) * yy.clamp_min(0))
    if float(denominator) == 0.0:
        raise ValueError("CKA is undefined: one representation is constant over the examples")
    return float(xy / denominator)


Bandwidth = Literal["kornblith", "pairs"]


def _rbf_gram(x: torch.Tensor, threshold: float, bandwidth: Bandwidth) -> torch.Tensor:
    """exp(−‖x_i − x_j‖² / (2σ²)) with σ² = threshold² · a median of the squared distances: over the
    whole n × n matrix, zero diagonal and both triangles (``kornblith``, as in Kornblith et al.'s
    notebook and ckatorch), or over the pairs i < j (``pairs``). Even counts take the mean of the two
    middle values (numpy's median)."""
    norms = x.pow(2).sum(dim=1)
    squared = (norms[:, None] + norms[None, :] - 2 * x @ x.T).clamp_min(0)
    squared.fill_diagonal_(0.0)
    if bandwidth == "kornblith":
        values = squared.flatten().sort().values
    elif bandwidth == "pairs":
        upper = torch.triu_indices(x.shape[0], x.shape[0], offset=1, device=x.device)
        values = squared[upper[0], upper[1]].sort().values
    else:
        raise ValueError(f"bandwidth must be 'kornblith' or 'pairs', got {bandwidth!r}")
    median = (values[(values.numel() - 1) // 2] + values[values.numel() // 2]) / 2
    if float(median) == 0.0:
        raise ValueError("RBF CKA: the median pairwise distance is 0 (most examples are identical)")
    return torch.exp(-squared / (2 * threshold**2 * median))


def _hsic(k: torch.Tensor, l_: torch.Tensor, debiased: bool) -> torch.Tensor:
    """HSIC of two Gram matrices, up to a factor that cancels in CKA: tr(K H L H), or the
    unbiased estimator (Song et al. 2012) times n(n − 3)."""
    n = k.shape[0]
    if not debiased:
        centre = torch.eye(n, dtype=k.dtype, device=k.device) - 1.0 / n
        return ((centre @ k @ centre) * l_).sum()
    k0, l0 = k - torch.diag(torch.diag(k)), l_ - torch.diag(torch.diag(l_))
    ones = torch.ones(n, dtype=k.dtype, device=k.device)
    return (
        (k0 * l0).sum()
        + (ones @ k0 @ ones) * (ones @ l0 @ ones) / ((n - 1) * (n - 2))
        - 2 / (n - 2) * (ones @ k0 @ l0 @ ones)
    )


def rbf_cka(
    x: ArrayLike,
    y: ArrayLike,
    threshold: float = 1.0,
    debiased: bool = False,
    device=None,
    bandwidth: Bandwidth = "kornblith",
) -> float:
    """CKA with Gaussian kernels, σ² = threshold² · the median squared distance of each set.

    ``bandwidth="kornblith"`` (default) takes the median over the full n × n distance matrix, as the
    published CKA code does, so values compare with published ones; ``"pairs"`` takes it over the
    distinct pairs i < j (a larger σ at small n: up to 0.03 apart in CKA at n = 10, 1e-3 at n = 50).
    """
    if threshold <= 0:
        raise ValueError(f"threshold must be positive, got {threshold}")
    a, b = _pair(x, y, device)
    k, l_ = _rbf_gram(_centre(a), threshold, bandwidth), _rbf_gram(_centre(b), threshold, bandwidth)
    return _ratio(_hsic(k, l_, debiased), _hsic(k, k, debiased), _hsic(l_, l_, debiased))


def minibatch_cka(batches: Iterable[tuple[ArrayLike, ArrayLike]], device=None) -> float:
    """Linear CKA from unbiased HSIC summed over batches of examples, for probe sets too large for one
    Gram matrix: Σ HSIC(X_b, Y_b) / √(Σ HSIC(X_b, X_b) · Σ HSIC(Y_b, Y_b)). With one batch holding
    every example it equals ``linear_cka(X, Y, debiased=True)``."""
    xy = xx = yy = torch.zeros((), dtype=torch.float64)
    seen = 0
    for x, y in batches:
        a, b = _pair(x, y, device)
        a, b = _centre(a), _centre(b)
        n = a.shape[0]
        k, l_ = a @ a.T, b @ b.T
        dx, dy = torch.diag(k), torch.diag(l_)
        scale = 1.0 / (n * (n - 3))  # batches of different sizes weigh as HSIC estimates
        xy = xy + scale * _debiased((k * l_).sum(), dx, dy, n).cpu()
        xx = xx + scale * _debiased((k * k).sum(), dx, dx, n).cpu()
        yy = yy + scale * _debiased((l_ * l_).sum(), dy, dy, n).cpu()
        seen += 1
    if not seen:
        raise ValueError("minibatch_cka: no batches")
    return _ratio(xy, xx, yy)


def cosine_per_example(x: ArrayLike, y: ArrayLike, centred: bool = False, device=None) -> np.ndarray:
    """cos(x_i, y_i) for every example i (same feature space); ``centred`` subtracts each set's
    mean over the examples first. An all-zero row gives NaN."""
    a, b = _pair(x, y, device)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"cosine needs the same features: X has {a.shape[1]}, Y has {b.shape[1]}")
    if centred:
        a, b = _centre(a), _centre(b)
    norms = a.norm(dim=1) * b.norm(dim=1)
    cosine = (a * b).sum(dim=1) / norms
    cosine[norms == 0] = float("nan")
    return cosine.cpu().numpy()


def procrustes_distance(x: ArrayLike, y: ArrayLike, device=None) -> float:
    """Orthogonal Procrustes distance, min over orthogonal Q of ‖X − Y Q‖²_F, for centred
    representations scaled to unit Frobenius norm: 2 − 2‖Xᵀ Y‖_* (0 when one is a rotation of
    the other, at most 2)."""
    a, b = _pair(x, y, device)
    a, b = _centre(a), _centre(b)
    na, nb = a.norm(), b.norm()
    if float(na) == 0.0 or float(nb) == 0.0:
        raise ValueError("Procrustes distance is undefined: one representation is constant over the examples")
    nuclear = torch.linalg.svdvals((a / na).T @ (b / nb)).sum()
    return float((2 - 2 * nuclear).clamp_min(0))
