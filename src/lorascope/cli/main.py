"""The ``lorascope`` command line: one module per command, each with ``add_parser`` and ``run``."""

from __future__ import annotations

import argparse
import sys

from lorascope import __version__
from lorascope.cli import demo, drift, ranks, report, results, sanity, serve, study, train, tune, validate
from lorascope.cli.common import EXAMPLES, quiet_libraries
from lorascope.errors import LorascopeError, os_error

COMMANDS = (train, validate, study, tune, sanity, ranks, drift, report, serve, results, demo)
"""In the order of ``lorascope --help``."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lorascope",
        description="Rigorous research on LoRA and parameter-efficient fine-tuning.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"lorascope {__version__}")
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="show the libraries' own warnings and progress bars (loading weights, writing shards)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns its exit code (2 for bad input or a refusal of the system, 130 when interrupted)."""
    parser = _parser()
    args, extra = parser.parse_known_args(argv)  # overrides may also follow --out
    if extra and (not hasattr(args, "overrides") or any(e.startswith("-") or "=" not in e for e in extra)):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if extra:
        args.overrides += extra
    quiet_libraries(args.verbose)
    try:
        return args.run(args)
    except LorascopeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:  # the one boundary for the system's refusals: read-only, full disk, not a folder
        print(f"error: {os_error(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(args.interrupted, file=sys.stderr)
        return 130
