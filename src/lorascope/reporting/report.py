"""``lorascope report``: a draft paper from a study folder — setup, results with confidence
intervals, ANOVA, aggregates across tasks, the declared hypotheses, drift and ranks when present,
limitations and reproducibility — as Markdown, self-contained HTML and arXiv-ready LaTeX. The
numbers are ``reporting.sections``'; this module lays them out, writes the tables and figures.

Report folder::

    report.md  report.html
    figures/   PNG and PDF
    tables/    results_ci.csv, anova.csv, across_tasks.csv, hypotheses.csv, drift_comparison.csv
    paper/     main.tex, refs.bib, figures/ (PDF where there is one)
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

from lorascope import __version__
from lorascope.errors import LorascopeError
from lorascope.io import short_value, write_atomically, write_csv
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
from lorascope.reporting.sections import (
    AcrossTasks,
    AnovaRow,
    BenchCost,
    DriftComparison,
    Hypotheses,
    Ranks,
    Reproducibility,
    Results,
    Sections,
    Setup,
    Summary,
    Tuning,
    compute,
    read_study,
)
from lorascope.stats.hypotheses import COLUMNS as HYPOTHESIS_COLUMNS

FORMATS = ("md", "html", "tex")
DRIFT_CAPTIONS = {
    "drift_per_layer": "Drift per layer of the final model: mean and min–max band over seeds.",
    "drift_over_steps": "Drift over training, mean over layers and seeds.",
    "intruders": "Intruder dimensions of the final models against ε, and per layer.",
}


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


class _Renderer:
    """Lays the sections out as document blocks, writing the CSV tables and figures they show."""

    def __init__(self, title: str, out: Path):
        self.figures, self.tables = out / "figures", out / "tables"
        self.figures.mkdir(parents=True, exist_ok=True)
        self.tables.mkdir(parents=True, exist_ok=True)
        self.doc = Document(title)
        self.keys: list[str] = ["hu2022lora"]

    def cite(self, *keys: str) -> str:
        for key in keys:
            if key not in self.keys:
                self.keys.append(key)
        return " ".join(f"[@{k}]" for k in keys)

    def copy_figure(self, source: Path, name: str | None = None) -> Path | None:
        """Copy a PNG (and its PDF twin, when there is one) into the report's figures folder."""
        if not source.is_file():
            return None
        target = self.figures / (name or source.name)
        shutil.copyfile(source, target)
        if source.with_suffix(".pdf").is_file():
            shutil.copyfile(source.with_suffix(".pdf"), target.with_suffix(".pdf"))
        return target

    def render(self, sections: Sections) -> Document:
        self.summary(sections.summary)
        self.setup(sections.setup)
        if sections.tuning:
            self.tuning(sections.tuning)
        self.results(sections.results)
        self.anova(sections.anova)
        if sections.across_tasks:
            self.across_tasks(sections.across_tasks)
        if sections.hypotheses.rows:
            self.hypotheses(sections.hypotheses)
        if sections.drift:
            self.drift(sections.drift)
        if sections.serving:
            self.serving(sections.serving)
        if sections.ranks:
            self.ranks(sections.ranks)
        self.doc.add(Heading("Limitations"), Bullets(sections.limitations))
        self.reproducibility(sections.reproducibility)
        self.doc.references = cited(*self.keys)
        return self.doc

    def summary(self, summary: Summary) -> None:
        variants, tasks, seeds = summary.variants, summary.tasks, summary.seeds
        text = (
            f"This report compares {len(variants)} methods ({', '.join(variants)}) on "
            f"{len(tasks)} task{'s' * (len(tasks) != 1)} ({', '.join(tasks)}) over "
            f"{len(seeds)} seed{'s' * (len(seeds) != 1)} each, {summary.runs} finished runs in all. "
            "Every number below is computed from the runs' results files; intervals are 95% over seeds."
        )
        self.doc.add(Heading("Summary"), Paragraph(text))
        if summary.claims:
            items = []
            for r in summary.claims:
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

    def setup(self, setup: Setup) -> None:
        first = setup.config
        rows = [[m.variant, m.method, f"{m.learning_rate:g}", m.settings] for m in setup.methods]
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

    def tuning(self, tuning: Tuning) -> None:
        summary = tuning.summary
        settings = summary.settings
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
                f"Each method was tuned separately on each task with Optuna {summary.optuna} "
                f"{self.cite('akiba2019optuna')}: {settings['trials']} trials per task and method, a TPE sampler "
                f"{self.cite('bergstra2011tpe')} (seed {settings['seed']}, {sampler['n_startup_trials']} random "
                f"startup trials, multivariate {str(sampler['multivariate']).lower()}) and {pruning}. The objective was "
                f"the task's main metric on {summary.objective}, from each trial's best checkpoint. The runs "
                "reported below train with each row's chosen values."
            ),
            Table(["method", "parameter", "distribution"], [list(r) for r in tuning.spaces], "Search spaces.", "lll"),
        )
        rows = []
        for search in summary.searches:
            counts = search.trials
            chosen = ", ".join(f"{k.split('.')[-1]} = {short_value(v)}" for k, v in (search.values or {}).items())
            rows.append(
                [
                    search.label,
                    f"{counts.complete} / {counts.pruned} / {counts.failed}",
                    _fmt(search.best_value),
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
        for search, source in tuning.figures:
            figure = self.copy_figure(source, f"tune_{search.folder}.png")
            if figure:
                caption = f"Search of {search.label}: objective per trial, best so far."
                self.doc.add(Figure(figure, caption, figure.with_suffix(".pdf")))

    def results(self, results: Results) -> None:
        self.doc.add(Heading("Results"))
        for table in results.tasks:
            rows = [
                [
                    r.label,
                    str(r.runs),
                    *(cell.format() if cell is not None else "—" for cell in r.cells),
                    _count(r.trainable_params),
                    _count(r.lora_params),
                    _fmt(r.train_seconds, 1),
                    _count(r.peak_memory_mb),
                ]
                for r in table.rows
            ]
            caption = (
                f"{table.task}: mean [95% Student's t interval] over seeds; parameters trained, LoRA parameters, "
                "training seconds and peak memory (MB) are means."
            )
            columns = ["method", "n", *table.metrics, "trainable", "LoRA params", "train s", "peak MB"]
            self.doc.add(Table(columns, rows, caption))
        write_csv(self.tables / "results_ci.csv", results.csv_rows)
        png, _ = metric_by_method(results.panels, self.figures / "metrics.png")
        self.doc.add(
            Figure(
                png, "Each task's main metric by method: mean, 95% interval and every seed.", png.with_suffix(".pdf")
            )
        )

    def anova(self, anova: list[AnovaRow]) -> None:
        if not anova:
            return
        rows = [
            [
                a.task,
                a.metric,
                str(a.result.groups),
                str(a.result.n),
                _fmt(a.result.f, 2),
                _p(a.result.p),
                _fmt(a.result.welch_f, 2),
                _p(a.result.welch_p),
                _fmt(a.result.eta_squared),
                _fmt(a.result.omega_squared),
            ]
            for a in anova
        ]
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
        write_csv(self.tables / "anova.csv", [a.csv_row for a in anova])

    def across_tasks(self, across: AcrossTasks) -> None:
        reference = across.reference
        rows = [[r.variant, r.iqm.format(), r.improvement.format() if r.improvement else "—"] for r in across.rows]
        self.doc.add(
            Paragraph(
                f"Across tasks {self.cite('agarwal2021precipice')}: the interquartile mean (IQM) of every run's main "
                f"metric, and the probability that a run of the method beats a run of {reference} on a task drawn at "
                "random; 95% stratified-bootstrap intervals (seeds resampled within each task). Main metrics differ "
                "between tasks (accuracy, Pearson), so the IQM mixes scales; read it as a summary, not a score."
            ),
            Table(["method", "IQM [95%]", f"P(beats {reference}) [95%]"], rows, "Aggregates across tasks.", "lrr"),
        )
        write_csv(self.tables / "across_tasks.csv", across.csv_rows)

    def hypotheses(self, tested: Hypotheses) -> None:
        rows, settings = tested.rows, tested.settings
        write_csv(self.tables / "hypotheses.csv", [{k: r.get(k, "") for k in HYPOTHESIS_COLUMNS} for r in rows])
        kinds = dict.fromkeys(r["kind"] for r in rows if r["kind"] != "compound")  # cited in the rows' order
        keys = {
            "non-inferiority": ("fieller1954",),
            "equivalence": ("schuirmann1987tost",),
            "reduction": (),
            "overhead": ("welch1947", "hsu1938"),
        }
        for kind in kinds:
            if keys[kind]:
                self.cite(*keys[kind])
        method = {"holm": "holm1979", "bonferroni": "holm1979", "fdr_bh": "benjamini1995"}[settings.correction]
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
                f"{settings.correction} {self.cite(method)} at α = {settings.alpha:g}. Seeds are paired "
                f"by seed; per-task tests are one-sided {settings.test} tests and intervals are two-sided at 1 − 2α. "
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
        if settings.compound:
            self.cite("berger1982iut", "simes1986" if settings.any_test == "simes" else "holm1979")
            reasons["compound"] = (
                "compound: an AND of claims holds when every part does (intersection–union: p is the largest "
                "part's); an OR is tested by "
                + (
                    "Simes' test (min over i of k·p₍ᵢ₎/i; valid for independent or positively dependent parts)"
                    if settings.any_test == "simes"
                    else "Bonferroni (k times the smallest part's p; valid under any dependence)"
                )
                + ", so reading an OR off unadjusted rows, which errs more often than α, is never needed."
            )
        if reasons:
            self.doc.add(Bullets(list(reasons.values())))

    def drift(self, drift: DriftComparison) -> None:
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
        if drift.comparison:
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
                for c in drift.comparison
            ]
            self.doc.add(
                Table(
                    ["task", "measure", "methods", "means", "reduction %", "runs", "p"],
                    table,
                    "Drift and intruder dimensions by method.",
                    "lllrrrr",
                )
            )
            write_csv(self.tables / "drift_comparison.csv", drift.comparison)
        for source in drift.figures:
            figure = self.copy_figure(source)
            if figure:
                self.doc.add(Figure(figure, DRIFT_CAPTIONS[source.stem], figure.with_suffix(".pdf")))

    def serving(self, benches: list[BenchCost]) -> None:
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
            rows = [
                [
                    str(r.batch_size),
                    _fmt(r.latency_ratio),
                    f"[{_fmt(r.ci_low)}, {_fmt(r.ci_high)}]" if r.ci_low is not None else "—",
                ]
                for r in bench.overhead
            ]
            self.doc.add(
                Table(
                    ["batch size", "latency ratio", "95% interval"], rows, f"{bench.name}: adapters over merged.", "rrr"
                )
            )
            target = self.copy_figure(bench.figure, f"serving_{bench.name}.png")
            if target:
                caption = f"{bench.name}: latency and throughput against batch size."
                self.doc.add(Figure(target, caption, target.with_suffix(".pdf")))

    def ranks(self, ranks: Ranks) -> None:
        self.cite("zhang2023adalora")
        rows = [[r.variant, r.strategy, _count(r.lora_params)] for r in ranks.rows]
        self.doc.add(
            Heading("Rank allocation"),
            Paragraph(
                "Methods whose per-layer LoRA ranks were allocated from data (svd-energy, fisher) or adapted during "
                f"training (AdaLoRA {self.cite('zhang2023adalora')}); every run's allocation and its evidence are in its `ranks/` folder."
            ),
            Table(["method", "strategy", "LoRA params"], rows, "Rank strategies.", "llr"),
        )
        for heatmap, run in ranks.heatmaps:
            target = self.copy_figure(heatmap, f"ranks_{run.variant}.png")
            if target:
                caption = f"{run.variant}, seed {run.seed}: per-layer ranks over depth × module type."
                self.doc.add(Figure(target, caption))
                break

    def reproducibility(self, repro: Reproducibility) -> None:
        version_text = ", ".join(f"{k} {v}" for k, v in sorted(repro.versions.items()))
        self.doc.add(
            Heading("Reproducibility"),
            Paragraph(
                f"{version_text or f'lorascope {__version__}'}. Device: {repro.device}, precision "
                f"{repro.precision}. Seeds: {', '.join(map(str, repro.seeds))}. Every run folder holds its "
                "resolved `config.yaml` and `environment.json`; the study below, run with `lorascope study`, "
                "repeats every run (finished runs are found by the hash of their config and skipped)."
            ),
        )
        if repro.study_text is not None:
            self.doc.add(Code(repro.study_text))


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
    title = f"{data.name}: {' vs '.join(data.variants)} on {', '.join(data.tasks)}"
    doc = _Renderer(title, out).render(compute(data))
    written: dict[str, Path] = {}
    if "md" in formats:
        written["md"] = out / "report.md"
        write_atomically(written["md"], to_markdown(doc, Path("figures")))
    if "html" in formats:
        written["html"] = out / "report.html"
        write_atomically(written["html"], to_html(doc))
    if "tex" in formats:
        paper = out / "paper"
        (paper / "figures").mkdir(parents=True, exist_ok=True)
        for block in doc.blocks:
            if isinstance(block, Figure):
                source = block.pdf if block.pdf and block.pdf.is_file() else block.png
                shutil.copyfile(source, paper / "figures" / source.name)
        write_atomically(paper / "main.tex", to_latex(doc))
        write_atomically(paper / "refs.bib", to_bibtex(doc))
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
