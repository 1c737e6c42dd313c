"""Hypotheses declared in a study file, evaluated on the study's runs: per task, on every task
at once (intersection–union), and corrected across the declared family."""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from lorascope.config import _Strict
from lorascope.errors import LorascopeError
from lorascope.stats.inference import (
    TestResult,
    adjust,
    equivalence,
    intersection_union,
    non_inferiority,
    overhead,
    reduction,
)

Kind = Literal["non-inferiority", "equivalence", "reduction", "overhead"]
DRIFT_MEASURES = {"drift": "drift_linear_cka"}  # short names of drift.csv measures
SERVING_MODES = ("adapters", "merged", "base")  # lorascope serve-bench's modes


class Hypothesis(_Strict):
    """One claim about two methods (study variants) over the study's seeds."""

    name: str | None = Field(None, description="Shown in tables; default: kind, treatment and reference.")
    kind: Kind
    treatment: str = Field(description="The variant the claim is about, e.g. lora-r8.")
    reference: str = Field(description="The variant it is compared with, e.g. full.")
    metric: str | None = Field(
        None,
        description="What is compared: a metric (default: each task's main metric), a results.json number "
        "(train_seconds, peak_memory_mb, trainable_params), 'drift' or a drift.csv measure such as intruders@0.5.",
    )
    margin: float | None = Field(None, gt=0, description="non-inferiority and equivalence: the margin.")
    relative: bool = Field(True, description="The margin is a share of the reference (0.03 = 3%); false: absolute.")
    fraction: float | None = Field(None, gt=0, lt=1, description="reduction: by at least this share (0.2 = 20%).")
    bound: float | None = Field(None, gt=0, description="overhead: the largest acceptable ratio (1.3 = +30%).")

    @model_validator(mode="after")
    def _parameters_for_the_kind(self) -> Hypothesis:
        needed = {"non-inferiority": "margin", "equivalence": "margin", "reduction": "fraction", "overhead": "bound"}
        if getattr(self, needed[self.kind]) is None:
            raise ValueError(f"a {self.kind} hypothesis needs '{needed[self.kind]}'")
        return self

    @property
    def label(self) -> str:
        return self.name or f"{self.kind}: {self.treatment} vs {self.reference}"

    @property
    def claim(self) -> str:
        what = self.metric or "main metric"
        if self.kind == "non-inferiority":
            floor = (
                f"{1 - self.margin:.0%} of {self.reference}" if self.relative else f"{self.reference} − {self.margin:g}"
            )
            return f"{self.treatment} {what} ≥ {floor}"
        if self.kind == "equivalence":
            margin = f"±{self.margin:.0%}" if self.relative else f"±{self.margin:g}"
            return f"{self.treatment} {what} within {margin} of {self.reference}"
        if self.kind == "reduction":
            return f"{self.treatment} {what} ≤ {1 - self.fraction:.0%} of {self.reference}"
        return f"{self.treatment} {what} / {self.reference} {what} ≤ {self.bound:g}"


class HypothesesConfig(_Strict):
    """The declared family of hypotheses and how it is tested."""

    alpha: float = Field(0.05, gt=0, lt=0.5, description="Family-wise error rate (false discovery rate for fdr_bh).")
    correction: Literal["holm", "bonferroni", "fdr_bh"] = Field("holm", description="Across the declared family.")
    test: Literal["t", "sign-flip"] = Field("t", description="Paired test over seeds: Student's t or exact sign flips.")
    claims: list[Hypothesis] = Field(default_factory=list)


def _value(results: dict, metric: str | None) -> float | None:
    if metric is None:
        return results["metrics"].get(results["main_metric"])
    if metric in results["metrics"]:
        return results["metrics"][metric]
    value = results.get(metric)
    return float(value) if isinstance(value, int | float) else None


def collect(
    entries: list[dict], drift_rows: list[dict] | None, metric: str | None
) -> dict[str, dict[str, dict[int, float]]]:
    """task → variant → seed → value for the finished grid runs (``entries``: plan records with
    ``results`` and ``label``); drift measures come from ``drift_rows`` (final model, mean over layers)."""
    values: dict[str, dict[str, dict[int, float]]] = defaultdict(lambda: defaultdict(dict))
    measure = DRIFT_MEASURES.get(metric or "", metric)
    if measure and drift_rows is not None and any(r["measure"] == measure for r in drift_rows):
        per_run: dict[str, list[float]] = defaultdict(list)
        for r in drift_rows:
            if r["measure"] == measure and r["step"] == "final":
                per_run[r["run"]].append(float(r["value"]))
        for e in entries:
            run = Path(e["folder"]).name
            if run in per_run:
                values[e["group"]["task"]][e["variant"]][e["seed"]] = float(np.mean(per_run[run]))
        return values
    for e in entries:
        value = _value(e["results"], metric)
        if value is not None and not math.isnan(value):
            values[e["group"]["task"]][e["variant"]][e["seed"]] = float(value)
    return values


def _test(
    h: Hypothesis, treatment: dict[int, float], reference: dict[int, float], settings: HypothesesConfig
) -> TestResult:
    if h.kind == "overhead":  # independent measurements: every seed's value is one draw
        return overhead(list(treatment.values()), list(reference.values()), h.bound, settings.alpha)
    seeds = sorted(set(treatment) & set(reference))
    t, r = [treatment[s] for s in seeds], [reference[s] for s in seeds]
    if h.kind == "non-inferiority":
        return non_inferiority(t, r, h.margin, h.relative, settings.alpha, settings.test)
    if h.kind == "equivalence":
        return equivalence(t, r, h.margin, h.relative, settings.alpha, settings.test)
    return reduction(t, r, h.fraction, settings.alpha, settings.test)


def is_serving_claim(h: Hypothesis) -> bool:
    """An overhead claim between serve-bench modes (e.g. adapters over merged), not study variants."""
    return h.kind == "overhead" and h.treatment in SERVING_MODES and h.reference in SERVING_MODES


def collect_serving(rows: list[dict], metric: str | None) -> dict[str, dict[str, dict[int, float]]]:
    """task ("<bench> · batch N") → mode → repetition → value (default: mean latency) from serve-bench rows."""
    values: dict[str, dict[str, dict[int, float]]] = defaultdict(lambda: defaultdict(dict))
    for r in rows:
        task = f"{r['bench']} · batch {int(r['batch_size'])}"
        values[task][r["mode"]][int(r["repetition"])] = float(r[metric or "mean_latency_ms"])
    return values


def evaluate(
    settings: HypothesesConfig,
    entries: list[dict],
    drift_rows: list[dict] | None = None,
    serving_rows: list[dict] | None = None,
) -> list[dict]:
    """One row per hypothesis × task and one per hypothesis over all tasks (intersection–union),
    the latter with p-values adjusted across the family. A hypothesis that cannot be tested
    (a variant or metric missing, too few seeds) gets a row saying why. Overhead claims between
    serve-bench modes are tested on ``serving_rows``, each batch size a "task"."""
    rows, family = [], []
    for h in settings.claims:
        if is_serving_claim(h):
            values = collect_serving(serving_rows or [], h.metric)
        else:
            values = collect(entries, drift_rows, h.metric)
        per_task = []
        for task in sorted(values):
            by_variant = values[task]
            missing = [v for v in (h.treatment, h.reference) if v not in by_variant]
            base = {"hypothesis": h.label, "kind": h.kind, "claim": h.claim, "task": task}
            if missing:
                rows.append(base | {"note": f"no finished runs of {', '.join(missing)} with this metric"})
                continue
            try:
                result = _test(h, by_variant[h.treatment], by_variant[h.reference], settings)
            except ValueError as exc:
                rows.append(base | {"note": str(exc)})
                continue
            per_task.append(result)
            rows.append(base | _fields(result) | {"note": "; ".join(result.warnings)})
        if not values:
            rows.append({"hypothesis": h.label, "kind": h.kind, "claim": h.claim, "task": "all", "note": "no data"})
            continue
        if per_task and len(per_task) == len(values):
            p, holds = intersection_union(per_task)
            overall = {"hypothesis": h.label, "kind": h.kind, "claim": h.claim, "task": "all"}
            overall |= {"p_value": p, "holds": holds, "test": "intersection–union over tasks", "n": len(per_task)}
            family.append(len(rows))
            rows.append(overall)
    if family:
        adjusted, decisions = adjust([rows[i]["p_value"] for i in family], settings.correction, settings.alpha)
        for i, p, decision in zip(family, adjusted, decisions, strict=True):
            rows[i] |= {"p_adjusted": p, "holds_adjusted": decision, "correction": settings.correction}
    return rows


def _fields(result: TestResult) -> dict:
    return {
        "estimate": result.estimate,
        "ci_low": result.low,
        "ci_high": result.high,
        "p_value": result.p_value,
        "holds": result.holds,
        "test": result.test,
        "why": result.why,
        "n": result.n,
    }


COLUMNS = (
    "hypothesis",
    "kind",
    "claim",
    "task",
    "n",
    "estimate",
    "ci_low",
    "ci_high",
    "p_value",
    "holds",
    "p_adjusted",
    "holds_adjusted",
    "correction",
    "test",
    "why",
    "note",
)


def write_hypotheses(rows: list[dict], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows({k: r.get(k, "") for k in COLUMNS} for r in rows)
    return path


def check_variants(settings: HypothesesConfig, variants: set[str], source: str) -> None:
    """Every hypothesis names variants the study has."""
    for i, h in enumerate(settings.claims):
        if is_serving_claim(h):
            continue
        for role in ("treatment", "reference"):
            if getattr(h, role) not in variants:
                raise LorascopeError(
                    f"{source}: hypotheses.claims[{i}].{role}: '{getattr(h, role)}' is not a variant of the study "
                    f"({', '.join(sorted(variants))})"
                )
