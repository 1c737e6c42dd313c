"""Sanity checks: a setup that cannot overfit a handful of training examples will not learn the task."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from lorascope.config import RunConfig, _Strict, parse_config
from lorascope.records import RunResults
from lorascope.registry import TASKS


class SanityConfig(_Strict):
    """Before the expensive runs: can each task × method overfit a few training examples?"""

    mode: Literal["off", "warn", "required"] = Field(
        "warn", description="warn: flag failures and go on; required: a failure stops the study."
    )
    train_samples: int = Field(64, gt=0, description="Training examples to overfit (a stratified subset).")
    max_steps: int = Field(100, gt=0, description="Optimizer steps allowed.")
    min_score: float = Field(
        0.95, le=1, description="Pass when the main metric on those examples reaches this (metrics are at most 1)."
    )

    @field_validator("mode", mode="before")
    @classmethod
    def _yaml_off(cls, value: object) -> object:
        return "off" if value is False else value  # YAML 1.1 reads an unquoted off as false


def sanity_config(cfg: RunConfig, sanity: SanityConfig) -> RunConfig:
    """The run's config cut down to a memorisation test: few examples, scored on themselves."""
    raw = cfg.model_dump(mode="json")
    raw["max_train_samples"] = sanity.train_samples
    raw["max_eval_samples"] = None
    raw["data"]["eval_split"] = "train"
    raw["train"] |= {
        "max_steps": sanity.max_steps,
        "eval_strategy": "steps",
        "eval_steps": sanity.max_steps,
        "early_stopping_patience": None,
        "keep_checkpoints": False,
        "save_model": False,  # only the verdict matters
    }
    raw["drift"]["enabled"] = False
    return parse_config(raw, source="sanity check")


def sanity_verdict(results: RunResults, min_score: float) -> tuple[str, bool, float | None]:
    """(metric, passed, score): the task's sanity metric on the training subset against ``min_score``
    (the main metric; for instruction tuning, whose perplexity has no fixed scale, token accuracy)."""
    task = TASKS.get(results.task)
    metric = task.sanity_metric if task is not None else results.main_metric
    score = results.metrics.get(metric)
    return metric, score is not None and score >= min_score, score
