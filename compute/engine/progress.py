"""How a running step shows its progress: log lines, and a line at least every 30 s with the time
left for the whole step.

The runner hands a `Reporter` to each step through its context (`ctx.log`, `ctx.progress`,
`ctx.track`). No step module imports this one, so changing how progress looks, or its cadence
(BUILD_PROGRESS_SECONDS), never changes a cache key. The lines are the same on a terminal and in
a plain log (Slurm, notebooks, CI): a thread prints them on time, also while one long batch runs.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Iterable

from compute.engine.errors import env_number

PROGRESS_VARIABLE = "BUILD_PROGRESS_SECONDS"
EVERY = 30.0  # seconds between progress lines


def duration(seconds: float) -> str:
    """A wall time in words: 45 s, 6 min 30 s, 16 h 30 min."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return (
            f"{seconds // 60} min {seconds % 60} s"
            if seconds < 600
            else f"{round(seconds / 60)} min"
        )
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"{hours} h {minutes} min"


def interval() -> float:
    """Seconds between progress lines: BUILD_PROGRESS_SECONDS when set, else 30."""
    example = "the seconds between progress lines, e.g. 30"
    return env_number(PROGRESS_VARIABLE, EVERY, example, zero=False)


class Tracker:
    """The progress of a step, or of the part of it one process computes: items of named kinds
    (training batches, validation batches, ...), each with its count and a guess of its cost
    relative to the others. An item's time is the time since the previous one finished; the time
    left sums, per kind, the items left times the kind's mean time, or for a kind not yet timed
    its guess scaled by the kinds timed so far. While it is open, a thread prints `line()` every
    `every` seconds."""

    def __init__(self, log, work: dict[str, tuple[int, float]], every: float):
        self.log, self.every = log, every
        self.total = {kind: count for kind, (count, _) in work.items()}
        self.weight = {kind: weight for kind, (_, weight) in work.items()}
        self.done = dict.fromkeys(work, 0)
        self.timed = dict.fromkeys(work, 0)
        self.seconds = dict.fromkeys(work, 0.0)
        self.where = ""
        self.began = self.last = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True)

    def __enter__(self) -> "Tracker":
        self._thread.start()
        return self

    def __exit__(self, *_) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        while not self._stop.wait(self.every):
            self.log(self.line())

    def skip(self, kind: str, count: int) -> None:
        """Items done before this run (restored from a checkpoint): counted, not timed."""
        self.done[kind] += count

    def mark(self) -> None:
        """Starts the clock of the next item here (what ran since is nobody's item)."""
        self.last = time.monotonic()

    def step(self, kind: str, count: int = 1) -> None:
        now = time.monotonic()
        self.done[kind] += count
        self.timed[kind] += count
        self.seconds[kind] += now - self.last
        self.last = now

    def items(self, kind: str, iterable: Iterable) -> Iterable:
        """Yields the items unchanged, counting one of `kind` when the loop asks for the next."""
        for item in iterable:
            yield item
            self.step(kind)

    def left(self) -> tuple[float | None, list[str]]:
        """Seconds left for all the work (None before anything was timed), and the kinds whose time
        is still a guess."""
        timed = [k for k in self.total if self.timed[k]]
        if not timed:
            return None, []
        per_weight = sum(self.seconds[k] for k in timed) / sum(
            self.timed[k] * self.weight[k] for k in timed
        )
        left, guessed = 0.0, []
        for kind, total in self.total.items():
            remaining = max(0, total - self.done[kind])
            if self.timed[kind]:
                left += remaining * self.seconds[kind] / self.timed[kind]
            elif remaining:
                left += remaining * self.weight[kind] * per_weight
                guessed.append(kind)
        return left, guessed

    def line(self) -> str:
        left, guessed = self.left()
        spent = duration(time.monotonic() - self.began)
        where = f"{self.where}; " if self.where else ""
        if left is None:
            return f"{where}{spent} spent; time left known after the first item"
        guess = f" ({', '.join(guessed)} guessed until timed)" if guessed else ""
        return f"{where}{spent} spent, about {duration(left)} left for the whole step{guess}"


class Reporter:
    """Prints a step's messages on stderr; see Tracker for the progress lines."""

    def __init__(self, every: float | None = None):
        self.every = every if every is not None else interval()

    def log(self, name: str, message: str) -> None:
        print(f"  {name}: {message}", file=sys.stderr, flush=True)

    def track(self, name: str, work: dict[str, tuple[int, float]]) -> Tracker:
        return Tracker(lambda message: self.log(name, message), work, self.every)

    def progress(
        self, name: str, iterable: Iterable, total: int | None = None, desc: str = ""
    ) -> Iterable:
        """One loop that is the step's whole work: its items counted, a line every `every` s."""
        if total is None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]
        kind = desc or "items"
        with self.track(name, {kind: (total or 0, 1.0)}) as tracker:
            for i, item in enumerate(tracker.items(kind, iterable), 1):
                tracker.where = f"{kind} {i}/{total}" if total else f"{kind} {i}"
                yield item
