"""Parameter importances and the history figure, on Optuna studies with a known answer."""

from __future__ import annotations

import optuna
from optuna.trial import TrialState

from lorascope.tuning.results import history_figure, importances, plot_history, plot_importance


def known_study(n: int) -> optuna.Study:
    """The value depends on x alone; y is noise-free irrelevant."""
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(n):
        trial = study.ask()
        x, y = trial.suggest_float("x", 0, 1), trial.suggest_float("y", 0, 1)
        study.tell(trial, -((x - 0.3) ** 2) + 0.0 * y)
    return study


def test_the_parameter_that_decides_the_value_is_the_important_one(tmp_path):
    weights = importances(known_study(40))
    assert set(weights) == {"x", "y"} and weights["x"] > 5 * weights["y"]
    assert plot_importance(weights, "x vs y", tmp_path / "importance.png").stat().st_size > 5_000


def test_importances_wait_for_three_distinct_values():
    study = optuna.create_study(direction="maximize")
    for value in (0.5, 0.5, 0.7):
        trial = study.ask()
        trial.suggest_float("x", 0, 1)
        study.tell(trial, value)
    assert importances(study) == {}


def test_the_history_shows_pruned_trials_at_their_last_report(tmp_path):
    study = known_study(5)
    trial = study.ask()
    trial.suggest_float("x", 0, 1)
    trial.suggest_float("y", 0, 1)
    trial.report(-0.9, 0)
    study.tell(trial, state=TrialState.PRUNED)
    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    ax = history_figure(study.trials, "known", "value").axes[0]
    done, pruned = ax.collections
    assert done.get_offsets().tolist() == [[t.number, t.value] for t in complete]
    assert pruned.get_offsets().tolist() == [[trial.number, -0.9]]  # at its last report, not at a value
    [best] = ax.lines
    values = [t.value for t in complete]
    running = [max(values[: i + 1]) for i in range(len(values))]
    assert list(best.get_ydata()) == running + running[-1:]  # the best so far, carried on to the last trial
    assert list(best.get_xdata())[-1] == trial.number
    path = plot_history(study.trials, "known", "value", tmp_path / "history.png")
    assert path.read_bytes().startswith(b"\x89PNG") and path.with_suffix(".pdf").is_file()
