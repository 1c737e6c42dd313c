"""``lorascope validate``: check a config, its data and its model without training."""

from __future__ import annotations

import argparse
from pathlib import Path

from lorascope.cli.common import RESUME
from lorascope.registry import method_spec


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("validate", help="check a config, its data and its model without training")
    parser.add_argument("config", type=Path)
    parser.add_argument("overrides", nargs="*", metavar="key.sub=value")
    parser.set_defaults(run=run, interrupted=RESUME)


def run(args: argparse.Namespace) -> int:
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
