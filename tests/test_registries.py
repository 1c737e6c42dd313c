"""The rank-strategy and serving-backend registries: built-ins registered by name, duplicates
refused, run configs and the command line take the allowed names from them."""

from __future__ import annotations

import json

import pytest

from lorascope.cli.main import main
from lorascope.config import parse_config
from lorascope.errors import LorascopeError
from lorascope.ranks.strategies import register
from lorascope.registry import BACKENDS, STRATEGIES, register_backend
from tests.conftest import tiny_run_config


@pytest.fixture
def toy_strategy():
    @register("toy")
    def toy(inputs):
        raise AssertionError("not run here")

    yield toy
    STRATEGIES.unregister("toy")


@pytest.fixture
def toy_backend():
    calls = []
    register_backend("toy", lambda workload, out: calls.append((workload.base, out)) or [], "a stand-in")
    yield calls
    BACKENDS.unregister("toy")


def test_the_built_in_strategies_and_backends_are_registered():
    assert STRATEGIES.names() == ("uniform", "svd-energy", "fisher")
    assert BACKENDS.names() == ("peft", "vllm", "openai-http")


def test_a_second_strategy_or_backend_of_a_name_is_refused(toy_strategy, toy_backend):
    with pytest.raises(LorascopeError, match="a rank strategy named 'fisher' is already registered"):
        register("fisher")(toy_strategy)
    with pytest.raises(LorascopeError, match="a rank strategy named 'toy' is already registered"):
        register("toy")(toy_strategy)
    with pytest.raises(LorascopeError, match="a serving backend named 'peft' is already registered"):
        register_backend("peft", lambda workload, out: [])


def test_a_run_config_takes_its_strategy_from_the_registry(toy_strategy):
    with pytest.raises(LorascopeError) as info:
        parse_config(tiny_run_config(lora__strategy="nope"))
    assert (
        str(info.value)
        == "config: lora.strategy: Input should be 'uniform', 'svd-energy', 'fisher' or 'toy' (got 'nope')"
    )
    assert parse_config(tiny_run_config(lora__strategy="toy")).lora.strategy == "toy"


def test_serve_bench_offers_and_runs_the_registered_backends(toy_backend, tmp_path, capsys):
    spec = tmp_path / "w.yaml"
    spec.write_text(json.dumps({"base": "tiny-llama", "random_adapters": {"count": 2, "r": 4}}))
    assert main(["serve-bench", str(spec), "--backend", "toy", "--out", str(tmp_path / "out")]) == 0
    assert toy_backend == [("tiny-llama", tmp_path / "out")]
    with pytest.raises(SystemExit):
        main(["serve-bench", str(spec), "--backend", "nope"])
    assert "invalid choice: 'nope'" in capsys.readouterr().err
