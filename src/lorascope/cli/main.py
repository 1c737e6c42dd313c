"""The ``lorascope`` command line: train, validate, demo."""

from __future__ import annotations

import argparse
import sys
import warnings
from datetime import datetime
from pathlib import Path

from lorascope import __version__
from lorascope.errors import LorascopeError

EXAMPLES = """examples:
  lorascope demo                                   # offline: full vs LoRA on a generated task
  lorascope validate examples/sst2_lora.yaml       # check a config without training
  lorascope train examples/sst2_lora.yaml --out runs/sst2-lora
  lorascope train examples/sst2_lora.yaml lora.r=16 seed=2 data_dir=../shared/data/glue
  lorascope train examples/sst2_lora.yaml --out runs/sst2-lora --resume   # after an interruption
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

    demo = commands.add_parser("demo", help="offline demo: full fine-tuning vs LoRA on a generated task")
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
    metrics = ", ".join(f"{k}={'n/a' if v is None else f'{v:.4f}'}" for k, v in results["metrics"].items())
    print(f"{cfg.task} {cfg.method} seed {cfg.seed}: {metrics}")
    print(f"results: {out / 'results.json'}")
    return 0


def _validate(args: argparse.Namespace) -> int:
    from lorascope.config import load_config
    from lorascope.training import preflight

    cfg = load_config(args.config, args.overrides)
    checked = preflight(cfg)
    targets = f", LoRA on {checked.lora_targets}" if checked.lora_targets else ""
    print(
        f"{args.config}: valid — {cfg.task} ({len(checked.data.train)} train / {len(checked.data.eval)} eval), "
        f"{cfg.model}, {cfg.method}{targets}"
    )
    return 0


def _demo(args: argparse.Namespace) -> int:
    from lorascope.demo import print_summary, run_demo

    print_summary(run_demo(args.out, args.model), args.out)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args, extra = parser.parse_known_args(argv)  # overrides may also follow --out
    if extra and (not hasattr(args, "overrides") or any(e.startswith("-") or "=" not in e for e in extra)):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if extra:
        args.overrides += extra
    _quiet_libraries()
    handlers = {"train": _train, "validate": _validate, "demo": _demo}
    try:
        return handlers[args.command](args)
    except LorascopeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: the last checkpoint is kept; continue with --resume", file=sys.stderr)
        return 130
