"""Hypotheses declared in a study, evaluated per task, on every task, and across the family."""

import numpy as np
import pytest
from pydantic import ValidationError
from scipy import stats

from lorascope.stats.hypotheses import HypothesesConfig, evaluate
from lorascope.stats.inference import adjust

SCORES = {  # task → variant → per-seed accuracy
    "sst2": {"full": [0.80, 0.82, 0.81, 0.79], "lora": [0.80, 0.81, 0.81, 0.795]},
    "mrpc": {"full": [0.70, 0.72, 0.71, 0.73], "lora": [0.69, 0.71, 0.72, 0.71]},
}


def entries(scores=SCORES):
    out = []
    for task, variants in scores.items():
        for variant, values in variants.items():
            for seed, value in enumerate(values):
                results = {"metrics": {"accuracy": value}, "main_metric": "accuracy", "train_seconds": 10.0 + seed}
                out.append(
                    {
                        "group": {"task": task, "method": variant},
                        "variant": variant,
                        "seed": seed,
                        "folder": f"runs/{task}-{variant}-{seed}",
                        "results": results,
                    }
                )
    return out


def settings(**claims):
    return HypothesesConfig.model_validate({"claims": [claims]})


def test_non_inferiority_per_task_and_on_every_task():
    rows = evaluate(settings(kind="non-inferiority", treatment="lora", reference="full", margin=0.03), entries())
    per_task = {r["task"]: r for r in rows}
    for task in ("sst2", "mrpc"):
        t, r = np.array(SCORES[task]["lora"]), np.array(SCORES[task]["full"])
        expected = stats.ttest_1samp(t - 0.97 * r, 0, alternative="greater").pvalue
        assert per_task[task]["p_value"] == pytest.approx(expected)
    overall = per_task["all"]
    assert overall["p_value"] == max(per_task["sst2"]["p_value"], per_task["mrpc"]["p_value"])
    assert overall["holds"] == (per_task["sst2"]["holds"] and per_task["mrpc"]["holds"])
    assert overall["p_adjusted"] == overall["p_value"]  # a family of one


def test_the_family_is_corrected_across_declared_hypotheses():
    config = HypothesesConfig.model_validate(
        {
            "correction": "holm",
            "claims": [
                {"kind": "non-inferiority", "treatment": "lora", "reference": "full", "margin": 0.03},
                {"kind": "equivalence", "treatment": "lora", "reference": "full", "margin": 0.02},
                {
                    "kind": "non-inferiority",
                    "treatment": "lora",
                    "reference": "full",
                    "margin": 0.005,
                    "relative": False,
                },
            ],
        }
    )
    rows = evaluate(config, entries())
    overall = [r for r in rows if r["task"] == "all"]
    assert len(overall) == 3
    expected, _ = adjust([r["p_value"] for r in overall], "holm")
    assert [r["p_adjusted"] for r in overall] == pytest.approx(expected)


def test_reduction_reads_drift_from_the_drift_table():
    drift = []
    for task, variants in {"sst2": {"full": [0.30, 0.32, 0.31, 0.33], "lora": [0.20, 0.22, 0.21, 0.20]}}.items():
        for variant, values in variants.items():
            for seed, value in enumerate(values):
                for layer, scale in ((1, 0.5), (2, 1.5)):  # the mean over layers is the value
                    drift.append(
                        {
                            "run": f"{task}-{variant}-{seed}",
                            "layer": layer,
                            "step": "final",
                            "measure": "drift_linear_cka",
                            "value": value * scale,
                        }
                    )
    rows = evaluate(
        settings(kind="reduction", treatment="lora", reference="full", metric="drift", fraction=0.2), entries(), drift
    )
    sst2 = next(r for r in rows if r["task"] == "sst2")
    ratio = np.array([0.20, 0.22, 0.21, 0.20]) / np.array([0.30, 0.32, 0.31, 0.33])
    assert sst2["estimate"] == pytest.approx(stats.gmean(ratio))
    assert sst2["p_value"] == pytest.approx(stats.ttest_1samp(np.log(ratio), np.log(0.8), alternative="less").pvalue)
    assert {r["task"] for r in rows} == {"sst2", "all"}  # mrpc has no drift rows


def test_overhead_uses_results_numbers_as_independent_draws():
    rows = evaluate(
        settings(kind="overhead", treatment="lora", reference="full", metric="train_seconds", bound=1.5), entries()
    )
    assert all(r["estimate"] == pytest.approx(1.0) for r in rows if r["task"] != "all") and rows[-1]["holds"]


def test_what_cannot_be_tested_says_why():
    scores = {"sst2": {"full": [0.8, 0.81], "lora": [0.8, 0.8]}, "rte": {"full": [0.6, 0.62]}}
    rows = evaluate(settings(kind="non-inferiority", treatment="lora", reference="full", margin=0.03), entries(scores))
    rte = next(r for r in rows if r["task"] == "rte")
    assert "no finished runs of lora" in rte["note"]
    assert not any(r["task"] == "all" for r in rows)  # not every task could be tested: no all-task claim


def test_a_claim_without_its_parameter_is_rejected():
    with pytest.raises(ValidationError, match="needs 'margin'"):
        settings(kind="non-inferiority", treatment="lora", reference="full")
    with pytest.raises(ValidationError, match="needs 'fraction'"):
        settings(kind="reduction", treatment="lora", reference="full", metric="drift")


def test_overhead_between_serving_modes_reads_serve_bench_rows_per_batch_size():
    from lorascope.stats.inference import overhead

    rows = [
        {"bench": "tiny", "mode": mode, "batch_size": str(b), "repetition": str(k), "mean_latency_ms": str(value)}
        for b, scale in ((1, 1.1), (8, 1.6))
        for k in range(4)
        for mode, value in (("adapters", scale * (100 + k)), ("merged", 100 + k))
    ]
    config = settings(kind="overhead", treatment="adapters", reference="merged", bound=1.3)
    result = evaluate(config, [], None, rows)
    by_task = {r["task"]: r for r in result}
    expected = overhead([1.1 * (100 + k) for k in range(4)], [100 + k for k in range(4)], 1.3)
    assert by_task["tiny · batch 1"]["estimate"] == pytest.approx(expected.estimate)
    assert by_task["tiny · batch 1"]["holds"] and not by_task["tiny · batch 8"]["holds"]
    assert by_task["all"]["holds"] is False  # 1.6× at batch 8 breaks "on every batch size"


def test_claims_must_name_study_variants_except_serving_overheads():
    from lorascope.errors import LorascopeError
    from lorascope.stats.hypotheses import check_variants

    serving = settings(kind="overhead", treatment="adapters", reference="merged", bound=1.3)
    check_variants(serving, {"full", "lora"}, "s.yaml")  # serve-bench modes, not variants
    unknown = settings(kind="non-inferiority", treatment="lora-r8", reference="full", margin=0.03)
    with pytest.raises(LorascopeError, match=r"claims\[0\].treatment: 'lora-r8' is not a variant"):
        check_variants(unknown, {"full", "lora"}, "s.yaml")
