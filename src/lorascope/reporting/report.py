"""``lorascope report``: a draft paper from a study folder — setup, results with confidence
intervals, ANOVA, aggregates across tasks, the declared hypotheses, drift and ranks when present,
limitations and reproducibility — as Markdown, self-contained HTML and arXiv-ready LaTeX.

Report folder::

    report.md  report.html
    figures/   PNG and PDF
    tables/    results_ci.csv, anova.csv, across_tasks.csv, hypotheses.csv, drift_comparison.csv
    paper/     main.tex, refs.bib, figures/ (PDF where there is one)
"""

from __future__ import annotations

import csv
import json
import math
import shutil
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from lorascope import __version__
from lorascope.errors import LorascopeError
from lorascope.io import short_value, write_csv
from lorascope.registry import METHODS, method_spec
from lorascope.reporting.document import (
    Bullets,
    Code,
    Document,
    Figure,
    Heading,
    Paragraph,
    Table,
    to_bibtex,
    to_html,
    to_latex,
    to_markdown,
)
from lorascope.reporting.figures import metric_by_method
from lorascope.reporting.references import cited
from lorascope.stats.descriptive import (
    Interval,
    improvement_across_tasks,
    iqm_across_tasks,
    mean_interval,
    one_way_anova,
)
from lorascope.stats.hypotheses import evaluate, write_hypotheses
from lorascope.stats.inference import power_warnings

FORMATS = ("md", "html", "tex")


@dataclass
class StudyData:
    """What a report reads from a study folder, each file once."""

    folder: Path
    name: str
    spec: dict  # study.yaml
    runs: list[dict]  # finished grid runs, with "variant" and "results"
    baselines: list[dict]
    planned: list[dict]
    drift_rows: list[dict] | None
    serving_rows: list[dict]  # serve-bench results.csv rows of <study>/serving/*/, with "bench"

    @property
    def tasks(self) -> list[str]:
        return sorted({r["group"]["task"] for r in self.runs})

    @property
    def variants(self) -> list[str]:
        return list(dict.fromkeys(r["variant"] for r in self.runs))

    def values(self, task: str, variant: str, metric: str) -> list[float]:
        return [
            float(r["results"]["metrics"][metric])
            for r in self.runs
            if r["group"]["task"] == task
            and r["variant"] == variant
            and r["results"]["metrics"].get(metric) is not None
        ]


def read_study(folder: Path) -> StudyData:
    from lorascope.analysis.drift import read_csv
    from lorascope.studies.folder import load_plan, study_entries
    from lorascope.studies.spec import method_label

    plan = load_plan(folder)
    entries = study_entries(folder, plan)
    spec = (
        yaml.safe_load((folder / "study.yaml").read_text(encoding="utf-8")) if (folder / "study.yaml").is_file() else {}
    )
    done = [e | {"variant": method_label(e["group"])} for e in entries if e["status"] == "done"]
    runs = [e for e in done if e["kind"] == "run"]
    if not runs:
        raise LorascopeError(f"{folder}: no finished runs to report on")
    drift_csv = folder / "drift" / "drift.csv"
    return StudyData(
        folder,
        plan["name"],
        spec,
        runs,
        [e for e in done if e["kind"] == "baseline"],
        [e | {"variant": method_label(e["group"])} for e in entries if e["kind"] == "run"],
        read_csv(drift_csv) if drift_csv.is_file() else None,
        _serving_rows(folder),
    )


def _serving_rows(folder: Path) -> list[dict]:
    rows = []
    for results in sorted((folder / "serving").glob("*/results.csv")):
        with results.open(newline="", encoding="utf-8") as handle:
            rows += [r | {"bench": results.parent.name} for r in csv.DictReader(handle)]
    return rows


def _fmt(value: float | None, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.{digits}f}"


def _p(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def _count(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def _mean(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


class ReportBuilder:
    """Assembles the document section by section, writing figures and CSV tables as it goes."""

    def __init__(self, data: StudyData, out: Path):
        self.data, self.out = data, out
        self.figures, self.tables = out / "figures", out / "tables"
        self.figures.mkdir(parents=True, exist_ok=True)
        self.tables.mkdir(parents=True, exist_ok=True)
        variants, tasks = data.variants, data.tasks
        self.doc = Document(f"{data.name}: {' vs '.join(variants)} on {', '.join(tasks)}")
        self.keys: list[str] = ["hu2022lora"]
        self.limitations: list[str] = []
        self.main_metric = {
            task: next(r["results"]["main_metric"] for r in data.runs if r["group"]["task"] == task) for task in tasks
        }
        self.hypothesis_rows: list[dict] = []
        self.reference = self._reference()

    def _reference(self) -> str:
        claims = (self.data.spec.get("hypotheses") or {}).get("claims") or []
        if claims:
            return claims[0]["reference"]
        return "full" if "full" in self.data.variants else self.data.variants[0]

    def cite(self, *keys: str) -> str:
        for key in keys:
            if key not in self.keys:
                self.keys.append(key)
        return " ".join(f"[@{k}]" for k in keys)

    def build(self) -> Document:
        self.hypothesis_rows = self._evaluate_hypotheses()
        self.summary()
        self.setup()
        self.tuning()
        self.results()
        self.hypotheses()
        self.drift()
        self.serving()
        self.ranks()
        self.limits()
        self.reproducibility()
        self.doc.references = cited(*self.keys)
        return self.doc

    def _evaluate_hypotheses(self) -> list[dict]:
        from lorascope.stats.hypotheses import HypothesesConfig

        settings = HypothesesConfig.model_validate(self.data.spec.get("hypotheses") or {})
        self.settings = settings
        if not settings.claims:
            return []
        return evaluate(settings, self.data.planned, self.data.drift_rows, self.data.serving_rows)

    def summary(self) -> None:
        data = self.data
        seeds = sorted({r["seed"] for r in data.runs})
        text = (
            f"This report compares {len(data.variants)} methods ({', '.join(data.variants)}) on "
            f"{len(data.tasks)} task{'s' * (len(data.tasks) != 1)} ({', '.join(data.tasks)}) over "
            f"{len(seeds)} seed{'s' * (len(seeds) != 1)} each, {len(data.runs)} finished runs in all. "
            "Every number below is computed from the runs' results files; intervals are 95% over seeds."
        )
        self.doc.add(Heading("Summary"), Paragraph(text))
        overall = [r for r in self.hypothesis_rows if r["task"] == "all"]
        if overall:
            items = []
            for r in overall:
                where = "" if r["kind"] == "compound" else " on every task"
                if "p_value" not in r:
                    items.append(f"{r['hypothesis']} ({r['claim']}) could not be evaluated: {r.get('note', '')}.")
                    continue
                verdict = "holds" if r.get("holds_adjusted") else "is not supported"
                items.append(
                    f"{r['hypothesis']} ({r['claim']}) {verdict}{where}: p = {_p(r['p_value'])}, "
                    f"{r['correction']}-adjusted p = {_p(r['p_adjusted'])}."
                )
            self.doc.add(Bullets(items))

    def setup(self) -> None:
        data = self.data
        first = data.runs[0]["config"]
        rows = []
        for variant in data.variants:
            config = next(r["config"] for r in data.runs if r["variant"] == variant)
            method = config["method"]
            spec = method_spec(method) if method in METHODS else None  # a plug-in no longer installed: no details
            detail = ""
            if spec is not None and spec.kind == "adapter":
                lora = config["lora"]
                targets = ", ".join(lora["target_modules"] or []) or "the family default"
                detail = f"r = {lora['r']}, alpha = {lora['alpha']}, targets {targets}"
                if spec.allocates_ranks and lora.get("strategy", "uniform") != "uniform":
                    detail += f", ranks by {lora['strategy']}"
            rows.append([variant, method, f"{config['train']['learning_rate']:g}", detail or "all weights"])
        self.doc.add(
            Heading("Setup"),
            Paragraph(
                f"Model: `{first['model']}`. Training: {first['train']['epochs']} epoch(s), batch size "
                f"{first['train']['batch_size']}, {first['train']['scheduler']} schedule, maximum length "
                f"{first['train']['max_length']}. Each run trains on "
                + (
                    f"a stratified subset of {first['max_train_samples']:,} examples"
                    if first.get("max_train_samples")
                    else "the full training set"
                )
                + f". LoRA {self.cite('hu2022lora')} adapters are trained with PEFT; full fine-tuning updates every weight."
            ),
            Table(["method", "kind", "learning rate", "settings"], rows, "Methods compared.", "llrl"),
        )

    def tuning(self) -> None:
        """The search spaces, trial counts and chosen values of ``lorascope tune``, when the study was tuned."""
        path = self.data.folder / "tune" / "summary.json"
        if not self.data.spec.get("tune") or not path.is_file():
            return
        summary = json.loads(path.read_text(encoding="utf-8"))
        settings, searches = summary["settings"], summary["searches"]
        sampler, pruner = settings["sampler"], settings["pruner"]
        pruning = (
            f"a median pruner (after {pruner['n_startup_trials']} trials, from evaluation {pruner['n_warmup_steps']}) "
            "stopped trials whose score at an evaluation fell below the median of earlier trials at that evaluation"
            if pruner["enabled"]
            else "no pruning"
        )
        self.doc.add(
            Heading("Hyperparameter search"),
            Paragraph(
                f"Each method was tuned separately on each task with Optuna {summary['optuna']} "
                f"{self.cite('akiba2019optuna')}: {settings['trials']} trials per task and method, a TPE sampler "
                f"{self.cite('bergstra2011tpe')} (seed {settings['seed']}, {sampler['n_startup_trials']} random "
                f"startup trials, multivariate {str(sampler['multivariate']).lower()}) and {pruning}. The objective was "
                f"the task's main metric on {summary['objective']}, from each trial's best checkpoint. The runs "
                "reported below train with each row's chosen values."
            ),
        )
        spaces: dict[str, list[list[str]]] = {}
        for search in searches:
            spaces.setdefault(search["group"]["method"], [[k, v] for k, v in search["space"].items()])
        rows = [[method, key, distribution] for method, params in spaces.items() for key, distribution in params]
        self.doc.add(Table(["method", "parameter", "distribution"], rows, "Search spaces.", "lll"))
        rows = []
        for search in searches:
            counts = search["trials"]
            chosen = ", ".join(
                f"{k.split('.')[-1]} = {short_value(v)}" for k, v in (search.get("values") or {}).items()
            )
            rows.append(
                [
                    search["label"],
                    f"{counts['complete']} / {counts['pruned']} / {counts['failed']}",
                    _fmt(search.get("best_value")),
                    chosen or "—",
                ]
            )
        self.doc.add(
            Table(
                ["task · method", "complete / pruned / failed", "best", "chosen values"],
                rows,
                "Trials and the chosen values (best objective) of each search.",
                "lrrl",
            )
        )
        if len(searches) <= 4:
            for search in searches:
                figure = self._copy_figure(
                    path.parent / search["folder"] / "history.png", f"tune_{search['folder']}.png"
                )
                if figure:
                    self.doc.add(
                        Figure(
                            figure,
                            f"Search of {search['label']}: objective per trial, best so far.",
                            figure.with_suffix(".pdf"),
                        )
                    )
        self.limitations.append(
            f"{settings['trials']} search trials per task and method: the chosen values are the best found, not "
            "necessarily the best there are."
        )
        for search in searches:
            for key in search.get("at_edge", []):
                self.limitations.append(
                    f"{search['label']}: the chosen {key} = {short_value(search['values'][key])} lies at the edge of its "
                    f"search range ({search['space'][key]}); a wider range might find better values."
                )
        if settings["objective"] == "eval":
            self.limitations.append(
                "Hyperparameters were chosen on the evaluation set the results are reported on, so those results "
                "are optimistic; tune.objective: holdout keeps it unseen."
            )

    def _copy_figure(self, source: Path, name: str | None = None) -> Path | None:
        """Copy a PNG (and its PDF twin, when there is one) into the report's figures folder."""
        if not source.is_file():
            return None
        target = self.figures / (name or source.name)
        shutil.copyfile(source, target)
        if source.with_suffix(".pdf").is_file():
            shutil.copyfile(source.with_suffix(".pdf"), target.with_suffix(".pdf"))
        return target

    def results(self) -> None:
        data = self.data
        self.doc.add(Heading("Results"))
        csv_rows, panels = [], {}
        for task in data.tasks:
            metrics = sorted({m for r in data.runs if r["group"]["task"] == task for m in r["results"]["metrics"]})
            metrics.sort(key=lambda m: m != self.main_metric[task])
            rows = []
            for label, members in self._table_groups(task):
                cells = []
                for metric in metrics:
                    values = [
                        float(r["results"]["metrics"][metric])
                        for r in members
                        if r["results"]["metrics"].get(metric) is not None
                    ]
                    if not values:
                        cells.append("—")
                        continue
                    interval = mean_interval(values)
                    cells.append(interval.format())
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
                results = [r["results"] for r in members]
                rows.append(
                    [
                        label,
                        str(len(members)),
                        *cells,
                        _count(_mean([r.get("trainable_params") for r in results])),
                        _count(_mean([r.get("lora_params") for r in results])),
                        _fmt(_mean([r.get("train_seconds") for r in results]), 1),
                        _count(_mean([r.get("peak_memory_mb") for r in results])),
                    ]
                )
            caption = (
                f"{task}: mean [95% Student's t interval] over seeds; parameters trained, LoRA parameters, "
                "training seconds and peak memory (MB) are means."
            )
            columns = ["method", "n", *metrics, "trainable", "LoRA params", "train s", "peak MB"]
            self.doc.add(Table(columns, rows, caption))
            main = self.main_metric[task]
            panels[task] = (
                main,
                {v: mean_interval(data.values(task, v, main)) for v in data.variants if data.values(task, v, main)},
                {v: data.values(task, v, main) for v in data.variants},
            )
        write_csv(self.tables / "results_ci.csv", csv_rows)
        png, _ = metric_by_method(panels, self.figures / "metrics.png")
        self.doc.add(
            Figure(
                png, "Each task's main metric by method: mean, 95% interval and every seed.", png.with_suffix(".pdf")
            )
        )
        self.anova()
        self.across_tasks()

    def _table_groups(self, task: str) -> list[tuple[str, list[dict]]]:
        groups: dict[str, list[dict]] = defaultdict(list)
        for r in self.data.baselines:
            if r["group"]["task"] == task:
                groups[f"{r['variant']} (baseline)"].append(r)
        for r in self.data.runs:
            if r["group"]["task"] == task:
                groups[r["variant"]].append(r)
        return list(groups.items())

    def anova(self) -> None:
        rows, csv_rows = [], []
        for task in self.data.tasks:
            metric = self.main_metric[task]
            groups = {v: self.data.values(task, v, metric) for v in self.data.variants}
            groups = {v: g for v, g in groups.items() if len(g) >= 2}
            if len(groups) < 2:
                continue
            result = one_way_anova(list(groups.values()))
            rows.append(
                [
                    task,
                    metric,
                    str(result.groups),
                    str(result.n),
                    _fmt(result.f, 2),
                    _p(result.p),
                    _fmt(result.welch_f, 2),
                    _p(result.welch_p),
                    _fmt(result.eta_squared),
                    _fmt(result.omega_squared),
                ]
            )
            csv_rows.append({"task": task, "metric": metric} | result.__dict__)
        if rows:
            self.doc.add(
                Paragraph(
                    "One-way ANOVA across methods per task on the main metric, classic and Welch's "
                    f"{self.cite('welch1951')} (which does not assume equal variances), with the effect sizes "
                    "η² (the share of variance between methods) and ω² (its less biased form)."
                ),
                Table(
                    ["task", "metric", "methods", "runs", "F", "p", "Welch F", "Welch p", "η²", "ω²"],
                    rows,
                    "ANOVA across methods.",
                ),
            )
            write_csv(self.tables / "anova.csv", csv_rows)

    def across_tasks(self) -> None:
        data = self.data
        if len(data.tasks) < 2:
            return
        rows, csv_rows = [], []
        reference = self.reference
        for variant in data.variants:
            scores = {t: data.values(t, variant, self.main_metric[t]) for t in data.tasks}
            scores = {t: v for t, v in scores.items() if v}
            interval = iqm_across_tasks(scores)
            improvement: Interval | None = None
            if variant != reference:
                pairs = {
                    t: (data.values(t, variant, self.main_metric[t]), data.values(t, reference, self.main_metric[t]))
                    for t in data.tasks
                }
                pairs = {t: p for t, p in pairs.items() if p[0] and p[1]}
                improvement = improvement_across_tasks(pairs) if pairs else None
            rows.append([variant, interval.format(), improvement.format() if improvement else "—"])
            csv_rows.append(
                {
                    "method": variant,
                    "iqm": interval.estimate,
                    "iqm_low": interval.low,
                    "iqm_high": interval.high,
                    f"p_improvement_over_{reference}": improvement.estimate if improvement else None,
                    "p_improvement_low": improvement.low if improvement else None,
                    "p_improvement_high": improvement.high if improvement else None,
                }
            )
        self.doc.add(
            Paragraph(
                f"Across tasks {self.cite('agarwal2021precipice')}: the interquartile mean (IQM) of every run's main "
                f"metric, and the probability that a run of the method beats a run of {reference} on a task drawn at "
                "random; 95% stratified-bootstrap intervals (seeds resampled within each task). Main metrics differ "
                "between tasks (accuracy, Pearson), so the IQM mixes scales; read it as a summary, not a score."
            ),
            Table(["method", "IQM [95%]", f"P(beats {reference}) [95%]"], rows, "Aggregates across tasks.", "lrr"),
        )
        write_csv(self.tables / "across_tasks.csv", csv_rows)

    def hypotheses(self) -> None:
        rows = self.hypothesis_rows
        if not rows:
            return
        write_hypotheses(rows, self.tables / "hypotheses.csv")
        kinds = {r["kind"] for r in rows} - {"compound"}
        keys = {
            "non-inferiority": ("fieller1954",),
            "equivalence": ("schuirmann1987tost",),
            "reduction": (),
            "overhead": ("welch1947", "hsu1938"),
        }
        for kind in kinds:
            if keys[kind]:
                self.cite(*keys[kind])
        method = {"holm": "holm1979", "bonferroni": "holm1979", "fdr_bh": "benjamini1995"}[self.settings.correction]
        table = []
        for r in rows:
            if "p_value" not in r:
                table.append([r["hypothesis"], r["task"], "—", "—", "—", "—", "not tested: " + r.get("note", "")])
                continue
            estimate = (
                f"{_fmt(r.get('estimate'))} [{_fmt(r.get('ci_low'))}, {_fmt(r.get('ci_high'))}]"
                if "estimate" in r
                else "—"
            )
            decision = r.get("holds_adjusted", r["holds"])
            adjusted = _p(r["p_adjusted"]) if "p_adjusted" in r else "—"
            table.append(
                [
                    r["hypothesis"],
                    r["task"],
                    estimate,
                    _p(r["p_value"]),
                    adjusted,
                    "holds" if decision else "not supported",
                    r["test"],
                ]
            )
        self.doc.add(
            Heading("Hypotheses"),
            Paragraph(
                f"Each declared claim is tested per task and on every task at once; the latter is an "
                f"intersection–union test {self.cite('berger1982iut')} (it holds when every task's test rejects, with "
                f"p the largest per-task p). Across the declared family the all-task p-values are adjusted by "
                f"{self.settings.correction} {self.cite(method)} at α = {self.settings.alpha:g}. Seeds are paired "
                f"by seed; per-task tests are one-sided {self.settings.test} tests and intervals are two-sided at 1 − 2α. "
                "A seed whose value is missing or NaN is never dropped: the claim is not tested, or the seed is "
                "scored by the study file's rule, and the row says which."
            ),
            Table(
                ["hypothesis", "task", "estimate [1 − 2α]", "p", "adjusted p", "decision", "test"],
                rows=table,
                caption="Declared hypotheses. Estimates: ratio of means (relative margins, overheads and "
                "reductions with ratio: means), difference of means (absolute margins) or geometric mean of "
                "per-seed ratios (reductions); each interval inverts the test that decides.",
                align="llrrrll",
            ),
        )
        reasons = {r["kind"]: f"{r['kind']}: {r['why']}" for r in rows if r.get("why")}
        if self.settings.compound:
            self.cite("berger1982iut", "simes1986" if self.settings.any_test == "simes" else "holm1979")
            reasons["compound"] = (
                "compound: an AND of claims holds when every part does (intersection–union: p is the largest "
                "part's); an OR is tested by "
                + (
                    "Simes' test (min over i of k·p₍ᵢ₎/i; valid for independent or positively dependent parts)"
                    if self.settings.any_test == "simes"
                    else "Bonferroni (k times the smallest part's p; valid under any dependence)"
                )
                + ", so reading an OR off unadjusted rows, which errs more often than α, is never needed."
            )
        if reasons:
            self.doc.add(Bullets(list(reasons.values())))
        for r in rows:
            if r.get("note"):
                self.limitations.append(f"{r['hypothesis']} on {r['task']}: {r['note']}")

    def drift(self) -> None:
        rows = self.data.drift_rows
        if not rows:
            return
        from lorascope.analysis.drift import DRIFT, compare_methods

        drift_dir = self.data.folder / "drift"
        comparison = compare_methods(rows, self.reference, DRIFT)
        intruder_measures = sorted({r["measure"] for r in rows if r["measure"].startswith("intruders@")})
        if intruder_measures:
            comparison += compare_methods(rows, self.reference, intruder_measures[len(intruder_measures) // 2])
        self.doc.add(
            Heading("Representational drift"),
            Paragraph(
                f"Drift of a layer is 1 − linear CKA {self.cite('kornblith2019cka')} between its representation of a "
                "fixed probe set under the base model and under the fine-tuned model; intruder dimensions "
                f"{self.cite('shuttleworth2024intruders')} are top singular vectors of a fine-tuned weight unlike any of "
                "the base weight's. Methods are compared on the final model's mean over layers, one value per run, by an "
                f"exact permutation test {self.cite('good2005permutation')}."
            ),
        )
        if comparison:
            table = [
                [
                    c["task"],
                    c["measure"],
                    f"{c['method']} vs {c['reference']}",
                    f"{c['mean_method']:.4g} vs {c['mean_reference']:.4g}",
                    _fmt(c["reduction_percent"], 1),
                    f"{c['runs_method']} vs {c['runs_reference']}",
                    _p(c["p_value"]),
                ]
                for c in comparison
            ]
            self.doc.add(
                Table(
                    ["task", "measure", "methods", "means", "reduction %", "runs", "p"],
                    table,
                    "Drift and intruder dimensions by method.",
                    "lllrrrr",
                )
            )
            write_csv(self.tables / "drift_comparison.csv", comparison)
        for name, caption in (
            ("drift_per_layer", "Drift per layer of the final model: mean and min–max band over seeds."),
            ("drift_over_steps", "Drift over training, mean over layers and seeds."),
            ("intruders", "Intruder dimensions of the final models against ε, and per layer."),
        ):
            figure = self._copy_figure(drift_dir / f"{name}.png")
            if figure:
                self.doc.add(Figure(figure, caption, figure.with_suffix(".pdf")))

    def serving(self) -> None:
        benches = sorted({r["bench"] for r in self.data.serving_rows})
        if not benches:
            return
        self.doc.add(
            Heading("Serving cost"),
            Paragraph(
                "The same requests served by one base model with mixed LoRA adapter batches (adapters), by each "
                "adapter's merged model (merged) and by the bare base (base), with `lorascope serve-bench`; the "
                "overhead is the mean latency with adapters over merged, with a 95% interval over repetitions that "
                f"inverts Welch's t test {self.cite('welch1947', 'hsu1938')} of mean(adapters) − ρ · mean(merged)."
            ),
        )
        for bench in benches:
            folder = self.data.folder / "serving" / bench
            with (folder / "overhead.csv").open(newline="", encoding="utf-8") as handle:
                overhead = list(csv.DictReader(handle))
            rows = [
                [
                    r["batch_size"],
                    _fmt(float(r["latency_ratio"])),
                    f"[{_fmt(float(r['ci_low']))}, {_fmt(float(r['ci_high']))}]" if r.get("ci_low") else "—",
                ]
                for r in overhead
            ]
            self.doc.add(
                Table(["batch size", "latency ratio", "95% interval"], rows, f"{bench}: adapters over merged.", "rrr")
            )
            target = self._copy_figure(folder / "serving.png", f"serving_{bench}.png")
            if target:
                self.doc.add(
                    Figure(target, f"{bench}: latency and throughput against batch size.", target.with_suffix(".pdf"))
                )

    def ranks(self) -> None:
        allocated = [r for r in self.data.runs if r["results"].get("rank_strategy") not in (None, "uniform")]
        if not allocated:
            return
        self.cite("zhang2023adalora")
        rows = []
        for variant in dict.fromkeys(r["variant"] for r in allocated):
            members = [r for r in allocated if r["variant"] == variant]
            rows.append(
                [
                    variant,
                    members[0]["results"]["rank_strategy"],
                    _count(_mean([r["results"].get("lora_params") for r in members])),
                ]
            )
        self.doc.add(
            Heading("Rank allocation"),
            Paragraph(
                "Methods whose per-layer LoRA ranks were allocated from data (svd-energy, fisher) or adapted during "
                f"training (AdaLoRA {self.cite('zhang2023adalora')}); every run's allocation and its evidence are in its `ranks/` folder."
            ),
            Table(["method", "strategy", "LoRA params"], rows, "Rank strategies.", "llr"),
        )
        for member in allocated:
            heatmap = self.data.folder / member["folder"] / "ranks" / "svd" / "r_raw_heatmap.png"
            target = self._copy_figure(heatmap, f"ranks_{member['variant']}.png")
            if target:
                self.doc.add(
                    Figure(
                        target, f"{member['variant']}, seed {member['seed']}: per-layer ranks over depth × module type."
                    )
                )
                break

    def limits(self) -> None:
        data = self.data
        seeds = sorted({r["seed"] for r in data.runs})
        self.limitations += power_warnings(len(seeds), self.settings.test, self.settings.alpha)
        if len(seeds) < 4:
            self.limitations.append(
                f"{len(seeds)} seeds per method: an exact permutation test of two methods needs at least 4 per method to reach p < 0.05."
            )
        first = data.runs[0]["config"]
        if first.get("max_train_samples"):
            self.limitations.append(
                f"Training used subsets of {first['max_train_samples']:,} examples; full-data results may differ."
            )
        models = {r["config"]["model"] for r in data.runs}
        if len(models) == 1:
            self.limitations.append("One model only: the conclusions may not transfer to other architectures or sizes.")
        missing = [p for p in data.planned if p["status"] != "done"]
        if missing:
            self.limitations.append(f"{len(missing)} planned run(s) did not finish and are left out.")
        devices = {r["results"].get("device") for r in data.runs}
        self.limitations.append(
            f"Trained on {', '.join(sorted(str(d) for d in devices))}; timings and memory are specific to it."
        )
        self.doc.add(Heading("Limitations"), Bullets(self.limitations))

    def reproducibility(self) -> None:
        data = self.data
        results = data.runs[0]["results"]
        versions = results.get("versions") or {}
        version_text = ", ".join(f"{k} {v}" for k, v in sorted(versions.items()))
        seeds = sorted({r["seed"] for r in data.runs})
        self.doc.add(
            Heading("Reproducibility"),
            Paragraph(
                f"{version_text or f'lorascope {__version__}'}. Device: {results.get('device')}, precision "
                f"{results.get('precision')}. Seeds: {', '.join(map(str, seeds))}. Every run folder holds its "
                "resolved `config.yaml` and `environment.json`; the study below, run with `lorascope study`, "
                "repeats every run (finished runs are found by the hash of their config and skipped)."
            ),
        )
        study_file = data.folder / "study.yaml"
        if study_file.is_file():
            self.doc.add(Code(study_file.read_text(encoding="utf-8")))


def build_report(
    study_dir: Path | str, out: Path | str | None = None, formats: tuple[str, ...] = FORMATS
) -> dict[str, Path]:
    """Write the report of a study folder.

    Args:
        study_dir: a folder written by ``lorascope study`` (``plan.json``, runs, drift, serving).
        out: where the report goes (default ``study_dir/report``).
        formats: any of ``md``, ``html``, ``tex``.

    Returns:
        Format → path of the file written.
    """
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        raise LorascopeError(f"--format: unknown {', '.join(unknown)}; choose from {', '.join(FORMATS)}")
    study_dir = Path(study_dir)
    out = Path(out) if out else study_dir / "report"
    data = read_study(study_dir)
    builder = ReportBuilder(data, out)
    doc = builder.build()
    written: dict[str, Path] = {}
    if "md" in formats:
        written["md"] = out / "report.md"
        written["md"].write_text(to_markdown(doc, Path("figures")), encoding="utf-8")
    if "html" in formats:
        written["html"] = out / "report.html"
        written["html"].write_text(to_html(doc), encoding="utf-8")
    if "tex" in formats:
        paper = out / "paper"
        (paper / "figures").mkdir(parents=True, exist_ok=True)
        for block in doc.blocks:
            if isinstance(block, Figure):
                source = block.pdf if block.pdf and block.pdf.is_file() else block.png
                shutil.copyfile(source, paper / "figures" / source.name)
        (paper / "main.tex").write_text(to_latex(doc), encoding="utf-8")
        (paper / "refs.bib").write_text(to_bibtex(doc), encoding="utf-8")
        written["tex"] = paper / "main.tex"
    return written


def compile_pdf(main_tex: Path) -> Path:
    """Compile ``main.tex`` with latexmk (or pdflatex + bibtex); the PDF's path."""
    import subprocess

    folder = main_tex.parent
    if shutil.which("latexmk"):
        commands = [["latexmk", "-pdf", "-interaction=nonstopmode", "-halt-on-error", main_tex.name]]
    elif shutil.which("pdflatex"):
        run = ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", main_tex.name]
        commands = [run, ["bibtex", main_tex.stem], run, run]
    else:
        raise LorascopeError(
            "--pdf: neither latexmk nor pdflatex is installed (e.g. apt install latexmk texlive-latex-recommended)"
        )
    for command in commands:
        done = subprocess.run(command, cwd=folder, capture_output=True, text=True)
        if done.returncode != 0:
            tail = "\n".join(done.stdout.splitlines()[-15:])
            raise LorascopeError(f"{' '.join(command)} failed in {folder}:\n{tail}")
    return folder / f"{main_tex.stem}.pdf"
