"""``lorascope drift``: representational drift and intruder dimensions of finished runs."""

from __future__ import annotations

import argparse
from pathlib import Path

from lorascope.cli.common import RESUME


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "drift",
        help="representational drift of runs and intruder dimensions of their weights: a tidy table and figures",
        description="Runs trained with drift.enabled are analysed at every snapshot; other finished runs "
        "from their saved weights (the base and the final model). See docs/analysis.md.",
    )
    parser.add_argument(
        "runs", type=Path, nargs="+", metavar="RUN_DIR", help="finished run folders, or a study folder (all its runs)"
    )
    parser.add_argument("--out", type=Path, default=Path("drift"), help="output folder (default: drift)")
    parser.add_argument(
        "--base-cache",
        type=Path,
        help="folder of base-model snapshots, shared by runs of one model and probe set (for runs without snapshots)",
    )
    parser.add_argument(
        "--intruders",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="count intruder dimensions of the final weights (default: yes; loads each run's models)",
    )
    parser.add_argument("--reference", default="full", help="method the others are compared with (default: full)")
    parser.set_defaults(run=run, interrupted=RESUME)


def run(args: argparse.Namespace) -> int:
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
