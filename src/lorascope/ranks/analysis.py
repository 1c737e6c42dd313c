"""ΔW analysis of two checkpoints: the spectrum of every targeted linear layer, then ranks.

The checkpoints are read tensor by tensor from their safetensors files, so no model is built
and memory holds one layer pair at a time. Keys are matched by name; a fine-tuned checkpoint
with a task head (``bert.encoder…``) matches a bare pretrained one (``encoder…``) by suffix.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import torch
from safetensors import safe_open
from tqdm.auto import tqdm

from lorascope.errors import LorascopeError
from lorascope.ranks.allocation import clip_ranks, lora_parameters, match_budget, smooth_ranks
from lorascope.ranks.rank_config import SCHEMA_VERSION, LayerRank, RankConfig, write_rank_config
from lorascope.ranks.spectrum import LayerSpectrum, Method, analyze_delta

TOP_VALUES = 16  # singular values kept per layer in the rank config; svd/ holds them all


def _weight_files(folder: Path) -> dict[str, Path]:
    """Tensor name -> safetensors file, for a single file or a sharded checkpoint."""
    folder = Path(folder)
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
        return {name: folder / file for name, file in weight_map.items()}
    single = folder / "model.safetensors"
    if not single.is_file():
        raise LorascopeError(
            f"{folder}: no model.safetensors or model.safetensors.index.json (a full checkpoint is needed)"
        )
    with safe_open(single, framework="pt") as handle:
        return dict.fromkeys(handle.keys(), single)


def _read(path: Path, name: str) -> torch.Tensor:
    with safe_open(path, framework="pt") as handle:
        return handle.get_tensor(name)


def _pairs(base: Path, finetuned: Path, targets: list[str] | None) -> Iterator[tuple[str, Path, str, Path, str]]:
    """(module name, base file, base key, fine-tuned file, fine-tuned key) for each 2-D weight in both."""
    base_files, tuned_files = _weight_files(base), _weight_files(finetuned)
    for key in tuned_files:
        if not key.endswith(".weight"):
            continue
        match = key if key in base_files else next((b for b in base_files if key.endswith("." + b)), None)
        if match is None:
            continue
        module = key.removesuffix(".weight")
        if targets is not None and not any(module == t or module.endswith("." + t) for t in targets):
            continue
        yield module, base_files[match], match, tuned_files[key], key


def _is_embedding(module: str) -> bool:
    last = module.rsplit(".", 1)[-1]
    return "embed" in last or last in ("wte", "wpe")


def analyze_checkpoints(
    base: Path | str,
    finetuned: Path | str,
    targets: list[str] | None = None,
    energy: float = 0.90,
    method: Method = "randomized",
    device: str | None = None,
) -> dict[str, LayerSpectrum]:
    """Spectrum of ΔW = W_finetuned − W_pretrained for every 2-D weight in both checkpoints but
    embeddings (restricted to ``targets`` by module-name suffix); on the GPU when there is one."""
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    pairs = list(_pairs(Path(base), Path(finetuned), targets))
    spectra = {}
    for module, base_file, base_key, tuned_file, tuned_key in tqdm(pairs, desc="ΔW spectra", unit="layer"):
        before, after = _read(base_file, base_key), _read(tuned_file, tuned_key)
        if before.ndim != 2 or before.shape != after.shape or _is_embedding(module):
            continue
        delta = after.to(device, torch.float32) - before.to(device, torch.float32)
        spectra[module] = analyze_delta(delta, energy=energy, method=method)
    if not spectra:
        raise LorascopeError(f"no shared linear layers to compare between {base} and {finetuned} (targets: {targets})")
    return spectra


def allocate(
    spectra: dict[str, LayerSpectrum],
    min_r: int = 4,
    max_r: int = 64,
    smooth: str = "none",
    budget_r: int | None = None,
) -> dict[str, int]:
    """Ranks from ``r_raw``: clipped to [min_r, max_r], smoothed over depth, then matched to a budget."""
    ranks = clip_ranks({name: s.r_raw for name, s in spectra.items()}, min_r, max_r)
    ranks = clip_ranks(smooth_ranks(ranks, smooth), min_r, max_r)  # type: ignore[arg-type]
    if budget_r is not None:
        ranks = match_budget(ranks, {n: s.shape for n, s in spectra.items()}, budget_r, min_r, max_r)
    return ranks


def rank_config(
    spectra: dict[str, LayerSpectrum],
    ranks: dict[str, int],
    alpha_ratio: float,
    settings: dict,
    checkpoints: dict[str, str],
) -> RankConfig:
    """The rank config with its evidence; alpha = alpha_ratio · r on every layer (a constant alpha/r)."""
    layers = {
        name: LayerRank(
            r=ranks[name],
            alpha=alpha_ratio * ranks[name],
            r_raw=s.r_raw,
            energy_retained=s.energy_retained,
            decay_rate=s.decay_rate,
            shape=s.shape,
            singular_values=s.singular_values[:TOP_VALUES],
        )
        for name, s in spectra.items()
    }
    total = sum(lora_parameters(ranks[n], s.shape) for n, s in spectra.items())
    return RankConfig(
        schema_version=SCHEMA_VERSION,
        strategy="svd-energy",
        layers=layers,
        settings=settings,
        checkpoints=checkpoints,
        total_lora_params=total,
    )


def write_analysis(out: Path | str, spectra: dict[str, LayerSpectrum], config: RankConfig) -> Path:
    """``out/lora_rank_config.json`` and ``out/svd/singular_values.json`` (every value computed, per layer)."""
    out = Path(out)
    (out / "svd").mkdir(parents=True, exist_ok=True)
    raw = {
        name: {"shape": list(s.shape), "total_energy": s.total_energy, "singular_values": s.singular_values}
        for name, s in spectra.items()
    }
    (out / "svd" / "singular_values.json").write_text(json.dumps(raw, indent=1) + "\n", encoding="utf-8")
    path = out / "lora_rank_config.json"
    write_rank_config(config, path)
    return path
