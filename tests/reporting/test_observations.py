"""What a claim is tested on, collected from a study's records: each planned seed a value or a reason."""

import math

from lorascope.records import ServingResults
from lorascope.reporting.observations import is_serving_claim, observer, serving_values, study_values
from lorascope.stats.hypotheses import Hypothesis, Missing
from tests.records import entry, run_results, serving_row


def test_a_run_without_the_metric_an_unfinished_run_and_a_baseline():
    entries = [
        entry("sst2", "lora", 0, run_results({"accuracy": 0.8})),
        entry("sst2", "lora", 1, status="failed"),
        entry("sst2", "majority", 0, run_results({"accuracy": 0.5}), kind="baseline"),
    ]
    values = study_values(entries, None, "f1")
    assert values["sst2"]["lora"] == {0: Missing("no f1"), 1: Missing("the run is failed", unfinished=True)}
    assert "majority" not in values["sst2"]  # baselines are not variants of a claim
    assert study_values(entries, None, "train_seconds")["sst2"]["lora"][0] == 1.0  # a results number


def test_a_serving_value_that_is_nan_is_missing_and_says_so():
    rows = [serving_row("adapters", 2, 0, math.nan), serving_row("merged", 2, 0, 100.0)]
    values = serving_values({"tiny": ServingResults(results=rows, overhead=[])}, None)
    assert values == {
        "tiny · batch 2": {"adapters": {0: Missing("mean_latency_ms is missing or NaN")}, "merged": {0: 100.0}}
    }


def test_the_observer_reads_serving_modes_from_the_benches_and_variants_from_the_runs():
    serving = Hypothesis(kind="overhead", treatment="adapters", reference="merged", bound=1.3)
    study = Hypothesis(kind="overhead", treatment="lora", reference="full", bound=1.3)
    assert is_serving_claim(serving) and not is_serving_claim(study)
    benches = {"tiny": ServingResults(results=[serving_row("merged", 1, 0, 50.0)], overhead=[])}
    observe = observer([entry("sst2", "lora", 0, run_results({"accuracy": 0.8}))], None, benches)
    assert observe(serving) == {"tiny · batch 1": {"merged": {0: 50.0}}}
    assert observe(study) == {"sst2": {"lora": {0: 0.8}}}
