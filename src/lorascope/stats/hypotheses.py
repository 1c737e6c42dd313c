"""Hypotheses declared in a study file, evaluated on the study's runs: per task, on every task
at once (intersection–union), compound claims (AND / OR of named claims), and corrected across
the declared family. Missing and NaN values are never dropped: a claim with one is not tested, or
the value is scored by the claim's declared rule, and its rows say which."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Literal

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
    reduction_of_means,
)

Kind = Literal["non-inferiority", "equivalence", "reduction", "overhead"]


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
    relative: bool = Field(
        True,
        description="The margin is a share of the reference (0.03 = 3%), scale-free across tasks whose metrics "
        "differ; false: absolute, in the metric's units.",
    )
    fraction: float | None = Field(None, gt=0, lt=1, description="reduction: by at least this share (0.2 = 20%).")
    ratio: Literal["geometric", "means"] = Field(
        "geometric",
        description="reduction: what ratio is bounded: the geometric mean of the per-seed ratios T/R (tested on "
        "log ratios) or the ratio of the means μ_T / μ_R (tested on T − (1 − f) R, Fieller interval).",
    )
    bound: float | None = Field(None, gt=0, description="overhead: the largest acceptable ratio (1.3 = +30%).")
    missing: Literal["fail", "score"] = Field(
        "fail",
        description="A seed whose value is missing (the run did not finish) or NaN (e.g. a correlation of constant "
        "predictions): 'fail' leaves the claim untested and says why; 'score' counts it as missing_score.",
    )
    missing_score: float | None = Field(None, description="With missing: score, the value a missing seed gets.")

    @model_validator(mode="after")
    def _parameters_for_the_kind(self) -> Hypothesis:
        needed = {"non-inferiority": "margin", "equivalence": "margin", "reduction": "fraction", "overhead": "bound"}
        if getattr(self, needed[self.kind]) is None:
            raise ValueError(f"a {self.kind} hypothesis needs '{needed[self.kind]}'")
        if self.missing == "score" and self.missing_score is None:
            raise ValueError("missing: score needs 'missing_score', the value a missing or NaN seed counts as")
        return self

    @property
    def label(self) -> str:
        return self.name or f"{self.kind}: {self.treatment} vs {self.reference}"

    @property
    def claim(self) -> str:
        return self.claim_for(lower_is_better=False)

    def claim_for(self, lower_is_better: bool) -> str:
        """The claim in words, for a metric where higher (or lower) is better."""
        what = self.metric or "main metric"
        if self.kind == "non-inferiority" and lower_is_better:
            if self.relative:
                return f"{self.treatment} {what} ≤ {1 + self.margin:.0%} of {self.reference} (relative margin; lower is better)"
            return f"{self.treatment} {what} ≤ {self.reference} + {self.margin:g} (absolute margin; lower is better)"
        if self.kind == "non-inferiority":
            if self.relative:
                return f"{self.treatment} {what} ≥ {1 - self.margin:.0%} of {self.reference} (relative margin)"
            return f"{self.treatment} {what} ≥ {self.reference} − {self.margin:g} (absolute margin)"
        if self.kind == "equivalence":
            margin = f"±{self.margin:.0%} (relative)" if self.relative else f"±{self.margin:g} (absolute)"
            return f"{self.treatment} {what} within {margin} of {self.reference}"
        if self.kind == "reduction":
            how = "geometric mean of per-seed ratios" if self.ratio == "geometric" else "ratio of means"
            return f"{self.treatment} {what} ≤ {1 - self.fraction:.0%} of {self.reference} ({how})"
        return f"{self.treatment} {what} / {self.reference} {what} ≤ {self.bound:g} (ratio of means)"


class Compound(_Strict):
    """A claim made of named claims: ``all`` of them (AND) or ``any`` of them (OR), nested freely."""

    name: str | None = Field(None, description="Shown in tables (required at the top level).")
    all: list[str | Compound] | None = Field(None, min_length=2, description="Every part holds (AND).")
    any: list[str | Compound] | None = Field(None, min_length=2, description="At least one part holds (OR).")

    @model_validator(mode="after")
    def _one_connective(self) -> Compound:
        if (self.all is None) == (self.any is None):
            raise ValueError("a compound claim has exactly one of 'all' (AND) and 'any' (OR)")
        return self

    @property
    def parts(self) -> list[str | Compound]:
        return self.all if self.all is not None else self.any  # type: ignore[return-value]

    def names(self) -> list[str]:
        return [n for part in self.parts for n in ([part] if isinstance(part, str) else part.names())]

    def connectives(self) -> set[str]:
        """AND and/or OR: the connectives used anywhere in this claim."""
        own = {"AND" if self.all is not None else "OR"}
        return own.union(*(p.connectives() for p in self.parts if not isinstance(p, str)))

    def text(self, top: bool = True) -> str:
        joined = (" AND " if self.all is not None else " OR ").join(
            p if isinstance(p, str) else p.text(top=False) for p in self.parts
        )
        return joined if top else f"({joined})"


class HypothesesConfig(_Strict):
    """The declared family of hypotheses and how it is tested."""

    alpha: float = Field(0.05, gt=0, lt=0.5, description="Family-wise error rate (false discovery rate for fdr_bh).")
    correction: Literal["holm", "bonferroni", "fdr_bh"] = Field("holm", description="Across the declared family.")
    test: Literal["t", "sign-flip"] = Field("t", description="Paired test over seeds: Student's t or exact sign flips.")
    any_test: Literal["bonferroni", "simes"] = Field(
        "bonferroni",
        description="How an OR of claims is tested: Bonferroni (valid under any dependence between the parts) or "
        "Simes (more power; valid for independent or positively dependent parts).",
    )
    claims: list[Hypothesis] = Field(default_factory=list)
    compound: list[Compound] = Field(default_factory=list, description="AND / OR combinations of named claims.")

    @model_validator(mode="after")
    def _compound_names(self) -> HypothesesConfig:
        labels = [h.label for h in self.claims]
        for i, c in enumerate(self.compound):
            if not c.name:
                raise ValueError(f"compound[{i}] needs a 'name'")
            if c.name in labels:
                raise ValueError(f"compound[{i}]: the name '{c.name}' is already a claim's")
            unknown = [n for n in c.names() if n not in labels]
            if unknown:
                raise ValueError(
                    f"compound[{i}] ({c.name}): {', '.join(unknown)} is not the name of a claim "
                    f"(claims: {', '.join(labels) or 'none'})"
                )
            repeated = sorted({n for n in c.names() if labels.count(n) > 1})
            if repeated:
                raise ValueError(f"compound[{i}] ({c.name}): several claims are named {', '.join(repeated)}")
        return self


@dataclass(frozen=True)
class Missing:
    """A seed's value that is not there, and why."""

    reason: str
    unfinished: bool = False  # the run did not finish (rather than finished without this value)


Values = dict[str, dict[str, dict[int, "float | Missing"]]]  # task → variant → seed → value


def _complete(
    h: Hypothesis, by_variant: dict[str, dict[int, float | Missing]], paired: bool
) -> tuple[dict[str, list[float]], list[str], list[str]]:
    """Each variant's values in seed order (paired: the union of seeds), the missing ones scored
    by the declared rule; with the seeds that were missing and those that were scored."""
    seeds = sorted(set(by_variant[h.treatment]) | set(by_variant[h.reference]))
    out: dict[str, list[float]] = {h.treatment: [], h.reference: []}
    missing, scored = [], []
    for variant in (h.treatment, h.reference):
        for seed in seeds if paired else sorted(by_variant[variant]):
            value = by_variant[variant].get(seed, Missing("no run planned"))
            if isinstance(value, Missing):
                where = f"{variant} {'seed' if paired else 'repetition'} {seed}: {value.reason}"
                if h.missing == "score":
                    scored.append(where)
                    value = float(h.missing_score)  # type: ignore[arg-type]
                else:
                    missing.append(where)
                    continue
            out[variant].append(value)
    return out, missing, scored


def _test(h: Hypothesis, values: dict[str, list[float]], settings: HypothesesConfig, lower: bool) -> TestResult:
    t, r = values[h.treatment], values[h.reference]
    if h.kind == "overhead":  # independent measurements: every repetition's value is one draw
        return overhead(t, r, h.bound, settings.alpha)
    if h.kind == "non-inferiority":
        return non_inferiority(t, r, h.margin, h.relative, settings.alpha, settings.test, lower)
    if h.kind == "equivalence":
        return equivalence(t, r, h.margin, h.relative, settings.alpha, settings.test)
    if h.ratio == "means":
        return reduction_of_means(t, r, h.fraction, settings.alpha, settings.test)
    return reduction(t, r, h.fraction, settings.alpha, settings.test)


def _claim_rows(
    h: Hypothesis, values: Values, settings: HypothesesConfig, lower: Callable[[Hypothesis, str], bool]
) -> tuple[list[dict], dict]:
    """The per-task rows of one claim and its all-task row (intersection–union over tasks)."""
    rows, per_task, untested, unmeasured = [], [], [], []
    head = {"hypothesis": h.label, "kind": h.kind, "claim": h.claim}
    for task in sorted(values):
        by_variant = values[task]
        base = head | {"task": task, "claim": h.claim_for(lower(h, task))}
        found = [x for v in (h.treatment, h.reference) for x in by_variant.get(v, {}).values()]
        if found and all(isinstance(x, Missing) and not x.unfinished for x in found):
            unmeasured.append(task)  # e.g. no drift stage for this task: not part of the claim
            continue
        absent = [
            v
            for v in (h.treatment, h.reference)
            if not any(isinstance(x, float) for x in by_variant.get(v, {}).values())
        ]
        if absent:
            note = f"no finished runs of {', '.join(absent)} with this metric"
            rows.append(base | {"note": note})
            untested.append(f"{task}: {note}")
            continue
        complete, missing, scored = _complete(h, by_variant, paired=h.kind != "overhead")
        if missing:
            note = "not evaluated, values missing (missing: fail): " + "; ".join(missing)
            rows.append(base | {"note": note, "missing": len(missing)})
            untested.append(f"{task}: {len(missing)} missing value(s)")
            continue
        try:
            result = _test(h, complete, settings, lower(h, task))
        except ValueError as exc:
            rows.append(base | {"note": str(exc)})
            untested.append(f"{task}: {exc}")
            continue
        per_task.append(result)
        notes = [f"scored as {h.missing_score:g} (missing: score): " + "; ".join(scored)] if scored else []
        rows.append(base | _fields(result) | {"note": "; ".join(notes + result.warnings), "scored": len(scored)})
    overall = head | {"task": "all"}
    directions = {lower(h, task) for task in values}
    if len(directions) == 1:  # one direction on every task: the claim reads in it
        overall["claim"] = h.claim_for(directions.pop())
    left_out = [f"left out, no {h.metric or 'values'} measured: {', '.join(unmeasured)}"] if unmeasured else []
    if not per_task and not untested:
        overall["note"] = "; ".join(["no data", *left_out])
    elif untested:
        overall["note"] = "; ".join(["not tested on every task: " + "; ".join(untested), *left_out])
    else:
        p, holds = intersection_union(per_task)
        overall |= {"p_value": p, "holds": holds, "test": "intersection–union over tasks", "n": len(per_task)}
        overall["note"] = "; ".join(left_out)
    return rows, overall


def compound_p(c: Compound, p_of: dict[str, float], any_test: str) -> float:
    """The p-value of an AND (intersection–union: the largest part's p) or an OR (Bonferroni:
    k · the smallest; Simes: min over i of k · p₍ᵢ₎ / i) of claims, parts evaluated recursively.
    Each is a valid p-value for its null, so nesting keeps the error at α."""
    parts = sorted(p_of[x] if isinstance(x, str) else compound_p(x, p_of, any_test) for x in c.parts)
    if c.all is not None:
        return parts[-1]
    k = len(parts)
    if any_test == "simes":
        return min(1.0, min(k * p / i for i, p in enumerate(parts, start=1)))
    return min(1.0, k * parts[0])


def _compound_row(c: Compound, overall: dict[str, dict], settings: HypothesesConfig) -> dict:
    row = {"hypothesis": c.name, "kind": "compound", "claim": c.text(), "task": "all"}
    untested = [n for n in dict.fromkeys(c.names()) if "p_value" not in overall[n]]
    if untested:
        return row | {"note": f"not evaluated: {', '.join(untested)} could not be tested"}
    p = compound_p(c, {n: overall[n]["p_value"] for n in c.names()}, settings.any_test)
    used = c.connectives()
    how = ["AND: intersection–union"] * ("AND" in used) + [f"OR: {settings.any_test}"] * ("OR" in used)
    return row | {"p_value": p, "holds": p < settings.alpha, "test": "; ".join(how), "n": len(c.names())}


def _higher_is_better(h: Hypothesis, task: str) -> bool:
    return False


def evaluate(
    settings: HypothesesConfig,
    observe: Callable[[Hypothesis], Values],
    lower: Callable[[Hypothesis, str], bool] = _higher_is_better,
) -> list[dict]:
    """One row per hypothesis × task, one per hypothesis over all tasks (intersection–union) and
    one per compound claim; the all-task and compound p-values are adjusted across the family.
    ``observe(h)`` gives a claim's values, task → variant → seed → value, every planned seed
    present (a ``Missing`` where it has no value). ``lower(h, task)`` says whether lower is better for
    the claim's metric on ``task`` (perplexity): non-inferiority turns round then. A hypothesis that cannot be tested (a variant,
    metric or seed missing, too few seeds) gets rows saying why and stays out of the family."""
    rows, family, overall = [], [], {}
    for h in settings.claims:
        task_rows, overall[h.label] = _claim_rows(h, observe(h), settings, lower)
        rows += task_rows
        if "p_value" in overall[h.label]:
            family.append(len(rows))
        rows.append(overall[h.label])
    for c in settings.compound:
        row = _compound_row(c, overall, settings)
        if "p_value" in row:
            family.append(len(rows))
        rows.append(row)
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
    "missing",
    "scored",
    "note",
)


def check_variants(settings: HypothesesConfig, variants: set[str], source: str, modes: Collection[str] = ()) -> None:
    """Every hypothesis names variants the study has; an overhead between two of ``modes`` (serving
    modes, measured elsewhere) is not a claim about variants."""
    for i, h in enumerate(settings.claims):
        if h.kind == "overhead" and h.treatment in modes and h.reference in modes:
            continue
        for role in ("treatment", "reference"):
            if getattr(h, role) not in variants:
                raise LorascopeError(
                    f"{source}: hypotheses.claims[{i}].{role}: '{getattr(h, role)}' is not a variant of the study "
                    f"({', '.join(sorted(variants))})"
                )
