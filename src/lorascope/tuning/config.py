"""The ``tune:`` section of a study file: search spaces per method, Optuna's sampler and pruner, storage."""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from lorascope.config import _Strict, holdout_amount
from lorascope.registry import METHODS


class Param(_Strict):
    """One dimension of a search space: a float or int range (log-uniform with ``log``), or choices."""

    type: Literal["float", "int", "categorical"] | None = Field(
        None, description="null: categorical when choices are given, else float."
    )
    low: float | None = None
    high: float | None = None
    log: bool = Field(False, description="Sample uniformly in log space (learning rates).")
    step: float | None = Field(None, gt=0, description="Grid step of a float or int range.")
    choices: list[Any] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Param:
        if self.type is None:
            self.type = "categorical" if self.choices is not None else "float"
        if self.type == "categorical":
            if not self.choices or self.low is not None or self.high is not None:
                raise ValueError("a categorical parameter takes choices (at least one), no low/high")
            if len({repr(c) for c in self.choices}) < len(self.choices):
                raise ValueError("choices repeat a value")
            return self
        if self.choices is not None or self.low is None or self.high is None:
            raise ValueError(f"a {self.type} parameter takes low and high, no choices")
        if not self.low <= self.high:
            raise ValueError("low must not exceed high")
        if self.log and (self.low <= 0 or self.step is not None):
            raise ValueError("log needs low > 0 and no step")
        if self.type == "int" and not all(float(v).is_integer() for v in (self.low, self.high, self.step or 1)):
            raise ValueError("an int parameter needs whole low, high and step")
        return self

    def suggest(self, trial: Any, name: str) -> Any:
        """The value an ``optuna.Trial`` samples for config key ``name``."""
        if self.type == "categorical":
            return trial.suggest_categorical(name, self.choices)
        if self.type == "int":
            return trial.suggest_int(name, int(self.low), int(self.high), step=int(self.step or 1), log=self.log)
        return trial.suggest_float(name, self.low, self.high, step=self.step, log=self.log)

    def extremes(self) -> list[Any]:
        """Values that bound what may be sampled, to validate against the run config up front."""
        if self.type == "categorical":
            return list(self.choices)
        cast = int if self.type == "int" else float
        return [cast(self.low), cast(self.high)]

    def at_edge(self, value: Any, share: float = 0.05) -> bool:
        """Whether a range's ``value`` lies in its lowest or highest ``share`` (in log space with ``log``), or is
        an end of an int range of three values or more: the optimum may then lie outside the range."""
        if self.type == "categorical" or self.high == self.low:
            return False
        if self.type == "int":  # an end value, of a range with a middle
            return (self.high - self.low) / (self.step or 1) >= 2 and value in (self.low, self.high)
        scale = math.log if self.log else float
        position = (scale(value) - scale(self.low)) / (scale(self.high) - scale(self.low))
        return position <= share or position >= 1 - share

    def describe(self) -> str:
        """``log-uniform [0.0001, 0.001]``, ``int [1, 4]``, ``one of 4, 8, 16``."""
        if self.type == "categorical":
            return "one of " + ", ".join(str(c) for c in self.choices)
        kind = "int" if self.type == "int" else "log-uniform" if self.log else "uniform"
        cast = int if self.type == "int" else float
        step = f" step {self.step:g}" if self.step else ""
        return f"{kind} [{cast(self.low):g}, {cast(self.high):g}]{step}"


def _flatten(space: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in space.items():
        nested = isinstance(value, dict) and value and not set(value) & set(Param.model_fields)
        flat |= _flatten(value, f"{prefix}{key}.") if nested else {f"{prefix}{key}": value}
    return flat


def default_spaces() -> dict[str, dict[str, Param]]:
    """Each registered method's own default space (``MethodSpec.tuning_space``): by common practice,
    full fine-tuning at lr 1e-5–1e-4 and adapters ten times higher, plus their own keys."""
    return {
        name: {key: Param(**spec) for key, spec in METHODS.get(name).tuning_space.items()}
        for name in METHODS.names()
        if METHODS.get(name).tuning_space
    }


class SamplerConfig(_Strict):
    """``optuna.samplers.TPESampler``, every behaviour-changing argument pinned (Optuna 5 changed defaults)."""

    n_startup_trials: int = Field(5, ge=0, description="Random trials before TPE takes over.")
    n_ei_candidates: int = Field(24, gt=0)
    multivariate: bool = Field(True, description="Model the parameters jointly (Falkner et al., 2018).")
    group: bool = False
    constant_liar: bool = Field(True, description="Count running trials as bad, so parallel workers spread out.")


class PrunerConfig(_Strict):
    """``optuna.pruners.MedianPruner``, fed by the trial's evaluations: step k is its (k+1)-th evaluation."""

    enabled: bool = True
    n_startup_trials: int = Field(5, ge=0, description="Trials that finish unpruned before pruning starts.")
    n_warmup_steps: int = Field(0, ge=0, description="Evaluations a trial always gets.")
    interval_steps: int = Field(1, gt=0)
    n_min_trials: int = Field(1, gt=0, description="Trials that must have reported at a step to prune at it.")


class TuneConfig(_Strict):
    """Hyperparameter search before the final phase (``lorascope tune``); see docs/tuning.md."""

    trials: int = Field(10, gt=0, description="Trials per task × method, across all workers (complete or pruned).")
    objective: Literal["holdout", "eval"] = Field(
        "holdout",
        description="holdout: the main metric on a stratified holdout of the training examples, so the dev set "
        "the final phase reports stays unseen; eval: on the evaluation set (then not an unbiased final estimate).",
    )
    holdout: float = Field(0.1, gt=0, description="Share (below 1) or number of training examples held out.")
    seed: int = Field(0, ge=0, le=2**32 - 1, description="Seed of the sampler and of every trial's training run.")
    storage: str | None = Field(
        None,
        description="null: a journal file, STUDY_DIR/tune/journal.log (several workers on one machine); or a "
        "SQLAlchemy URL such as postgresql://user@host/db (several machines).",
    )
    retries: int = Field(1, ge=0, description="Times a failed or stale trial is run again with the same values.")
    max_failures: int = Field(3, gt=0, description="Failed trials after which a task × method is given up.")
    heartbeat_seconds: float = Field(30.0, gt=0, description="How often a running trial says it is alive.")
    stale_after_seconds: float = Field(
        300.0, gt=0, description="A running trial silent this long (its worker died) is failed and retried."
    )
    sampler: SamplerConfig = Field(default_factory=SamplerConfig)
    pruner: PrunerConfig = Field(default_factory=PrunerConfig)
    spaces: dict[str, dict[str, Param]] = Field(
        default_factory=dict,
        description="Method variant or method name -> config key -> parameter. A space given here replaces the "
        "default space of that method (default_spaces) for that name.",
    )

    @field_validator("spaces", mode="before")
    @classmethod
    def _flatten_nested_keys(cls, spaces: Any) -> Any:
        """``{lora: {train: {learning_rate: {...}}}}`` is the key ``train.learning_rate``, as in grids."""
        if not isinstance(spaces, dict):
            return spaces
        return {name: _flatten(space) if isinstance(space, dict) else space for name, space in spaces.items()}

    def space_for(self, variant: str, method: str) -> tuple[dict[str, Param], bool]:
        """(space, given): the space of a variant, else of its method, else the method's default."""
        for name in (variant, method):
            if name in self.spaces:
                return self.spaces[name], True
        return default_spaces().get(method, {}), False

    _holdout_amount = field_validator("holdout")(holdout_amount)

    @model_validator(mode="after")
    def _sound(self) -> TuneConfig:
        if self.stale_after_seconds <= 2 * self.heartbeat_seconds:
            raise PydanticCustomError("cross_key", "tune.stale_after_seconds must exceed twice tune.heartbeat_seconds")
        return self
