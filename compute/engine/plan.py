"""What a build will cost before it starts: for each step that would run, what it reads and
writes, its projected wall time on this device, its peak memory and disk, and the total
(`build.py --plan`, which computes nothing it keeps); and the preflight of a build that computes:
it stops when the disk cannot hold what the steps write, and prints the plan first when it
projects more than an hour.

A projection is measured, not assumed: a short run at the step's true shapes on this device (a
few timed batches of a training at the profile's batch size and padded length on random tensors,
the features of a sample of clips), scaled by the counts the data and the settings give (clips,
batches, epochs, validation and test decoding). A section provides them in
`compute/<section>/plan.py` as `PROJECTIONS = {step name: function(step, probe) -> Projection}`;
a step without one is of fixed size (the data does not scale it), and its line gives the time and
disk of its last run in this build folder, when there was one.
"""

from __future__ import annotations

import importlib
import os
import resource
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from compute.engine.errors import BuildError, free_bytes
from compute.engine.files import file_digest
from compute.engine.progress import duration
from compute.engine.step import DataError, Result, Step

HOUR = 3600.0
MIN_SECONDS, MAX_REPEATS = 1.0, 20  # --plan times a call at least twice, then until 1 s or 20 calls


@dataclass
class Projection:
    """A step's projected cost on this device, and what it was measured from."""

    seconds: float | None  # wall time; None when not projected
    basis: str  # what it was measured from, or why it is not projected
    reads: str = ""
    writes: str = ""
    ram: int = 0  # peak resident memory of its process(es), bytes
    mapped: int = 0  # memory-mapped files it reads on top (page cache the system can give back)
    gpu: int = 0  # peak CUDA memory, bytes
    disk: int = 0  # bytes kept in the cache
    scratch: int = 0  # bytes on disk on top of `disk` while it runs (checkpoints, work files)
    # the step cannot be planned (its data is missing or unusable); basis says why
    failed: bool = False


@dataclass
class Probe:
    """What a projection may use: the build's device, the declared steps of the build and the
    results the cache holds (by name), a scratch folder removed afterwards, whether to time
    anything (without: disk and counts only), how closely (`thorough`: --plan times several
    shapes and calls where the preflight of a build times the median shape once), and
    measurements the projections of one section share (memo)."""

    device: str
    steps: dict[str, Step]
    results: dict[str, Result]
    scratch: Path
    measure: bool = True
    thorough: bool = True
    memo: dict = field(default_factory=dict)

    def shared(self, name: str, compute: Callable[[], object]):
        """compute() once per probe, by name."""
        if name not in self.memo:
            self.memo[name] = compute()
        return self.memo[name]


def timed(
    run: Callable[[], object], thorough: bool, synchronize: Callable[[], None] = lambda: None
) -> tuple[float, int]:
    """Mean seconds of run() after one warm-up call, and how many calls were timed: thorough, at
    least two, then more until MIN_SECONDS have passed or MAX_REPEATS calls; else one. A first call
    of a second or more counts as timed (what it spends once is small beside it)."""
    began = time.perf_counter()
    run()
    synchronize()
    first = time.perf_counter() - began
    times: list[float] = [first] if first >= 1.0 else []
    while (
        not times
        or thorough
        and (len(times) < 2 or (sum(times) < MIN_SECONDS and len(times) < MAX_REPEATS))
    ):
        began = time.perf_counter()
        run()
        synchronize()
        times.append(time.perf_counter() - began)
    return sum(times) / len(times), len(times)


def peak_ram() -> int:
    """The peak resident memory of this process so far, bytes."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def size(n: float) -> str:
    """Bytes in words: 820 B, 12 kB, 29 MB, 11.6 GB."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return (
                f"{n / scale:.1f} {unit}"
                if n < 10 * scale and unit == "GB"
                else f"{n / scale:.0f} {unit}"
            )
    return f"{n:.0f} B"


def projector(step: Step) -> Callable | None:
    name = f"compute.{step.section}.plan"
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as error:
        if error.name == name:
            return None
        raise
    return getattr(module, "PROJECTIONS", {}).get(step.name)


def last_run(cache, step: Step) -> Projection:
    """A fixed-size step: the time and size of its newest entry in this build folder."""
    history = cache.history(step.name)
    if not history:
        return Projection(
            None,
            "not projected: a step of fixed size, not scaled by the data, never run in "
            "this build folder",
        )
    entry, manifest = history[0]
    disk = sum(f.stat().st_size for f in entry.path.rglob("*") if f.is_file())
    run = (
        f"its last run in this build folder ({manifest.get('finished', '?')}, "
        f"{manifest.get('device', '?')})"
    )
    seconds = manifest.get("seconds")
    if not isinstance(seconds, (int, float)):
        return Projection(None, f"not projected: {run} recorded no time", disk=disk)
    return Projection(seconds, f"{run}; a step of fixed size", disk=disk)


def reasons(runner, steps: list[Step]) -> dict[str, str | None]:
    """Why each step would run (None: cached). A step that has no entry in the cache at all runs
    whatever its key, so its key is not computed when that would read input files this build
    folder has never digested (13,100 clips are not read to say that they will be)."""
    skipped: set[str] = set()
    out: dict[str, str | None] = {}
    by_name = {s.name: s for s in steps}
    for step in steps:
        fresh = not runner.cache.entries(step.name)
        if runner.force or (
            fresh and (skipped & set(step.needs) or not runner.digests.known(step.input_files))
        ):
            skipped.add(step.name)
            out[step.name] = (
                "forced (--force)" if runner.force else "never computed in this build folder"
            )
            continue
        for name in skipped & set(step.needs):
            runner.plan(by_name[name])
        out[step.name] = runner.plan(step).reason
    return out


def project(
    runner, steps: list[Step], measure: bool = True, thorough: bool = True
) -> list[tuple[Step, str | None, Projection | None]]:
    """(step, why it would run or None when cached, its projection or None when cached). A step
    whose data cannot be read gets a projection marked `failed`, saying why."""
    why = reasons(runner, steps)
    results = {
        s.name: runner.cache.load(s.name, runner.keys[s.name]) for s in steps if why[s.name] is None
    }
    rows = []
    runner.build_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=runner.build_dir, prefix=".plan-") as scratch:
        probe = Probe(
            runner.device, {s.name: s for s in steps}, results, Path(scratch), measure, thorough
        )
        for step in steps:
            if why[step.name] is None:
                rows.append((step, None, None))
                continue
            function = projector(step)
            try:
                projection = function(step, probe) if function else last_run(runner.cache, step)
            except DataError as error:
                projection = Projection(None, f"cannot plan: {error}", failed=True)
            if projection.seconds is not None:
                rate = probe.shared("digest rate", lambda: digest_rate(probe.scratch))
                add_digests(runner, step, projection, rate)
            rows.append((step, why[step.name], projection))
    return rows


def digest_rate(scratch: Path) -> float:
    """Seconds the build takes to digest a byte (SHA-256), measured on a file of 64 MB."""
    sample = scratch / "digest.bin"
    sample.write_bytes(os.urandom(64 * 2**20))
    began = time.perf_counter()
    file_digest(sample)
    return (time.perf_counter() - began) / sample.stat().st_size


def add_digests(runner, step: Step, projection: Projection, rate: float) -> None:
    """The build digests the files a step writes (its cache entry) and the input files of its key
    that this build folder has not digested before."""
    unread = sum(
        Path(f).stat().st_size
        for f in step.input_files
        if Path(f).is_file() and not runner.digests.known([f])
    )
    if projection.disk + unread > 1e8:
        projection.seconds += (projection.disk + unread) * rate
        projection.basis += (
            f"; digesting {size(projection.disk + unread)} at {1e-9 / rate:.1f} GB/s measured now"
        )


def totals(rows) -> dict:
    projected = [p for _, why, p in rows if why is not None]
    return {
        "seconds": sum(p.seconds or 0.0 for p in projected),
        "unprojected": [s.name for s, why, p in rows if why is not None and p.seconds is None],
        "ram": max((p.ram + p.mapped for p in projected), default=0),
        "gpu": max((p.gpu for p in projected), default=0),
        "disk": sum(p.disk for p in projected),
        "peak_disk": sum(p.disk for p in projected)
        + max((p.scratch for p in projected), default=0),
    }


def plan_lines(rows, build_dir: Path, where: str) -> list[str]:
    """The plan as lines: each step, then the total."""
    lines = []
    for step, why, p in rows:
        if why is None:
            lines.append(f"{step.name}: cached")
            continue
        lines.append(f"{step.name}: would run ({why})")
        if p.seconds is not None:
            memory = f"RAM {size(p.ram)}" + (
                f" + {size(p.mapped)} memory-mapped" if p.mapped else ""
            )
            memory += f", GPU {size(p.gpu)}" if p.gpu else ""
            scratch = f" (+{size(p.scratch)} while it runs)" if p.scratch else ""
            lines.append(
                f"  projection: {duration(p.seconds)}, {memory}, disk {size(p.disk)}{scratch}"
            )
        lines += [
            f"  {label}: {text}"
            for label, text in (("from", p.basis), ("reads", p.reads), ("writes", p.writes))
            if text
        ]
    t = totals(rows)
    if not any(why for _, why, _ in rows):
        return lines + ["total: nothing to compute; every step is cached"]
    unprojected = f" + {len(t['unprojected'])} step(s) not projected" if t["unprojected"] else ""
    gpu = f", GPU {size(t['gpu'])}" if t["gpu"] else ""
    return lines + [
        f"total, projected on {where}: {duration(t['seconds'])}{unprojected}; peak RAM "
        f"{size(t['ram'])}{gpu}; disk {size(t['disk'])} kept, {size(t['peak_disk'])} at the peak, "
        f"{size(free_bytes(build_dir) or 0)} free in {build_dir}"
    ]


def check_disk(rows, build_dir: Path) -> None:
    """BuildError in one line when the build folder's disk cannot hold what the steps write."""
    t, free = totals(rows), free_bytes(build_dir) or 0
    if t["peak_disk"] > free:
        written = [(p.disk + p.scratch, s.name) for s, why, p in rows if why]
        biggest = sorted(written, reverse=True)[:2]
        parts = ", ".join(f"{name} {size(n)}" for n, name in biggest)
        raise BuildError(
            f"{build_dir}: {size(free)} free, but the steps that would run write "
            f"{size(t['peak_disk'])} at their peak ({parts}); free {size(t['peak_disk'] - free)} "
            f"more, or choose a folder on a larger disk with --build-dir"
        )


def where(device: str) -> str:
    from compute.engine.devices import machine

    cores = f", {os.cpu_count()} cores (load average {os.getloadavg()[0]:.1f}: other work slows it)"
    return f"{device}, {machine(device)}" + (cores if device == "cpu" else "")


def preflight(runner, steps: list[Step], measure: bool, out) -> None:
    """Before a build computes: stops when the disk is too small; prints the plan first when it
    projects more than an hour. `measure` False (steps computed elsewhere): the disk only."""
    rows = project(runner, steps, measure, thorough=False)
    check_disk(rows, runner.build_dir)
    seconds = totals(rows)["seconds"]
    if seconds > HOUR:
        print(f"this build is projected to take {duration(seconds)} here; the plan:", file=out)
        print(
            "\n".join(plan_lines(rows, runner.build_dir, where(runner.device))),
            file=out,
            flush=True,
        )
