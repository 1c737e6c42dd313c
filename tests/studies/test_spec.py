import hashlib
import json
import re

import pytest

from lorascope.errors import LorascopeError
from lorascope.studies.spec import is_config_key, load_study
from tests.studies.conftest import study_raw, write_study


def test_grid_expands_into_runs_with_variants_baselines_and_sanity(tmp_path, mini_glue):
    raw = study_raw(mini_glue, sanity={"mode": "warn", "train_samples": 32, "max_steps": 20})
    study = load_study(write_study(tmp_path / "s.yaml", raw))
    runs = study.of_kind("run")
    assert [r.label for r in runs[:4]] == [
        "sst2 · full · seed 0",
        "sst2 · lora-r4 · seed 0",
        "sst2 · full · seed 1",
        "sst2 · lora-r4 · seed 1",
    ]
    assert len(runs) == 8 and len({r.id for r in runs}) == 8
    by_label = {r.label: r.config for r in runs}
    lora, full = by_label["stsb · lora-r4 · seed 1"], by_label["stsb · full · seed 1"]
    assert (lora.task, lora.method, lora.lora.r, lora.seed, lora.train.learning_rate) == ("stsb", "lora", 4, 1, 3e-3)
    assert (full.method, full.train.weight_decay, full.train.epochs) == ("full", 0.01, 2)  # resolved default, base kept
    # baselines: per task and seed, shared by both methods
    baselines = study.of_kind("baseline")
    assert sorted(b.label for b in baselines) == sorted(
        f"{t} · {m} · seed {s}" for t in ("sst2", "stsb") for m in ("majority", "random") for s in (0, 1)
    )
    assert {b.config.method for b in baselines} == {"majority", "random"}
    assert all(b.config.data_dir == lora.data_dir and b.config.train.learning_rate is None for b in baselines)
    # sanity: one per task × method, on the first seed, scored on the training subset
    sanity = study.of_kind("sanity")
    assert sorted(s.label for s in sanity) == sorted(
        f"{t} · {m} · sanity" for t in ("sst2", "stsb") for m in ("full", "lora-r4")
    )
    check = next(s.config for s in sanity if s.label == "stsb · lora-r4 · sanity")
    assert (check.max_train_samples, check.data.eval_split, check.train.max_steps, check.seed) == (32, "train", 20, 0)
    assert check.lora.r == 4 and check.train.learning_rate == 3e-3


def test_run_id_is_a_hash_of_the_resolved_config_and_stable(tmp_path, mini_glue):
    path = write_study(tmp_path / "s.yaml", study_raw(mini_glue))
    first, again = load_study(path), load_study(path)
    assert [r.id for r in first.runs] == [r.id for r in again.runs]
    for run in first.runs:
        dumped = run.config.model_dump(mode="json", exclude_defaults=True)
        assert dumped["data"].pop("hub_dataset") == "nyu-mll/glue"  # the GLUE tasks' own: left out, as a default
        if not dumped["data"]:
            del dumped["data"]
        canonical = json.dumps(dumped, sort_keys=True, separators=(",", ":"))
        assert run.id == hashlib.sha256(canonical.encode()).hexdigest()[:10]
        assert run.folder.endswith(run.id)
    # adding a seed keeps every existing id, so finished runs are found again
    more = load_study(
        write_study(tmp_path / "more.yaml", study_raw(mini_glue, grid={"task": ["sst2", "stsb"], "seed": [0, 1, 2]}))
    )
    assert {r.id for r in first.runs} < {r.id for r in more.runs}
    # writing out a default value changes nothing; a changed value is a different run
    explicit = load_study(path, ["base.lora.alpha=16.0", "base.train.warmup_ratio=0.06", "base.data.eval_split=eval"])
    assert [r.id for r in explicit.runs] == [r.id for r in first.runs]
    changed = load_study(path, ["base.train.epochs=3"])
    assert not {r.id for r in first.of_kind("run")} & {r.id for r in changed.of_kind("run")}


def test_base_may_be_a_run_config_file_beside_the_study(tmp_path, mini_glue):
    raw = study_raw(mini_glue)
    write_study(tmp_path / "base.yaml", raw.pop("base"))
    study = load_study(write_study(tmp_path / "s.yaml", raw | {"base": "base.yaml"}))
    assert len(study.of_kind("run")) == 8 and study.raw["base"]["model"] == "tiny-bert"


def test_without_variants_the_method_axis_names_the_rows(tmp_path, mini_glue):
    raw = study_raw(mini_glue, grid={"method": ["full", "lora"], "lora.r": [2, 4], "seed": [0]}, baselines=[])
    raw["base"]["task"] = "sst2"
    del raw["methods"]
    study = load_study(write_study(tmp_path / "s.yaml", raw))
    assert [r.label for r in study.runs] == [
        "sst2 · full · lora.r=2 · seed 0",
        "sst2 · full · lora.r=4 · seed 0",
        "sst2 · lora · lora.r=2 · seed 0",
        "sst2 · lora · lora.r=4 · seed 0",
    ]
    assert study.runs[3].folder.startswith("runs/sst2-lora-r4-seed0-")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"grid": {"lora.rank": [4, 8]}}, "grid: unknown axis 'lora.rank': not a run config key"),
        ({"grid": {"seed": []}}, "grid: axis 'seed' is empty; give at least one value"),
        ({"grid": {"seed": 3}}, "grid.seed: Input should be a valid list"),
        ({"grid": {"seed": [1, 1]}}, "grid: axis 'seed' repeats a value"),
        ({"methods": {"lora": {"lora.rnk": 4}}}, "methods.lora: unknown config key 'lora.rnk'"),
        ({"methods": {"lora": {"seed": 4}}}, "methods.lora sets seed, which the grid also varies"),
        ({"methods": {"a b": {"seed": 4}}}, "methods: name 'a b' may hold only"),
        ({"sanity": {"mode": "maybe"}}, "sanity.mode: Input should be 'off', 'warn' or 'required'"),
        ({"baselines": ["median"]}, "baselines.0: Input should be 'majority' or 'random'"),
        ({"grdi": {}}, "grdi: unknown key"),
    ],
)
def test_bad_study_files_are_rejected_naming_file_and_key(tmp_path, mini_glue, change, message):
    raw = study_raw(mini_glue) | change
    path = write_study(tmp_path / "s.yaml", raw)
    with pytest.raises(LorascopeError) as info:
        load_study(path)
    assert str(info.value).startswith(f"{path}: ")
    assert message in str(info.value)


def test_an_invalid_grid_point_names_the_point_and_key(tmp_path, mini_glue):
    raw = study_raw(mini_glue, grid={"task": ["sst2"], "lora.r": [4, 0]})
    del raw["methods"]
    with pytest.raises(
        LorascopeError, match=r"s\.yaml \(task=sst2, lora\.r=0\): lora\.r: Input should be greater than 0"
    ):
        load_study(write_study(tmp_path / "s.yaml", raw))


def test_two_variants_with_the_same_config_are_rejected(tmp_path, mini_glue):
    raw = study_raw(mini_glue)
    raw["methods"]["again"] = dict(raw["methods"]["full"])
    with pytest.raises(
        LorascopeError,
        match="seed=0, methods.again and task=sst2, seed=0, methods.full give the same run config; remove one",
    ):
        load_study(write_study(tmp_path / "s.yaml", raw))


def test_config_keys_are_checked_against_the_schema():
    for key in ("model", "lora", "lora.r", "train.learning_rate", "data.columns.text", "data.eval_split"):
        assert is_config_key(key), key
    for key in ("lora.rank", "lora.r.x", "training.epochs", "data.columns.text.x", ""):
        assert not is_config_key(key), key


def test_nested_axes_are_dotted_axes(tmp_path, mini_glue):
    nested = study_raw(mini_glue, grid={"task": ["sst2"], "lora": {"r": [2, 4]}}, methods={"lora": {"method": "lora"}})
    dotted = study_raw(mini_glue, grid={"task": ["sst2"], "lora.r": [2, 4]}, methods={"lora": {"method": "lora"}})
    a = load_study(write_study(tmp_path / "a.yaml", nested))
    b = load_study(write_study(tmp_path / "b.yaml", dotted))
    assert [r.id for r in a.runs] == [r.id for r in b.runs]
    assert [r.config.lora.r for r in a.of_kind("run")] == [2, 4]


@pytest.mark.parametrize("name", ["../outside", "/tmp/abs", "a/b", "..", "two words"])
def test_a_study_name_that_is_not_one_folder_is_refused(tmp_path, mini_glue, name):
    path = write_study(tmp_path / "s.yaml", study_raw(mini_glue) | {"name": name})
    with pytest.raises(LorascopeError, match=rf"s.yaml: name: '{re.escape(name)}' is not a folder name"):
        load_study(path)


def test_two_variants_of_one_name_are_refused_not_merged(tmp_path, mini_glue):
    text = write_study(tmp_path / "s.yaml", study_raw(mini_glue)).read_text()
    text = text.replace("methods:\n", "methods:\n  full:\n    method: lora\n", 1)  # a second 'full'
    (tmp_path / "s.yaml").write_text(text)
    with pytest.raises(LorascopeError, match=r"s.yaml line \d+: invalid YAML: duplicate key 'full'"):
        load_study(tmp_path / "s.yaml")


def test_a_sanity_score_no_metric_can_reach_is_refused(tmp_path, mini_glue):
    path = write_study(tmp_path / "s.yaml", study_raw(mini_glue) | {"sanity": {"mode": "warn", "min_score": 1.5}})
    with pytest.raises(LorascopeError, match=r"s.yaml: sanity.min_score: Input should be less than or equal to 1"):
        load_study(path)


def test_a_tasks_section_sets_its_task_runs_only_and_is_checked(tmp_path, mini_glue):
    raw = study_raw(mini_glue, tasks={"stsb": {"train.max_length": 96}})
    study = load_study(write_study(tmp_path / "s.yaml", raw))
    lengths = {(r.config.task, r.kind): r.config.train.max_length for r in study.runs if r.kind != "baseline"}
    assert lengths[("stsb", "run")] == 96 and lengths[("sst2", "run")] == 128
    for tasks, message in (
        ({"nope": {"train.epochs": 1}}, "tasks: unknown task 'nope'"),
        ({"stsb": {"train.epochz": 1}}, "tasks.stsb: unknown config key 'train.epochz'"),
        ({"stsb": {"seed": 1}}, "tasks.stsb sets seed, which the grid or a method also sets"),
        ({"rte": {"train.epochs": 1}}, "tasks: no run of the study has task rte"),
    ):
        with pytest.raises(LorascopeError, match=re.escape(message)):
            load_study(write_study(tmp_path / "bad.yaml", study_raw(mini_glue, tasks=tasks)))
