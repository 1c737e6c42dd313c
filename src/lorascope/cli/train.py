"""``lorascope train``: one fine-tuning run from a YAML config."""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path

from lorascope.cli.common import EXAMPLES, RESUME
from lorascope.errors import LorascopeError
from lorascope.records import RunFolder


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="fine-tune per a YAML config",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("config", type=Path, help="run config (YAML); see docs/configuration.md")
    parser.add_argument("overrides", nargs="*", metavar="key.sub=value", help="override config keys")
    parser.add_argument("--out", type=Path, help="run folder (default: runs/<task>-<method>-seed<seed>-<time>)")
    parser.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --out")
    parser.set_defaults(run=run, interrupted=RESUME)


def run(args: argparse.Namespace) -> int:
    from lorascope.config import load_config
    from lorascope.io import format_metrics
    from lorascope.registry import TASKS
    from lorascope.training import preflight, run_training

    if args.resume and args.out is None:
        raise LorascopeError("--resume needs --out: the folder of the interrupted run")
    cfg = load_config(args.config, args.overrides)
    checked = preflight(cfg)
    out = args.out or Path("runs") / f"{cfg.task}-{cfg.method}-seed{cfg.seed}-{datetime.now():%Y%m%d-%H%M%S}"
    results = run_training(cfg, out, resume=args.resume, checked=checked)
    print(f"{cfg.task} {cfg.method} seed {cfg.seed}: {format_metrics(results.metrics, TASKS[cfg.task].metric_names)}")
    print(f"results: {RunFolder(out).results_path}")
    return 0
