import json
import re
import time

import numpy as np
import pytest
import torch
from peft import PeftModel
from safetensors.torch import load_file
from sklearn.metrics import accuracy_score
from transformers import TrainerCallback, set_seed

from lorascope.config import parse_config
from lorascope.errors import LorascopeError
from lorascope.methods.lora import lora_factors
from lorascope.models.loading import load_model, load_model_config, load_tokenizer
from lorascope.training import preflight, run_training
from tests.conftest import tiny_run_config


def config(**overrides):
    return parse_config(tiny_run_config(**overrides)).resolved()


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


class Interrupt(TrainerCallback):
    def __init__(self, at_step):
        self.at_step = at_step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.at_step:
            raise KeyboardInterrupt


@pytest.mark.parametrize("method", ["lora", "full"])
def test_run_folder_is_complete_and_consistent(tmp_path, method):
    results = run_training(config(method=method), tmp_path)
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved == results.model_dump(mode="json")
    for key in (
        "task",
        "model",
        "method",
        "seed",
        "metrics",
        "trainable_params",
        "total_params",
        "train_seconds",
        "peak_memory_mb",
        "versions",
        "device",
    ):
        assert key in saved, key
    assert saved["versions"]["torch"] == torch.__version__
    predictions = read_jsonl(tmp_path / "eval_predictions.jsonl")
    assert len(predictions) == saved["eval_examples"] == 200
    labels = [p["label"] for p in predictions]
    assert saved["metrics"]["accuracy"] == pytest.approx(
        accuracy_score(labels, [p["prediction"] for p in predictions]), abs=1e-6
    )
    log = read_jsonl(tmp_path / "train_log.jsonl")
    assert any("loss" in entry for entry in log) and any("eval_accuracy" in entry for entry in log)
    assert (tmp_path / "config.yaml").is_file() and (tmp_path / "environment.json").is_file()
    assert not (tmp_path / "checkpoints").exists()
    if method == "lora":
        assert (tmp_path / "adapter" / "adapter_model.safetensors").is_file()
        assert saved["trainable_params"] < saved["total_params"] / 10
    else:
        assert (tmp_path / "model" / "model.safetensors").is_file()
        assert saved["trainable_params"] == saved["total_params"]


def test_interrupted_run_resumes_to_the_same_result(tmp_path):
    overrides = {"train__eval_strategy": "steps", "train__eval_steps": 10, "lora__dropout": 0.2}
    straight = run_training(config(**overrides), tmp_path / "straight")
    with pytest.raises(KeyboardInterrupt):
        run_training(config(**overrides), tmp_path / "resumed", callbacks=[Interrupt(25)])
    assert not (tmp_path / "resumed" / "results.json").exists()
    with pytest.raises(LorascopeError, match="pass --resume"):
        run_training(config(**overrides), tmp_path / "resumed")
    state = json.loads((tmp_path / "resumed" / "checkpoints" / "checkpoint-20" / "trainer_state.json").read_text())
    before = state["stateful_callbacks"]["TrainClock"]["args"]["seconds_before"]
    started = time.perf_counter()
    resumed = run_training(config(**overrides), tmp_path / "resumed", resume=True)
    after = time.perf_counter() - started
    assert resumed.resumed_from == "checkpoint-20"
    assert before > 0 and before < resumed.train_seconds < before + after  # time before the checkpoint counts
    assert resumed.metrics == straight.metrics
    assert resumed.steps == straight.steps == 40
    same = read_jsonl(tmp_path / "straight" / "eval_predictions.jsonl")
    assert read_jsonl(tmp_path / "resumed" / "eval_predictions.jsonl") == same
    a = load_file(tmp_path / "straight" / "adapter" / "adapter_model.safetensors")
    b = load_file(tmp_path / "resumed" / "adapter" / "adapter_model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    steps = [e["step"] for e in read_jsonl(tmp_path / "resumed" / "train_log.jsonl") if "loss" in e]
    assert steps == sorted(set(steps))  # redone steps were not logged twice


def test_resume_refuses_a_changed_config(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        run_training(config(train__eval_strategy="steps", train__eval_steps=5), tmp_path, callbacks=[Interrupt(6)])
    with pytest.raises(LorascopeError, match="config differs .* in: seed"):
        run_training(config(train__eval_strategy="steps", train__eval_steps=5, seed=9), tmp_path, resume=True)


def test_resume_skips_a_checkpoint_cut_short_by_a_kill(tmp_path):
    cfg = config(train__eval_strategy="steps", train__eval_steps=5)
    with pytest.raises(KeyboardInterrupt):
        run_training(cfg, tmp_path, callbacks=[Interrupt(8)])
    torn = tmp_path / "checkpoints" / "checkpoint-10"  # killed while saving: no trainer_state.json yet
    torn.mkdir()
    (torn / "model.safetensors").write_bytes(b"partial")
    results = run_training(cfg, tmp_path, resume=True)
    assert results.resumed_from == "checkpoint-5"


@pytest.mark.slow  # six short trainings (about 40 s)
@pytest.mark.parametrize("tear", ["empty trainer state", "truncated weights", "truncated optimizer"])
def test_resume_falls_back_past_a_torn_checkpoint_and_a_torn_log_line(tmp_path, tear):
    cfg = config(train__eval_strategy="steps", train__eval_steps=5, train__max_steps=15)
    straight = run_training(cfg, tmp_path / "straight")
    with pytest.raises(KeyboardInterrupt):
        run_training(cfg, tmp_path / "torn", callbacks=[Interrupt(12)])
    newest = tmp_path / "torn" / "checkpoints" / "checkpoint-10"
    path = {
        "empty trainer state": newest / "trainer_state.json",
        "truncated weights": newest / "adapter_model.safetensors",
        "truncated optimizer": newest / "optimizer.pt",
    }[tear]
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2] if tear != "empty trainer state" else b"")
    with (tmp_path / "torn" / "train_log.jsonl").open("a") as log:
        log.write('{"step": 12, "loss": 0.6')  # a kill mid-line
    resumed = run_training(cfg, tmp_path / "torn", resume=True)
    assert resumed.resumed_from == "checkpoint-5" and resumed.metrics == straight.metrics
    lines = read_jsonl(tmp_path / "torn" / "train_log.jsonl")  # every line parses
    assert [e["step"] for e in lines if "loss" in e] == [
        e["step"] for e in read_jsonl(tmp_path / "straight" / "train_log.jsonl") if "loss" in e
    ]
    assert sum("train_runtime" in e for e in lines) == 1  # the summary once


def test_a_run_whose_loss_becomes_infinite_fails_and_writes_no_results(tmp_path):
    with pytest.raises(LorascopeError, match=r"the training loss is (nan|inf) at step \d+: the run diverged"):
        run_training(config(train__learning_rate=1e30, train__max_steps=20, train__logging_steps=1), tmp_path)
    assert not (tmp_path / "results.json").exists()


@pytest.mark.parametrize(
    "change, message",
    [
        ({"seed": -1}, "seed: Input should be greater than or equal to 0"),
        ({"seed": 2**40}, "seed: Input should be less than or equal to 4294967295"),
        ({"train__epochs": float("inf")}, "train.epochs: Input should be a finite number"),
        ({"train__learning_rate": float("inf")}, "train.learning_rate: Input should be a finite number"),
        ({"data__holdout": float("inf")}, "data.holdout: Input should be a finite number"),
    ],
)
def test_values_that_would_crash_later_are_refused_up_front(change, message):
    with pytest.raises(LorascopeError, match=re.escape(message)):
        parse_config(tiny_run_config(**change))


def test_max_length_beyond_the_models_positions_is_refused_before_training(tmp_path):
    with pytest.raises(
        LorascopeError, match=r"train.max_length: 1024 is more than the 512 positions of model tiny-bert"
    ):
        preflight(config(train__max_length=1024))


def test_completed_run_folder_is_not_overwritten(tmp_path):
    run_training(config(train__max_steps=2), tmp_path)
    with pytest.raises(LorascopeError, match="already holds a completed run"):
        run_training(config(train__max_steps=2), tmp_path)


def test_penalty_shrinks_the_lora_update(tmp_path):
    def update_norm(folder):
        state = load_file(folder / "adapter" / "adapter_model.safetensors")
        pairs = [(state[k], state[k.replace("lora_A", "lora_B")]) for k in state if "lora_A" in k]
        return sum(float(torch.linalg.matrix_norm(b @ a) ** 2) for a, b in pairs)

    run_training(config(train__epochs=1), tmp_path / "plain")
    run_training(config(train__epochs=1, lora__penalty=5.0), tmp_path / "penalised")
    assert update_norm(tmp_path / "penalised") < 0.5 * update_norm(tmp_path / "plain")
    logged = [e["lora_norm_sq"] for e in read_jsonl(tmp_path / "penalised" / "train_log.jsonl") if "lora_norm_sq" in e]
    assert logged and all(v >= 0 for v in logged)


class Snapshot(TrainerCallback):
    """Copies of the watched parameters at the end of each epoch."""

    def __init__(self, name):
        self.name, self.by_epoch = name, []

    def on_epoch_end(self, args, state, control, model=None, **kwargs):
        self.by_epoch.append(dict(model.named_parameters())[self.name].detach().clone())


def test_scheduled_unfreezing_starts_after_n_epochs(tmp_path):
    name = "base_model.model.bert.encoder.layer.1.output.dense.modules_to_save.default.weight"
    snapshot = Snapshot(name)
    cfg = config(train__epochs=3, unfreeze={"modules": ["encoder.layer.1.output.dense"], "after_epochs": 1})
    results = run_training(cfg, tmp_path, callbacks=[snapshot])
    original = load_model("tiny-bert", load_model_config("tiny-bert", 2), load_tokenizer("tiny-bert"))
    set_seed(cfg.seed)
    initial = load_model("tiny-bert", load_model_config("tiny-bert", 2), load_tokenizer("tiny-bert")).state_dict()
    initial = initial["bert.encoder.layer.1.output.dense.weight"]
    assert torch.equal(snapshot.by_epoch[0], initial)  # frozen during epoch 0
    assert not torch.equal(snapshot.by_epoch[1], initial)  # trained from epoch 1 on
    model = PeftModel.from_pretrained(original, tmp_path / "adapter")  # the update travels with the adapter
    restored = dict(model.named_parameters())[name]
    best_epoch = int(results.best_checkpoint.split("-")[1]) // 20 - 1  # 320 examples / 16 per step
    assert torch.equal(restored, snapshot.by_epoch[best_epoch])


def test_unfreezing_an_adapted_module_is_rejected():
    with pytest.raises(LorascopeError, match=r"'encoder.layer.0' contains LoRA-adapted \['query', 'value'\]"):
        preflight(config(unfreeze={"modules": ["encoder.layer.0"]}))


def test_unknown_unfreeze_module_is_rejected_before_training(tmp_path):
    with pytest.raises(LorascopeError, match="unfreeze.modules: 'encoder.layer.9' matches no module"):
        preflight(config(unfreeze={"modules": ["encoder.layer.9"]}))
    assert not tmp_path.joinpath("results.json").exists()


def test_lora_factors_are_saved_in_peft_format(tmp_path):
    run_training(config(train__max_steps=3), tmp_path)
    base = load_model("tiny-bert", load_model_config("tiny-bert", 2), load_tokenizer("tiny-bert"))
    model = PeftModel.from_pretrained(base, tmp_path / "adapter")
    assert len(lora_factors(model)) == 4
    assert np.isfinite(json.loads((tmp_path / "results.json").read_text())["metrics"]["accuracy"])


def test_early_stopping_ends_a_run_that_stops_improving(tmp_path):
    # a learning rate this small leaves the metric flat, so patience 1 stops after the 2nd evaluation
    results = run_training(
        config(train__epochs=6, train__learning_rate=1e-12, train__early_stopping_patience=1), tmp_path
    )
    assert results.epochs == 2.0 and results.steps == 40
    evaluations = [e for e in read_jsonl(tmp_path / "train_log.jsonl") if "eval_accuracy" in e]
    assert len(evaluations) == 2


def test_cosine_schedule_with_warmup_and_accumulation(tmp_path):
    import math

    cfg = config(
        train__max_steps=20,
        train__warmup_ratio=0.25,
        train__scheduler="cosine",
        train__logging_steps=1,
        train__gradient_accumulation_steps=2,
        train__learning_rate=1e-3,
    )
    results = run_training(cfg, tmp_path)
    logged = {e["step"]: e["learning_rate"] for e in read_jsonl(tmp_path / "train_log.jsonl") if "learning_rate" in e}
    warmup, total = 5, 20

    def expected(step):  # the lr after `step` scheduler steps (warmup from 0, then a half cosine)
        if step < warmup:
            return 1e-3 * step / warmup
        return 1e-3 * 0.5 * (1 + math.cos(math.pi * (step - warmup) / (total - warmup)))

    assert sorted(logged) == list(range(1, 21))
    for step, lr in logged.items():
        assert lr == pytest.approx(expected(step - 1), abs=1e-9), step  # logged: the rate step `step` used
    assert results.steps == 20 and results.epochs == pytest.approx(20 * 32 / 320)  # 2 batches of 16 per step


def test_a_folder_that_is_not_a_run_is_refused_and_left_as_it_was(tmp_path):
    project = tmp_path / "project"
    (project / "checkpoints").mkdir(parents=True)
    (project / "checkpoints" / "notes.txt").write_text("mine")
    (project / "config.yaml").write_text("mine: true\n")
    before = sorted((p.relative_to(project), p.read_bytes() if p.is_file() else None) for p in project.rglob("*"))
    with pytest.raises(LorascopeError, match=r"--out .*project: not empty and not a run folder"):
        run_training(config(train__max_steps=2), project)
    assert (
        sorted((p.relative_to(project), p.read_bytes() if p.is_file() else None) for p in project.rglob("*")) == before
    )
    (tmp_path / "file").write_text("x")
    with pytest.raises(LorascopeError, match=r"--out .*file: a file"):
        run_training(config(train__max_steps=2), tmp_path / "file")
