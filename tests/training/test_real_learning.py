"""Real learning: the offline MiniLM fine-tuned on real GLUE data (tens of seconds each)."""

import json

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import accuracy_score

from lorascope.config import parse_config
from lorascope.training import run_training

pytestmark = pytest.mark.slow

ALL_LINEAR = ["query", "key", "value", "dense"]


def run(tmp_path, minilm, glue_dir, task, method, learning_rate, train_overrides=None, **settings):
    """One epoch on 2,000 stratified training examples, batch 16."""
    raw = {
        "model": minilm,
        "data_dir": str(glue_dir),
        "seed": 0,
        "task": task,
        "method": method,
        "max_train_samples": 2000,
        "train": {"epochs": 1, "batch_size": 16, "learning_rate": learning_rate} | (train_overrides or {}),
    } | settings
    return run_training(parse_config(raw).resolved(), tmp_path)


def saved_predictions(folder):
    rows = [json.loads(line) for line in (folder / "eval_predictions.jsonl").read_text().splitlines()]
    return np.array([r["label"] for r in rows]), np.array([r["prediction"] for r in rows])


@pytest.fixture(scope="module")
def sst2_lora(tmp_path_factory, minilm, glue_dir):
    """LoRA on every linear layer, lr 2e-3: (run folder, results), shared by the tests that compare with it."""
    folder = tmp_path_factory.mktemp("sst2-lora")
    return folder, run(folder, minilm, glue_dir, "sst2", "lora", 2e-3, lora={"target_modules": ALL_LINEAR})


def test_lora_learns_sst2(sst2_lora):
    folder, results = sst2_lora
    labels, predictions = saved_predictions(folder)
    assert len(labels) == 872
    assert results.metrics["accuracy"] == pytest.approx(accuracy_score(labels, predictions), abs=1e-6)
    assert results.metrics["accuracy"] >= 0.78
    assert results.trainable_params < 0.02 * results.total_params


def test_the_fast_defaults_reach_the_accuracy_of_the_plain_path(tmp_path, minilm, glue_dir, sst2_lora):
    """The defaults (bf16 autocast on this CPU, the frozen base in bf16, fused AdamW) against float32,
    as a plain Trainer script trains: the same random batches, so only the arithmetic differs, and
    the same SST-2 dev accuracy within 0.01."""
    _, fast = sst2_lora
    plain = run(tmp_path, minilm, glue_dir, "sst2", "lora", 2e-3, {"precision": "fp32"},
                speed={"fused_optimizer": False}, lora={"target_modules": ALL_LINEAR})  # fmt: skip
    print(f"SST-2 dev accuracy: defaults {fast.metrics['accuracy']:.4f} ({fast.precision}), float32 "
          f"{plain.metrics['accuracy']:.4f}")  # fmt: skip
    if fast.precision == "fp32":
        pytest.skip("this CPU has no native bf16: the defaults compute in float32 too")
    assert plain.precision == "fp32"
    assert abs(fast.metrics["accuracy"] - plain.metrics["accuracy"]) <= 0.01


def test_qlora_comes_within_two_points_of_lora_on_sst2(tmp_path, minilm, glue_dir, sst2_lora):
    """QLoRA (NF4, double quantization) with every training setting as LoRA's, so that only the 4-bit
    base differs (its recipe's schedule and clipping are overridden here)."""
    pytest.importorskip("bitsandbytes", reason="bitsandbytes (the qlora extra) is not installed")
    _, lora = sst2_lora
    equal = {"scheduler": "linear", "warmup_ratio": 0.06, "max_grad_norm": 1.0}
    qlora = run(tmp_path, minilm, glue_dir, "sst2", "qlora", 2e-3, equal, lora={"target_modules": ALL_LINEAR})
    print(
        f"SST-2 dev accuracy: lora {lora.metrics['accuracy']:.4f} ({lora.train_seconds:.0f} s), "
        f"qlora {qlora.metrics['accuracy']:.4f} ({qlora.train_seconds:.0f} s); mean 4-bit error "
        f"{qlora.quantization['mean_relative_error']:.4f}; bytes {qlora.memory_bytes} against {lora.memory_bytes}"
    )
    assert qlora.metrics["accuracy"] >= lora.metrics["accuracy"] - 0.02
    assert qlora.memory_bytes["model"] < 0.8 * lora.memory_bytes["model"]


def test_full_fine_tuning_learns_sst2(tmp_path, minilm, glue_dir):
    results = run(tmp_path, minilm, glue_dir, "sst2", "full", 1e-4)
    labels, predictions = saved_predictions(tmp_path)
    assert results.metrics["accuracy"] == pytest.approx(accuracy_score(labels, predictions), abs=1e-6)
    assert results.metrics["accuracy"] >= 0.75
    assert results.trainable_params == results.total_params


def test_lora_learns_stsb_regression(tmp_path, minilm, glue_dir):
    results = run(
        tmp_path, minilm, glue_dir, "stsb", "lora", 5e-4, max_eval_samples=500, lora={"target_modules": ALL_LINEAR}
    )
    labels, predictions = saved_predictions(tmp_path)
    assert results.metrics["pearson"] == pytest.approx(stats.pearsonr(predictions, labels)[0], abs=1e-6)
    assert results.metrics["spearmanr"] == pytest.approx(stats.spearmanr(predictions, labels)[0], abs=1e-6)
    assert results.metrics["pearson"] > 0.5
    assert stats.pearsonr(predictions, labels).pvalue < 1e-6  # far from zero, not by luck
