"""bench/train_throughput.py's smoke mode: both pipelines train the same examples, side by side."""

import importlib.util
import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # eight short runs (about 20 s)


def _bench():
    path = Path(__file__).resolve().parents[2] / "bench" / "train_throughput.py"
    spec = importlib.util.spec_from_file_location("train_throughput", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_smoke_mode_measures_both_pipelines_on_one_workload(tmp_path):
    rows = _bench().main(["--tiny", "--inline", "--no-ablations", "--out", str(tmp_path)])
    found = {(r["workload"], r["method"], r["variant"]) for r in rows}
    for workload in ("encoder", "decoder"):
        for method in ("lora", "full"):
            assert {(workload, method, "plain script"), (workload, method, "lorascope")} <= found
            plain, ours = (
                next(r for r in rows if (r["workload"], r["method"], r["variant"]) == (workload, method, v))
                for v in ("plain script", "lorascope")
            )
            # the same examples and real tokens, and as many steps: only how they are computed differs
            assert (ours["examples"], ours["tokens"], ours["steps"]) == (
                plain["examples"],
                plain["tokens"],
                plain["steps"],
            )
            assert ours["ratio"] == pytest.approx(ours["tokens_per_s"] / plain["tokens_per_s"])
            assert len(ours["losses"]) == ours["steps"]
    decoder = [r for r in rows if r["workload"] == "decoder" and r["variant"] == "lorascope"]
    assert all(r["loss_gap"] < 0.02 for r in decoder)  # the same random batches: the loss curve within bf16 noise
    assert json.loads((tmp_path / "results.json").read_text()) == json.loads(json.dumps(rows))
    table = [line for line in (tmp_path / "table.md").read_text().splitlines() if line.startswith("| ")]
    assert len(table) == 2 + len(rows) and table[1].startswith("| --- |")  # header, rule, one line per row
