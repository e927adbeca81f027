"""latexmk runs without shell escape, and its first error is traced back to the template line."""
import shutil

import pytest

from report import latex, render

pytestmark = pytest.mark.skipif(shutil.which("latexmk") is None,
                                reason="latexmk is not installed (make test installs it as root)")

TEMPLATE = r"""\documentclass{article}
\begin{document}
Value \VAR{x}.
\undefinedmacro{\VAR{x}}
\end{document}
"""


def test_latex_error_names_the_template_and_line(tmp_path, monkeypatch):
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "bad.tex.j2").write_text(TEMPLATE)
    monkeypatch.setattr(render, "TEMPLATES", templates)
    tex_dir = tmp_path / "tex"
    tex_dir.mkdir()
    text = render.make_environment().get_template("bad.tex.j2").render(x=render.Tex("7"))
    (tex_dir / "doc.tex").write_text(text)
    with pytest.raises(latex.LatexError) as error:
        latex.compile_pdf(tex_dir, "doc.tex", {"doc.tex": "bad.tex.j2"})
    message = str(error.value)
    assert "Undefined control sequence" in message
    assert "templates/bad.tex.j2:4" in message
    assert "doc.log" in message


def test_a_valid_document_compiles_to_pdf(tmp_path):
    (tmp_path / "ok.tex").write_text("\\documentclass{article}\\begin{document}Hi\\end{document}\n")
    pdf = latex.compile_pdf(tmp_path, "ok.tex", {})
    assert pdf.read_bytes()[:4] == b"%PDF"


def test_shell_escape_is_refused(tmp_path):
    (tmp_path / "esc.tex").write_text(
        "\\documentclass{article}\\begin{document}\\immediate\\write18{touch pwned}Hi\\end{document}\n")
    latex.compile_pdf(tmp_path, "esc.tex", {})
    assert not (tmp_path / "pwned").exists()
