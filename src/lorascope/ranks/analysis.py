"""ΔW analysis of two checkpoints: the spectrum of every targeted linear layer, then ranks.

The checkpoints are read tensor by tensor from their safetensors files, so no model is built
and memory holds one layer pair at a time. Keys are matched by name; a fine-tuned checkpoint
with a task head (``bert.encoder…``) matches a bare pretrained one (``encoder…``) by suffix.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from tqdm.auto import tqdm

from lorascope.errors import LorascopeError
from lorascope.io import write_json
from lorascope.models.layers import matches
from lorascope.ranks.allocation import clip_ranks, global_counts, lora_parameters, match_budget, smooth_ranks
from lorascope.ranks.plots import key_layers, plot_decay, plot_heatmaps
from lorascope.ranks.rank_config import FILE_NAME, SCHEMA_VERSION, LayerRank, RankConfig, write_rank_config
from lorascope.ranks.spectrum import LayerSpectrum, Method, analyze_delta

Scope = Literal["global", "layer"]

TOP_VALUES = 16  # singular values kept per layer in the rank config; svd/ holds them all


def weight_files(folder: Path) -> dict[str, Path]:
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


def read_tensor(path: Path, name: str) -> torch.Tensor:
    with safe_open(path, framework="pt") as handle:
        return handle.get_tensor(name)


def _pairs(base: Path, finetuned: Path, targets: list[str] | None) -> Iterator[tuple[str, Path, str, Path, str]]:
    """(module name, base file, base key, fine-tuned file, fine-tuned key) for each 2-D weight in both."""
    base_files, tuned_files = weight_files(base), weight_files(finetuned)
    for key in tuned_files:
        if not key.endswith(".weight"):
            continue
        match = key if key in base_files else next((b for b in base_files if matches(key, b)), None)
        if match is None:
            continue
        module = key.removesuffix(".weight")
        if targets is not None and not any(matches(module, t) for t in targets):
            continue
        yield module, base_files[match], match, tuned_files[key], key


def _is_embedding(module: str) -> bool:
    last = module.rsplit(".", 1)[-1]
    return "embed" in last or last in ("wte", "wpe")


Loader = Callable[[str], tuple[torch.Tensor, torch.Tensor]]  # module name -> (W_pretrained, W_finetuned)


def analyze_layers(
    names: list[str],
    load: Loader,
    energy: float = 0.90,
    method: Method = "randomized",
    scope: Scope = "global",
    device: str | None = None,
) -> dict[str, LayerSpectrum]:
    """Spectrum of ΔW = W_finetuned − W_pretrained for each named layer, on the GPU when there is one.

    With ``scope: global`` a layer whose count in the model-wide energy share its error bounds do
    not settle (or whose randomized search may have stopped short of the values taken) is analysed
    again, exactly, until every count is settled.
    """
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")

    def run(subset: list[str], how: Method) -> dict[str, LayerSpectrum]:
        spectra = {}
        for name in tqdm(subset, desc=f"ΔW spectra ({how})", unit="layer", disable=len(subset) < 2):
            before, after = load(name)
            delta = after.to(device, torch.float32) - before.to(device, torch.float32)
            spectra[name] = analyze_delta(delta, energy=energy, method=how)
        return spectra

    spectra = run(names, method)
    while scope == "global" and energy < 1:
        uncertain = [n for n in _uncertain(spectra, energy) if not spectra[n].method.startswith("exact")]
        if not uncertain:
            break
        spectra |= run(uncertain, "exact")
    return spectra


def _global(spectra: dict[str, LayerSpectrum], energy: float, upper: bool = False) -> tuple[dict[str, int], list[str]]:
    """Each layer's count in the model-wide share, from its computed values or (``upper``) from the
    largest values its error bound allows; with the layers whose search may have stopped short."""
    if energy == 1:  # every value that is not rounding: each layer's numerical rank
        return {n: s.r_raw for n, s in spectra.items()}, []
    values = {
        n: [math.sqrt(v * v + s.error_bound**2) for v in s.singular_values] if upper else s.singular_values
        for n, s in spectra.items()
    }
    return global_counts(
        values,
        {n: s.total_energy for n, s in spectra.items()},
        {n: len(s.singular_values) == min(s.shape) for n, s in spectra.items()},
        energy,
    )


def _uncertain(spectra: dict[str, LayerSpectrum], energy: float) -> list[str]:
    """Layers whose global count is not settled: it differs between the computed values and their
    upper bounds, or the randomized search may have stopped short of the values taken."""
    low, short = _global(spectra, energy)
    high, _ = _global(spectra, energy, upper=True)
    return [n for n in spectra if low[n] != high[n] or n in short]


def analyze_checkpoints(
    base: Path | str,
    finetuned: Path | str,
    targets: list[str] | None = None,
    energy: float = 0.90,
    method: Method = "randomized",
    scope: Scope = "global",
    device: str | None = None,
) -> dict[str, LayerSpectrum]:
    """Spectra of ΔW for every 2-D weight in both checkpoints but embeddings, restricted to
    ``targets`` by module-name suffix."""
    pairs = {}
    for module, base_file, base_key, tuned_file, tuned_key in _pairs(Path(base), Path(finetuned), targets):
        if _is_embedding(module):
            continue
        with safe_open(base_file, framework="pt") as b, safe_open(tuned_file, framework="pt") as t:
            before, after = b.get_slice(base_key).get_shape(), t.get_slice(tuned_key).get_shape()
        if len(before) == 2 and before == after:
            pairs[module] = (base_file, base_key, tuned_file, tuned_key)
    if not pairs:
        raise LorascopeError(f"no shared linear layers to compare between {base} and {finetuned} (targets: {targets})")

    def load(name: str) -> tuple[torch.Tensor, torch.Tensor]:
        base_file, base_key, tuned_file, tuned_key = pairs[name]
        return read_tensor(base_file, base_key), read_tensor(tuned_file, tuned_key)

    return analyze_layers(list(pairs), load, energy, method, scope, device)


def raw_ranks(spectra: dict[str, LayerSpectrum], energy: float, scope: Scope) -> dict[str, int]:
    """Each layer's ``r_raw`` (scope layer), or its count in the model-wide energy share (scope global)."""
    if scope == "layer":
        return {name: s.r_raw for name, s in spectra.items()}
    return _global(spectra, energy)[0]


def allocate(
    raw: dict[str, int],
    shapes: dict[str, tuple[int, int]],
    min_r: int = 4,
    max_r: int = 64,
    smooth: str = "none",
    budget_r: int | None = None,
) -> dict[str, int]:
    """Ranks from raw ones: clipped to [min_r, max_r], smoothed over depth, then matched to a budget."""
    ranks = clip_ranks(raw, min_r, max_r)
    ranks = clip_ranks(smooth_ranks(ranks, smooth), min_r, max_r)  # type: ignore[arg-type]
    if budget_r is not None:
        ranks = match_budget(ranks, shapes, budget_r, min_r, max_r)
    return ranks


def rank_config(
    strategy: str,
    shapes: dict[str, tuple[int, int]],
    ranks: dict[str, int],
    alpha_ratio: float,
    settings: dict,
    checkpoints: dict[str, str],
    spectra: dict[str, LayerSpectrum] | None = None,
    global_ranks: dict[str, int] | None = None,
    importance: dict[str, float] | None = None,
) -> RankConfig:
    """The rank config with its evidence; alpha = alpha_ratio · r on every layer (a constant alpha/r)."""
    layers = {}
    for name, shape in shapes.items():
        evidence: dict = {"shape": shape}
        if spectra:
            s = spectra[name]
            evidence |= {
                "r_raw": s.r_raw,
                "energy_retained": s.energy_retained,
                "decay_rate": s.decay_rate,
                "singular_values": s.singular_values[:TOP_VALUES],
            }
        if global_ranks:
            evidence["r_global"] = global_ranks[name]
        if importance:
            evidence["importance"] = importance[name]
        layers[name] = LayerRank(r=ranks[name], alpha=alpha_ratio * ranks[name], **evidence)
    return RankConfig(
        schema_version=SCHEMA_VERSION,
        strategy=strategy,
        layers=layers,
        settings=settings,
        checkpoints=checkpoints,
        total_lora_params=sum(lora_parameters(ranks[n], shape) for n, shape in shapes.items()),
    )


def write_analysis(
    out: Path | str,
    config: RankConfig,
    spectra: dict[str, LayerSpectrum] | None = None,
    deltas: dict[str, torch.Tensor] | None = None,
) -> Path:
    """Write ``out/lora_rank_config.json`` and the evidence behind it.

    ``svd/`` (when there are spectra) gets ``singular_values.json`` (every value computed, per
    layer), ``decay.png`` (the layers with the most ΔW energy), ``r_raw_heatmap.png`` and, for
    ``deltas``, ``delta.safetensors``; ``fisher/importance_heatmap.png`` shows Fisher importances.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / FILE_NAME
    write_rank_config(config, path)
    layers = config.layers
    allocated = {n: float(layer.r) for n, layer in layers.items()}
    if spectra:
        svd = out / "svd"
        svd.mkdir(exist_ok=True)
        raw = {
            name: {
                "shape": list(s.shape),
                "total_energy": s.total_energy,
                "method": s.method,
                "error_bound": s.error_bound,
                "singular_values": s.singular_values,
            }
            for name, s in spectra.items()
        }
        write_json(svd / "singular_values.json", raw, indent=1)
        plot_decay(spectra, svd / "decay.png", key_layers(spectra))
        panels = {
            "r_raw: rank keeping the energy share of the layer's own ΔW": {n: s.r_raw for n, s in spectra.items()}
        }
        if all(layer.r_global is not None for layer in layers.values()):
            panels["r_global: values in the share of all layers' ΔW energy"] = {
                n: layer.r_global for n, layer in layers.items()
            }
        plot_heatmaps(panels | {"r: allocated rank": allocated}, svd / "r_raw_heatmap.png")
        if deltas:
            save_file({n: d.detach().float().contiguous().cpu() for n, d in deltas.items()}, svd / "delta.safetensors")
    if all(layer.importance is not None for layer in layers.values()):
        fisher = out / "fisher"
        fisher.mkdir(exist_ok=True)
        importance = {n: float(layer.importance) for n, layer in layers.items()}
        panels = {"Fisher importance (share of the total)": importance, "r: allocated rank": allocated}
        plot_heatmaps(panels, fisher / "importance_heatmap.png")
    return path
