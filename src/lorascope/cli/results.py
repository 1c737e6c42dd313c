"""``lorascope results``: a study's table, printed and written as results.csv and summary.csv."""

from __future__ import annotations

import argparse
from pathlib import Path

from lorascope.cli.common import RESUME


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("results", help="print a study's table and write results.csv and summary.csv")
    parser.add_argument("study_dir", type=Path, help="study folder")
    parser.set_defaults(run=run, interrupted=RESUME)


def run(args: argparse.Namespace) -> int:
    from lorascope.records import StudyFolder
    from lorascope.studies import format_summary, write_tables

    folder = StudyFolder(args.study_dir)
    _, summary = write_tables(args.study_dir)
    print(format_summary(summary, folder.plan().name))
    print(f"\ntables: {folder.summary_table}, {folder.results_table}")
    return 0
