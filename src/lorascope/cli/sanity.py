"""``lorascope sanity``: can a setup overfit a few training examples?"""

from __future__ import annotations

import argparse
from pathlib import Path

from lorascope.cli.common import RUN_AGAIN


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("sanity", help="check that a setup can overfit a few training examples")
    parser.add_argument("config", type=Path, help="run config or study file (YAML)")
    parser.add_argument("overrides", nargs="*", metavar="key.sub=value")
    parser.add_argument("--out", type=Path, help="folder (default: studies/<name> for a study, runs/sanity for a run)")
    parser.add_argument("--samples", type=int, help="training examples to overfit (default 64)")
    parser.add_argument("--max-steps", type=int, help="optimizer steps allowed (default 100)")
    parser.add_argument("--min-score", type=float, help="main metric needed on those examples (default 0.95)")
    parser.set_defaults(run=run, interrupted=RUN_AGAIN)


def run(args: argparse.Namespace) -> int:
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
