"""Probe-set snapshots: pooling, and the snapshots a real (tiny) training run takes."""

import torch
from safetensors import safe_open

from lorascope.analysis.probes import load_snapshot, pool
from lorascope.config import parse_config
from lorascope.training import run_training
from tests.conftest import tiny_run_config


def test_pooling_uses_real_tokens_whatever_the_padding_side():
    hidden = torch.arange(2 * 4 * 3, dtype=torch.float32).reshape(2, 4, 3)
    right = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]])
    left = torch.tensor([[0, 1, 1, 1], [0, 0, 1, 1]])
    assert torch.equal(pool(hidden, right, "mean"), torch.stack([hidden[0, :3].mean(0), hidden[1, :2].mean(0)]))
    assert torch.equal(pool(hidden, right, "first"), hidden[:, 0])
    assert torch.equal(pool(hidden, right, "last"), torch.stack([hidden[0, 2], hidden[1, 1]]))
    assert torch.equal(pool(hidden, left, "first"), torch.stack([hidden[0, 1], hidden[1, 2]]))
    assert torch.equal(pool(hidden, left, "last"), hidden[:, 3])
    assert torch.equal(pool(hidden, right, "tokens"), torch.cat([hidden[0, :3], hidden[1, :2]]))


def test_a_training_run_snapshots_every_n_steps_and_at_the_end(tmp_path):
    raw = tiny_run_config(drift__enabled=True, drift__every_steps=5, drift__probe_size=24, train__epochs=1)
    cfg = parse_config(raw).resolved()
    results = run_training(cfg, tmp_path / "run")
    folder = tmp_path / "run" / "drift"
    steps = list(range(0, results.steps + 1, 5))
    expected = [f"step-{s:06d}.safetensors" for s in steps] + ["final.safetensors"]
    assert sorted(p.name for p in folder.iterdir()) == sorted(expected)
    first = load_snapshot(folder / "step-000000.safetensors")
    assert sorted(first) == [0, 1, 2]  # embeddings and the two layers of tiny-bert
    assert all(v.shape == (24, 64) and v.dtype == torch.float16 for v in first.values())
    with safe_open(folder / "final.safetensors", framework="pt") as handle:
        assert handle.metadata() == {"step": "final", "pooling": "mean"}
    last = load_snapshot(folder / f"step-{steps[-1]:06d}.safetensors")
    assert not torch.equal(first[2], last[2])  # training moved the last layer
    assert torch.equal(first[0], last[0])  # LoRA on query/value leaves the embeddings alone
