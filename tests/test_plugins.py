"""A method and a task added from outside lorascope, through the registries alone: they validate,
train in a study, and appear in its results table and report, with no lorascope module edited."""

from __future__ import annotations

import csv
from dataclasses import dataclass

import numpy as np
import pytest

from lorascope.data.tasks import SentenceTask
from lorascope.errors import LorascopeError
from lorascope.methods.base import MethodHooks
from lorascope.registry import METHODS, TASKS, MethodSpec, register_method, register_task
from tests.studies.conftest import write_study


class BiasOnly(MethodHooks):
    """BitFit (Ben Zaken et al. 2022): train only the biases and the task head."""

    def prepare(self, model, ctx):
        for name, parameter in model.named_parameters():
            parameter.requires_grad = name.endswith(".bias") or "classifier" in name
        return model, []


@dataclass(frozen=True)
class Parity(SentenceTask):
    """Is the number of 'b' words even? Generated, so the answer is known."""

    def load_examples(self, cfg, seed):
        rng = np.random.default_rng(seed)

        def examples(n, prefix):
            out = []
            for i in range(n):
                words = rng.choice(["a", "b"], size=6)
                out.append({"id": f"{prefix}{i}", "text": " ".join(words), "label": int((words == "b").sum() % 2)})
            return out

        return examples(96, "train-"), examples(32, "eval-")


@pytest.fixture
def plugins():
    register_method(MethodSpec(name="bias-only", kind="full", hooks=BiasOnly(), learning_rate=1e-3))
    register_task(Parity("parity", False, False, ("accuracy", "f1"), "accuracy", ("even", "odd"), source="toy"))
    yield
    METHODS.unregister("bias-only")
    TASKS.unregister("parity")


def test_registries_refuse_a_second_entry_of_the_same_name(plugins):
    with pytest.raises(LorascopeError, match="a method named 'bias-only' is already registered"):
        register_method(MethodSpec(name="bias-only", kind="full"))
    with pytest.raises(LorascopeError, match="a task named 'sst2' is already registered"):
        register_task(Parity("sst2", False, False, ("accuracy",), "accuracy", ("a", "b")))


def test_an_unregistered_name_is_a_field_error_listing_the_registered_ones():
    from lorascope.config import parse_config

    with pytest.raises(LorascopeError, match=r"method: Input should be 'full', 'lora', .*'random'"):
        parse_config({"model": "tiny-bert", "task": "sst2", "method": "bias-only"}, "run.yaml")


def test_a_plugin_method_and_task_train_in_a_study_and_reach_the_table_and_report(plugins, tmp_path):
    from lorascope.reporting import build_report
    from lorascope.studies import load_study, run_study
    from lorascope.studies.results import write_tables

    raw = {
        "name": "plugins",
        "base": {"model": "tiny-bert", "task": "parity", "train": {"epochs": 1, "batch_size": 16}},
        "grid": {"seed": [0, 1]},
        "methods": {"bias-only": {"method": "bias-only"}, "full": {"method": "full"}},
        "baselines": ["majority"],
        "sanity": {"mode": "off"},
    }
    study = load_study(write_study(tmp_path / "study.yaml", raw))
    out = tmp_path / "out"
    run_study(study, out, echo=lambda line: None)
    write_tables(out)  # what lorascope results writes
    rows = list(csv.DictReader((out / "results.csv").open()))
    runs = {(r["method"], r["seed"]): r for r in rows if r["kind"] == "run"}
    assert set(runs) == {("bias-only", "0"), ("bias-only", "1"), ("full", "0"), ("full", "1")}
    assert all(r["status"] == "done" and r["task"] == "parity" for r in runs.values())
    assert int(runs["bias-only", "0"]["trainable_params"]) < int(runs["full", "0"]["trainable_params"])
    report = build_report(out, tmp_path / "report", ("md",))["md"].read_text()
    assert "parity" in report and "| bias-only |" in report and "majority (baseline)" in report
