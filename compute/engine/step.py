"""What a computation step declares and what it receives when it runs.

A step is a plain function `run(ctx) -> dict` plus a declaration of everything its
result depends on; the runner (compute/engine/pipeline.py) turns the declaration into a cache key
(compute/engine/keys.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from compute.engine.errors import BuildError, env_number

CHECKPOINT_VARIABLE = "BUILD_CHECKPOINT_MINUTES"


class DataError(BuildError):
    """A dataset is missing or unusable; the message names the file, the problem and the fix."""


def checkpoint_interval() -> float:
    """Seconds between the checkpoints a long training writes within an epoch:
    BUILD_CHECKPOINT_MINUTES when set (0: after every batch), else 10 minutes."""
    example = "the minutes between checkpoints, e.g. 10"
    return 60 * env_number(CHECKPOINT_VARIABLE, 10.0, example, zero=True)


@dataclass(frozen=True)
class Resources:
    """What a step's job asks the machine for when it runs as a job (--executor local or slurm).

    cpus, memory_gb: cores and memory of the job. hours: its time limit; a job past it is stopped.
    A step that `uses_device` gets one GPU when the build's device is cuda.
    """

    cpus: int = 1
    memory_gb: float = 4
    hours: float = 1


@dataclass(frozen=True)
class Step:
    """One cached unit of computation.

    name: "<section>.<what>", e.g. "q2.train".
    run: function(ctx) -> JSON-serialisable dict; files it writes into ctx.out are kept.
    params: JSON-serialisable settings, part of the cache key, given as ctx.params.
    needs: names of upstream steps whose results this step reads (ctx.needed[name]).
    input_files: files read from outside the project (datasets); their digests are in the key.
    libraries: distributions whose versions are in the key (e.g. "torch", "sympy").
    programs: external programs whose output the result depends on; their versions are in the key.
    seed: the random seed, in the key and given as ctx.seed.
    uses_device: the key includes the device class (cpu or cuda) the step computes on.
    presents: the step only presents its upstream results (a figure step): cheap, so it runs again
        whenever an upstream result changed, even under the same key (a measurement recomputed).
    locations: names of params that only say where input files lie on this machine; they stay out
        of the key (the digests of the input files stand for them), so machines agree on keys.
    resources: what the step's job asks for when it does not run in the build's own process.
    """

    name: str
    run: Callable[["Context"], dict]
    params: dict = field(default_factory=dict)
    needs: tuple[str, ...] = ()
    input_files: tuple[Path, ...] = ()
    libraries: tuple[str, ...] = ()
    programs: tuple[str, ...] = ()
    seed: int = 0
    uses_device: bool = False
    presents: bool = False
    locations: tuple[str, ...] = ()
    resources: Resources = Resources()

    @property
    def section(self) -> str:
        return self.name.split(".", 1)[0]


@dataclass
class Result:
    """A finished step's results: its JSON document and the folder holding its files."""

    data: dict
    dir: Path

    def file(self, name: str) -> Path:
        return self.dir / name


@dataclass
class Context:
    """What a running step may use. Write output files only into `out`."""

    params: dict
    seed: int
    device: str
    out: Path
    work: Path  # survives an interrupted run (checkpoints); removed once the step succeeds
    needed: dict[str, Result]
    name: str = ""
    reporter: Any = None  # shows progress (compute/engine/progress.py); set by the runner
    # how often a long training checkpoints within an epoch; like the progress display it does not
    # change the numbers, so it is not a parameter (not in the key)
    checkpoint_seconds: float = field(default_factory=checkpoint_interval)

    def log(self, message: str) -> None:
        self.reporter.log(self.name, message)

    def progress(self, iterable: Iterable, total: int | None = None, desc: str = "") -> Iterable:
        """Wraps a loop that is the step's whole work, showing how far it got and the time left;
        yields the items unchanged."""
        return self.reporter.progress(self.name, iterable, total, desc)

    def track(self, work: dict[str, tuple[int, float]]):
        """A context manager following the step's whole work, {kind: (items, guessed cost of one
        relative to the others)}: call its step(kind) as items finish, skip(kind, n) for items
        restored from a checkpoint, and set its `where`; it prints a line with the time left for
        the whole step at least every 30 s (compute/engine/progress.py)."""
        return self.reporter.track(self.name, work)
