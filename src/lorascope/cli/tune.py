"""``lorascope tune``: hyperparameter search per task × method (Optuna), a study's first phase."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lorascope.records import StudyFolder, removed_if_failed

INTERRUPTED = "interrupted: the running trial is failed and will run again; to continue, run the same command again"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "tune",
        help="hyperparameter search per task × method (Optuna), the first phase of a study with a tune: section",
        description="Run trials until every task × method of the study has tune.trials of them; start several "
        "with the same --out (or tune.storage) to share the work. Writes STUDY_DIR/tune/: best.yaml per row, "
        "trials.csv, figures, summary.json; `lorascope study` then trains the runs with the chosen values.",
    )
    parser.add_argument("study", type=Path, help="study file (YAML) with a tune: section; see docs/tuning.md")
    parser.add_argument(
        "overrides", nargs="*", metavar="key.sub=value", help="override study keys, e.g. tune.trials=20"
    )
    parser.add_argument("--out", type=Path, help="study folder (default: studies/<name>); the search goes in its tune/")
    parser.set_defaults(run=run, interrupted=INTERRUPTED)


def run(args: argparse.Namespace) -> int:
    from lorascope.studies import load_study
    from lorascope.tuning.results import format_tuning, write_tuning_outputs
    from lorascope.tuning.search import run_tuning

    study = load_study(args.study, args.overrides)
    out = args.out or Path("studies") / study.name
    with removed_if_failed(out):
        outcome = run_tuning(study, out)
    summary = write_tuning_outputs(study, outcome.searches, out)
    print()
    print(format_tuning(summary))
    where = StudyFolder(out).tune.summary_path
    print(f"\nsummary: {where}; next: lorascope study {args.study} --out {out}  (trains with the chosen values)")
    if outcome.given_up:
        print(
            f"{len(outcome.given_up)} search(es) given up after repeated failures; see their trials.csv",
            file=sys.stderr,
        )
        return 1
    return 0
