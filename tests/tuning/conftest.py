"""Tiny tuning studies: tiny-bert on the synthetic task, a second or two per trial."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.conftest import tiny_run_config, with_changes

HOPELESS = 1e-7  # a learning rate that leaves the model at chance: the pruner should stop it


def tune_raw(**changes) -> dict:
    """One row (synthetic · full), a learning rate that is hopeless or good, and a warm-up."""
    raw = {
        "name": "tiny-tune",
        "base": tiny_run_config(
            data__synthetic_size=240,
            train__epochs=3,
            train__batch_size=8,
            train__logging_steps=50,
        ),
        "grid": {"seed": [0]},
        "methods": {"full": {"method": "full"}},
        "baselines": [],
        "sanity": {"mode": "off"},
        "tune": {
            "trials": 6,
            "holdout": 0.25,
            "seed": 5,
            "sampler": {"n_startup_trials": 4},
            "pruner": {"n_startup_trials": 2},
            "spaces": {
                "full": {
                    "train.learning_rate": {"choices": [HOPELESS, 3e-3, 5e-3]},
                    "train.warmup_ratio": {"choices": [0.0, 0.1]},
                }
            },
        },
    }
    return with_changes(raw, changes)


def write_study(path: Path, raw: dict) -> Path:
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path
