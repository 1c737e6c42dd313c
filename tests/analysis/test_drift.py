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
    cka = {(r["layer"], r["step"]): r["value"] for r in rows if r["measure"] == "drift_linear_cka"}
    assert len(rows) == 2 * 4 * 2 and rows[0]["task"] == "sst2" and rows[0]["seed"] == 1
    for layer in (0, 1):
        assert cka[layer, 0] == pytest.approx(0.0, abs=1e-9)
        assert cka[layer, 5] == pytest.approx(0.0, abs=1e-3)  # a rotation does not count as drift (float16 storage)
    assert cka[0, 10] == pytest.approx(0.0, abs=1e-9) and cka[1, 10] > 0.3 and cka[1, "final"] == cka[1, 10]
    cosine = {(r["layer"], r["step"]): r["value"] for r in rows if r["measure"] == "cosine_centred"}
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
    assert main(["drift", *runs, "--out", str(out)]) == 0
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
    full = float(printed.split("full: mean drift of the final model over layers and runs ")[1].split()[0])
    lora = float(printed.split("lora: mean drift of the final model over layers and runs ")[1].split()[0])
    assert full > lora  # more noise, more drift
    assert (out / "drift_per_layer.png").is_file() and (out / "drift_over_steps.png").is_file()
