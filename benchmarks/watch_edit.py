"""Time from saving a template to a new PDF under `build.py --watch`, with a warm cache.

In a copy of the project (the real templates are never touched) the profile's results are
computed once, or taken from --build-dir; then `build.py --watch` runs and a sentence is appended
to a template `--edits` times. Each edit is timed from the save to the watch's "built" line, and
the new PDF is checked to hold the sentence. For comparison, one fresh `python build.py` (a new
process importing everything, the same warm cache) is timed too. Prints the measured figures.
"""

from __future__ import annotations

import argparse
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from string import ascii_uppercase

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from compute.engine.testing import copy_project, lines_of, pdf_text, save, wait_for  # noqa: E402


def timed_edits(project: Path, command: list[str], pdf: Path, edits: int) -> list[float]:
    """Seconds from each template save to the watch's next "built" line."""
    template = project / "templates" / "q1.tex.j2"
    process = subprocess.Popen(
        command + ["--watch"],
        cwd=project,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    lines, seconds = lines_of(process), []
    try:
        wait_for(lines, "watch: built", timeout=3600)
        for i in range(edits):
            sentence = (
                f"Edit {ascii_uppercase[i % 26]} of the benchmark."  # no digit: the numeral check
            )
            start = time.monotonic()
            save(template, template.read_text() + f"\n{sentence}\n")
            wait_for(lines, "watch: built")
            seconds.append(time.monotonic() - start)
            if sentence not in pdf_text(pdf, layout=False):
                raise SystemExit(f"the PDF after edit {i + 1} does not hold the new sentence")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", default="smoke", help="smoke (default) or quick")
    parser.add_argument(
        "--build-dir",
        type=Path,
        help="a build folder whose cache already holds the profile (default: compute it)",
    )
    parser.add_argument("--edits", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        project = copy_project(Path(scratch) / "project")
        build_dir = args.build_dir or Path(scratch) / "build"
        command = [
            sys.executable,
            "-u",
            str(project / "build.py"),
            "--profile",
            args.profile,
            "--build-dir",
            str(build_dir),
        ]
        print(f"warming the cache ({args.profile} profile, {build_dir})", flush=True)
        subprocess.run(command, cwd=project, check=True, capture_output=True)
        start = time.monotonic()
        subprocess.run(command, cwd=project, check=True, capture_output=True)
        fresh = time.monotonic() - start
        seconds = timed_edits(project, command, build_dir / "report.pdf", args.edits)
    median = statistics.median(seconds)
    print(f"each edit: {', '.join(f'{s:.2f}' for s in seconds)} s")
    print(f"a fresh `python build.py` with the warm cache: {fresh:.2f} s")
    print(
        f"watch edit to PDF ({args.profile} profile, warm cache, median of {len(seconds)}): "
        f"{median:.2f} s; "
        f"{fresh / median:.1f}x faster than a fresh build"
    )


if __name__ == "__main__":
    main()
