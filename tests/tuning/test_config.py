"""Search spaces: parsing, validation against the run config, defaults, and what each row searches."""

from __future__ import annotations

import math

import optuna
import pytest

from lorascope.errors import LorascopeError
from lorascope.studies.spec import load_study, study_from_mapping
from lorascope.tuning.config import Param, default_spaces
from lorascope.tuning.units import tuning_units
from tests.tuning.conftest import tune_raw, write_study


def units_of(raw: dict):
    return tuning_units(study_from_mapping(raw, "t"))


def test_nested_yaml_keys_and_strings_like_1e_4_parse(tmp_path):
    raw = tune_raw()
    raw["tune"]["spaces"] = {"full": {"train": {"learning_rate": {"low": "1e-4", "high": "1e-3", "log": True}}}}
    study = load_study(write_study(tmp_path / "s.yaml", raw))
    (unit,) = tuning_units(study)
    assert unit.space["train.learning_rate"].describe() == "log-uniform [0.0001, 0.001]"


@pytest.mark.parametrize(
    ("param", "message"),
    [
        ({"low": 1e-3, "high": 1e-4}, "low must not exceed high"),
        ({"low": 0.0, "high": 1.0, "log": True}, "log needs low > 0"),
        ({"type": "int", "low": 1, "high": 2.5}, "whole low, high and step"),
        ({"choices": []}, "at least one"),
        ({"choices": [4, 4]}, "repeat"),
        ({"low": 1}, "takes low and high"),
    ],
)
def test_a_malformed_parameter_names_its_key(tmp_path, param, message):
    raw = tune_raw()
    raw["tune"]["spaces"]["full"]["train.warmup_ratio"] = param
    with pytest.raises(LorascopeError, match=message) as caught:
        load_study(write_study(tmp_path / "s.yaml", raw))
    assert "tune.spaces.full.train.warmup_ratio" in str(caught.value)


@pytest.mark.parametrize(
    ("key", "param", "message"),
    [
        ("train.learning_rat", {"low": 1e-4, "high": 1e-3}, "not a run config key"),
        ("seed", {"choices": [0, 1]}, "not a hyperparameter"),
        (
            "lora.dropout",
            {"low": 0.0, "high": 1.5},
            r"value 1\.5 is invalid: lora\.dropout: Input should be less than 1",
        ),
        ("train.batch_size", {"choices": [16, 0]}, "value 0 is invalid"),
    ],
)
def test_a_space_is_checked_against_the_run_config_up_front(key, param, message):
    raw = tune_raw()
    raw["tune"]["spaces"]["full"][key] = param
    with pytest.raises(LorascopeError, match=message) as caught:
        units_of(raw)
    assert f"tune.spaces.full.{key}" in str(caught.value)


def test_a_key_the_study_already_sets_cannot_be_searched():
    raw = tune_raw()
    raw["methods"]["full"]["train.warmup_ratio"] = 0.05
    with pytest.raises(LorascopeError, match="already sets train.warmup_ratio"):
        units_of(raw)


def test_a_space_for_a_name_the_study_does_not_have_is_refused():
    raw = tune_raw()
    raw["tune"]["spaces"]["lora-r4"] = raw["tune"]["spaces"]["full"]
    with pytest.raises(LorascopeError, match=r"tune.spaces \['lora-r4'\]: neither a method variant nor a method"):
        units_of(raw)


def test_default_spaces_follow_common_practice_and_leave_out_what_the_study_fixes():
    raw = tune_raw()
    del raw["tune"]["spaces"]
    raw["methods"] = {"full": {"method": "full"}, "lora-r8": {"method": "lora", "lora.r": 8}}
    raw["grid"] = {"seed": [0, 1], "train.batch_size": [16]}
    full, lora = units_of(raw)
    assert full.label == "synthetic · full · train.batch_size=16" and lora.folder == "synthetic-lora-r8-batch_size16"
    spaces = default_spaces()
    lr_full, lr_lora = spaces["full"]["train.learning_rate"], spaces["lora"]["train.learning_rate"]
    assert lr_full.log and lr_lora.log
    assert math.isclose(lr_lora.low / lr_full.low, 10) and math.isclose(lr_lora.high / lr_full.high, 10)
    assert set(full.space) == {"train.learning_rate", "train.warmup_ratio", "train.weight_decay"}
    assert set(lora.space) == {
        "train.learning_rate", "lora.alpha", "lora.dropout", "train.warmup_ratio", "train.weight_decay",
    }  # fmt: skip
    assert lora.fixed == ("lora.r", "train.batch_size")


def test_trial_configs_score_on_the_holdout_with_the_tuning_seed_and_save_nothing():
    (unit,) = units_of(tune_raw())
    tune = study_from_mapping(tune_raw(), "t").spec.tune
    cfg = unit.trial_config({"train.learning_rate": 3e-3, "train.warmup_ratio": 0.1}, tune, "test")
    assert (cfg.train.learning_rate, cfg.train.warmup_ratio, cfg.seed) == (3e-3, 0.1, tune.seed)
    assert (cfg.data.eval_split, cfg.data.holdout) == ("holdout", 0.25)
    assert not cfg.train.save_model and not cfg.drift.enabled
    eval_tune = tune.model_copy(update={"objective": "eval"})
    assert unit.trial_config({}, eval_tune, "test").data.eval_split == "eval"


def test_the_fingerprint_changes_with_anything_a_trial_depends_on_but_the_budget():
    (unit,) = units_of(tune_raw())
    tune = study_from_mapping(tune_raw(), "t").spec.tune
    same = tune.model_copy(update={"trials": 50})
    assert unit.fingerprint(same) == unit.fingerprint(tune)
    for update in ({"seed": 1}, {"holdout": 0.2}, {"objective": "eval"}):
        assert unit.fingerprint(tune.model_copy(update=update)) != unit.fingerprint(tune)
    (other,) = units_of(tune_raw(base__train__epochs=4))
    assert other.fingerprint(tune) != unit.fingerprint(tune)


@pytest.mark.parametrize(
    ("param", "kind"),
    [
        (Param(low=1e-4, high=1e-2, log=True), optuna.distributions.FloatDistribution),
        (Param(type="int", low=1, high=4), optuna.distributions.IntDistribution),
        (Param(choices=[4, 8, 16]), optuna.distributions.CategoricalDistribution),
    ],
)
def test_parameters_sample_within_their_bounds(param, kind):
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    values = []
    for _ in range(30):
        trial = study.ask()
        values.append(param.suggest(trial, "x"))
        assert isinstance(trial.distributions["x"], kind)
        study.tell(trial, 0.0)
    if param.type == "categorical":
        assert set(values) <= set(param.choices)
    else:
        assert min(values) >= param.low and max(values) <= param.high
        assert param.type != "int" or all(isinstance(v, int) for v in values)


@pytest.mark.parametrize(
    ("param", "value", "edge"),
    [
        (Param(low=1e-5, high=1e-3, log=True), 9e-4, True),  # log position 0.977
        (Param(low=1e-5, high=1e-3, log=True), 1e-4, False),  # the middle in log space
        (Param(low=1e-5, high=1e-3), 1e-4, False),  # position 0.09 on a linear scale
        (Param(low=0.0, high=0.1), 0.004, True),
        (Param(type="int", low=1, high=4), 4, True),
        (Param(type="int", low=1, high=2), 1, False),  # no middle: either value is an end
        (Param(choices=[4, 8]), 8, False),
    ],
)
def test_a_chosen_value_at_the_edge_of_its_range_is_flagged(param, value, edge):
    assert param.at_edge(value) is edge
