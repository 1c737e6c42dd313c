"""A report as a list of blocks (headings, paragraphs, tables, figures, code, references),
rendered to Markdown, self-contained HTML, or LaTeX. One content, three formats, so they never
disagree."""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Heading:
    text: str
    level: int = 2


@dataclass
class Paragraph:
    text: str  # plain text; `code` spans and [n] citations are rendered per format


@dataclass
class Bullets:
    items: list[str]


@dataclass
class Table:
    columns: list[str]
    rows: list[list[str]]
    caption: str
    align: str | None = None  # one letter per column (l, r, c); default: first left, others right


@dataclass
class Figure:
    png: Path
    caption: str
    pdf: Path | None = None


@dataclass
class Code:
    text: str


@dataclass
class Reference:
    key: str
    text: str  # as printed in Markdown/HTML
    bibtex: str


@dataclass
class Document:
    title: str
    blocks: list = field(default_factory=list)
    references: list[Reference] = field(default_factory=list)

    def add(self, *blocks) -> None:
        self.blocks.extend(blocks)


def _cite_md(text: str, keys: list[str]) -> str:
    """[@key] → [n] by the order of the reference list."""
    return re.sub(
        r"\[@([\w-]+)\]", lambda m: f"[{keys.index(m.group(1)) + 1}]" if m.group(1) in keys else m.group(0), text
    )


def to_markdown(doc: Document, figure_dir: Path) -> str:
    """Markdown; figures linked relative to the report (``figure_dir`` relative to it)."""
    keys = [r.key for r in doc.references]
    lines = [f"# {doc.title}", ""]
    for block in doc.blocks:
        if isinstance(block, Heading):
            lines += ["#" * block.level + " " + block.text, ""]
        elif isinstance(block, Paragraph):
            lines += [_cite_md(block.text, keys), ""]
        elif isinstance(block, Bullets):
            lines += [f"- {_cite_md(item, keys)}" for item in block.items] + [""]
        elif isinstance(block, Table):
            align = block.align or "l" + "r" * (len(block.columns) - 1)
            marks = {"l": "---", "r": "---:", "c": ":---:"}
            lines += [f"*{_cite_md(block.caption, keys)}*", ""]
            lines.append("| " + " | ".join(block.columns) + " |")
            lines.append("| " + " | ".join(marks[a] for a in align) + " |")
            lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in block.rows]
            lines.append("")
        elif isinstance(block, Figure):
            lines += [f"![{block.caption}]({(figure_dir / block.png.name).as_posix()})", "", f"*{block.caption}*", ""]
        elif isinstance(block, Code):
            lines += ["```text", block.text.rstrip(), "```", ""]
    if doc.references:
        lines += ["## References", ""]
        lines += [f"{i}. {r.text}" for i, r in enumerate(doc.references, 1)] + [""]
    return "\n".join(lines)


def _inline_html(text: str, keys: list[str]) -> str:
    escaped = html.escape(_cite_md(text, keys))
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)


STYLE = """
body { font-family: Georgia, 'Times New Roman', serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem;
       line-height: 1.5; color: #222; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; font-size: 0.9rem; }
th, td { padding: 0.25rem 0.6rem; border-bottom: 1px solid #ddd; }
th { border-bottom: 2px solid #444; text-align: left; }
td.r, th.r { text-align: right; font-variant-numeric: tabular-nums; }
caption { caption-side: top; text-align: left; font-style: italic; padding-bottom: 0.3rem; }
figure { margin: 1rem 0 2rem; } figure img { max-width: 100%; } figcaption { font-style: italic; }
pre { background: #f6f6f6; padding: 0.6rem; overflow-x: auto; font-size: 0.8rem; }
code { font-size: 0.9em; }
"""


def to_html(doc: Document) -> str:
    """One self-contained HTML file: figures embedded as base64 PNG, no external resources."""
    keys = [r.key for r in doc.references]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(doc.title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{html.escape(doc.title)}</h1>",
    ]
    for block in doc.blocks:
        if isinstance(block, Heading):
            parts.append(f"<h{block.level}>{html.escape(block.text)}</h{block.level}>")
        elif isinstance(block, Paragraph):
            parts.append(f"<p>{_inline_html(block.text, keys)}</p>")
        elif isinstance(block, Bullets):
            parts.append("<ul>" + "".join(f"<li>{_inline_html(i, keys)}</li>" for i in block.items) + "</ul>")
        elif isinstance(block, Table):
            align = block.align or "l" + "r" * (len(block.columns) - 1)
            head = "".join(f'<th class="{a}">{html.escape(c)}</th>' for c, a in zip(block.columns, align, strict=True))
            body = "".join(
                "<tr>"
                + "".join(f'<td class="{a}">{html.escape(c)}</td>' for c, a in zip(row, align, strict=True))
                + "</tr>"
                for row in block.rows
            )
            caption = _inline_html(block.caption, keys)
            parts.append(
                f"<table><caption>{caption}</caption><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
            )
        elif isinstance(block, Figure):
            data = base64.b64encode(block.png.read_bytes()).decode("ascii")
            parts.append(
                f'<figure><img alt="{html.escape(block.caption)}" src="data:image/png;base64,{data}">'
                f"<figcaption>{_inline_html(block.caption, keys)}</figcaption></figure>"
            )
        elif isinstance(block, Code):
            parts.append(f"<pre>{html.escape(block.text.rstrip())}</pre>")
    if doc.references:
        parts.append(
            "<h2>References</h2><ol>" + "".join(f"<li>{html.escape(r.text)}</li>" for r in doc.references) + "</ol>"
        )
    parts.append("</body></html>")
    return "\n".join(parts)


LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}
LATEX_UNICODE = {
    "≥": r"$\geq$",
    "≤": r"$\leq$",
    "±": r"$\pm$",
    "μ": r"$\mu$",
    "ε": r"$\varepsilon$",
    "Δ": r"$\Delta$",
    "η": r"$\eta$",
    "ω": r"$\omega$",
    "α": r"$\alpha$",
    "σ": r"$\sigma$",
    "χ": r"$\chi$",
    "²": r"$^2$",
    "⁻": r"$^{-}$",
    "−": "-",
    "—": "---",
    "–": "--",
    "·": r"$\cdot$",
    "×": r"$\times$",
    "→": r"$\rightarrow$",
    "≈": r"$\approx$",
    "∩": r"$\cap$",
    "’": "'",
    "“": "``",
    "”": "''",
    "…": r"\ldots{}",
    "✓": r"$\checkmark$",
    "é": r"\'e",
}


def latex_escape(text: str) -> str:
    """Plain text → LaTeX: special characters escaped, the non-ASCII symbols reports use mapped."""
    out = []
    for char in text:
        if char in LATEX_SPECIAL:
            out.append(LATEX_SPECIAL[char])
        elif char in LATEX_UNICODE:
            out.append(LATEX_UNICODE[char])
        elif ord(char) < 128:
            out.append(char)
        else:
            out.append("?")  # pdflatex would stop on it
    return "".join(out)


ASCII = {"≥": ">=", "≤": "<=", "±": "+/-", "−": "-", "—": "--", "–": "-", "·": "*", "×": "x", "…": "...", "→": "->"}


def ascii_text(text: str) -> str:
    """For verbatim blocks, where pdflatex takes ASCII only."""
    return "".join(ASCII.get(c, c) if ord(c) >= 128 else c for c in text).encode("ascii", "replace").decode("ascii")


def verbatim_text(text: str) -> str:
    """Text for a verbatim block: ASCII, and no line that would end the block early (an
    ``\\end{verbatim}`` in a study file would let the rest run as LaTeX, ``\\input`` included)."""
    return re.sub(r"\\end(\s*)\{verbatim\}", r"\\end \1{verbatim}", ascii_text(text))


def _inline_latex(text: str) -> str:
    pieces = re.split(r"(`[^`]+`|\[@[\w-]+\])", text)
    out = []
    for piece in pieces:
        if piece.startswith("`") and piece.endswith("`"):
            out.append(r"\texttt{" + latex_escape(piece[1:-1]) + "}")
        elif piece.startswith("[@"):
            out.append(r"\cite{" + piece[2:-1] + "}")
        else:
            out.append(latex_escape(piece))
    return "".join(out)


def to_latex(doc: Document) -> str:
    """``main.tex``: article class, booktabs tables, figures included as PDF from ``figures/``."""
    lines = [
        r"\documentclass[11pt]{article}",
        r"\usepackage[T1]{fontenc}",
        r"\usepackage[margin=1in]{geometry}",
        r"\usepackage{booktabs}",
        r"\usepackage{graphicx}",
        r"\usepackage{amsmath,amssymb}",
        r"\usepackage{hyperref}",
        r"\title{" + latex_escape(doc.title) + "}",
        r"\date{}",
        r"\begin{document}",
        r"\maketitle",
        "",
    ]
    commands = {2: "section", 3: "subsection", 4: "subsubsection"}
    for block in doc.blocks:
        if isinstance(block, Heading):
            lines += [f"\\{commands.get(block.level, 'paragraph')}{{{latex_escape(block.text)}}}", ""]
        elif isinstance(block, Paragraph):
            lines += [_inline_latex(block.text), ""]
        elif isinstance(block, Bullets):
            lines += [r"\begin{itemize}"] + [r"\item " + _inline_latex(i) for i in block.items] + [r"\end{itemize}", ""]
        elif isinstance(block, Table):
            align = block.align or "l" + "r" * (len(block.columns) - 1)
            lines += [
                r"\begin{table}[ht]",
                r"\centering\small",
                r"\caption{" + _inline_latex(block.caption) + "}",
                r"\resizebox{\ifdim\width>\linewidth\linewidth\else\width\fi}{!}{%",
                r"\begin{tabular}{" + align + "}",
                r"\toprule",
                " & ".join(latex_escape(c) for c in block.columns) + r" \\",
                r"\midrule",
            ]
            lines += [" & ".join(latex_escape(c) for c in row) + r" \\" for row in block.rows]
            lines += [r"\bottomrule", r"\end{tabular}}", r"\end{table}", ""]
        elif isinstance(block, Figure):
            name = (block.pdf or block.png).name
            lines += [
                r"\begin{figure}[ht]",
                r"\centering",
                r"\includegraphics[width=0.9\linewidth]{figures/" + name + "}",
                r"\caption{" + _inline_latex(block.caption) + "}",
                r"\end{figure}",
                "",
            ]
        elif isinstance(block, Code):
            lines += [r"\begin{verbatim}", verbatim_text(block.text.rstrip()), r"\end{verbatim}", ""]
    if doc.references:
        lines += [r"\bibliographystyle{plain}", r"\bibliography{refs}"]
    lines.append(r"\end{document}")
    return "\n".join(lines) + "\n"


def to_bibtex(doc: Document) -> str:
    return "\n\n".join(r.bibtex.strip() for r in doc.references) + "\n"
