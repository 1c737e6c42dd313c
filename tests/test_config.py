from pathlib import Path

import pytest

from lorascope.config import apply_overrides, load_config, parse_config
from lorascope.errors import LorascopeError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "run.yaml"
    path.write_text(text)
    return path


def test_defaults_resolve_per_method():
    full = parse_config({"model": "tiny-bert", "task": "sst2", "method": "full"}).resolved()
    lora = parse_config({"model": "tiny-bert", "task": "sst2", "method": "lora"}).resolved()
    assert (full.train.learning_rate, full.train.weight_decay) == (2e-5, 0.01)
    assert (lora.train.learning_rate, lora.train.weight_decay) == (5e-4, 0.0)
    explicit = parse_config({"model": "m", "task": "rte", "train": {"learning_rate": 1e-3}}).resolved()
    assert explicit.train.learning_rate == 1e-3


def test_overrides_parse_values_as_yaml(tmp_path):
    path = write(tmp_path, "model: tiny-bert\ntask: sst2\nlora:\n  r: 4\n")
    cfg = load_config(path, ["lora.r=16", "lora.target_modules=[query, key]", "train.epochs=1.5", "seed=7"])
    assert cfg.lora.r == 16
    assert cfg.lora.target_modules == ["query", "key"]
    assert cfg.train.epochs == 1.5 and cfg.seed == 7


def test_resolved_config_round_trips(tmp_path):
    cfg = load_config(write(tmp_path, "model: tiny-bert\ntask: stsb\nmethod: full\n"))
    again = load_config(write(tmp_path, cfg.to_yaml()))
    assert again == cfg


@pytest.mark.parametrize(
    ("text", "overrides", "expected"),
    [
        ("model: m\ntask: sst2\nlearning_rate: 1\n", [], "learning_rate: unknown key"),
        ("model: m\ntask: sst2\ntrain:\n  epochs: many\n", [], "train.epochs:"),
        ("model: m\ntask: cola\n", [], "task:"),
        ("model: m\ntask: sst2\n", ["lora.r=0"], "lora.r:"),
        ("model: m\ntask: sst2\n", ["lora.dropout=1.5"], "lora.dropout:"),
        ("task: sst2\n", [], "model: required key is missing"),
        ("model: m\ntask: sst2\n", ["train.eval_strategy=steps"], "eval_steps is required"),
        ("model: m\ntask: text-classification\n", [], "needs data.train_file"),
        ("model: m\ntask: sst2\n", ["lora.strategy=fisher", "lora.rank_config=r.json"], "give one of them"),
        ("model: m\ntask: sst2\n", ["method=adalora", "lora.strategy=svd-energy"], "adalora allocates its own"),
        ("model: m\ntask: sst2\n", ["lora.strategy=magic"], "lora.strategy:"),
        ("model: m\ntask: sst2\n", ["ranks.min_r=8", "ranks.max_r=4"], "ranks.min_r must not exceed"),
        ("model: m\ntask: sst2\n", ["ranks.energy=1.5"], "ranks.energy:"),
        ("model: m\ntask: sst2\n", ["adalora.tinit=0.5", "adalora.tfinal=0.5"], "tinit + adalora.tfinal"),
        (
            "model: m\ntask: sst2\ndata:\n  columns: {sentense: s}\n",
            [],
            "data.columns: unknown field(s) ['sentense']",
        ),
    ],
)
def test_bad_configs_name_the_key(tmp_path, text, overrides, expected):
    with pytest.raises(LorascopeError) as info:
        load_config(write(tmp_path, text), overrides)
    assert expected in str(info.value)
    assert str(tmp_path / "run.yaml") in str(info.value)


def test_yaml_syntax_error_names_the_line(tmp_path):
    path = write(tmp_path, "model: m\ntask: sst2\nlora: {r: 8\n")
    with pytest.raises(LorascopeError, match=r"run\.yaml line \d+: invalid YAML"):
        load_config(path)


def test_override_needs_equals_sign():
    with pytest.raises(LorascopeError, match="expected key.sub=value"):
        apply_overrides({}, ["lora.r"])
    with pytest.raises(LorascopeError, match="'seed' is not a section"):
        apply_overrides({"seed": 1}, ["seed.x=2"])


def test_rules_across_keys_do_not_echo_the_config(tmp_path):
    with pytest.raises(LorascopeError) as info:
        load_config(write(tmp_path, "model: m\ntask: sst2\ntrain:\n  eval_strategy: steps\n"))
    assert (
        str(info.value) == f"{tmp_path / 'run.yaml'}: train.eval_steps is required when train.eval_strategy is 'steps'"
    )


def test_a_key_given_twice_is_refused_naming_both_lines(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("model: tiny-bert\nlora:\n  r: 4\ntask: sst2\nlora:\n  r: 8\n")
    with pytest.raises(
        LorascopeError, match=r"run.yaml line 5: invalid YAML: duplicate key 'lora' \(first on line 2\)"
    ):
        load_config(path)
    path.write_text("lora:\n  r: 4\n  r: 8\n")  # inside a section too
    with pytest.raises(LorascopeError, match=r"line 3: invalid YAML: duplicate key 'r'"):
        load_config(path)


def test_a_config_that_is_not_utf8_names_the_file_and_line(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_bytes(b"model: tiny-bert\ntask: s\xfft2\n")
    with pytest.raises(LorascopeError, match=r"run.yaml line 2: not UTF-8 text \(byte 0xff\)"):
        load_config(path)
