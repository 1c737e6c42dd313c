"""Hypotheses declared in a study, evaluated per task, on every task, and across the family."""

import dataclasses

import numpy as np
import pytest
from pydantic import ValidationError
from scipy import stats

from lorascope.records import DriftRow, ServingResults
from lorascope.reporting.observations import observer
from lorascope.serving.workload import MODES
from lorascope.stats.hypotheses import HypothesesConfig, evaluate
from lorascope.stats.inference import adjust, non_inferiority
from tests.records import entry, run_results, serving_row

SCORES = {  # task → variant → per-seed accuracy
    "sst2": {"full": [0.80, 0.82, 0.81, 0.79], "lora": [0.80, 0.81, 0.81, 0.795]},
    "mrpc": {"full": [0.70, 0.72, 0.71, 0.73], "lora": [0.69, 0.71, 0.72, 0.71]},
}


def entries(scores=SCORES):
    """Finished grid runs, folder runs/<task>-<variant>-<seed>, with their accuracy and train_seconds."""
    return [
        entry(task, variant, seed, run_results({"accuracy": value}, train_seconds=10.0 + seed))
        for task, variants in scores.items()
        for variant, values in variants.items()
        for seed, value in enumerate(values)
    ]


def settings(**claims):
    return HypothesesConfig.model_validate({"claims": [claims]})


def test_non_inferiority_per_task_and_on_every_task():
    rows = evaluate(
        settings(kind="non-inferiority", treatment="lora", reference="full", margin=0.03), observer(entries())
    )
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
    rows = evaluate(config, observer(entries()))
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
                        DriftRow(
                            run=f"{task}-{variant}-{seed}",
                            task=task,
                            method=variant,
                            seed=seed,
                            layer=layer,
                            step="final",
                            measure="drift_linear_cka",
                            value=value * scale,
                        )
                    )
    rows = evaluate(
        settings(kind="reduction", treatment="lora", reference="full", metric="drift", fraction=0.2),
        observer(entries(), drift),
    )
    sst2 = next(r for r in rows if r["task"] == "sst2")
    ratio = np.array([0.20, 0.22, 0.21, 0.20]) / np.array([0.30, 0.32, 0.31, 0.33])
    assert sst2["estimate"] == pytest.approx(stats.gmean(ratio))
    assert sst2["p_value"] == pytest.approx(stats.ttest_1samp(np.log(ratio), np.log(0.8), alternative="less").pvalue)
    assert {r["task"] for r in rows} == {"sst2", "all"}  # mrpc has no drift rows


def test_overhead_uses_results_numbers_as_independent_draws():
    rows = evaluate(
        settings(kind="overhead", treatment="lora", reference="full", metric="train_seconds", bound=1.5),
        observer(entries()),
    )
    assert all(r["estimate"] == pytest.approx(1.0) for r in rows if r["task"] != "all") and rows[-1]["holds"]


def test_what_cannot_be_tested_says_why():
    scores = {"sst2": {"full": [0.8, 0.81], "lora": [0.8, 0.8]}, "rte": {"full": [0.6, 0.62]}}
    rows = evaluate(
        settings(kind="non-inferiority", treatment="lora", reference="full", margin=0.03), observer(entries(scores))
    )
    rte = next(r for r in rows if r["task"] == "rte")
    assert "no finished runs of lora" in rte["note"]
    overall = next(r for r in rows if r["task"] == "all")  # not every task could be tested: no all-task claim
    assert "p_value" not in overall and "not tested on every task: rte" in overall["note"]


def test_a_claim_without_its_parameter_is_rejected():
    with pytest.raises(ValidationError, match="needs 'margin'"):
        settings(kind="non-inferiority", treatment="lora", reference="full")
    with pytest.raises(ValidationError, match="needs 'fraction'"):
        settings(kind="reduction", treatment="lora", reference="full", metric="drift")


def test_overhead_between_serving_modes_reads_serve_bench_rows_per_batch_size():
    from lorascope.stats.inference import overhead

    rows = [
        serving_row(mode, b, k, value)
        for b, scale in ((1, 1.1), (8, 1.6))
        for k in range(4)
        for mode, value in (("adapters", scale * (100 + k)), ("merged", 100 + k))
    ]
    config = settings(kind="overhead", treatment="adapters", reference="merged", bound=1.3)
    result = evaluate(config, observer([], None, {"tiny": ServingResults(results=rows, overhead=[])}))
    by_task = {r["task"]: r for r in result}
    expected = overhead([1.1 * (100 + k) for k in range(4)], [100 + k for k in range(4)], 1.3)
    assert by_task["tiny · batch 1"]["estimate"] == pytest.approx(expected.estimate)
    assert by_task["tiny · batch 1"]["holds"] and not by_task["tiny · batch 8"]["holds"]
    assert by_task["all"]["holds"] is False  # 1.6× at batch 8 breaks "on every batch size"


def test_claims_must_name_study_variants_except_serving_overheads():
    from lorascope.errors import LorascopeError
    from lorascope.stats.hypotheses import check_variants

    serving = settings(kind="overhead", treatment="adapters", reference="merged", bound=1.3)
    check_variants(serving, {"full", "lora"}, "s.yaml", MODES)  # serve-bench modes, not variants
    unknown = settings(kind="non-inferiority", treatment="lora-r8", reference="full", margin=0.03)
    with pytest.raises(LorascopeError, match=r"claims\[0\].treatment: 'lora-r8' is not a variant"):
        check_variants(unknown, {"full", "lora"}, "s.yaml")


STSB = {"stsb": {"full": [0.85, 0.86, 0.84, 0.85, 0.86], "lora": [0.86, 0.87, 0.85, 0.86, float("nan")]}}


def test_a_nan_seed_is_never_dropped_the_claim_is_not_tested_and_says_which():
    rows = evaluate(
        settings(kind="non-inferiority", treatment="lora", reference="full", margin=0.03), observer(entries(STSB))
    )
    stsb, overall = rows
    assert "p_value" not in stsb and "lora seed 4: accuracy is NaN" in stsb["note"] and stsb["missing"] == 1
    assert "p_value" not in overall and "not tested on every task" in overall["note"]
    # on the four surviving seeds alone the claim would have held: that is what must not happen silently
    survivors = non_inferiority(STSB["stsb"]["lora"][:4], STSB["stsb"]["full"][:4], 0.03)
    assert survivors.holds


def test_a_nan_seed_scored_by_the_declared_rule_counts_and_is_reported():
    claim = {"kind": "non-inferiority", "treatment": "lora", "reference": "full", "margin": 0.03}
    rows = evaluate(settings(**claim, missing="score", missing_score=0.0), observer(entries(STSB)))
    stsb = rows[0]
    lora = np.array([0.86, 0.87, 0.85, 0.86, 0.0])
    full = np.array(STSB["stsb"]["full"])
    expected = stats.ttest_1samp(lora - 0.97 * full, 0, alternative="greater").pvalue
    assert stsb["p_value"] == pytest.approx(expected) and not stsb["holds"] and stsb["n"] == 5
    assert "scored as 0" in stsb["note"] and "lora seed 4" in stsb["note"] and stsb["scored"] == 1
    with pytest.raises(ValidationError, match="missing_score"):
        settings(**claim, missing="score")


def test_an_unfinished_run_is_a_missing_seed():
    runs = entries({"sst2": SCORES["sst2"]})
    runs[-1] = dataclasses.replace(runs[-1], status="failed", results=None)  # lora seed 3
    rows = evaluate(settings(kind="non-inferiority", treatment="lora", reference="full", margin=0.03), observer(runs))
    assert "lora seed 3: the run is failed" in rows[0]["note"] and "p_value" not in rows[0]


def test_reduction_of_the_ratio_of_means_is_the_paired_test_of_t_minus_scaled_r():
    drift_full, drift_lora = [0.30, 0.34, 0.28, 0.33], [0.20, 0.27, 0.21, 0.25]
    scores = {"sst2": {"full": drift_full, "lora": drift_lora}}
    claim = {"kind": "reduction", "treatment": "lora", "reference": "full", "metric": "accuracy", "fraction": 0.2}
    means = evaluate(settings(**claim, ratio="means"), observer(entries(scores)))[0]
    t, r = np.array(drift_lora), np.array(drift_full)
    assert means["estimate"] == pytest.approx(t.mean() / r.mean())
    assert means["p_value"] == pytest.approx(stats.ttest_1samp(t - 0.8 * r, 0, alternative="less").pvalue)
    assert "ratio of means" in means["claim"]
    geometric = evaluate(settings(**claim), observer(entries(scores)))[0]
    assert geometric["estimate"] == pytest.approx(stats.gmean(t / r)) and "geometric mean" in geometric["claim"]


def compound_settings(compound, any_test="bonferroni"):
    claims = [
        {"name": "ni", "kind": "non-inferiority", "treatment": "lora", "reference": "full", "margin": 0.03},
        {"name": "eq", "kind": "equivalence", "treatment": "lora", "reference": "full", "margin": 0.02},
        {
            "name": "fast",
            "kind": "overhead",
            "treatment": "lora",
            "reference": "full",
            "metric": "train_seconds",
            "bound": 1.2,
        },
    ]
    return HypothesesConfig.model_validate({"claims": claims, "compound": compound, "any_test": any_test})


@pytest.mark.parametrize("any_test", ["bonferroni", "simes"])
def test_compound_claims_combine_the_all_task_p_values(any_test):
    config = compound_settings([{"name": "plan", "all": ["ni", {"any": ["eq", "fast"]}]}], any_test)
    rows = evaluate(config, observer(entries()))
    p = {r["hypothesis"]: r["p_value"] for r in rows if r["task"] == "all"}
    low, high = sorted([p["eq"], p["fast"]])
    either = min(1.0, 2 * low) if any_test == "bonferroni" else min(1.0, 2 * low, high)
    compound = next(r for r in rows if r["hypothesis"] == "plan")
    assert compound["p_value"] == pytest.approx(max(p["ni"], either))
    assert compound["holds"] == (compound["p_value"] < 0.05) and compound["claim"] == "ni AND (eq OR fast)"
    assert compound["test"] == f"AND: intersection–union; OR: {any_test}"
    family = [r for r in rows if r["task"] == "all"]
    expected, _ = adjust([r["p_value"] for r in family], "holm")
    assert [r["p_adjusted"] for r in family] == pytest.approx(expected)  # compound rows join the family


def test_a_compound_of_an_untested_claim_is_not_evaluated():
    config = compound_settings([{"name": "plan", "all": ["ni", "eq"]}])
    rows = evaluate(config, observer(entries(STSB)))
    compound = next(r for r in rows if r["hypothesis"] == "plan")
    assert "p_value" not in compound and "ni, eq could not be tested" in compound["note"]


@pytest.mark.parametrize(
    "compound, message",
    [
        ([{"name": "x", "all": ["ni", "nope"]}], "nope is not the name of a claim"),
        ([{"name": "x", "all": ["ni", "eq"], "any": ["ni", "fast"]}], "exactly one of 'all'"),
        ([{"all": ["ni", "eq"]}], "needs a 'name'"),
        ([{"name": "x", "any": ["ni"]}], "at least 2"),
        ([{"name": "ni", "all": ["ni", "eq"]}], "already a claim's"),
    ],
)
def test_bad_compound_claims_are_rejected_naming_the_entry(compound, message):
    with pytest.raises(ValidationError, match=message):
        compound_settings(compound)
