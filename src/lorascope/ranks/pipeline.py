"""The one allocation pipeline: per-layer evidence (ΔW spectra, or raw ranks) → ranks clipped to
[min_r, max_r], smoothed over depth and matched to a budget → a rank config with its evidence.

Fed by a ``RanksConfig``; used by the svd-energy and fisher strategies, by ``lorascope ranks
--base --finetuned`` and by the planted task. ``analysis.write_analysis`` writes the result.
"""

from __future__ import annotations

from lorascope.config import RanksConfig
from lorascope.errors import LorascopeError
from lorascope.ranks.analysis import allocate, rank_config, raw_ranks
from lorascope.ranks.rank_config import RankConfig
from lorascope.ranks.spectrum import LayerSpectrum


def allocated_config(
    settings: RanksConfig,
    strategy: str,
    checkpoints: dict[str, str],
    *,
    spectra: dict[str, LayerSpectrum] | None = None,
    raw: dict[str, int] | None = None,
    shapes: dict[str, tuple[int, int]] | None = None,
    importance: dict[str, float] | None = None,
    budget_r: int | None = None,
    lora_alpha_ratio: float | None = None,
    targets: list[str] | None = None,
    budget_key: str = "ranks.min_r",
) -> RankConfig:
    """The rank config of ``settings`` from per-layer evidence.

    Args:
        settings: energy share and scope, rank bounds, smoothing, ``match_budget``, ``alpha_ratio``.
        strategy: the name recorded in the config.
        checkpoints: what the evidence was measured on (recorded).
        spectra: ΔW spectra per layer; the raw ranks are their counts at ``settings.energy``.
        raw, shapes: without spectra, the raw ranks and weight shapes per layer (fisher).
        importance: Fisher shares per layer (recorded as evidence).
        budget_r: the uniform rank whose LoRA parameter count is matched (with ``match_budget``).
        lora_alpha_ratio: alpha / r when ``settings.alpha_ratio`` is null (a run's lora.alpha / lora.r).
        targets: the target-module suffixes (recorded).
        budget_key: the key an impossible budget is blamed on (a flag on the command line).

    Returns:
        The rank config, its settings those of ``settings`` with ``budget_r`` and ``targets``.
    """
    if spectra is not None:
        raw = raw_ranks(spectra, settings.energy, settings.energy_scope)
        shapes = {name: s.shape for name, s in spectra.items()}
    elif raw is None or shapes is None:
        raise ValueError("allocated_config needs spectra, or raw ranks and shapes")
    alpha_ratio = settings.alpha_ratio or lora_alpha_ratio
    if alpha_ratio is None:
        raise ValueError("allocated_config needs settings.alpha_ratio or lora_alpha_ratio")
    budget = budget_r if settings.match_budget else None
    try:
        ranks = allocate(raw, shapes, settings.min_r, settings.max_r, settings.smooth, budget)
    except ValueError as exc:
        raise LorascopeError(f"{budget_key}: {exc}") from None
    recorded = settings.model_dump(mode="json") | {"budget_r": budget, "targets": targets}
    scoped = raw if spectra is not None and settings.energy_scope == "global" else None
    return rank_config(
        strategy, shapes, ranks, alpha_ratio, recorded, checkpoints, spectra, global_ranks=scoped, importance=importance
    )
