from lorascope.cli.main import main
from tests.studies.conftest import study_raw, write_study


def test_dry_run_lists_every_run_and_trains_nothing(tmp_path, capsys, mini_glue):
    path = write_study(tmp_path / "s.yaml", study_raw(mini_glue))
    assert main(["study", str(path), "--dry-run", "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "8 baselines: 8 pending" in out and "0 sanity checks: none" in out and "8 runs: 8 pending" in out
    assert "sst2 · lora-r4 · seed 1" in out and "stsb · random · seed 0" in out
    assert not (tmp_path / "out").exists()


def test_study_overrides_and_unknown_axis_give_one_error_line(tmp_path, capsys, mini_glue):
    path = write_study(tmp_path / "s.yaml", study_raw(mini_glue))
    assert main(["study", str(path), "grid.lora.alpah=[8]", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path}: grid: unknown axis 'lora.alpah'")
    assert main(["study", str(path), "grid.seed=[7]", "--dry-run", "--out", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    assert "sst2 · full · seed 7" in out and "seed 0" not in out


def test_study_then_results_print_the_table(tmp_path, capsys, mini_glue, monkeypatch):
    from lorascope.studies import runner

    def flaky(cfg, out, **kwargs):  # the lora run fails at run time, as an out-of-memory error would
        if cfg.method == "lora" and cfg.lora.r == 2:
            raise RuntimeError("CUDA out of memory")
        return run_training(cfg, out, **kwargs)

    run_training = runner.run_training
    monkeypatch.setattr(runner, "run_training", flaky)
    raw = study_raw(mini_glue, grid={"task": ["sst2"], "seed": [0]}, baselines=["majority"])
    raw["methods"]["lora-r2"] = {"method": "lora", "lora.r": 2}
    path = write_study(tmp_path / "s.yaml", raw)
    out_dir = tmp_path / "out"
    assert main(["study", str(path), "--out", str(out_dir)]) == 1
    captured = capsys.readouterr()
    assert "1 run(s) failed; run the same command again to retry them" in captured.err
    assert "study mini: mean ± sample std" in captured.out
    assert main(["results", str(out_dir)]) == 0
    table = capsys.readouterr().out
    lines = table.splitlines()
    assert lines[2] == "sst2" and lines[3].split()[:2] == ["method", "accuracy"]
    assert [line.split()[0] for line in lines[4:7]] == ["majority", "full", "lora-r4"]
    assert lines[7].split()[0] == "lora-r2" and lines[7].rstrip().endswith("0/1  1 run(s) FAILED")
    assert (out_dir / "summary.csv").is_file() and (out_dir / "results.csv").is_file()
    assert main(["results", str(tmp_path)]) == 2
    assert "not a study folder (no plan.json)" in capsys.readouterr().err


def test_a_study_that_cannot_start_exits_with_its_problems(tmp_path, capsys, mini_glue):
    raw = study_raw(mini_glue, grid={"task": ["sst2"], "seed": [0]})
    raw["base"]["model"] = str(tmp_path / "no-model")
    assert main(["study", str(write_study(tmp_path / "s.yaml", raw)), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: the study cannot start; nothing was run:")
    assert "model: folder not found" in err and "— sst2 · full · seed 0 and 1 more" in err
