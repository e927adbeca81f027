"""Runs latexmk on the rendered document and, when LaTeX fails, points at the template line."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from compute.engine.errors import LOW_SPACE, BuildError
from report.render import template_origin

LATEXMK = [
    "latexmk",
    "-norc",
    "-pdf",
    "-interaction=nonstopmode",
    "-halt-on-error",
    "-file-line-error",
    "-no-shell-escape",
]
_ERROR = re.compile(r"^(?:\./)?(?P<file>[^\s:]+\.tex):(?P<line>\d+): (?P<message>.*)$")


class LatexError(BuildError):
    """LaTeX failed; the message names the generated file and the template line that produced it."""


def first_error(log: Path) -> tuple[str, int, str] | None:
    """(generated file, line, message) of the first error in a LaTeX log."""
    if not log.exists():
        return None
    for line in log.read_text(errors="replace").splitlines():
        m = _ERROR.match(line)
        if m:
            return m["file"], int(m["line"]), m["message"]
    return None


RUNNING = ".latex-running"  # present while latexmk runs, and after a run that did not succeed
STATE = ("*.aux", "*.fdb_latexmk", "*.fls", "*.log", "*.out", "*.toc")


def forget_state(tex_dir: Path) -> None:
    """Removes what LaTeX and latexmk keep between runs. After an interrupted or failed run it may
    be half-written, and latexmk replays a stored error until main.tex changes; the next run then
    starts from the sources alone."""
    for pattern in STATE:
        for path in tex_dir.glob(pattern):
            path.unlink(missing_ok=True)


def check_installed() -> None:
    """latexmk and pdflatex are on the PATH; else LatexError saying how to install them."""
    for program in ("latexmk", "pdflatex"):
        if shutil.which(program) is None:
            raise LatexError(
                f"{program} is not installed: run `make report` as root (it installs TeX Live "
                f"and latexmk), or scripts/setup_system.sh"
            )


def failure_without_location(proc: subprocess.CompletedProcess, log: Path) -> str:
    """A few lines for a LaTeX run that failed without a file:line error (a full disk, a missing
    program): the disk's free space when it is low, the log when there is one, the last lines
    said."""
    said = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
    text = f"LaTeX failed (latexmk exit {proc.returncode}) without naming a file and line"
    free = shutil.disk_usage(log.parent).free
    if free < LOW_SPACE:
        text += (
            f"; the disk holding {log.parent} is full ({free // 2**20} MiB free): "
            "free some space and build again"
        )
    text += (
        f"\n  full log: {log}"
        if log.exists()
        else f"\n  no LaTeX log was written ({log} is absent)"
    )
    return text + "".join(f"\n  latexmk: {line[:200]}" for line in said[-3:])


def compile_pdf(tex_dir: Path, main: str, sources: dict[str, str]) -> Path:
    """latexmk main.tex in tex_dir; sources maps each generated .tex file to its template."""
    check_installed()
    marker = tex_dir / RUNNING
    if marker.exists():
        forget_state(tex_dir)
    marker.touch()
    proc = subprocess.run(LATEXMK + [main], cwd=tex_dir, capture_output=True, text=True)
    log = tex_dir / main.replace(".tex", ".log")
    if proc.returncode == 0:
        marker.unlink()
        return tex_dir / main.replace(".tex", ".pdf")
    where = first_error(log)
    if where is None:
        raise LatexError(failure_without_location(proc, log))
    generated, line, message = where
    text = f"LaTeX error: {message}\n  in generated {tex_dir / generated}:{line}"
    template = sources.get(Path(generated).name)
    if template:
        lines = (tex_dir / generated).read_text().splitlines()
        template, origin = (
            template_origin(template, lines[line - 1])
            if 0 < line <= len(lines)
            else (template, None)
        )
        text += f"\n  from template templates/{template}" + (f":{origin}" if origin else "")
    raise LatexError(text + f"\n  full log: {log}")
