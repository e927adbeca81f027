"""`build.py --watch`: build once, then again whenever a source of the report is saved.

Sources are the templates, report.toml and the project's Python code (build.py, compute/,
report/). Watching polls their modification times (no extra dependency). A saved template or
report.toml rebuilds in this process: the cache gives every result, so only the claims, the
templates and LaTeX run again. A saved Python file restarts the process, so that the new code is
the code that runs; the cache then recomputes exactly the steps whose code changed. A failed build
prints its message (file and line) and the watch goes on.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Callable

SOURCES = {
    "templates": ("*.j2",),
    "compute": ("*.py",),
    "report": ("*.py",),
    ".": ("build.py", "report.toml"),
}


def snapshot(root: Path) -> dict[Path, int]:
    """{file: modification time in ns} of every watched file."""
    found = {}
    for folder, patterns in SOURCES.items():
        base = root / folder
        for pattern in patterns:
            for path in base.glob(pattern) if folder == "." else base.rglob(pattern):
                try:
                    found[path] = path.stat().st_mtime_ns
                except FileNotFoundError:  # removed while listing
                    continue
    return found


def changed(before: dict[Path, int], after: dict[Path, int]) -> list[Path]:
    return sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))


def settled(
    root: Path, seen: dict[Path, int], interval: float
) -> tuple[dict[Path, int], list[Path]]:
    """Waits for a change, then until the files stop changing (an editor may write in steps)."""
    while True:
        time.sleep(interval)
        now = snapshot(root)
        if changed(seen, now):
            break
    while True:
        time.sleep(interval)
        later = snapshot(root)
        if not changed(now, later):
            return later, changed(seen, later)
        now = later


def restart() -> None:
    """Replaces this process by a fresh one with the same command line: new Python code is
    loaded."""
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, *sys.argv])


def watch(
    build_once: Callable[[], int],
    root: Path,
    interval: float = 0.2,
    on_code_change: Callable[[], None] = restart,
) -> None:
    """Builds, then rebuilds after every saved change of a source; runs until interrupted."""
    seen = snapshot(root)
    while True:
        start = time.monotonic()
        status = build_once()
        outcome = "built" if status == 0 else "failed (fix it and save again)"
        print(
            f"watch: {outcome} in {time.monotonic() - start:.1f} s; "
            "watching templates/, report.toml, compute/, report/ (Ctrl-C stops)",
            file=sys.stderr,
            flush=True,
        )
        seen, paths = settled(root, seen, interval)
        names = ", ".join(str(p.relative_to(root)) for p in paths[:5]) + (
            " ..." if len(paths) > 5 else ""
        )
        print(f"watch: {names} changed", file=sys.stderr, flush=True)
        if any(p.suffix == ".py" for p in paths):
            on_code_change()
