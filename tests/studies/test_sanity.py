import json

import pytest

from lorascope.cli.main import main
from lorascope.studies import load_study, run_study
from lorascope.studies.runner import SanityFailed, run_status
from tests.studies.conftest import study_raw, write_study

HEALTHY = "model: tiny-bert\ntask: synthetic\nmethod: full\nseed: 0\ndata: {synthetic_size: 200}\ntrain: {learning_rate: 1.0e-3}\n"


def test_a_healthy_setup_overfits_and_a_broken_one_is_flagged(tmp_path, capsys):
    config = tmp_path / "run.yaml"
    config.write_text(HEALTHY)
    assert main(["sanity", str(config), "--out", str(tmp_path / "ok")]) == 0
    out = capsys.readouterr().out
    assert "pass  synthetic · full · sanity: accuracy 1.000 ≥ 0.95 on 64 training examples after 100 steps" in out
    assert "1 of 1 sanity checks passed" in out

    # learning rate (effectively) zero: nothing is learned, so 64 examples cannot be memorised
    assert main(["sanity", str(config), "train.learning_rate=1e-12", "--out", str(tmp_path / "broken")]) == 1
    out = capsys.readouterr().out
    assert "FAIL  synthetic · full · sanity: accuracy" in out and "< 0.95 on 64 training examples" in out
    assert "0 of 1 sanity checks passed" in out
    (folder,) = (tmp_path / "broken" / "sanity").iterdir()
    results = json.loads((folder / "results.json").read_text())
    assert results["eval_examples"] == results["train_examples"] == 64 and results["steps"] == 100


def test_options_set_the_budget(tmp_path, capsys):
    config = tmp_path / "run.yaml"
    config.write_text(HEALTHY)
    code = main(
        [
            "sanity",
            str(config),
            "--samples",
            "32",
            "--max-steps",
            "3",
            "--min-score",
            "0.99",
            "--out",
            str(tmp_path / "o"),
        ]
    )
    out = capsys.readouterr().out
    assert code == 1 and "on 32 training examples after 3 steps" in out


@pytest.mark.slow  # trains a study several times (15-30 s)
def test_required_sanity_stops_the_study_before_its_runs(tmp_path, mini_glue):
    raw = study_raw(mini_glue, grid={"task": ["sst2"], "seed": [0, 1]}, baselines=[])
    raw["methods"]["lora-r4"]["train.learning_rate"] = 1e-12
    raw["sanity"] = {"mode": "required"}
    study = load_study(write_study(tmp_path / "s.yaml", raw))
    with pytest.raises(SanityFailed, match=r"sst2 · lora-r4 · sanity: accuracy .* < 0.95") as info:
        run_study(study, tmp_path / "out", echo=lambda line: None)
    assert "sst2 · full · sanity" not in str(info.value)  # the healthy one passed
    assert info.value.exit_code == 1
    assert all(run_status(tmp_path / "out" / r.folder) == "pending" for r in study.of_kind("run"))
    # with warn, the failure is flagged and the grid runs
    lines = []
    warned = load_study(write_study(tmp_path / "w.yaml", raw | {"sanity": {"mode": "warn"}}))
    outcome = run_study(warned, tmp_path / "out", echo=lines.append)
    assert outcome.sanity_failures and any(line.startswith("WARNING: sanity checks FAILED") for line in lines)
    assert "sanity: 2 of 2 already done, skipped" in lines  # the checks are the same runs as before
    assert all(run_status(tmp_path / "out" / r.folder) == "done" for r in warned.runs)
