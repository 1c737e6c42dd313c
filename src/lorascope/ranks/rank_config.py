"""The rank config file (``lora_rank_config.json``) and the PEFT model built from it.

Schema version 1::

    {"schema_version": 1, "strategy": "svd-energy",
     "layers": {"<full module name>": {"r": 8, "alpha": 16.0, "r_raw": 11, "energy_retained": 0.91,
                                       "decay_rate": 0.12, "shape": [out, in], "singular_values": [...]}},
     "settings": {...}, "checkpoints": {"base": "...", "finetuned": "..."}, "total_lora_params": 123456}

Only ``r`` and ``alpha`` are needed to build a model; the rest is the evidence behind them.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any, Literal

import torch
from peft import LoraConfig as PeftLoraConfig
from peft import PeftModel, TaskType, get_peft_model
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lorascope.config import validation_problems
from lorascope.errors import LorascopeError
from lorascope.io import write_json
from lorascope.models.layers import is_adaptable, matches

SCHEMA_VERSION = 1
FILE_NAME = "lora_rank_config.json"


class LayerRank(BaseModel):
    model_config = ConfigDict(extra="forbid")

    r: int = Field(gt=0)
    alpha: float = Field(gt=0)
    r_raw: int | None = None
    energy_retained: float | None = None
    decay_rate: float | None = None
    shape: tuple[int, int] | None = None
    singular_values: list[float] = Field(default_factory=list)
    r_global: int | None = None
    importance: float | None = None


class RankConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[1]
    strategy: str
    layers: dict[str, LayerRank] = Field(min_length=1)
    settings: dict[str, Any] = Field(default_factory=dict)
    checkpoints: dict[str, str] = Field(default_factory=dict)
    total_lora_params: int | None = None


def read_rank_config(path: Path | str) -> RankConfig:
    """Read and validate a rank config; errors name the file and the key."""
    path = Path(path)
    if not path.is_file():
        raise LorascopeError(f"rank config not found: {path}")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise LorascopeError(f"{path} line {exc.lineno}: invalid JSON: {exc.msg}") from None
    try:
        return RankConfig.model_validate(raw)
    except ValidationError as exc:
        raise LorascopeError("\n".join(validation_problems(exc, str(path)))) from None


def write_rank_config(config: RankConfig, path: Path | str) -> None:
    write_json(Path(path), config.model_dump(mode="json"))


def format_ranks(config: RankConfig) -> str:
    """One line per layer: shape, the evidence behind its rank, and the rank."""
    layers = config.layers
    width = max(len(name) for name in layers)
    columns = [
        c
        for c in ("r_raw", "r_global", "importance", "energy_retained")
        if any(getattr(layer, c) is not None for layer in layers.values())
    ]
    lines = [
        f"{'layer':<{width}}  {'shape':>11}" + "".join(f"  {c:>10}" for c in columns) + f"  {'r':>4}  {'alpha':>6}"
    ]
    for name, layer in layers.items():
        shape = f"{layer.shape[0]}x{layer.shape[1]}" if layer.shape else "?"
        cells = ""
        for c in columns:
            value = getattr(layer, c)
            cells += (
                f"  {'—':>10}"
                if value is None
                else (f"  {value:>10}" if isinstance(value, int) else f"  {value:>10.4f}")
            )
        lines.append(f"{name:<{width}}  {shape:>11}{cells}  {layer.r:>4}  {layer.alpha:>6g}")
    total = f", {config.total_lora_params:,} LoRA parameters" if config.total_lora_params is not None else ""
    lines.append(f"{len(layers)} layers, strategy {config.strategy}{total}")
    return "\n".join(lines)


def check_layers(
    model: torch.nn.Module, config: RankConfig, source: str, target_modules: list[str] | None = None
) -> None:
    """Every configured layer must be an adaptable layer of ``model``; every target layer needs an entry."""
    modules = dict(model.named_modules())
    for name in config.layers:
        if name not in modules:
            raise LorascopeError(f"{source}: layer '{name}' does not exist in this model")
        if not is_adaptable(modules[name]):
            raise LorascopeError(f"{source}: layer '{name}' is a {type(modules[name]).__name__}, not a linear layer")
    for target in target_modules or []:
        for name in modules:
            if matches(name, target) and name not in config.layers:
                raise LorascopeError(f"{source}: target layer '{name}' has no entry (it matches target '{target}')")


def peft_lora_config(config: RankConfig, **lora_kwargs: Any) -> PeftLoraConfig:
    """A PEFT ``LoraConfig`` that adapts exactly the configured layers, each with its own r and alpha.

    Layers are matched by their full names, anchored, so no other module can match by suffix.
    """
    names = list(config.layers)
    default_r = Counter(layer.r for layer in config.layers.values()).most_common(1)[0][0]
    default_alpha = Counter(layer.alpha for layer in config.layers.values()).most_common(1)[0][0]
    anchored = {name: "^" + re.escape(name) for name in names}  # PEFT prefixes (.*\.)?, which ^ forbids
    return PeftLoraConfig(
        r=default_r,
        lora_alpha=default_alpha,
        target_modules="|".join(re.escape(name) for name in names),  # a string is matched in full
        rank_pattern={anchored[n]: layer.r for n, layer in config.layers.items() if layer.r != default_r},
        alpha_pattern={anchored[n]: layer.alpha for n, layer in config.layers.items() if layer.alpha != default_alpha},
        **lora_kwargs,
    )


def create_peft_model_from_config(
    base_model: torch.nn.Module,
    rank_config_path: Path | str,
    target_modules: list[str] | None = None,
    dropout: float = 0.0,
    task_type: TaskType | str | None = None,
    modules_to_save: list[str] | None = None,
) -> PeftModel:
    """Wrap ``base_model`` with LoRA adapters of the ranks and alphas in a rank config file.

    Args:
        base_model: the model to adapt.
        rank_config_path: a ``lora_rank_config.json``; its layers are exactly the adapted ones.
        target_modules: when given, every layer they match must have an entry in the config.
        dropout, task_type, modules_to_save: passed to PEFT's ``LoraConfig``.

    Returns:
        The PEFT model.
    """
    config = read_rank_config(rank_config_path)
    check_layers(base_model, config, str(rank_config_path), target_modules)
    peft_config = peft_lora_config(config, lora_dropout=dropout, task_type=task_type, modules_to_save=modules_to_save)
    return get_peft_model(base_model, peft_config)
