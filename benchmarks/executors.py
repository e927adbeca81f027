"""The smoke profile built inline (one step after the other, in the build's process) and through
the local executor (one subprocess job per step, independent steps at once), each into a fresh
build folder: wall time of each, their ratio, and whether both give the same cache keys and the
same numbers (results without their timings), and what one empty local job costs.

    .venv/bin/python benchmarks/executors.py [--section q1 ...] [--profile smoke]

On two cores the local executor runs the independent steps at once, but they then share the
cores, and each job pays for starting Python and importing torch: the ratio says what that costs
or saves on this machine. The last line is `local/inline wall time: N.NNx`.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from compute.engine.share import comparable_results  # noqa: E402


def timed_build(build_dir: Path, executor: str, args: argparse.Namespace) -> float:
    sections = [a for name in args.section or [] for a in ("--section", name)]
    start = time.monotonic()
    command = [sys.executable, str(ROOT / "build.py"), "--profile", args.profile]
    command += ["--build-dir", str(build_dir), "--executor", executor, "--check", *sections]
    subprocess.run(command, check=True, cwd=ROOT, capture_output=True, text=True)
    return time.monotonic() - start


def job_overhead(folder: Path, repeats: int = 3) -> float:
    """Median seconds for submitit's local executor to run a function that does nothing: the
    cost of one job before its step imports anything."""
    import submitit

    executor = submitit.LocalExecutor(folder, max_num_timeout=0)
    times = []
    for _ in range(repeats):
        start = time.monotonic()
        executor.submit(sum, [1, 2]).result()
        times.append(time.monotonic() - start)
    return sorted(times)[len(times) // 2]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--section", action="append", help="only this section (repeatable; default: all)"
    )
    parser.add_argument("--profile", default="smoke")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        seconds, results = {}, {}
        for executor in ("inline", "local"):
            build_dir = Path(tmp) / executor
            seconds[executor] = timed_build(build_dir, executor, args)
            results[executor] = comparable_results(build_dir)
            computed = len(results[executor])
            print(f"{executor:>6}: {seconds[executor]:6.1f} s, {computed} steps computed")
        print(f"one empty local job: {job_overhead(Path(tmp) / 'empty'):.2f} s")
    same_keys = sorted(results["inline"]) == sorted(results["local"])
    print(f"same cache keys: {'yes' if same_keys else 'NO'}")
    differ = [k for k in results["inline"] if results["inline"][k] != results["local"].get(k)]
    print(f"same numbers: {'yes' if not differ else 'NO, in ' + ', '.join(differ)}")
    print(f"local/inline wall time: {seconds['local'] / seconds['inline']:.2f}x")
    return 0 if same_keys and results["inline"] == results["local"] else 1


if __name__ == "__main__":
    sys.exit(main())
