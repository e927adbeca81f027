"""latexmk runs without shell escape, and its first error is traced back to the template line."""

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from compute.engine.files import ROOT
from report import latex, render

pytestmark = pytest.mark.skipif(
    shutil.which("latexmk") is None,
    reason="latexmk is not installed (make test installs it as root)",
)

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
        "\\documentclass{article}\\begin{document}"
        "\\immediate\\write18{touch pwned}Hi\\end{document}\n"
    )
    latex.compile_pdf(tmp_path, "esc.tex", {})
    assert not (tmp_path / "pwned").exists()


def test_a_failure_without_a_file_and_line_is_a_few_lines_saying_so(tmp_path, monkeypatch):
    """latexmk that dies before LaTeX writes a log (a missing engine, a full disk): the message
    says there is no log, and quotes latexmk's last lines, not kilobytes of output."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "pdflatex").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "latexmk").write_text(
        '#!/bin/sh\ni=1; while [ $i -le 400 ]; do echo "chatter line $i"; i=$((i+1)); done\n'
        "echo 'Latexmk: could not run pdflatex' >&2\nexit 12\n"
    )
    for program in bin_dir.iterdir():
        program.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    (tmp_path / "doc.tex").write_text(
        "\\documentclass{article}\\begin{document}Hi\\end{document}\n"
    )
    with pytest.raises(latex.LatexError) as error:
        latex.compile_pdf(tmp_path, "doc.tex", {})
    lines = str(error.value).splitlines()
    assert lines[0] == "LaTeX failed (latexmk exit 12) without naming a file and line"
    assert lines[1] == f"  no LaTeX log was written ({tmp_path / 'doc.log'} is absent)"
    assert lines[2:] == [
        "  latexmk: chatter line 399",
        "  latexmk: chatter line 400",
        "  latexmk: Latexmk: could not run pdflatex",
    ]


SLOW = r"""\documentclass{article}
\newcount\n
\begin{document}
\loop\advance\n by 1 \ifnum\n<30000000\repeat
Counted to \the\n.
\end{document}
"""


def test_an_interrupted_latex_run_does_not_make_the_next_one_fail(tmp_path):
    """Ctrl-C while LaTeX runs: latexmk keeps the state of the broken run, and without care replays
    its error ("Interruption") until the document changes; the next run must build the PDF."""
    (tmp_path / "doc.tex").write_text(SLOW)
    code = (
        "from report import latex; "
        f"latex.compile_pdf(__import__('pathlib').Path({str(tmp_path)!r}), 'doc.tex', {{}})"
    )
    run = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=ROOT,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not (tmp_path / "doc.log").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    os.killpg(run.pid, signal.SIGINT)  # as Ctrl-C in a terminal reaches every process of the build
    assert run.wait(timeout=60) != 0
    assert not (tmp_path / "doc.pdf").exists()  # it was interrupted before the PDF was written
    pdf = latex.compile_pdf(tmp_path, "doc.tex", {})
    assert pdf.read_bytes()[:4] == b"%PDF"
