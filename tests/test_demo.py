import csv
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_demo_runs_offline_and_learns(tmp_path, minilm):
    out = tmp_path / "demo"
    proc = subprocess.run(
        [sys.executable, "-m", "lorascope", "demo", "--out", str(out)], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "both methods learned" in proc.stdout and str(out / "summary.csv") in proc.stdout
    rows = {r["method"]: r for r in csv.DictReader((out / "summary.csv").open())}
    assert set(rows) == {"full", "lora"}
    for row in rows.values():
        assert row["model"] == minilm
        assert float(row["accuracy"]) >= 0.9 > float(row["majority_baseline"])
        assert float(row["p_above_baseline"]) < 1e-6
        assert (out / row["method"] / "results.json").is_file() and (out / row["method"] / "config.yaml").is_file()
    assert int(rows["lora"]["trainable_params"]) < 0.01 * int(rows["full"]["trainable_params"])
    # an earlier demo folder is replaced, not mixed
    again = subprocess.run(
        [sys.executable, "-m", "lorascope", "demo", "--out", str(out), "--model", "tiny-bert"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert again.returncode == 0, again.stderr[-2000:]
    assert "both methods learned" in again.stdout  # the random tiny model learns the rule too
    assert {r["model"] for r in csv.DictReader((out / "summary.csv").open())} == {"tiny-bert"}


def test_demo_refuses_a_foreign_folder(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    proc = subprocess.run(
        [sys.executable, "-m", "lorascope", "demo", "--out", str(tmp_path)], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 2 and "not empty and not a study folder" in proc.stderr
    assert (tmp_path / "notes.txt").read_text() == "mine"
