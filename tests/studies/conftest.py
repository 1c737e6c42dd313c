"""Study files over the mini GLUE folder (tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.conftest import with_changes


def study_raw(glue: Path, **changes) -> dict:
    """2 tasks × {full, lora} × 2 seeds on tiny-bert, seconds per run."""
    raw = {
        "name": "mini",
        "base": {
            "model": "tiny-bert",
            "data_dir": str(glue),
            "train": {"epochs": 2, "batch_size": 16, "logging_steps": 2},
        },
        "grid": {"task": ["sst2", "stsb"], "seed": [0, 1]},
        "methods": {
            "full": {"method": "full", "train.learning_rate": 1e-3},
            "lora-r4": {"method": "lora", "lora.r": 4, "train.learning_rate": 3e-3},
        },
        "sanity": {"mode": "off"},
    }
    return with_changes(raw, changes)


def write_study(path: Path, raw: dict) -> Path:
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path
