"""``lorascope report``: a draft paper from a study folder (Markdown, HTML, LaTeX)."""

from __future__ import annotations

import argparse
from pathlib import Path

from lorascope.cli.common import RESUME
from lorascope.errors import LorascopeError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report",
        help="a draft paper from a study folder: tables with CIs, hypotheses, figures (Markdown, HTML, LaTeX)",
        description="Reads the study's runs (and its drift stage) and writes report.md, a self-contained "
        "report.html and paper/ (main.tex, refs.bib, PDF figures). See docs/reports.md.",
    )
    parser.add_argument("study_dir", type=Path, help="study folder")
    parser.add_argument("--out", type=Path, help="report folder (default: STUDY_DIR/report)")
    parser.add_argument("--format", default="md,html,tex", help="comma-separated: md, html, tex (default: all three)")
    parser.add_argument("--pdf", action="store_true", help="also compile paper/main.tex (needs latexmk or pdflatex)")
    parser.set_defaults(run=run, interrupted=RESUME)


def run(args: argparse.Namespace) -> int:
    from lorascope.reporting import build_report, compile_pdf

    formats = tuple(f.strip() for f in args.format.split(",") if f.strip())
    written = build_report(args.study_dir, args.out, formats)
    for kind, path in written.items():
        print(f"{kind}: {path}")
    if args.pdf:
        if "tex" not in written:
            raise LorascopeError("--pdf needs the tex format")
        print(f"pdf: {compile_pdf(written['tex'])}")
    return 0
