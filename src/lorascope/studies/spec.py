"""Study files: a base run config, grid axes and named method variants, expanded into runs.

Every planned run carries a stable id, a hash of its resolved config, so the same run is never
done twice: a study started again finds its finished runs by id and skips them.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from lorascope.config import (
    RunConfig,
    _Strict,
    apply_overrides,
    is_config_key,
    parse_config,
    read_yaml,
    set_key,
    validation_problems,
)
from lorascope.errors import LorascopeError
from lorascope.registry import TASKS, names_of, one_of
from lorascope.serving.workload import MODES as SERVING_MODES
from lorascope.stats.hypotheses import HypothesesConfig, check_variants
from lorascope.studies.sanity import SanityConfig, sanity_config
from lorascope.tuning.config import TuneConfig

Kind = Literal["baseline", "sanity", "run"]
FOLDER_NAME = re.compile(r"[A-Za-z0-9._-]+")  # one path component, nothing that escapes or nests
FOLDERS = {"baseline": "baselines", "sanity": "sanity", "run": "runs"}


class StudyDriftConfig(_Strict):
    """The drift stage, run after the grid when its runs take snapshots (``drift.enabled``)."""

    reference: str = Field("full", description="Method (variant name) every other method is compared with.")
    intruders: bool = Field(True, description="Also count intruder dimensions of each run's final weights.")


class StudyConfig(_Strict):
    """A whole experiment grid in one file."""

    name: str | None = Field(
        None, description="Study name, the folder under studies/ by default; null uses the file name."
    )
    base: dict[str, Any] | Path = Field(description="Run config shared by every run, or a path to one.")
    grid: dict[str, list[Any]] = Field(default_factory=dict, description="Config key -> values to try.")
    methods: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Variant name -> config keys it sets, e.g. {method: lora, lora.r: 8}."
    )
    tasks: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Task -> config keys set on that task's runs only (before the methods' keys), e.g. "
        "{squad_v2: {train.max_length: 384}}.",
    )
    baselines: list[Annotated[str, AfterValidator(lambda name: one_of(name, names_of("baseline")))]] = Field(
        default_factory=lambda: list(names_of("baseline")), description="Baselines scored per task and seed."
    )
    sanity: SanityConfig = Field(default_factory=SanityConfig)
    drift: StudyDriftConfig = Field(default_factory=StudyDriftConfig)
    hypotheses: HypothesesConfig = Field(default_factory=HypothesesConfig)
    tune: TuneConfig | None = Field(
        None, description="Hyperparameter search before the runs (lorascope tune); null: the runs as configured."
    )

    @field_validator("grid", mode="before")
    @classmethod
    def _flatten_nested_axes(cls, grid: Any) -> Any:
        """``{lora: {r: [4, 8]}}`` (nested YAML, or the override grid.lora.r=[4,8]) is the axis ``lora.r``."""
        if not isinstance(grid, dict):
            return grid
        flat: dict[str, Any] = {}
        for key, values in grid.items():
            if isinstance(values, dict) and values:
                flat |= {f"{key}.{inner}": v for inner, v in cls._flatten_nested_axes(values).items()}
            else:
                flat[key] = values
        return flat

    @field_validator("grid")
    @classmethod
    def _axes_known_and_filled(cls, grid: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for key, values in grid.items():
            if not is_config_key(key):
                raise PydanticCustomError(
                    "cross_key",
                    "grid: unknown axis '{key}': not a run config key (see docs/configuration.md)",
                    {"key": key},
                )
            if not values:
                raise PydanticCustomError(
                    "cross_key", "grid: axis '{key}' is empty; give at least one value", {"key": key}
                )
            seen = [json.dumps(v, sort_keys=True, default=str) for v in values]
            if len(set(seen)) < len(seen):
                raise PydanticCustomError("cross_key", "grid: axis '{key}' repeats a value", {"key": key})
        return grid

    @field_validator("methods")
    @classmethod
    def _variant_keys_known(cls, methods: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        for name, keys in methods.items():
            if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.+-]*", name):
                raise PydanticCustomError(
                    "cross_key", "methods: name '{name}' may hold only letters, digits and _ . + -", {"name": name}
                )
            if not keys:
                raise PydanticCustomError("cross_key", "methods.{name}: sets no keys", {"name": name})
            for key in keys:
                if not is_config_key(key):
                    raise PydanticCustomError(
                        "cross_key", "methods.{name}: unknown config key '{key}'", {"name": name, "key": key}
                    )
        return methods

    @field_validator("tasks")
    @classmethod
    def _task_keys_known(cls, tasks: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        for task, keys in tasks.items():
            if task not in TASKS:
                raise PydanticCustomError(
                    "cross_key",
                    "tasks: unknown task '{task}'; registered: {names}",
                    {"task": task, "names": ", ".join(TASKS.names())},
                )
            for key in keys:
                if not is_config_key(key) or key == "task" or key.startswith("task."):
                    raise PydanticCustomError(
                        "cross_key", "tasks.{task}: unknown config key '{key}'", {"task": task, "key": key}
                    )
        return tasks

    @model_validator(mode="after")
    def _no_key_set_twice(self) -> StudyConfig:
        for task, keys in self.tasks.items():
            both = sorted(set(keys) & (set(self.grid) | {k for v in self.methods.values() for k in v}))
            if both:
                raise PydanticCustomError(
                    "cross_key",
                    "tasks.{task} sets {keys}, which the grid or a method also sets; set each key in one place",
                    {"task": task, "keys": ", ".join(both)},
                )
        for name, keys in self.methods.items():
            both = sorted(set(keys) & set(self.grid))
            if both:
                raise PydanticCustomError(
                    "cross_key",
                    "methods.{name} sets {keys}, which the grid also varies; set each key in one place",
                    {"name": name, "keys": ", ".join(both)},
                )
        return self


def _display(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.+_-]+", "-", text).strip("-")[:80]


def _axis_parts(group: dict[str, str]) -> list[str]:
    """The non-task, non-method axes of a table row, short: ``r8``, ``all-MiniLM-L6-v2``."""
    return [
        Path(v).name if k == "model" else f"{k.split('.')[-1]}{v}"
        for k, v in group.items()
        if k not in ("task", "method")
    ]


def method_label(group: dict[str, str]) -> str:
    """A table row's method and its other axes but the task, fit for a file name: ``lora``, ``lora-r8``."""
    return _slug("-".join([group["method"], *_axis_parts(group)]))


def run_id(cfg: RunConfig) -> str:
    """A stable id: the first 10 hex digits of SHA-256 over the resolved config as canonical JSON.

    Keys at their default value are left out, so a key added to lorascope later (with a default)
    leaves the ids of existing runs unchanged; so is ``data.hub_dataset`` when it is the task's own
    (the config writes it out).
    """
    dumped = cfg.model_dump(mode="json", exclude_defaults=True)
    data = dumped.get("data", {})
    if data.get("hub_dataset") == TASKS[cfg.task].hub_dataset:
        del data["hub_dataset"]
        if not data:
            del dumped["data"]
    canonical = json.dumps(dumped, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:10]


@dataclass(frozen=True)
class PlannedRun:
    """One run of the study: what it is called, where it goes, and its resolved config."""

    kind: Kind
    group: tuple[tuple[str, str], ...]  # the table row it belongs to: task, method and the other non-seed axes
    seed: int
    config: RunConfig

    @cached_property
    def id(self) -> str:
        return run_id(self.config)

    @property
    def label(self) -> str:
        parts = [value if key in ("task", "method") else f"{key}={value}" for key, value in self.group]
        return " · ".join(parts + ["sanity" if self.kind == "sanity" else f"seed {self.seed}"])

    @property
    def folder(self) -> str:
        group = dict(self.group)
        seed = [] if self.kind == "sanity" else [f"seed{self.seed}"]
        stem = "-".join([group["task"], group["method"], *_axis_parts(group), *seed])
        return f"{FOLDERS[self.kind]}/{_slug(stem)}-{self.id}"

    def record(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "label": self.label,
            "folder": self.folder,
            "group": dict(self.group),
            "seed": self.seed,
            "config": self.config.model_dump(mode="json"),
        }


@dataclass
class Study:
    name: str
    spec: StudyConfig
    raw: dict[str, Any]  # the study file after overrides, with the base config inlined
    runs: list[PlannedRun]  # baselines, then sanity checks, then the grid
    path: Path  # the study file
    tuned: dict[tuple, dict[str, Any]] | None = None  # table row -> config keys chosen by lorascope tune

    def of_kind(self, kind: Kind) -> list[PlannedRun]:
        return [r for r in self.runs if r.kind == kind]

    def unique(self, kind: Kind) -> list[PlannedRun]:
        """Runs of one kind without repeats (baselines shared by several table rows run once)."""
        seen: dict[str, PlannedRun] = {}
        for run in self.of_kind(kind):
            seen.setdefault(run.id, run)
        return list(seen.values())


def baseline_config(cfg: RunConfig, method: str) -> RunConfig:
    """A baseline over the same data: the training settings, which it ignores, reset to defaults."""
    raw = cfg.model_dump(
        mode="json", include={"model", "task", "data_dir", "data", "max_train_samples", "max_eval_samples", "seed"}
    )
    return parse_config(raw | {"method": method}, source="baseline").resolved()


def expand(
    spec: StudyConfig, base: dict[str, Any], source: str, tuned: dict[tuple, dict[str, Any]] | None = None
) -> list[PlannedRun]:
    """Every run of the grid (axes in file order, variants innermost), then its baselines and sanity checks.

    ``tuned`` maps a table row to the config keys its search chose; its runs train with them.
    """
    variants = list(spec.methods.items()) or [(None, {})]
    axes = list(spec.grid.items())
    grid_runs: list[PlannedRun] = []
    by_id: dict[str, str] = {}
    for values in itertools.product(*(v for _, v in axes)):
        for variant, keys in variants:
            raw = copy.deepcopy(base)
            for (key, _), value in zip(axes, values, strict=True):
                set_key(raw, key, value)
            for key, value in spec.tasks.get(raw.get("task"), {}).items():
                set_key(raw, key, value)
            for key, value in keys.items():
                set_key(raw, key, value)
            point = ", ".join(f"{k}={_display(v)}" for (k, _), v in zip(axes, values, strict=True))
            label = ", ".join(filter(None, [point, f"methods.{variant}" if variant else ""])) or "base"
            cfg = parse_config(raw, source=f"{source} ({label})").resolved()
            others = [
                (k, _display(v)) for (k, _), v in zip(axes, values, strict=True) if k not in ("task", "method", "seed")
            ]
            group = (("task", cfg.task), ("method", variant or cfg.method), *others)
            if tuned and group in tuned:
                for key, value in tuned[group].items():
                    set_key(raw, key, value)
                cfg = parse_config(raw, source=f"{source} ({label}, tuned)").resolved()
            run = PlannedRun("run", group, cfg.seed, cfg)
            if run.id in by_id:
                raise LorascopeError(f"{source}: {label} and {by_id[run.id]} give the same run config; remove one")
            by_id[run.id] = label
            grid_runs.append(run)

    unused = sorted(set(spec.tasks) - {r.config.task for r in grid_runs})
    if unused:
        raise LorascopeError(f"{source}: tasks: no run of the study has task {', '.join(unused)}")
    baselines = []
    for run in grid_runs:
        for method in spec.baselines:
            group = (("task", run.config.task), ("method", method), *run.group[2:])
            baselines.append(PlannedRun("baseline", group, run.seed, baseline_config(run.config, method)))
    baselines = list({(b.group, b.seed): b for b in baselines}.values())

    sanity = {}
    if spec.sanity.mode != "off":
        for run in grid_runs:  # the first seed of each row
            sanity.setdefault(
                run.group, PlannedRun("sanity", run.group, run.seed, sanity_config(run.config, spec.sanity))
            )
    return baselines + list(sanity.values()) + grid_runs


def _study(
    raw: dict[str, Any], path: Path, name: str | None = None, tuned: dict[tuple, dict[str, Any]] | None = None
) -> Study:
    try:
        spec = StudyConfig.model_validate(raw)
    except ValidationError as exc:
        raise LorascopeError("\n".join(validation_problems(exc, str(path)))) from None
    if isinstance(spec.base, Path):
        base_path = spec.base if spec.base.is_absolute() else path.parent / spec.base
        base = read_yaml(base_path)
        source = f"{path} (base {base_path})"
    else:
        base, source = spec.base, str(path)
    name = name or spec.name or path.stem
    if not FOLDER_NAME.fullmatch(name) or set(name) == {"."}:
        where = "name" if spec.name == name else "the file name (its stem names the study)"
        raise LorascopeError(
            f"{path}: {where}: '{name}' is not a folder name; use letters, digits, '.', '_' and '-' "
            "(a study's name is its folder under studies/)"
        )
    runs = expand(spec, base, source, tuned)
    variants = {method_label(dict(r.group)) for r in runs if r.kind == "run"}
    check_variants(spec.hypotheses, variants, str(path), SERVING_MODES)
    return Study(name, spec, raw | {"base": base}, runs, path, tuned)


def retune(study: Study, tuned: dict[tuple, dict[str, Any]]) -> Study:
    """The same study with each table row's runs trained with its tuned values."""
    return _study(study.raw, study.path, study.name, tuned)


def load_study(path: Path | str, overrides: list[str] | None = None) -> Study:
    """Read, override, validate and expand a study file; every problem names the file and key."""
    path = Path(path)
    return _study(apply_overrides(read_yaml(path), overrides or []), path)


def study_from_mapping(raw: dict[str, Any], name: str) -> Study:
    """A study defined in code (the demo) rather than in a file."""
    return _study(raw, Path(name), name)


def load_sanity(path: Path | str, overrides: list[str], settings: dict[str, Any]) -> tuple[Study, Path]:
    """The sanity checks of a study file, or of a single run config; and their default folder."""
    path = Path(path)
    raw = apply_overrides(read_yaml(path), overrides)
    if "base" in raw:  # a study file: its checks, in its own folder, so the study reuses them
        raw["sanity"] = {**(raw.get("sanity") or {}), **settings, "mode": "warn"}
        study = _study(raw, path)
        return study, Path("studies") / study.name
    study = _study({"base": raw, "baselines": [], "sanity": {**settings, "mode": "warn"}}, path)
    return study, Path("runs") / "sanity"
