"""`lorascope study --dry-run` on a study whose search has not run yet."""

from __future__ import annotations

from lorascope.cli.main import main
from tests.tuning.conftest import tune_raw, write_study


def test_a_dry_run_before_tuning_lists_the_runs_as_configured_with_a_note(tmp_path, capsys):
    study = write_study(tmp_path / "study.yaml", tune_raw())
    assert main(["study", str(study), "--dry-run", "--out", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out
    assert "note: study tiny-tune has a tune: section, but 1 of its rows have no finished search" in printed
    assert "pending  " in printed and "synthetic · full · seed 0" in printed


def test_training_a_tuned_study_before_its_search_is_an_error(tmp_path, capsys):
    study = write_study(tmp_path / "study.yaml", tune_raw())
    assert main(["study", str(study), "--out", str(tmp_path / "out")]) == 2
    assert "run `lorascope tune` on the study file first" in capsys.readouterr().err
