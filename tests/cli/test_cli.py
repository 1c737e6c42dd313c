import json
import subprocess
import sys

import pytest

from lorascope.cli.main import main


def write_config(tmp_path, text):
    path = tmp_path / "run.yaml"
    path.write_text(text)
    return path


TINY = "model: tiny-bert\ntask: synthetic\ndata:\n  synthetic_size: 64\ntrain:\n  max_steps: 2\n"


@pytest.mark.parametrize(
    ("text", "overrides", "expected"),
    [
        (TINY + "colour: red\n", [], "colour: unknown key"),
        (TINY, ["train.batch_size=big"], "train.batch_size:"),
        ("model: tiny-bert\ntask: sst2\ndata_dir: /no/such/glue\n", [], "data_dir: folder not found: /no/such/glue"),
        ("model: tiny-bert\ntask: qnli\n", [], "task:"),
        (TINY, ["lora.r=0"], "lora.r:"),
        (TINY, ["lora.r=-4"], "lora.r:"),
        (TINY, ["lora.target_modules=[q_proj]"], "lora.target_modules: 'q_proj' matches no module"),
        (TINY, ["model=no-such-org/no-such-model"], "model 'no-such-org/no-such-model': not a local folder"),
        (TINY, ["model=./missing-model-folder"], "model: folder not found"),
    ],
)
def test_broken_configs_fail_with_one_line(tmp_path, capsys, text, overrides, expected):
    out = tmp_path / "run"
    code = main(["train", str(write_config(tmp_path, text)), *overrides, "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith("error: ") and expected in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert not (out / "results.json").exists()


def test_no_traceback_from_the_installed_command(tmp_path):
    config = write_config(tmp_path, TINY + "  epochs: -1\n")  # inside TINY's train: section
    proc = subprocess.run(
        [sys.executable, "-m", "lorascope", "validate", str(config)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"error: {config}: train.epochs: Input should be greater than 0 (got -1)"
    ]


def test_validate_reports_what_would_run(tmp_path, capsys):
    assert main(["validate", str(write_config(tmp_path, TINY))]) == 0
    out = capsys.readouterr().out
    assert "valid" in out and "64 train / 200 eval" in out and "['query', 'value']" in out
    assert main(["validate", str(write_config(tmp_path, TINY)), "lora.strategy=fisher", "lora.r=4"]) == 0
    assert "ranks allocated by fisher at the budget of rank 4" in capsys.readouterr().out


def test_train_with_overrides_writes_the_run(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", str(write_config(tmp_path, TINY)), "seed=5", "--out", str(out), "lora.r=2"]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["seed"] == 5 and results["steps"] == 2
    assert "r: 2" in (out / "config.yaml").read_text()
    assert str(out / "results.json") in capsys.readouterr().out


def test_help_shows_examples(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    assert "lorascope train examples/sst2_lora.yaml" in text and "demo" in text


def test_resume_needs_an_out_folder(tmp_path, capsys):
    assert main(["train", str(write_config(tmp_path, TINY)), "--resume"]) == 2
    assert "--resume needs --out" in capsys.readouterr().err


def test_unknown_flags_are_still_refused(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["train", str(write_config(tmp_path, TINY)), "--outt", "x"])
    assert "unrecognized arguments: --outt" in capsys.readouterr().err


def test_an_out_folder_the_system_refuses_is_one_line_naming_the_path(tmp_path, capsys):
    (tmp_path / "a-file").write_text("x")
    out = tmp_path / "a-file" / "run"  # under a file: the system says "Not a directory"
    code = main(["train", str(write_config(tmp_path, TINY)), "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.splitlines() == [f"error: {out}: Not a directory"]
    assert (tmp_path / "a-file").read_text() == "x"
