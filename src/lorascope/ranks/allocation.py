"""From raw per-layer ranks to robust ones: clipping, smoothing over depth, a parameter budget.

A layer is named by its full module name (``model.layers.3.self_attn.q_proj``). Its *module
type* is that name with the first layer index replaced by ``*`` (``model.layers.*.self_attn.q_proj``)
and its *depth* is that index. LoRA of rank r on an out × in layer trains r · (out + in) parameters.
"""

from __future__ import annotations

import heapq
import math
import re
from typing import Literal

import numpy as np

from lorascope.ranks.spectrum import SHARE_TIE

Smoothing = Literal["none", "median", "mean"]
_INDEX = re.compile(r"\.(\d+)\.")


def module_type(name: str) -> tuple[str, int | None]:
    """(module type, depth): the first ``.<index>.`` of the name is the depth."""
    match = _INDEX.search(name)
    if match is None:
        return name, None
    return name[: match.start()] + ".*." + name[match.end() :], int(match.group(1))


def lora_parameters(rank: int, shape: tuple[int, int]) -> int:
    """Parameters of a rank-``rank`` LoRA update on an out × in layer: r · (out + in)."""
    return rank * (shape[0] + shape[1])


def global_counts(
    values: dict[str, list[float]], energies: dict[str, float], complete: dict[str, bool], energy: float
) -> tuple[dict[str, int], list[str]]:
    """Per layer, how many of its singular values belong to the smallest set, across all layers and
    largest first, that keeps ``energy`` of the total energy of every layer's ΔW together.

    ``values`` are each layer's computed singular values (largest first), ``energies`` the exact
    ‖ΔW‖²_F, ``complete`` whether every singular value was computed. Also returns the layers whose
    count may be short because all their computed values were taken and more exist.
    """
    total = sum(energies.values())
    target = energy * total
    order = {name: i for i, name in enumerate(values)}  # ties go to the layer named first, on every device
    ranked = sorted(
        ((v * v, name) for name, vs in values.items() for v in vs), key=lambda item: (-item[0], order[item[1]])
    )
    counts = dict.fromkeys(values, 0)
    kept = 0.0
    for squared, name in ranked:
        if kept >= target - SHARE_TIE * total:
            break
        kept += squared
        counts[name] += 1
    short = [n for n in values if not complete[n] and counts[n] == len(values[n]) and counts[n] > 0]
    return counts, short


def clip_ranks(ranks: dict[str, int], min_r: int, max_r: int) -> dict[str, int]:
    if not 1 <= min_r <= max_r:
        raise ValueError(f"need 1 <= min_r <= max_r, got min_r={min_r}, max_r={max_r}")
    return {name: min(max(r, min_r), max_r) for name, r in ranks.items()}


def _round(value: float) -> int:
    return math.floor(value + 0.5)  # halves round up, the same on every platform


def smooth_ranks(ranks: dict[str, int], how: Smoothing, window: int = 3) -> dict[str, int]:
    """Replace each rank by the median or mean of the ranks of its module type in a window of
    ``window`` consecutive depths centred on it (fewer at the first and last layers), rounded
    half up. Layers without a depth are left as they are."""
    if how == "none":
        return dict(ranks)
    if window < 1 or window % 2 == 0:
        raise ValueError(f"window must be a positive odd number, got {window}")
    groups: dict[str, list[tuple[int, str]]] = {}
    for name in ranks:
        kind, depth = module_type(name)
        if depth is not None:
            groups.setdefault(kind, []).append((depth, name))
    reduce = np.median if how == "median" else np.mean
    smoothed = dict(ranks)
    half = window // 2
    for members in groups.values():
        members.sort()
        values = [ranks[name] for _, name in members]
        for i, (_, name) in enumerate(members):
            neighbourhood = values[max(0, i - half) : i + half + 1]
            smoothed[name] = _round(float(reduce(neighbourhood)))
    return smoothed


def match_budget(
    ranks: dict[str, int], shapes: dict[str, tuple[int, int]], budget_r: int, min_r: int, max_r: int
) -> dict[str, int]:
    """Rescale ranks so the LoRA parameter count comes as close as it can to that of uniform rank
    ``budget_r`` without exceeding it, keeping every rank in [min_r, max_r] and, among layers of
    one shape, the order of their ranks.

    Ranks are scaled by one factor c (the largest whose rounded-down ranks fit, by bisection).
    Then, one rank at a time, the layer furthest below its scaled share c · r gets one more (ties:
    the larger raw rank, then the first listed), as long as it is below max_r and its size fits.
    The result is maximal: no layer below max_r could take one more rank within the budget, so the
    total falls short by less than the smallest (out + in) among such layers, and by nothing when
    every layer has the same out + in (the budget is then a multiple of it).
    """
    names = list(ranks)
    sizes = np.array([shapes[n][0] + shapes[n][1] for n in names], dtype=np.int64)
    raw = np.array([max(ranks[n], 0) for n in names], dtype=np.float64)
    target = int(budget_r * sizes.sum())
    floor_total = int(min_r * sizes.sum())
    if target < floor_total:
        raise ValueError(f"budget of uniform rank {budget_r} is below min_r={min_r} on every layer")

    def total(c: float) -> int:
        return int((np.clip(np.floor(c * raw), min_r, max_r) * sizes).sum())

    low, high = 0.0, 1.0
    while total(high) <= target and high < 1e9 and np.any(np.floor(high * raw) < max_r):
        high *= 2
    for _ in range(100):  # bisection for the largest c whose rounded-down total fits
        middle = (low + high) / 2
        low, high = (middle, high) if total(middle) <= target else (low, middle)
    share = low * raw
    result = np.clip(np.floor(share), min_r, max_r).astype(np.int64)
    spent = int((result * sizes).sum())
    queue = [(-(share[i] - result[i]), -raw[i], i) for i in range(len(names))]
    heapq.heapify(queue)
    while queue:
        _, _, i = heapq.heappop(queue)
        if result[i] >= max_r or spent + sizes[i] > target:
            continue  # it will never fit again: what is left only shrinks
        result[i] += 1
        spent += int(sizes[i])
        heapq.heappush(queue, (-(share[i] - result[i]), -raw[i], i))
    return {name: int(r) for name, r in zip(names, result, strict=True)}
