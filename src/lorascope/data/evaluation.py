"""What a task's evaluation of a run gives back: one prediction per example, the metrics, and the
files in the task's own formats (SQuAD's official predictions, say) for the run folder."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Evaluation:
    predictions: list  # one JSON value per evaluation example, in order
    metrics: dict[str, float]
    columns: dict[str, list] = field(default_factory=dict)  # more per-example columns of eval_predictions.jsonl
    files: dict[str, object] = field(default_factory=dict)  # file name → JSON content, written in the run folder
    settings: dict[str, object] = field(default_factory=dict)  # how it was trained and scored (results.json)


@dataclass(frozen=True)
class Predictor:
    """What a task's final evaluation may use: the Trainer's outputs on an encoded dataset, and the
    trained model itself (for its own passes: exact perplexity, generation) with the run's settings."""

    outputs: Callable[[object], object]
    model: object
    batch_size: int
    precision: str
