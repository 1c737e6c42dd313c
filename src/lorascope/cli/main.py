"""The ``lorascope`` command line: train, validate, study, tune, sanity, ranks, drift, report, serving, demo."""

from __future__ import annotations

import argparse
import sys
import warnings
from datetime import datetime
from pathlib import Path

from lorascope import __version__
from lorascope.errors import LorascopeError
from lorascope.registry import METHODS, method_spec

EXAMPLES = """examples:
  lorascope demo                                   # offline: full vs LoRA on a generated task
  lorascope validate examples/sst2_lora.yaml       # check a config without training
  lorascope train examples/sst2_lora.yaml --out runs/sst2-lora
  lorascope train examples/sst2_lora.yaml lora.r=16 seed=2 data_dir=../shared/data/glue
  lorascope train examples/sst2_lora.yaml --out runs/sst2-lora --resume   # after an interruption
  lorascope study examples/studies/glue_bert_base.yaml --dry-run     # list the runs of a grid
  lorascope study examples/studies/glue_bert_base.yaml --out studies/glue   # start, or continue
  lorascope tune examples/studies/tune_minilm_sst2.yaml   # Optuna per task × method; then `study` uses the winners
  lorascope sanity examples/sst2_lora.yaml         # can this setup overfit 64 training examples?
  lorascope results studies/glue                   # the table: mean ± std over seeds
  lorascope ranks examples/ranks_minilm_sst2.yaml  # per-layer ranks: brief fine-tune, SVD of ΔW
  lorascope ranks --base PRETRAINED --finetuned FINETUNED --budget-r 8   # ranks from two checkpoints
  lorascope drift studies/glue --out drift/glue     # how far each method moved the model's layers
  lorascope report studies/glue                     # a draft paper: report.md, report.html, paper/main.tex
  lorascope serve-bench examples/serving/tiny_llama.yaml   # mixed adapters vs merged models
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lorascope",
        description="Rigorous research on LoRA and parameter-efficient fine-tuning.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"lorascope {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = commands.add_parser(
        "train",
        help="fine-tune per a YAML config",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    train.add_argument("config", type=Path, help="run config (YAML); see docs/configuration.md")
    train.add_argument("overrides", nargs="*", metavar="key.sub=value", help="override config keys")
    train.add_argument("--out", type=Path, help="run folder (default: runs/<task>-<method>-seed<seed>-<time>)")
    train.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --out")

    validate = commands.add_parser("validate", help="check a config, its data and its model without training")
    validate.add_argument("config", type=Path)
    validate.add_argument("overrides", nargs="*", metavar="key.sub=value")

    study = commands.add_parser(
        "study",
        help="run a grid of runs from a study file: baselines, sanity checks, models × tasks × methods × seeds",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    study.add_argument("study", type=Path, help="study file (YAML); see docs/studies.md")
    study.add_argument("overrides", nargs="*", metavar="key.sub=value", help="override study keys, e.g. grid.seed=[0]")
    study.add_argument("--out", type=Path, help="study folder (default: studies/<name>); run again to continue")
    study.add_argument("--dry-run", action="store_true", help="list the runs and their status; train nothing")
    study.add_argument("--fail-fast", action="store_true", help="stop at the first failed run")

    tune = commands.add_parser(
        "tune",
        help="hyperparameter search per task × method (Optuna), the first phase of a study with a tune: section",
        description="Run trials until every task × method of the study has tune.trials of them; start several "
        "with the same --out (or tune.storage) to share the work. Writes STUDY_DIR/tune/: best.yaml per row, "
        "trials.csv, figures, summary.json; `lorascope study` then trains the runs with the chosen values.",
    )
    tune.add_argument("study", type=Path, help="study file (YAML) with a tune: section; see docs/tuning.md")
    tune.add_argument("overrides", nargs="*", metavar="key.sub=value", help="override study keys, e.g. tune.trials=20")
    tune.add_argument("--out", type=Path, help="study folder (default: studies/<name>); the search goes in its tune/")

    sanity = commands.add_parser("sanity", help="check that a setup can overfit a few training examples")
    sanity.add_argument("config", type=Path, help="run config or study file (YAML)")
    sanity.add_argument("overrides", nargs="*", metavar="key.sub=value")
    sanity.add_argument("--out", type=Path, help="folder (default: studies/<name> for a study, runs/sanity for a run)")
    sanity.add_argument("--samples", type=int, help="training examples to overfit (default 64)")
    sanity.add_argument("--max-steps", type=int, help="optimizer steps allowed (default 100)")
    sanity.add_argument("--min-score", type=float, help="main metric needed on those examples (default 0.95)")

    ranks = commands.add_parser(
        "ranks",
        help="per-layer LoRA ranks: from a run config (brief fine-tune or Fisher), or from two checkpoints",
        description="lorascope ranks CONFIG.yaml [key=value ...]: allocate ranks as the config's lora.strategy "
        "does (settings under ranks:). lorascope ranks --base DIR --finetuned DIR: ranks from the spectrum of "
        "ΔW between two existing checkpoints.",
    )
    ranks.add_argument("config", type=Path, nargs="?", help="run config (YAML) whose lora.strategy allocates ranks")
    ranks.add_argument("overrides", nargs="*", metavar="key.sub=value", help="override config keys")
    ranks.add_argument("--base", type=Path, help="pretrained checkpoint folder (safetensors)")
    ranks.add_argument("--finetuned", type=Path, help="fine-tuned checkpoint folder (safetensors)")
    ranks.add_argument(
        "--targets", nargs="+", help="module-name suffixes to analyse (default: every 2-D weight but embeddings)"
    )
    ranks.add_argument("--energy", type=float, default=0.90, help="share of ΔW's energy the rank keeps (default 0.90)")
    ranks.add_argument(
        "--scope", choices=["global", "layer"], default="global", help="share of all layers' energy or each layer's"
    )
    ranks.add_argument("--min-r", type=int, default=4, help="smallest rank (default 4)")
    ranks.add_argument("--max-r", type=int, default=64, help="largest rank (default 64)")
    ranks.add_argument("--smooth", choices=["none", "median", "mean"], default="none", help="over depth (default none)")
    ranks.add_argument("--budget-r", type=int, help="match the parameter count of uniform LoRA of this rank")
    ranks.add_argument("--alpha-ratio", type=float, default=2.0, help="alpha = ratio · r on every layer (default 2)")
    ranks.add_argument(
        "--method", choices=["randomized", "exact"], default="randomized", help="SVD (default randomized)"
    )
    ranks.add_argument(
        "--out", type=Path, help="output folder (default: ranks, or ranks/<task>-<strategy> for a config)"
    )

    drift = commands.add_parser(
        "drift",
        help="representational drift of runs and intruder dimensions of their weights: a tidy table and figures",
        description="Runs trained with drift.enabled are analysed at every snapshot; other finished runs "
        "from their saved weights (the base and the final model). See docs/analysis.md.",
    )
    drift.add_argument(
        "runs", type=Path, nargs="+", metavar="RUN_DIR", help="finished run folders, or a study folder (all its runs)"
    )
    drift.add_argument("--out", type=Path, default=Path("drift"), help="output folder (default: drift)")
    drift.add_argument(
        "--base-cache",
        type=Path,
        help="folder of base-model snapshots, shared by runs of one model and probe set (for runs without snapshots)",
    )
    drift.add_argument(
        "--intruders",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="count intruder dimensions of the final weights (default: yes; loads each run's models)",
    )
    drift.add_argument("--reference", default="full", help="method the others are compared with (default: full)")

    report = commands.add_parser(
        "report",
        help="a draft paper from a study folder: tables with CIs, hypotheses, figures (Markdown, HTML, LaTeX)",
        description="Reads the study's runs (and its drift stage) and writes report.md, a self-contained "
        "report.html and paper/ (main.tex, refs.bib, PDF figures). See docs/reports.md.",
    )
    report.add_argument("study_dir", type=Path, help="study folder")
    report.add_argument("--out", type=Path, help="report folder (default: STUDY_DIR/report)")
    report.add_argument("--format", default="md,html,tex", help="comma-separated: md, html, tex (default: all three)")
    report.add_argument("--pdf", action="store_true", help="also compile paper/main.tex (needs latexmk or pdflatex)")

    export = commands.add_parser(
        "serve-export",
        help="export LoRA runs for serving: PEFT adapters (and merged models), with vLLM's objections",
    )
    export.add_argument("runs", type=Path, nargs="+", metavar="RUN_DIR", help="run folders, or a study folder")
    export.add_argument("--out", type=Path, default=Path("serving"), help="output folder (default: serving)")
    export.add_argument("--merged", action="store_true", help="also save each adapter merged into its base")
    export.add_argument("--max-lora-rank", type=int, default=16, help="vLLM's max_lora_rank to check against")

    bench = commands.add_parser(
        "serve-bench",
        help="latency and throughput of mixed-adapter batches vs merged models vs the base (docs/serving.md)",
    )
    bench.add_argument("spec", type=Path, help="workload (YAML)")
    bench.add_argument("overrides", nargs="*", metavar="key.sub=value", help="override workload keys")
    bench.add_argument(
        "--backend",
        choices=["peft", "vllm", "openai-http"],
        default="peft",
        help="peft: in-process transformers + PEFT (default); vllm: vLLM's offline engine (unverified); "
        "openai-http: the workload's http targets",
    )
    bench.add_argument("--out", type=Path, help="output folder (default: serving/<spec name>)")

    results = commands.add_parser("results", help="print a study's table and write results.csv and summary.csv")
    results.add_argument("study_dir", type=Path, help="study folder")

    demo = commands.add_parser("demo", help="offline demo: a small study of full fine-tuning vs LoRA")
    demo.add_argument("--out", type=Path, default=Path("runs/demo"), help="demo folder (default: runs/demo)")
    demo.add_argument("--model", help="model to use (default: the offline MiniLM if installed, else tiny-bert)")
    return parser


def _quiet_libraries() -> None:
    import huggingface_hub
    import transformers

    warnings.filterwarnings("ignore", category=FutureWarning, module="transformers|peft")
    transformers.logging.set_verbosity_error()
    huggingface_hub.utils.logging.set_verbosity_error()


def _train(args: argparse.Namespace) -> int:
    from lorascope.config import load_config
    from lorascope.training import preflight, run_training

    if args.resume and args.out is None:
        raise LorascopeError("--resume needs --out: the folder of the interrupted run")
    cfg = load_config(args.config, args.overrides)
    checked = preflight(cfg)
    out = args.out or Path("runs") / f"{cfg.task}-{cfg.method}-seed{cfg.seed}-{datetime.now():%Y%m%d-%H%M%S}"
    results = run_training(cfg, out, resume=args.resume, checked=checked)
    from lorascope.io import format_metrics

    print(f"{cfg.task} {cfg.method} seed {cfg.seed}: {format_metrics(results['metrics'])}")
    print(f"results: {out / 'results.json'}")
    return 0


def _validate(args: argparse.Namespace) -> int:
    from lorascope.config import load_config
    from lorascope.training import preflight

    cfg = load_config(args.config, args.overrides)
    checked = preflight(cfg)
    targets = f", LoRA on {checked.lora_targets}" if checked.lora_targets else ""
    allocates = method_spec(cfg.method).allocates_ranks
    if allocates and cfg.lora.rank_config is not None:
        targets += f", ranks from {cfg.lora.rank_config}"
    elif allocates and cfg.lora.strategy != "uniform":
        targets += f", ranks allocated by {cfg.lora.strategy} at the budget of rank {cfg.lora.r}"
    print(
        f"{args.config}: valid — {cfg.task} ({len(checked.data.train)} train / {len(checked.data.eval)} eval), "
        f"{cfg.model}, {cfg.method}{targets}"
    )
    return 0


def _study(args: argparse.Namespace) -> int:
    from lorascope.studies import describe, format_summary, load_study, run_study, write_tables

    study = load_study(args.study, args.overrides)
    out = args.out or Path("studies") / study.name
    if args.dry_run:
        print(describe(_tuned_if_ready(study, out), out))
        return 0
    outcome = run_study(study, out, fail_fast=args.fail_fast)
    _, summary = write_tables(out)
    print()
    print(format_summary(summary, study.name))
    print(f"\ntables: {out / 'summary.csv'}, {out / 'results.csv'}")
    if outcome.failed:
        print(f"{len(outcome.failed)} run(s) failed; run the same command again to retry them", file=sys.stderr)
        return 1
    return 0


def _tune(args: argparse.Namespace) -> int:
    from lorascope.studies import load_study
    from lorascope.tuning.results import format_tuning, write_tuning_outputs
    from lorascope.tuning.search import run_tuning

    study = load_study(args.study, args.overrides)
    out = args.out or Path("studies") / study.name
    outcome = run_tuning(study, out)
    summary = write_tuning_outputs(study, outcome.searches, out)
    print()
    print(format_tuning(summary))
    print(f"\nsummary: {summary}; next: lorascope study {args.study} --out {out}  (trains with the chosen values)")
    if outcome.given_up:
        print(
            f"{len(outcome.given_up)} search(es) given up after repeated failures; see their trials.csv",
            file=sys.stderr,
        )
        return 1
    return 0


def _tuned_if_ready(study, out: Path):
    """The study with its tuned values; before `lorascope tune` has finished, as configured, with a note."""
    if study.spec.tune is None:
        return study
    from lorascope.tuning.results import NotTuned, apply_tuning

    try:
        return apply_tuning(study, out)
    except NotTuned as exc:
        print(f"note: {exc}; the runs are listed as configured\n")
        return study


def _sanity(args: argparse.Namespace) -> int:
    from lorascope.studies import load_sanity, run_study, sanity_report

    options = {"train_samples": args.samples, "max_steps": args.max_steps, "min_score": args.min_score}
    study, default_out = load_sanity(args.config, args.overrides, {k: v for k, v in options.items() if v is not None})
    out = args.out or default_out
    run_study(study, out, phases=("sanity",), echo=lambda line: None)
    report = sanity_report(study, out)
    print()
    for passed, line in report:
        print(f"{'pass' if passed else 'FAIL'}  {line}")
    failed = sum(not passed for passed, _ in report)
    print(f"{len(report) - failed} of {len(report)} sanity checks passed (folder: {out})")
    return 1 if failed else 0


def _ranks(args: argparse.Namespace) -> int:
    from lorascope.ranks.rank_config import format_ranks, read_rank_config

    if args.config is not None:
        if args.base or args.finetuned:
            raise LorascopeError("give either a run config or --base and --finetuned, not both")
        path = _ranks_from_config(args)
    elif args.base is None or args.finetuned is None:
        raise LorascopeError("give a run config, or both --base and --finetuned")
    else:
        path = _ranks_from_checkpoints(args)
    print(format_ranks(read_rank_config(path)))
    print(f"rank config: {path}")
    return 0


def _ranks_from_config(args: argparse.Namespace) -> Path:
    from lorascope.config import load_config
    from lorascope.ranks.strategies import allocate_ranks
    from lorascope.training import brief_finetune, preflight

    cfg = load_config(args.config, args.overrides)
    if not method_spec(cfg.method).allocates_ranks or cfg.lora.rank_config is not None:
        allocating = ", ".join(n for n in METHODS.names() if method_spec(n).allocates_ranks)
        raise LorascopeError(f"{args.config}: ranks are allocated for method {allocating} without lora.rank_config")
    checked = preflight(cfg)
    out = args.out or Path("ranks") / f"{cfg.task}-{cfg.lora.strategy}"
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(cfg.to_yaml(), encoding="utf-8")
    return allocate_ranks(cfg, out, checked.data, checked.lora_targets or [], checked.model_config, brief_finetune)


def _ranks_from_checkpoints(args: argparse.Namespace) -> Path:
    from lorascope.ranks.analysis import allocate, analyze_checkpoints, rank_config, raw_ranks, write_analysis

    if not 0 < args.energy <= 1:
        raise LorascopeError(f"--energy: must be in (0, 1], got {args.energy}")
    if not 1 <= args.min_r <= args.max_r:
        raise LorascopeError(f"--min-r/--max-r: need 1 <= min-r <= max-r, got {args.min_r} and {args.max_r}")
    spectra = analyze_checkpoints(args.base, args.finetuned, args.targets, args.energy, args.method, args.scope)
    raw = raw_ranks(spectra, args.energy, args.scope)
    shapes = {n: s.shape for n, s in spectra.items()}
    try:
        ranks = allocate(raw, shapes, args.min_r, args.max_r, args.smooth, args.budget_r)
    except ValueError as exc:
        raise LorascopeError(f"--budget-r: {exc}") from None
    names = ("energy", "scope", "min_r", "max_r", "smooth", "budget_r", "alpha_ratio", "method", "targets")
    settings = {k: getattr(args, k) for k in names}
    checkpoints = {"base": str(args.base), "finetuned": str(args.finetuned)}
    global_ranks = raw if args.scope == "global" else None
    config = rank_config(
        "svd-energy", shapes, ranks, args.alpha_ratio, settings, checkpoints, spectra, global_ranks=global_ranks
    )
    return write_analysis(args.out or Path("ranks"), config, spectra)


def _drift(args: argparse.Namespace) -> int:
    from lorascope.analysis.drift import analyze_runs, report
    from lorascope.studies.folder import drift_runs

    runs = [run for folder in args.runs for run in drift_runs(folder)]
    rows = analyze_runs(runs, args.base_cache, args.intruders)
    done = report(rows, args.out, args.reference)
    print("\n".join(done.lines))
    if done.comparison:
        print(f"comparison: {done.comparison}")
    print(f"table: {done.table}; figures: {', '.join(str(f) for f in done.figures)}")
    return 0


def _report(args: argparse.Namespace) -> int:
    from lorascope.reporting import build_report, compile_pdf

    formats = tuple(f.strip() for f in args.format.split(",") if f.strip())
    written = build_report(args.study_dir, args.out, formats)
    for kind, path in written.items():
        print(f"{kind}: {path}")
    if args.pdf:
        if "tex" not in written:
            raise LorascopeError("--pdf needs the tex format")
        print(f"pdf: {compile_pdf(written['tex'])}")
    return 0


def _serve_export(args: argparse.Namespace) -> int:
    from lorascope.serving.export import export_runs
    from lorascope.studies.folder import drift_runs

    runs = [run for folder in args.runs for run in drift_runs(folder)]
    for record in export_runs(runs, args.out, args.merged, args.max_lora_rank):
        problems = record["vllm_problems"]
        verdict = "vLLM can serve it" if not problems else "vLLM cannot serve it:\n    " + "\n    ".join(problems)
        print(f"{record['name']}: {record['adapter']}" + (f", merged {record['merged']}" if "merged" in record else ""))
        print(f"  {verdict}")
    print(f"list: {args.out / 'exported.json'}")
    return 0


def _serve_bench(args: argparse.Namespace) -> int:
    from lorascope.serving.bench import run_bench, run_http_bench, run_vllm_bench
    from lorascope.serving.workload import load_workload

    workload = load_workload(args.spec, args.overrides)
    out = args.out or Path("serving") / args.spec.stem
    backends = {"peft": run_bench, "vllm": run_vllm_bench, "openai-http": run_http_bench}
    backends[args.backend](workload, out)
    print(f"results: {out / 'results.csv'}, {out / 'overhead.csv'}; figure: {out / 'serving.png'}")
    return 0


def _results(args: argparse.Namespace) -> int:
    from lorascope.studies import format_summary, load_plan, write_tables

    name = load_plan(args.study_dir)["name"]
    _, summary = write_tables(args.study_dir)
    print(format_summary(summary, name))
    print(f"\ntables: {args.study_dir / 'summary.csv'}, {args.study_dir / 'results.csv'}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from lorascope.demo import run_demo

    return run_demo(args.out, args.model)


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args, extra = parser.parse_known_args(argv)  # overrides may also follow --out
    if extra and (not hasattr(args, "overrides") or any(e.startswith("-") or "=" not in e for e in extra)):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if extra:
        args.overrides += extra
    _quiet_libraries()
    handlers = {
        "train": _train,
        "validate": _validate,
        "study": _study,
        "tune": _tune,
        "sanity": _sanity,
        "results": _results,
        "ranks": _ranks,
        "drift": _drift,
        "report": _report,
        "serve-export": _serve_export,
        "serve-bench": _serve_bench,
        "demo": _demo,
    }
    try:
        return handlers[args.command](args)
    except LorascopeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        if args.command == "tune":
            print(
                "interrupted: the running trial is failed and will run again; to continue, run the same command again",
                file=sys.stderr,
            )
            return 130
        again = "run the same command again" if args.command in ("study", "sanity", "demo") else "use --resume"
        print(f"interrupted: the last checkpoint is kept; to continue, {again}", file=sys.stderr)
        return 130
