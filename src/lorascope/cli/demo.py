"""``lorascope demo``: the offline demo, a small study of full fine-tuning vs LoRA."""

from __future__ import annotations

import argparse
from pathlib import Path

from lorascope.cli.common import RUN_AGAIN


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("demo", help="offline demo: a small study of full fine-tuning vs LoRA")
    parser.add_argument("--out", type=Path, default=Path("runs/demo"), help="demo folder (default: runs/demo)")
    parser.add_argument("--model", help="model to use (default: the offline MiniLM if installed, else tiny-bert)")
    parser.set_defaults(run=run, interrupted=RUN_AGAIN)


def run(args: argparse.Namespace) -> int:
    from lorascope.demo import run_demo

    return run_demo(args.out, args.model)
