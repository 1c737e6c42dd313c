"""``lorascope ranks``: per-layer LoRA ranks from a run config, or from two checkpoints.

The spectrum and allocation flags are ``RanksConfig``'s fields, with its defaults and validation.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from lorascope.cli.common import RESUME, add_model_flags, model_from_args
from lorascope.config import RanksConfig
from lorascope.errors import LorascopeError
from lorascope.records import RunFolder
from lorascope.registry import METHODS, method_spec

FLAGS = {
    "energy": "--energy",
    "energy_scope": "--scope",
    "min_r": "--min-r",
    "max_r": "--max-r",
    "smooth": "--smooth",
    "alpha_ratio": "--alpha-ratio",
    "svd": "--method",
}
"""``RanksConfig`` field → flag, for ``--base``/``--finetuned``; a run config has its own ``ranks:``."""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "ranks",
        help="per-layer LoRA ranks: from a run config (brief fine-tune or Fisher), or from two checkpoints",
        description="lorascope ranks CONFIG.yaml [key=value ...]: allocate ranks as the config's lora.strategy "
        "does (settings under ranks:). lorascope ranks --base DIR --finetuned DIR: ranks from the spectrum of "
        "ΔW between two existing checkpoints.",
    )
    parser.add_argument("config", type=Path, nargs="?", help="run config (YAML) whose lora.strategy allocates ranks")
    parser.add_argument("overrides", nargs="*", metavar="key.sub=value", help="override config keys")
    parser.add_argument("--base", type=Path, help="pretrained checkpoint folder (safetensors)")
    parser.add_argument("--finetuned", type=Path, help="fine-tuned checkpoint folder (safetensors)")
    parser.add_argument(
        "--targets", nargs="+", help="module-name suffixes to analyse (default: every 2-D weight but embeddings)"
    )
    add_model_flags(parser, RanksConfig, FLAGS, defaults={"alpha_ratio": 2.0})  # no lora.alpha / lora.r here
    parser.add_argument("--budget-r", type=int, help="match the parameter count of uniform LoRA of this rank")
    parser.add_argument(
        "--out", type=Path, help="output folder (default: ranks, or ranks/<task>-<strategy> for a config)"
    )
    parser.set_defaults(run=run, interrupted=RESUME)


def run(args: argparse.Namespace) -> int:
    from lorascope.ranks.rank_config import format_ranks, read_rank_config

    if args.config is not None:
        if args.base or args.finetuned:
            raise LorascopeError("give either a run config or --base and --finetuned, not both")
        path = _from_config(args)
    elif args.base is None or args.finetuned is None:
        raise LorascopeError("give a run config, or both --base and --finetuned")
    else:
        path = _from_checkpoints(args)
    print(format_ranks(read_rank_config(path)))
    print(f"rank config: {path}")
    return 0


def _from_config(args: argparse.Namespace) -> Path:
    from lorascope.config import load_config
    from lorascope.ranks.strategies import allocate_ranks
    from lorascope.training import brief_finetune, preflight

    cfg = load_config(args.config, args.overrides)
    if not method_spec(cfg.method).allocates_ranks or cfg.lora.rank_config is not None:
        allocating = ", ".join(n for n in METHODS.names() if method_spec(n).allocates_ranks)
        raise LorascopeError(f"{args.config}: ranks are allocated for method {allocating} without lora.rank_config")
    checked = preflight(cfg)
    out = args.out or Path("ranks") / f"{cfg.task}-{cfg.lora.strategy}"
    RunFolder(out).write_config(cfg)  # the allocation reproduces from this folder alone
    return allocate_ranks(cfg, out, checked.data, checked.lora_targets or [], checked.model_config, brief_finetune)


def _from_checkpoints(args: argparse.Namespace) -> Path:
    from lorascope.ranks.analysis import analyze_checkpoints, write_analysis
    from lorascope.ranks.pipeline import allocated_config

    settings = model_from_args(RanksConfig, args, FLAGS, match_budget=args.budget_r is not None)
    spectra = analyze_checkpoints(
        args.base, args.finetuned, args.targets, settings.energy, settings.svd, settings.energy_scope
    )
    checkpoints = {"base": str(args.base), "finetuned": str(args.finetuned)}
    config = allocated_config(
        settings,
        "svd-energy",
        checkpoints,
        spectra=spectra,
        budget_r=args.budget_r,
        targets=args.targets,
        budget_key="--budget-r",
    )
    return write_analysis(args.out or Path("ranks"), config, spectra)
