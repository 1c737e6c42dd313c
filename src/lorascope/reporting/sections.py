"""The report's sections as numbers and rows, computed from a study folder's records. Nothing
here writes a file or lays out text; ``reporting.report`` renders each section."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lorascope.errors import LorascopeError
from lorascope.io import short_value
from lorascope.records import (
    DriftRow,
    OverheadRow,
    RunResults,
    SearchSummary,
    ServingResults,
    StudyFolder,
    TuningSummary,
)
from lorascope.registry import METHODS, TASKS, method_spec
from lorascope.reporting.observations import lower_is_better, observer
from lorascope.stats.descriptive import (
    Anova,
    Interval,
    improvement_across_tasks,
    iqm_across_tasks,
    mean_interval,
    one_way_anova,
)
from lorascope.stats.hypotheses import HypothesesConfig, evaluate
from lorascope.stats.inference import power_warnings

if TYPE_CHECKING:
    from lorascope.studies.folder import Entry

Panels = dict[str, tuple[str, dict[str, Interval], dict[str, list[float]]]]  # see figures.metric_by_method


@dataclass
class StudyData:
    """What a report reads from a study folder, and the declared hypotheses' settings."""

    folder: StudyFolder
    name: str
    spec: dict  # the study file as run, its base config inlined
    study_text: str | None  # that file's text, for the reproducibility section
    entries: list[Entry]  # every planned run
    drift: list[DriftRow] | None
    benches: dict[str, ServingResults]  # serve-bench folders of <study>/serving/, by name
    tuning: TuningSummary | None  # when the study was tuned
    settings: HypothesesConfig

    @cached_property
    def planned(self) -> list[Entry]:
        """The planned grid runs, finished or not."""
        return [e for e in self.entries if e.kind == "run"]

    @cached_property
    def runs(self) -> list[Entry]:
        """The finished grid runs."""
        return [e for e in self.planned if e.status == "done"]

    @cached_property
    def baselines(self) -> list[Entry]:
        """The finished baselines."""
        return [e for e in self.entries if e.kind == "baseline" and e.status == "done"]

    @cached_property
    def tasks(self) -> list[str]:
        return sorted({r.group["task"] for r in self.runs})

    @cached_property
    def variants(self) -> list[str]:
        return list(dict.fromkeys(r.variant for r in self.runs))

    @cached_property
    def seeds(self) -> list[int]:
        return sorted({r.seed for r in self.runs})

    @cached_property
    def main_metric(self) -> dict[str, str]:
        """Each task's main metric."""
        return {
            task: next(_results(r).main_metric for r in self.runs if r.group["task"] == task) for task in self.tasks
        }

    @cached_property
    def lower_is_better(self) -> set[str]:
        """The tasks whose main metric is better lower (perplexity)."""
        return {t for t in self.tasks if any(_results(r).lower() for r in self.runs if r.group["task"] == t)}

    @cached_property
    def reference(self) -> str:
        """The variant others are compared with: the first claim's reference, else full, else the first."""
        if self.settings.claims:
            return self.settings.claims[0].reference
        return "full" if "full" in self.variants else self.variants[0]

    def values(self, task: str, variant: str, metric: str) -> list[float]:
        """The finished runs' ``metric`` of one task and variant, undefined ones left out."""
        return [
            float(value)
            for r in self.runs
            if r.group["task"] == task
            and r.variant == variant
            and (value := _results(r).metrics.get(metric)) is not None
        ]


def _results(e: Entry) -> RunResults:
    assert e.results is not None, f"{e.label} has no results"
    return e.results


def read_study(folder: Path) -> StudyData:
    """The records of a study folder a report needs; a folder without finished runs raises."""
    from lorascope.studies.folder import study_entries

    study = StudyFolder(folder)
    plan = study.plan()
    name = plan.name
    entries = study_entries(study, plan)
    if not any(e.kind == "run" and e.status == "done" for e in entries):
        raise LorascopeError(f"{folder}: no finished runs to report on")
    spec = study.spec()
    tuned = bool(spec.get("tune")) and study.tune.summary_path.is_file()
    return StudyData(
        folder=study,
        name=name,
        spec=spec,
        study_text=study.study_file.read_text(encoding="utf-8") if study.study_file.is_file() else None,
        entries=entries,
        drift=study.drift.rows() if study.drift.exists() else None,
        benches=study.benches(),
        tuning=study.tune.summary() if tuned else None,
        settings=HypothesesConfig.model_validate(spec.get("hypotheses") or {}),
    )


def _mean(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


@dataclass(frozen=True)
class Summary:
    variants: list[str]
    tasks: list[str]
    seeds: list[int]
    runs: int
    claims: list[dict]  # the hypotheses' all-task and compound rows


def summary(data: StudyData, hypotheses: Hypotheses) -> Summary:
    """What was compared, and the verdict of each claim over all tasks."""
    claims = [r for r in hypotheses.rows if r["task"] == "all"]
    return Summary(data.variants, data.tasks, data.seeds, len(data.runs), claims)


@dataclass(frozen=True)
class MethodRow:
    variant: str
    method: str
    learning_rate: float
    settings: str  # adapter rank, alpha, targets and strategy; or "all weights"


@dataclass(frozen=True)
class Setup:
    config: dict  # the first run's config: model, training, subset
    methods: list[MethodRow]


def setup(data: StudyData) -> Setup:
    """The model and training of the runs, and each method's settings."""
    rows = []
    for variant in data.variants:
        config = next(r.config for r in data.runs if r.variant == variant)
        method = config["method"]
        spec = method_spec(method) if method in METHODS else None  # a plug-in no longer installed: no details
        detail = ""
        if spec is not None and spec.kind == "adapter":
            lora = config["lora"]
            targets = ", ".join(lora["target_modules"] or []) or "the family default"
            detail = f"r = {lora['r']}, alpha = {lora['alpha']}, targets {targets}"
            if spec.allocates_ranks and lora.get("strategy", "uniform") != "uniform":
                detail += f", ranks by {lora['strategy']}"
        rows.append(MethodRow(variant, method, config["train"]["learning_rate"], detail or "all weights"))
    return Setup(data.runs[0].config, rows)


@dataclass(frozen=True)
class Tuning:
    summary: TuningSummary
    spaces: list[tuple[str, str, str]]  # method, parameter, distribution
    figures: list[tuple[SearchSummary, Path]]  # each search's history figure (up to 4 searches)
    limitations: list[str]


def tuning(data: StudyData) -> Tuning | None:
    """The search spaces, trial counts and chosen values of ``lorascope tune``, when the study was tuned."""
    summary = data.tuning
    if summary is None:
        return None
    spaces: dict[str, list[tuple[str, str]]] = {}
    for search in summary.searches:
        spaces.setdefault(search.group["method"], list(search.space.items()))
    searches = summary.searches
    figures = [(s, data.folder.tune.search(s.folder) / "history.png") for s in searches] if len(searches) <= 4 else []
    limitations = [
        f"{summary.settings['trials']} search trials per task and method: the chosen values are the best found, not "
        "necessarily the best there are."
    ]
    for search in searches:
        for key in search.at_edge:
            limitations.append(
                f"{search.label}: the chosen {key} = {short_value((search.values or {})[key])} lies at the edge of "
                f"its search range ({search.space[key]}); a wider range might find better values."
            )
    if summary.settings["objective"] == "eval":
        limitations.append(
            "Hyperparameters were chosen on the evaluation set the results are reported on, so those results "
            "are optimistic; tune.objective: holdout keeps it unseen."
        )
    return Tuning(
        summary,
        [(method, key, distribution) for method, params in spaces.items() for key, distribution in params],
        figures,
        limitations,
    )


@dataclass(frozen=True)
class ResultRow:
    label: str  # the variant, or "<variant> (baseline)"
    runs: int
    cells: list[Interval | None]  # one per metric of the task; None: no run has it
    trainable_params: float | None  # means over the runs
    lora_params: float | None
    train_seconds: float | None
    peak_memory_mb: float | None


@dataclass(frozen=True)
class TaskResults:
    task: str
    metrics: list[str]  # the main metric first
    rows: list[ResultRow]


@dataclass(frozen=True)
class Results:
    tasks: list[TaskResults]
    csv_rows: list[dict]  # the results table: one row per task, method and metric
    panels: Panels  # the metric figure's


def _table_groups(data: StudyData, task: str) -> list[tuple[str, list[Entry]]]:
    groups: dict[str, list[Entry]] = defaultdict(list)
    for r in data.baselines:
        if r.group["task"] == task:
            groups[f"{r.variant} (baseline)"].append(r)
    for r in data.runs:
        if r.group["task"] == task:
            groups[r.variant].append(r)
    return list(groups.items())


def _headline(task: str, metrics: list[str]) -> list[str]:
    """The metrics a task's table shows: its registered ``metric_names`` (QA has many more numbers,
    all in the CSV), or every one for a task not registered in this process."""
    names = TASKS.get(task).metric_names if task in TASKS else ()
    return [m for m in metrics if m in names] or metrics


def results(data: StudyData) -> Results:
    """Per task and method (baselines too): every metric's mean and 95% t interval over seeds (the table
    shows the task's headline metrics, the CSV all), and mean costs."""
    tables, csv_rows, panels = [], [], {}
    for task in data.tasks:
        metrics = sorted({m for r in data.runs if r.group["task"] == task for m in _results(r).metrics})
        metrics.sort(key=lambda m: m != data.main_metric[task])
        rows = []
        for label, members in _table_groups(data, task):
            found = [_results(r) for r in members]
            cells: list[Interval | None] = []
            for metric in metrics:
                values = [float(v) for r in found if (v := r.metrics.get(metric)) is not None]
                if not values:
                    cells.append(None)
                    continue
                interval = mean_interval(values)
                cells.append(interval)
                csv_rows.append(
                    {
                        "task": task,
                        "method": label,
                        "metric": metric,
                        "n": interval.n,
                        "mean": interval.estimate,
                        "std": float(np.std(values, ddof=1)) if len(values) > 1 else None,
                        "ci_low": interval.low,
                        "ci_high": interval.high,
                        "ci_method": interval.method,
                    }
                )
            rows.append(
                ResultRow(
                    label,
                    len(members),
                    cells,
                    _mean([r.trainable_params for r in found]),
                    _mean([r.lora_params for r in found]),
                    _mean([r.train_seconds for r in found]),
                    _mean([r.peak_memory_mb for r in found]),
                )
            )
        shown = [i for i, m in enumerate(metrics) if m in _headline(task, metrics)]
        rows = [replace(row, cells=[row.cells[i] for i in shown]) for row in rows]
        tables.append(TaskResults(task, [metrics[i] for i in shown], rows))
        main = data.main_metric[task]
        panels[task] = (
            main,
            {v: mean_interval(data.values(task, v, main)) for v in data.variants if data.values(task, v, main)},
            {v: data.values(task, v, main) for v in data.variants},
        )
    return Results(tables, csv_rows, panels)


@dataclass(frozen=True)
class AnovaRow:
    task: str
    metric: str
    result: Anova

    @property
    def csv_row(self) -> dict:
        return {"task": self.task, "metric": self.metric} | self.result.__dict__


def anova(data: StudyData) -> list[AnovaRow]:
    """One-way ANOVA across methods of each task's main metric, where two methods have 2+ runs."""
    rows = []
    for task in data.tasks:
        metric = data.main_metric[task]
        groups = {v: data.values(task, v, metric) for v in data.variants}
        groups = {v: g for v, g in groups.items() if len(g) >= 2}
        if len(groups) >= 2:
            rows.append(AnovaRow(task, metric, one_way_anova(list(groups.values()))))
    return rows


@dataclass(frozen=True)
class AcrossRow:
    variant: str
    iqm: Interval
    improvement: Interval | None  # P(beats the reference); None for the reference itself


@dataclass(frozen=True)
class AcrossTasks:
    reference: str
    rows: list[AcrossRow]

    @property
    def csv_rows(self) -> list[dict]:
        return [
            {
                "method": r.variant,
                "iqm": r.iqm.estimate,
                "iqm_low": r.iqm.low,
                "iqm_high": r.iqm.high,
                f"p_improvement_over_{self.reference}": r.improvement.estimate if r.improvement else None,
                "p_improvement_low": r.improvement.low if r.improvement else None,
                "p_improvement_high": r.improvement.high if r.improvement else None,
            }
            for r in self.rows
        ]


def across_tasks(data: StudyData) -> AcrossTasks | None:
    """Each method's IQM over tasks and its probability of beating the reference, with 2+ tasks whose
    main metric is better higher (a perplexity is on another scale, and better lower: it is left out)."""
    tasks = [t for t in data.tasks if t not in data.lower_is_better]
    if len(tasks) < 2:
        return None
    reference, rows = data.reference, []
    for variant in data.variants:
        scores = {t: data.values(t, variant, data.main_metric[t]) for t in tasks}
        iqm = iqm_across_tasks({t: v for t, v in scores.items() if v})
        improvement: Interval | None = None
        if variant != reference:
            pairs = {
                t: (data.values(t, variant, data.main_metric[t]), data.values(t, reference, data.main_metric[t]))
                for t in tasks
            }
            pairs = {t: p for t, p in pairs.items() if p[0] and p[1]}
            improvement = improvement_across_tasks(pairs) if pairs else None
        rows.append(AcrossRow(variant, iqm, improvement))
    return AcrossTasks(reference, rows)


@dataclass(frozen=True)
class Hypotheses:
    settings: HypothesesConfig
    rows: list[dict]  # stats.hypotheses.evaluate's; empty without declared claims


def hypotheses(data: StudyData) -> Hypotheses:
    """The declared claims tested on the grid runs, the drift table and the serve-bench folders."""
    if not data.settings.claims:
        return Hypotheses(data.settings, [])
    return Hypotheses(
        data.settings,
        evaluate(data.settings, observer(data.planned, data.drift, data.benches), lower_is_better(data.planned)),
    )


@dataclass(frozen=True)
class DriftComparison:
    comparison: list[dict]  # analysis.drift.compare_methods's rows: drift, and a middle intruder measure
    figures: list[Path]  # drift_per_layer, drift_over_steps, intruders (those that exist)


DRIFT_FIGURES = ("drift_per_layer", "drift_over_steps", "intruders")


def drift(data: StudyData) -> DriftComparison | None:
    """Methods compared on the final model's drift and intruder dimensions, when the study has a drift table."""
    rows = data.drift
    if not rows:
        return None
    from lorascope.analysis.drift import DRIFT, INTRUDERS, compare_methods

    comparison = compare_methods(rows, data.reference, DRIFT)
    intruder_measures = sorted({r.measure for r in rows if r.measure.startswith(INTRUDERS)})
    if intruder_measures:
        comparison += compare_methods(rows, data.reference, intruder_measures[len(intruder_measures) // 2])
    figures = [data.folder.drift.path / f"{name}.png" for name in DRIFT_FIGURES]
    return DriftComparison(comparison, figures)


@dataclass(frozen=True)
class BenchCost:
    name: str
    overhead: list[OverheadRow]  # adapters over merged, per batch size
    figure: Path  # latency and throughput against batch size


def serving(data: StudyData) -> list[BenchCost]:
    """The serve-bench folders of the study that hold rows."""
    return [
        BenchCost(name, results.overhead, data.folder.bench(name).figure)
        for name, results in data.benches.items()
        if results.results
    ]


@dataclass(frozen=True)
class RankRow:
    variant: str
    strategy: str
    lora_params: float | None  # mean over runs


@dataclass(frozen=True)
class Ranks:
    rows: list[RankRow]
    heatmaps: list[tuple[Path, Entry]]  # each allocated run's per-layer rank heatmap, in run order


def ranks(data: StudyData) -> Ranks | None:
    """The methods whose ranks were allocated from data or adapted in training, when there are any."""
    allocated = [r for r in data.runs if _results(r).rank_strategy not in (None, "uniform")]
    if not allocated:
        return None
    rows = []
    for variant in dict.fromkeys(r.variant for r in allocated):
        members = [_results(r) for r in allocated if r.variant == variant]
        rows.append(RankRow(variant, str(members[0].rank_strategy), _mean([r.lora_params for r in members])))
    heatmaps = [(data.folder.run(r.folder).ranks / "svd" / "r_raw_heatmap.png", r) for r in allocated]
    return Ranks(rows, heatmaps)


def limitations(data: StudyData, tuned: Tuning | None, tested: Hypotheses) -> list[str]:
    """The search's, the hypotheses' notes, the power of the seeds, the data, the models, the unfinished runs."""
    items = list(tuned.limitations) if tuned else []
    items += [f"{r['hypothesis']} on {r['task']}: {r['note']}" for r in tested.rows if r.get("note")]
    seeds = data.seeds
    items += power_warnings(len(seeds), data.settings.test, data.settings.alpha)
    if len(seeds) < 4:
        items.append(
            f"{len(seeds)} seeds per method: an exact permutation test of two methods needs at least 4 per method to reach p < 0.05."
        )
    first = data.runs[0].config
    if first.get("max_train_samples"):
        items.append(f"Training used subsets of {first['max_train_samples']:,} examples; full-data results may differ.")
    if len({r.config["model"] for r in data.runs}) == 1:
        items.append("One model only: the conclusions may not transfer to other architectures or sizes.")
    missing = [p for p in data.planned if p.status != "done"]
    if missing:
        items.append(f"{len(missing)} planned run(s) did not finish and are left out.")
    devices = {_results(r).device for r in data.runs}
    items.append(f"Trained on {', '.join(sorted(str(d) for d in devices))}; timings and memory are specific to it.")
    return items


@dataclass(frozen=True)
class Reproducibility:
    versions: dict[str, str]
    device: str
    precision: str
    seeds: list[int]
    study_text: str | None


def reproducibility(data: StudyData) -> Reproducibility:
    """The versions, device and precision of the first run, the seeds and the study file."""
    first = _results(data.runs[0])
    return Reproducibility(first.versions, first.device, first.precision, data.seeds, data.study_text)


@dataclass(frozen=True)
class Sections:
    """Every section of the report, in its order."""

    summary: Summary
    setup: Setup
    tuning: Tuning | None
    results: Results
    anova: list[AnovaRow]
    across_tasks: AcrossTasks | None
    hypotheses: Hypotheses
    drift: DriftComparison | None
    serving: list[BenchCost]
    ranks: Ranks | None
    limitations: list[str]
    reproducibility: Reproducibility


def compute(data: StudyData) -> Sections:
    """Every section of the report of ``data``."""
    tested, tuned = hypotheses(data), tuning(data)
    return Sections(
        summary=summary(data, tested),
        setup=setup(data),
        tuning=tuned,
        results=results(data),
        anova=anova(data),
        across_tasks=across_tasks(data),
        hypotheses=tested,
        drift=drift(data),
        serving=serving(data),
        ranks=ranks(data),
        limitations=limitations(data, tuned, tested),
        reproducibility=reproducibility(data),
    )
