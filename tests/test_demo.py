import csv
import json
import subprocess
import sys

import pytest


def demo(out, *extra):
    command = [sys.executable, "-m", "lorascope", "demo", "--out", str(out), *extra]
    return subprocess.run(command, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_demo_is_a_small_study_that_learns_offline(tmp_path, minilm):
    out = tmp_path / "demo"
    proc = demo(out)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "every run beat the majority baseline of its seed" in proc.stdout
    assert "baselines: 6 (majority, random)" in proc.stdout and "sanity: all 2 checks passed" in proc.stdout
    runs = list(csv.DictReader((out / "results.csv").open()))
    assert sorted((r["kind"], r["method"]) for r in runs if r["kind"] != "baseline") == sorted(
        [("sanity", "full"), ("sanity", "lora")] + [("run", m) for m in ("full", "lora") for _ in range(3)]
    )
    assert all(r["status"] == "done" for r in runs) and {r["model"] for r in runs if r["kind"] == "run"} == {minilm}
    summary = {r["method"]: r for r in csv.DictReader((out / "summary.csv").open())}
    for method in ("full", "lora"):
        row = summary[method]
        assert row["seeds_done"] == "3" and row["sanity"] == "pass"
        assert float(row["accuracy_mean"]) >= 0.9 > float(summary["majority"]["accuracy_mean"]) + 0.3
    assert float(summary["lora"]["trainable_params_mean"]) < 0.01 * float(summary["full"]["trainable_params_mean"])
    table = proc.stdout[proc.stdout.index("study demo: mean ± sample std") :]
    assert all(f"\n{m} " in table for m in ("majority", "random", "full", "lora"))
    assert "the ranks followed the planted answer" in proc.stdout
    ranks = json.loads((out / "ranks" / "lora_rank_config.json").read_text())
    assert (
        ranks["layers"]["model.layers.0.self_attn.q_proj"]["r"]
        > ranks["layers"]["model.layers.0.self_attn.v_proj"]["r"]
    )
    assert (out / "ranks" / "svd" / "r_raw_heatmap.png").is_file()
    # the drift comparison of the full and LoRA runs, from snapshots taken while they trained
    drift = list(csv.DictReader((out / "drift" / "drift.csv").open()))
    assert {r["method"] for r in drift} == {"full", "lora"} and len({r["run"] for r in drift}) == 6
    assert {r["step"] for r in drift} >= {"0", "25", "50", "75", "final"}
    assert any(r["measure"] == "intruders@0.5" for r in drift)
    assert "synthetic: lora vs full, drift: " in proc.stdout and "permutation test p = " in proc.stdout
    assert (out / "drift" / "drift_per_layer.png").is_file() and (out / "drift" / "intruders.png").is_file()
    # the report, with the two declared hypotheses and their AND tested over the seeds
    assert "hypotheses over the seeds" in proc.stdout
    assert "lora main metric ≥ 97% of full (relative margin): holds" in proc.stdout
    assert "LoRA as good and gentler = LoRA non-inferior AND LoRA drifts less: " in proc.stdout
    assert f"report: {out / 'report' / 'report.md'}" in proc.stdout
    assert (out / "report" / "report.html").is_file() and (out / "report" / "paper" / "main.tex").is_file()
    # started again, it finds every run done and only prints the table
    again = demo(out)
    assert again.returncode == 0 and "run: 6 of 6 already done, skipped" in again.stdout
    assert "[run " not in again.stdout and "brief full fine-tune towards" not in again.stdout
    assert "the ranks followed the planted answer" in again.stdout


def test_demo_refuses_a_foreign_folder(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    proc = demo(tmp_path)
    assert proc.returncode == 2 and "not empty and not a study folder" in proc.stderr
    assert (tmp_path / "notes.txt").read_text() == "mine"


@pytest.mark.slow
def test_without_minilm_the_demo_uses_a_random_tiny_bert_that_learns_too(tmp_path):
    out = tmp_path / "demo"
    proc = demo(out, "--model", "tiny-bert")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "every run beat the majority baseline of its seed" in proc.stdout
    assert "sanity: all 2 checks passed" in proc.stdout
    assert {r["model"] for r in csv.DictReader((out / "results.csv").open()) if r["kind"] == "run"} == {"tiny-bert"}
