"""Rank strategies: one interface, a registry, each selectable by name (``lora.strategy``).

A strategy gets the run's config, data and LoRA targets and writes a rank config (with its
evidence) into a folder; LoRA training then reads it like any other. AdaLoRA allocates ranks
during training instead and is a training method (``method: adalora``), not a strategy here.

- ``uniform``: rank ``lora.r`` on every target layer.
- ``svd-energy``: a brief full fine-tune, then the spectrum of ΔW per layer (see ``analysis``).
- ``fisher``: diagonal empirical Fisher information per layer at the pretrained weights.

Non-uniform ranks go through ``ranks.pipeline``: clipped to [ranks.min_r, ranks.max_r], optionally
smoothed over depth and, with ``ranks.match_budget``, matched to the LoRA parameter count of uniform
rank ``lora.r``. The built-in strategies are registered by ``ranks.builtin``; a plug-in decorates its
own with ``register``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import PretrainedConfig, set_seed

from lorascope.config import RunConfig
from lorascope.data.sampling import stratified_indices
from lorascope.data.tasks import TaskData
from lorascope.errors import LorascopeError
from lorascope.models.layers import matching, target_layers
from lorascope.models.loading import load_model, load_tokenizer, skeleton
from lorascope.ranks.analysis import analyze_layers, rank_config, read_tensor, weight_files, write_analysis
from lorascope.ranks.fisher import fisher_ranks, layer_fisher
from lorascope.ranks.pipeline import allocated_config
from lorascope.ranks.rank_config import FILE_NAME
from lorascope.records import RunFolder
from lorascope.registry import STRATEGIES, register_strategy

FineTune = Callable[[RunConfig, Path, "float | None"], object]
"""Trains a run config into a folder, resuming what is there, stopping after the given seconds."""


@dataclass
class AllocationInputs:
    """What a strategy may use: the resolved run config, its data, targets and model config, and
    ``finetune``, injected by the training layer (``lorascope.training.brief_finetune``) so that
    rank allocation never imports training."""

    cfg: RunConfig
    folder: Path
    data: TaskData
    targets: list[str]
    model_config: PretrainedConfig
    finetune: FineTune | None = None


Strategy = Callable[[AllocationInputs], Path]


def register(name: str, description: str = "") -> Callable[[Strategy], Strategy]:
    """Register the decorated strategy under ``name`` (``lorascope.registry.STRATEGIES``); a name
    already taken is refused."""

    def add(strategy: Strategy) -> Strategy:
        register_strategy(name, strategy, description)
        return strategy

    return add


def allocate_ranks(
    cfg: RunConfig,
    folder: Path,
    data: TaskData,
    targets: list[str],
    model_config: PretrainedConfig,
    finetune: FineTune | None = None,
) -> Path:
    """The rank config of ``cfg.lora.strategy`` in ``folder``, computed unless it is already there.

    Args:
        cfg: the resolved run config (``lora.strategy``, ``ranks.*``, ``lora.r`` as the budget).
        folder: where the rank config and its evidence go.
        data, targets, model_config: what preflight resolved for the run.
        finetune: how to train the brief full fine-tune (svd-energy), e.g.
            ``lorascope.training.brief_finetune``.

    Returns:
        The path of ``lora_rank_config.json``.
    """
    folder = Path(folder)
    path = folder / FILE_NAME
    if path.is_file():
        return path
    strategy = STRATEGIES.get(cfg.lora.strategy)
    folder.mkdir(parents=True, exist_ok=True)
    return strategy(AllocationInputs(cfg, folder, data, targets, model_config, finetune))


def _pretrained(inputs: AllocationInputs) -> tuple[torch.nn.Module, object]:
    """The model as a run of this config starts from (same seed, so the same new head), and its tokenizer."""
    cfg = inputs.cfg
    set_seed(cfg.seed)
    tokenizer = load_tokenizer(cfg.model, cfg.trust_remote_code)
    config = copy.deepcopy(inputs.model_config)
    return load_model(cfg.model, config, tokenizer, inputs.data.task.head, cfg.trust_remote_code), tokenizer


def _shapes(layers: dict[str, torch.nn.Module]) -> dict[str, tuple[int, int]]:
    return {name: tuple(module.weight.shape) for name, module in layers.items()}  # type: ignore[misc]


def _finish(
    inputs: AllocationInputs,
    strategy: str,
    checkpoints: dict[str, str],
    deltas: dict[str, torch.Tensor] | None = None,
    **evidence,
) -> Path:
    """The allocation pipeline at the run's budget (uniform rank ``lora.r``, alpha ``lora.alpha / lora.r``
    unless ``ranks.alpha_ratio``); the rank config and its evidence written to the folder."""
    lora = inputs.cfg.lora
    config = allocated_config(
        inputs.cfg.ranks,
        strategy,
        checkpoints,
        budget_r=lora.r,
        lora_alpha_ratio=lora.alpha / lora.r,
        targets=inputs.targets,
        **evidence,
    )
    return write_analysis(inputs.folder, config, evidence.get("spectra"), deltas)


def uniform(inputs: AllocationInputs) -> Path:
    """Rank ``lora.r`` and alpha ``lora.alpha`` on every target layer."""
    lora = inputs.cfg.lora
    shapes = _shapes(target_layers(skeleton(inputs.model_config, inputs.data.task.head), inputs.targets))
    ranks = dict.fromkeys(shapes, lora.r)
    settings = {"r": lora.r, "alpha": lora.alpha, "targets": inputs.targets}
    config = rank_config("uniform", shapes, ranks, lora.alpha / lora.r, settings, {"base": inputs.cfg.model})
    return write_analysis(inputs.folder, config)


def brief_finetune_config(cfg: RunConfig) -> RunConfig:
    """The full fine-tune whose ΔW svd-energy analyses: the run's model, task, data and seed, on a
    stratified training subset, for ``ranks.finetune.max_steps`` steps."""
    brief = cfg.ranks.finetune
    limits = [n for n in (brief.train_samples, cfg.max_train_samples) if n is not None]
    train = cfg.train.model_copy(
        update={
            "max_steps": brief.max_steps,
            "learning_rate": brief.learning_rate,
            "weight_decay": None,
            "early_stopping_patience": None,
            "keep_checkpoints": False,
            "save_model": True,
        }
    )
    return RunConfig.model_validate(
        cfg.model_dump(
            exclude={"lora", "ranks", "adalora", "qlora", "unfreeze", "train", "method", "max_train_samples"}
        )
        | {"method": "full", "max_train_samples": min(limits) if limits else None, "train": train.model_dump()}
    ).resolved()


def svd_energy(inputs: AllocationInputs) -> Path:
    """Brief full fine-tune (``folder/finetune``, an ordinary run folder), then ΔW per target layer."""
    cfg, settings = inputs.cfg, inputs.cfg.ranks
    tuned = RunFolder(inputs.folder / "finetune")
    if tuned.status() != "done":
        if inputs.finetune is None:
            raise LorascopeError("lora.strategy svd-energy needs a brief fine-tune: pass finetune= to allocate_ranks")
        inputs.finetune(brief_finetune_config(cfg), tuned.path, settings.finetune.max_seconds)
    model, _ = _pretrained(inputs)
    layers = target_layers(model, inputs.targets)
    files = weight_files(tuned / (tuned.results().artifact or "model"))

    def load(name: str) -> tuple[torch.Tensor, torch.Tensor]:
        key = name + ".weight"
        if key not in files:
            raise LorascopeError(f"{tuned.path}: the fine-tuned checkpoint has no tensor {key}")
        return layers[name].weight.detach(), read_tensor(files[key], key)

    spectra = analyze_layers(list(layers), load, settings.energy, settings.svd, settings.energy_scope)
    deltas = {}
    for wanted in settings.save_delta:
        chosen = matching(layers, wanted)
        if not chosen:
            raise LorascopeError(f"ranks.save_delta: '{wanted}' is not a target layer (layers: {', '.join(layers)})")
        for name in chosen:
            before, after = load(name)
            deltas[name] = after - before
    return _finish(
        inputs, "svd-energy", {"base": cfg.model, "finetuned": str(tuned / "model")}, deltas, spectra=spectra
    )


def fisher(inputs: AllocationInputs) -> Path:
    """Per-example gradients of ``ranks.fisher_samples`` training examples at the pretrained weights."""
    cfg, task = inputs.cfg, inputs.data.task
    model, tokenizer = _pretrained(inputs)
    model.to("cuda" if torch.cuda.is_available() else "cpu")
    train = inputs.data.train
    chosen = [train[i] for i in stratified_indices(task.strata(train), cfg.ranks.fisher_samples, cfg.seed)]
    encoded = task.encode(chosen, tokenizer, cfg.train.max_length)
    collate = task.collator(tokenizer)
    batches = [{k: v.to(model.device) for k, v in collate([encoded[i]]).items()} for i in range(len(encoded))]
    layers = target_layers(model, inputs.targets)
    importance = layer_fisher(model, layers, batches)
    total = sum(importance.values()) or 1.0
    shapes = _shapes(layers)
    raw = fisher_ranks(importance, shapes, cfg.lora.r)
    shares = {n: v / total for n, v in importance.items()}
    return _finish(inputs, "fisher", {"base": cfg.model}, raw=raw, shapes=shapes, importance=shares)
