"""``lorascope study``: a grid of runs from a study file, started or continued."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lorascope.cli.common import EXAMPLES, RUN_AGAIN
from lorascope.records import StudyFolder


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "study",
        help="run a grid of runs from a study file: baselines, sanity checks, models × tasks × methods × seeds",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("study", type=Path, help="study file (YAML); see docs/studies.md")
    parser.add_argument("overrides", nargs="*", metavar="key.sub=value", help="override study keys, e.g. grid.seed=[0]")
    parser.add_argument("--out", type=Path, help="study folder (default: studies/<name>); run again to continue")
    parser.add_argument("--dry-run", action="store_true", help="list the runs and their status; train nothing")
    parser.add_argument("--fail-fast", action="store_true", help="stop at the first failed run")
    parser.set_defaults(run=run, interrupted=RUN_AGAIN)


def run(args: argparse.Namespace) -> int:
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
    folder = StudyFolder(out)
    print(f"\ntables: {folder.summary_table}, {folder.results_table}")
    if outcome.failed:
        print(f"{len(outcome.failed)} run(s) failed; run the same command again to retry them", file=sys.stderr)
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
