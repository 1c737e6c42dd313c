"""Reports of studies: a draft paper as Markdown, self-contained HTML and LaTeX."""

from lorascope.reporting.report import build_report, compile_pdf

__all__ = ["build_report", "compile_pdf"]
