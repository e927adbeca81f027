"""Runs latexmk on the rendered document and, when LaTeX fails, points at the template line."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from report.render import template_line_for

LATEXMK = ["latexmk", "-norc", "-pdf", "-interaction=nonstopmode", "-halt-on-error",
           "-file-line-error", "-no-shell-escape"]
_ERROR = re.compile(r"^(?:\./)?(?P<file>[^\s:]+\.tex):(?P<line>\d+): (?P<message>.*)$")


class LatexError(Exception):
    pass


def first_error(log: Path) -> tuple[str, int, str] | None:
    """(generated file, line, message) of the first error in a LaTeX log."""
    if not log.exists():
        return None
    for line in log.read_text(errors="replace").splitlines():
        m = _ERROR.match(line)
        if m:
            return m["file"], int(m["line"]), m["message"]
    return None


def compile_pdf(tex_dir: Path, main: str, sources: dict[str, str]) -> Path:
    """latexmk main.tex in tex_dir; sources maps each generated .tex file to its template."""
    if shutil.which("latexmk") is None:
        raise LatexError("latexmk is not installed: run `make report` (it installs TeX Live) "
                         "or scripts/setup_system.sh")
    proc = subprocess.run(LATEXMK + [main], cwd=tex_dir, capture_output=True, text=True)
    log = tex_dir / main.replace(".tex", ".log")
    if proc.returncode == 0:
        return tex_dir / main.replace(".tex", ".pdf")
    where = first_error(log)
    if where is None:
        raise LatexError(f"latexmk failed (exit {proc.returncode}); see the log {log}\n"
                         + proc.stdout[-2000:] + proc.stderr[-2000:])
    generated, line, message = where
    text = f"LaTeX error: {message}\n  in generated {tex_dir / generated}:{line}"
    template = sources.get(Path(generated).name)
    if template:
        lines = (tex_dir / generated).read_text().splitlines()
        origin = template_line_for(template, lines[line - 1]) if 0 < line <= len(lines) else None
        text += f"\n  from template templates/{template}" + (f":{origin}" if origin else "")
    raise LatexError(text + f"\n  full log: {log}")
