"""Helpers for the tests and benchmarks: a step context for calling a step's `run` directly (no
cache, no runner), a copy of the project to edit, and reading a running build's progress lines.
No step imports this module."""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

from compute.engine.files import ROOT
from compute.engine.progress import Reporter
from compute.engine.step import Context, Result

# The real LJ Speech sample, beside the project and never copied into it: tests that read it are
# skipped where it is absent (the `ljspeech_sample` fixture); benchmarks take clips from it.
LJSPEECH_SAMPLE = ROOT.parent / "shared" / "data" / "ljspeech-sample"


def fake_context(
    tmp: Path,
    params: dict | None = None,
    seed: int = 0,
    needed: dict[str, Result] | None = None,
    device: str = "cpu",
    name: str = "test",
) -> Context:
    """A context whose `out` and `work` folders are under `tmp`; progress printed as log lines."""
    (tmp / "out").mkdir(parents=True, exist_ok=True)
    (tmp / "work").mkdir(parents=True, exist_ok=True)
    return Context(
        params=params or {},
        seed=seed,
        device=device,
        out=tmp / "out",
        work=tmp / "work",
        needed=needed or {},
        name=name,
        reporter=Reporter(),
    )


def pdf_text(pdf: Path, layout: bool = True, pages: tuple[int, int] | None = None) -> str:
    """The text of a PDF (pdftotext), laid out as on the page unless layout is False; only the
    pages from `pages[0]` to `pages[1]` when given."""
    chosen = ["-f", str(pages[0]), "-l", str(pages[1])] if pages else []
    return subprocess.run(
        ["pdftotext", *(["-layout"] if layout else []), *chosen, str(pdf), "-"],
        capture_output=True,
        text=True,
    ).stdout


def ruff(cwd: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    """The linter run with `args` in `cwd` (so that it reads that project's pyproject.toml and
    skips what git ignores there), its output captured as text."""
    command = [sys.executable, "-m", "ruff", *args, "--no-cache"]
    return subprocess.run(command, cwd=cwd, input=stdin, capture_output=True, text=True)


def copy_project(target: Path) -> Path:
    """The working tree's files (tracked and new, not ignored), copied to `target`."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    for name in filter(None, listed):
        if (ROOT / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, target / name)
    return target


def edit(path: Path, old: str, new: str) -> None:
    """Replaces the one occurrence of `old` in the file; AssertionError when it is not there
    exactly once (the edit a test means to make would be ambiguous or missing)."""
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in {path}, not once"
    path.write_text(text.replace(old, new))


def save(path: Path, text: str) -> None:
    """Writes `text` and moves the modification time on by a second, as a later save would."""
    path.write_text(text)
    later = path.stat().st_mtime_ns + 10**9
    os.utime(path, ns=(later, later))


def lines_of(process: subprocess.Popen) -> "queue.Queue[str]":
    """The process's stderr lines, read as they come by a background thread."""
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(
        target=lambda: [lines.put(line) for line in process.stderr], daemon=True
    ).start()
    return lines


def wait_for(lines: "queue.Queue[str]", text: str, timeout: float = 240) -> list[str]:
    """The lines read until one holding `text` (the last one); AssertionError listing them if it
    does not come within `timeout` seconds."""
    seen, end = [], time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            seen.append(lines.get(timeout=1))
        except queue.Empty:
            continue
        if text in seen[-1]:
            return seen
    raise AssertionError(f"{text!r} did not come within {timeout} s; got:\n" + "".join(seen))
