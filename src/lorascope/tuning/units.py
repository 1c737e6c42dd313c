"""What a study tunes: one search per table row (task × method × other axes), over its own space."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from lorascope.config import RunConfig, is_config_key, parse_config, set_key, validation_problems
from lorascope.data.tasks import TASKS
from lorascope.errors import LorascopeError
from lorascope.studies.spec import Study, method_label
from lorascope.tuning.config import Param, TuneConfig

UNTUNABLE = ("seed", "task", "method", "model")


@dataclass(frozen=True)
class Unit:
    """One search: a table row of the study, its starting config (the row's first seed) and its space."""

    group: tuple[tuple[str, str], ...]
    config: RunConfig
    space: dict[str, Param]
    fixed: tuple[str, ...]  # keys of the default space left out: the study sets them (variant or grid)

    @property
    def label(self) -> str:
        return " · ".join(v if k in ("task", "method") else f"{k}={v}" for k, v in self.group)

    @property
    def metric(self) -> str:
        """The task's main metric: the objective, and what each evaluation reports to the pruner."""
        return TASKS[self.config.task].main_metric

    @property
    def direction(self) -> str:
        """``minimize`` for a metric where lower is better (perplexity), else ``maximize``."""
        return "minimize" if self.metric in TASKS[self.config.task].lower_is_better else "maximize"

    @property
    def folder(self) -> str:
        group = dict(self.group)
        return f"{group['task']}-{method_label(group)}"

    def trial_config(self, params: dict[str, Any], tune: TuneConfig, source: str) -> RunConfig:
        """The run a trial trains: the row's config with the sampled values, the tuning seed, scored on the
        holdout (or eval), saving no weights and taking no drift snapshots."""
        raw = self.config.model_dump(mode="json")
        for key, value in params.items():
            set_key(raw, key, value)
        raw["seed"] = tune.seed
        if tune.objective == "holdout":
            raw["data"] |= {"eval_split": "holdout", "holdout": tune.holdout}
        raw["train"] |= {"save_model": False, "keep_checkpoints": False}
        raw["drift"]["enabled"] = False
        return parse_config(raw, source=source).resolved()

    def fingerprint(self, tune: TuneConfig) -> str:
        """Everything a trial's outcome depends on but the trial budget: trials of two searches with the same
        fingerprint are interchangeable."""
        config = self.config.model_dump(mode="json", exclude={"seed"})
        settings = tune.model_dump(mode="json", include={"objective", "holdout", "seed", "sampler", "pruner"})
        space = {key: param.model_dump(mode="json") for key, param in sorted(self.space.items())}
        canonical = json.dumps({"config": config, "tune": settings, "space": space}, sort_keys=True)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def _check_space(name: str, space: dict[str, Param], fixed: set[str], config: RunConfig, source: str) -> None:
    for key, param in space.items():
        where = f"{source}: tune.spaces.{name}.{key}"
        if not is_config_key(key):
            raise LorascopeError(f"{where}: not a run config key (see docs/configuration.md)")
        if key in UNTUNABLE:
            raise LorascopeError(f"{where}: {key} is not a hyperparameter; it is fixed by the study")
        if key in fixed:
            raise LorascopeError(
                f"{where}: the study already sets {key} (a grid axis or the variant); tune it or fix it"
            )
        for value in param.extremes():
            raw = config.model_dump(mode="json")
            set_key(raw, key, value)
            try:
                RunConfig.model_validate(raw)
            except ValidationError as exc:
                problems = "; ".join(validation_problems(exc))
                raise LorascopeError(f"{where}: value {value!r} is invalid: {problems}") from None


def tuning_units(study: Study) -> list[Unit]:
    """The searches of a study with a ``tune:`` section, in plan order; every space checked up front."""
    tune = study.spec.tune
    if tune is None:
        raise LorascopeError(f"study {study.name}: no tune: section, so nothing to tune (see docs/tuning.md)")
    if study.tuned is not None:
        raise LorascopeError(f"study {study.name}: already trains with tuned values; search the study as loaded")
    variants = study.spec.methods
    names = set(variants) | {run.config.method for run in study.of_kind("run")}
    unknown = sorted(set(tune.spaces) - names)
    if unknown:
        raise LorascopeError(
            f"study {study.name}: tune.spaces {unknown}: neither a method variant nor a method of the study "
            f"(they are {sorted(names)})"
        )
    units: dict[tuple, Unit] = {}
    for run in study.of_kind("run"):
        if run.group in units:
            continue
        variant = dict(run.group)["method"]
        fixed = set(study.spec.grid) | set(variants.get(variant, {}))
        space, given = tune.space_for(variant, run.config.method)
        if given:
            _check_space(variant if variant in tune.spaces else run.config.method, space, fixed, run.config, study.name)
        kept = {key: param for key, param in space.items() if key not in fixed}
        if not kept:
            raise LorascopeError(
                f"study {study.name}: nothing to tune for {variant}: its space is empty once the keys the study "
                f"sets are left out; give tune.spaces.{variant}"
            )
        units[run.group] = Unit(run.group, run.config, kept, tuple(sorted(set(space) - set(kept))))
    return list(units.values())
