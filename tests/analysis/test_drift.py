import pytest
import torch
import yaml
from scipy.stats import ortho_group

from lorascope.analysis.drift import run_drift, snapshot_steps
from lorascope.analysis.probes import save_snapshot, snapshot_name
from lorascope.errors import LorascopeError


def fake_run(folder, snapshots: dict):
    (folder / "drift").mkdir(parents=True)
    (folder / "config.yaml").write_text(yaml.safe_dump({"task": "sst2", "method": "lora", "seed": 1}))
    for step, layers in snapshots.items():
        save_snapshot(
            {f"layer.{i}": h.half() for i, h in enumerate(layers)}, folder / "drift" / snapshot_name(step), step, "mean"
        )
    return folder


def test_drift_is_zero_for_an_unchanged_model_and_grows_with_change(tmp_path):
    torch.manual_seed(0)
    base = [torch.randn(32, 8), torch.randn(32, 8)]
    rotation = torch.tensor(ortho_group.rvs(8, random_state=1), dtype=torch.float32)
    moved = [base[0], torch.randn(32, 8)]  # layer 1 replaced by something unrelated
    run = fake_run(tmp_path / "run", {0: base, 5: [h @ rotation for h in base], 10: moved, None: moved})
    assert snapshot_steps(run / "drift") == [0, 5, 10, None]
    rows = run_drift(run)
    cka = {(r.layer, r.step): r.value for r in rows if r.measure == "drift_linear_cka"}
    assert len(rows) == 2 * 4 * 2 and rows[0].task == "sst2" and rows[0].seed == 1
    for layer in (0, 1):
        assert cka[layer, 0] == pytest.approx(0.0, abs=1e-9)
        assert cka[layer, 5] == pytest.approx(0.0, abs=1e-3)  # a rotation does not count as drift (float16 storage)
    assert cka[0, 10] == pytest.approx(0.0, abs=1e-9) and cka[1, 10] > 0.3 and cka[1, "final"] == cka[1, 10]
    cosine = {(r.layer, r.step): r.value for r in rows if r.measure == "cosine_centred"}
    assert cosine[1, 0] == pytest.approx(1.0) and cosine[1, 5] < 0.9  # the cosine does see rotations


def test_a_run_without_snapshots_is_an_error_that_says_how(tmp_path):
    (tmp_path / "run").mkdir()
    with pytest.raises(LorascopeError, match="drift.enabled=true"):
        run_drift(tmp_path / "run")


def test_the_drift_command_writes_the_table_and_figures(tmp_path, capsys):
    import csv

    from lorascope.cli.main import main

    torch.manual_seed(1)
    base = [torch.randn(16, 4) for _ in range(3)]
    runs = []
    for name, noise in (("full", 1.0), ("lora", 0.1)):
        moved = [h + noise * torch.randn_like(h) for h in base]
        run = fake_run(tmp_path / name, {0: base, 10: moved, None: moved})
        config = yaml.safe_load((run / "config.yaml").read_text()) | {"method": name}
        (run / "config.yaml").write_text(yaml.safe_dump(config))
        runs.append(str(run))
    out = tmp_path / "out"
    assert main(["drift", *runs, "--out", str(out), "--no-intruders"]) == 0
    rows = list(csv.DictReader((out / "drift.csv").open()))
    assert len(rows) == 2 * 3 * 3 * 2 and set(rows[0]) == {
        "run",
        "task",
        "method",
        "seed",
        "layer",
        "step",
        "measure",
        "value",
    }
    printed = capsys.readouterr().out
    full = float(printed.split("full: mean drift of the final model over layers: ")[1].split()[0])
    lora = float(printed.split("lora: mean drift of the final model over layers: ")[1].split()[0])
    assert full > lora  # more noise, more drift
    assert "sst2: lora vs full, drift: " in printed and "permutation test: needs 2+ runs per method" in printed
    [comparison] = list(csv.DictReader((out / "drift_comparison.csv").open()))
    assert comparison["method"] == "lora" and float(comparison["reduction_percent"]) > 0
    for figure in ("drift_per_layer", "drift_over_steps", "drift_heatmap_full", "drift_heatmap_lora"):
        assert (out / f"{figure}.png").read_bytes().startswith(b"\x89PNG")


def test_method_comparison_is_an_exact_permutation_test_over_seeds():
    import itertools

    import numpy as np

    from lorascope.analysis.drift import compare_methods
    from lorascope.records import DriftRow

    full, lora = [0.30, 0.35, 0.32, 0.40], [0.10, 0.12, 0.31]
    rows = []
    for method, values in (("full", full), ("lora", lora)):
        for seed, value in enumerate(values):
            for layer, share in enumerate((0.5, 1.5)):  # two layers whose mean is the value
                rows.append(
                    DriftRow(
                        run=f"{method}-{seed}",
                        task="sst2",
                        method=method,
                        seed=seed,
                        layer=layer,
                        step="final",
                        measure="drift_linear_cka",
                        value=value * share,
                    )
                )
            rows.append(rows[-1].model_copy(update={"step": 10, "value": 9.0}))  # only the final model counts
    [row] = compare_methods(rows)
    assert (row["runs_reference"], row["runs_method"]) == (4, 3)
    assert row["mean_reference"] == pytest.approx(np.mean(full)) and row["mean_method"] == pytest.approx(np.mean(lora))
    assert row["reduction_percent"] == pytest.approx(100 * (np.mean(full) - np.mean(lora)) / np.mean(full))
    pooled, observed = full + lora, np.mean(full) - np.mean(lora)
    splits = list(itertools.combinations(range(7), 4))  # every relabelling, by brute force
    diffs = [np.mean([pooled[i] for i in s]) - np.mean([pooled[i] for i in range(7) if i not in s]) for s in splits]
    greater = sum(d >= observed - 1e-12 for d in diffs) / len(splits)
    less = sum(d <= observed + 1e-12 for d in diffs) / len(splits)
    assert row["p_value"] == pytest.approx(min(1.0, 2 * min(greater, less)))  # two-sided: twice the smaller tail
