"""Runs declared steps through the content-addressed cache of a build folder, and says why.

Per step the runner computes its key (compute/engine/keys.py), finds its entry in the cache
(compute/engine/cache.py) or runs the step and stores what it returned, and records what happened
(an Outcome) for the progress lines and the report's appendix.
"""

from __future__ import annotations

import errno
import fcntl
import json
import shutil
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from compute.engine.cache import Cache, build_folder_parts, work_folder
from compute.engine.devices import device_kind, machine
from compute.engine.errors import BuildError
from compute.engine.files import DigestMemo
from compute.engine.keys import cache_key, explain_change, key_components
from compute.engine.progress import Reporter
from compute.engine.step import Context, Result, Step


@dataclass(frozen=True)
class Plan:
    """A step's key in this build, what it is made of, and why the step must run (None: cached)."""

    key: str
    components: dict
    reason: str | None


@dataclass(frozen=True)
class Started:
    """A step about to run: its plan and its context, whose `out` lies in a fresh temporary entry
    (the step, or its job, writes there; the runner moves it into place)."""

    plan: Plan
    ctx: Context
    entry: Path  # the temporary entry folder, which ctx.out lies in


@dataclass
class Outcome:
    """What happened to a step in this build, for the progress lines and the appendix."""

    name: str
    key: str
    cached: bool
    reason: str
    seconds: float  # time the computation took when it ran (from the manifest when cached)
    device: str
    machine: str  # the GPU, or the CPU model and its vector instruction set
    seed: int


@contextmanager
def build_lock(build_dir: Path):
    """Serialises builds that share a build folder; the second one waits and says so."""
    try:
        build_dir.mkdir(parents=True, exist_ok=True)
        handle = open(build_dir / ".lock", "w")
    except OSError as error:
        reason = {
            errno.EEXIST: "a file of that name exists",
            errno.ENOTDIR: "a part of the path is a file",
        }.get(error.errno, (error.strerror or str(error)).lower())
        raise BuildError(
            f"build folder {build_dir}: cannot be created or written ({reason}). "
            f"Choose a writable folder with --build-dir"
        ) from None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(
                "another build is running in this folder; waiting for it to finish", file=sys.stderr
            )
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield


class MissingResult(BuildError):
    """--frozen: a step's result for its current key is not in the cache."""

    def __init__(self, step: str, key: str, reason: str, compute_with: str):
        super().__init__(
            f"{step}: no result for key {key} ({reason}); --frozen computes nothing",
            fix=f"Compute it with: {compute_with}, or bring it here with --pull DIR",
        )
        self.step, self.key, self.reason = step, key, reason


def compute(step: Step, ctx: Context) -> dict:
    """Runs the step (in the build's process or in a job) and says what computed it and how long
    it took. The result must be JSON: one that is not is a failure, not a cache entry."""
    start = time.monotonic()
    data = step.run(ctx)
    json.dumps(data)
    return {
        "data": data,
        "seconds": time.monotonic() - start,
        "device": device_kind(ctx.device),
        "machine": machine(ctx.device),
    }


class Runner:
    """Decides per step whether the cache holds its result, runs it when not, and says why.
    `jobs` (compute/engine/jobs.py) runs the steps as local or Slurm jobs; without it they run here,
    one after the other. `frozen` computes nothing: a missing result is a MissingResult. `profile`
    names the settings the build's steps were declared with (for the command a MissingResult
    gives, the appendix and the claims file)."""

    def __init__(
        self,
        build_dir: Path,
        device: str = "cpu",
        force: bool = False,
        frozen: bool = False,
        jobs=None,
        profile: str | None = None,
    ):
        self.build_dir, self.profile = build_dir, profile
        cache, digests = build_folder_parts(build_dir)
        self.digests = DigestMemo(digests)
        self.cache = Cache(cache, self.digests)
        self.device = device
        self.force = force
        self.frozen = frozen
        self.jobs = jobs
        self.keys: dict[str, str] = {}
        self._keyed: dict[str, tuple] = {}  # step name: (step, upstream keys, key, components)
        self.outcomes: dict[str, Outcome] = {}
        removed = self.cache.clean_leftovers()
        if removed:
            print(
                f"removed {len(removed)} leftover temporary folder(s) of interrupted runs from "
                f"{self.cache.root}",
                file=sys.stderr,
            )

    def plan(self, step: Step) -> Plan:
        """The step's key, its components, and why it must run (None when cached)."""
        upstream = {n: self.keys.get(n) for n in step.needs}
        known = self._keyed.get(step.name)
        if known is None or known[0] is not step or known[1] != upstream:
            # once per step and build: the key reads every input file's size and date
            components = key_components(step, self.keys, self.device, self.digests)
            known = self._keyed[step.name] = (step, upstream, cache_key(components), components)
        key, components = known[2], known[3]
        self.keys[step.name] = key
        if self.force:
            return Plan(key, components, "forced (--force)")
        if self.cache.exists(step.name, key):
            return Plan(key, components, self.damaged(step.name) or self.redrawn(step))
        return Plan(
            key, components, explain_change(self.cache.last_components(step.name), components)
        )

    def read_results(self, step: Step) -> dict[str, str]:
        """The digests of the upstream results a step reads, as the cache holds them now ({} for an
        upstream not there yet)."""
        return {
            n: self.cache.entry(n, self.keys[n]).result_digest()
            for n in step.needs
            if n in self.keys and self.cache.has(n, self.keys[n])
        }

    def redrawn(self, step: Step) -> str | None:
        """Why a cached figure step must draw again: an upstream step was recomputed since, under
        the same key, with other numbers (a measurement: the Q1 timings). A step that `presents`
        (a figure step) draws what its upstream steps stored, so its entry counts only for the
        upstream results it read (their digests, in its manifest); other steps' results depend only
        on what their keys cover."""
        if not step.presents:
            return None
        manifest = self.cache.entry(step.name, self.keys[step.name]).manifest() or {}
        if "read" not in manifest:
            return "drawn by an older version, which did not record the results it read"
        drawn = manifest["read"]
        changed = [n for n, digest in self.read_results(step).items() if drawn.get(n) != digest]
        return (
            f"{', '.join(changed)} recomputed with other results since it was drawn"
            if changed
            else None
        )

    def damaged(self, name: str) -> str | None:
        """Why the entry of the step's planned key cannot be trusted; None when absent or intact."""
        key = self.keys[name]
        damage = self.cache.damage(name, key) if self.cache.exists(name, key) else None
        return (
            None
            if damage is None
            else f"damaged, will recompute: {damage} in {self.cache.entry(name, key).path}"
        )

    def cached(self, step: Step) -> Result | None:
        """The cached result for the step's current key, or None; never computes."""
        plan = self.plan(step)
        if plan.reason is not None:
            return None
        self._record(step, plan.key, cached=True, reason="cached")
        return self.cache.load(step.name, plan.key)

    def start(self, step: Step, needed: dict[str, Result]) -> Result | Started:
        """The cached result, or what running the step takes: its plan and its context."""
        plan = self.plan(step)
        if plan.reason is None:
            self._record(step, plan.key, cached=True, reason="cached")
            print(f"{step.name}: cached ({plan.key})", file=sys.stderr, flush=True)
            return self.cache.load(step.name, plan.key)
        if self.frozen:
            profile = f" --profile {self.profile}" if self.profile else ""
            raise MissingResult(
                step.name,
                plan.key,
                plan.reason,
                f"python build.py{profile} --section {step.section} --device {self.device}",
            )
        print(f"{step.name}: running ({plan.reason})", file=sys.stderr, flush=True)
        tmp = self.cache.new_entry(step.name, plan.key)
        work = work_folder(self.build_dir, step.name, plan.key)
        work.mkdir(parents=True, exist_ok=True)
        ctx = Context(
            params=step.params,
            seed=step.seed,
            device=self.device,
            out=tmp.files,
            work=work,
            needed={n: needed[n] for n in step.needs},
            name=step.name,
            reporter=Reporter(),
        )
        return Started(plan, ctx, tmp.path)

    def finish(self, step: Step, started: Started, outcome: dict) -> Result:
        """Stores what `compute` returned, atomically, with its manifest."""
        key, ctx = started.plan.key, started.ctx
        manifest = {
            "step": step.name,
            "key": key,
            "components": started.plan.components,
            "seconds": outcome["seconds"],
            "device": outcome["device"],
            "machine": outcome["machine"],
            "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
        }
        if step.presents:
            manifest["read"] = self.read_results(step)
        try:
            self.cache.store(step.name, key, started.entry, outcome["data"], manifest)
        except BaseException:
            shutil.rmtree(started.entry, ignore_errors=True)
            raise
        shutil.rmtree(ctx.work, ignore_errors=True)
        print(f"{step.name}: done in {outcome['seconds']:.1f} s", file=sys.stderr, flush=True)
        self._record(step, key, cached=False, reason=started.plan.reason)
        return self.cache.load(step.name, key)

    def run(self, step: Step, needed: dict[str, Result]) -> Result:
        started = self.start(step, needed)
        if isinstance(started, Result):
            return started
        try:
            outcome = compute(step, started.ctx)
        except BaseException as error:
            shutil.rmtree(started.entry, ignore_errors=True)
            error.add_note(f"while computing {step.name} (nothing of it was cached)")
            raise
        return self.finish(step, started, outcome)

    def _record(self, step: Step, key: str, cached: bool, reason: str) -> None:
        entry = self.cache.entry(step.name, key)
        manifest = (entry.manifest() if self.cache.has(step.name, key) else None) or {}
        self.outcomes[step.name] = Outcome(
            step.name,
            key,
            cached,
            reason,
            manifest.get("seconds", 0.0),
            manifest.get("device", "not recorded"),
            manifest.get("machine", "not recorded"),
            step.seed,
        )

    def run_all(self, steps: list[Step]) -> dict[str, Result]:
        if self.jobs is not None:
            return self.jobs.run_all(self, steps)
        results: dict[str, Result] = {}
        for step in steps:
            results[step.name] = self.run(step, results)
        return results
