"""The document renderers: what a study file put into a report cannot escape its block."""

from lorascope.reporting.document import Code, Document, to_html, to_latex


def test_a_study_file_cannot_end_its_verbatim_block_in_latex():
    text = "name: x\n# \\end{verbatim}\n\\input{/etc/passwd}\n"
    doc = Document("t")
    doc.add(Code(text))
    lines = to_latex(doc).splitlines()
    begin = lines.index(r"\begin{verbatim}")
    end = lines.index(r"\end{verbatim}", begin)
    assert lines.count(r"\end{verbatim}") == 1  # the block's own end, nothing from the file
    assert r"\input{/etc/passwd}" in lines[begin:end]  # shown as text, inside the block
    assert not any(r"\end{verbatim}" in line for line in lines[begin + 1 : end])


def test_markup_in_a_study_file_is_text_in_html():
    doc = Document("t")
    doc.add(Code("<script>alert(1)</script>"))
    assert "<script>" not in to_html(doc) and "&lt;script&gt;" in to_html(doc)
