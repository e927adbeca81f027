"""Runs steps as jobs through submitit: as local subprocesses (`--executor local`) or as Slurm jobs
(`--executor slurm`), independent steps at once.

Each job computes one step into a fresh folder inside the cache (the cache must be on a file
system the job's machine shares) and returns its result; the build that submitted it stores the
result and its manifest atomically, as for a step run in its own process. The step's resources
become the job's: cores, memory, time limit, and one GPU for a step that uses the device when the
build's device is cuda. A failed job is reported with the step's own error and the job's log;
Ctrl-C (or a hang-up of the terminal) cancels the jobs that are still running.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import sys
import time
import traceback
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from compute.engine.errors import BuildError
from compute.engine.files import ROOT
from compute.engine.pipeline import compute
from compute.engine.step import Context, Result, Step

POLL_SECONDS = 0.5
NO_SLURM = (
    "--executor slurm: this machine has no Slurm (sbatch is not on PATH). Run the build on the "
    "cluster's login node, or use --executor local to run the steps as local processes."
)


NO_SRUN = (
    "--executor slurm: sbatch is on PATH but srun is not, and every job runs its step through "
    "srun. Run the build where Slurm's commands are all installed (the cluster's login node), or "
    "add the folder holding srun to PATH"
)
# What a job that the scheduler ended needs changed: its state -> the setting
SCHEDULER_FIXES = {
    "TIMEOUT": "raise the step's time limit: --slurm time=MINUTES (it asked for {minutes} min), or "
    "Resources(hours=...) in compute/{section}/steps.py",
    "OUT_OF_MEMORY": "ask for more memory: --slurm mem=NGB (it asked for {memory}), or "
    "Resources(memory_gb=...) in compute/{section}/steps.py",
    "PREEMPTED": "run the build again (finished steps stay cached; the training resumes from its "
    "checkpoints), or choose a partition without preemption: --slurm partition=NAME",
    "NODE_FAIL": "run the build again (finished steps stay cached; the training resumes from its "
    "checkpoints)",
    "CANCELLED": "see who cancelled it (sacct -j {job}); run the build again to resume",
}
SCHEDULER_SAID = re.compile(
    r"(slurmstepd: error: .*|.*(?:oom[-_]kill|Out Of Memory|DUE TO TIME LIMIT).*)", re.IGNORECASE
)


class JobFailed(BuildError):
    """A step failed as a job: the message names the step, its own error and the job's log."""


def job(step: Step, ctx: Context) -> dict:
    """What a job runs. The step's error comes back as text (its traceback is in the job's log),
    so that the build reports the step's own error rather than the job system's."""
    try:
        return compute(step, ctx)
    except Exception as error:
        traceback.print_exc()
        return {"error": f"{type(error).__name__}: {error}"}


def memory(gigabytes: float) -> str:
    return f"{int(gigabytes)}GB" if gigabytes == int(gigabytes) else f"{int(gigabytes * 1024)}MB"


class Jobs:
    """Submits steps as jobs of one kind ("local" or "slurm") and waits for them.
    `slurm_options` are extra #SBATCH settings (partition, account, ...)."""

    def __init__(self, kind: str, build_dir: Path, device: str, slurm_options: dict | None = None):
        if kind not in ("local", "slurm"):
            raise ValueError(f"unknown executor {kind!r}: use inline, local or slurm")
        if kind == "slurm" and shutil.which("sbatch") is None:
            raise JobFailed(NO_SLURM)
        self.kind, self.folder, self.device = kind, build_dir / "jobs", device
        self.slurm_options = slurm_options or {}

    def executor(self, step: Step):
        """A submitit executor whose parameters are the step's resources."""
        import submitit

        r = step.resources
        gpus = 1 if step.uses_device and self.device == "cuda" else 0
        minutes = max(1, round(r.hours * 60))
        folder = self.folder / step.name
        if self.kind == "local":
            executor = submitit.LocalExecutor(folder, max_num_timeout=0)
            executor.update_parameters(timeout_min=minutes, gpus_per_node=gpus)
            return executor
        executor = submitit.SlurmExecutor(folder, max_num_timeout=0)
        executor.update_parameters(
            job_name=step.name,
            time=minutes,
            cpus_per_task=r.cpus,
            mem=memory(r.memory_gb),
            gpus_per_node=gpus or None,
            stderr_to_stdout=True,
            additional_parameters=self.slurm_options,
            setup=[f"cd {ROOT}", f'export PYTHONPATH="{ROOT}${{PYTHONPATH:+:$PYTHONPATH}}"'],
        )
        return executor

    def submit(self, step: Step, ctx: Context):
        """Starts the step's job. It writes plain progress lines to its log; a step that does
        not use the device computes on the CPU (its job has no GPU)."""
        import submitit

        ctx = replace(ctx, device=ctx.device if step.uses_device else "cpu")
        try:
            executor = self.executor(step)
        except RuntimeError as error:  # submitit's Slurm executor needs srun on PATH
            raise JobFailed(
                NO_SRUN if "srun" in str(error) else f"--executor {self.kind}: {error}"
            ) from None
        try:
            with _project_on_path():
                return executor.submit(job, step, ctx)
        except submitit.core.utils.FailedJobError as error:  # sbatch refused the job, and said why
            said = " ".join(str(error).split()) or "no reason given"
            raise JobFailed(
                f'{step.name}: sbatch refused the job: "{said}". Change the #SBATCH setting '
                f"it names with --slurm KEY=VALUE (account=, partition=, ...); the job script is "
                f"under {self.folder / step.name}"
            ) from None

    def run_all(self, runner, steps: list[Step]) -> dict[str, Result]:
        """Submits every step whose upstream results exist, stores each result as its job
        finishes, and submits what then becomes ready. After a failure nothing new starts; the
        running jobs finish (their results are kept) and the failure is raised."""
        results: dict[str, Result] = {}
        pending, running, failures = list(steps), {}, []
        with _hang_up_interrupts():
            try:
                while (pending and not failures) or running:
                    ready = (
                        []
                        if failures
                        else [s for s in pending if all(n in results for n in s.needs)]
                    )
                    if pending and not ready and not running and not failures:
                        raise BuildError(
                            f"{', '.join(s.name for s in pending)}: needs a step this build lacks. "
                            f"Declare every step it needs in its section's steps()"
                        )
                    for step in ready:
                        pending.remove(step)
                        started = runner.start(step, results)
                        if isinstance(started, Result):
                            results[step.name] = started
                            continue
                        running[step.name] = (step, started, self.submit(step, started.ctx))
                    done = [name for name, (_, _, j) in running.items() if j.done()]
                    if not done and running:
                        time.sleep(POLL_SECONDS)
                    for name in done:
                        step, started, submitted = running.pop(name)
                        outcome = self.outcome(step, submitted)
                        if "error" in outcome:
                            shutil.rmtree(started.entry, ignore_errors=True)
                            failures.append(outcome["error"])
                            self.say_waiting(running)
                        else:
                            results[name] = runner.finish(step, started, outcome)
            except BaseException:
                self.cancel(running)
                raise
        if failures:
            raise JobFailed("\n".join(failures))
        return results

    def outcome(self, step: Step, submitted) -> dict:
        """The job's outcome; an error names the step, the error and the job's log."""
        log = submitted.paths.stdout if self.kind == "slurm" else submitted.paths.stderr
        try:
            outcome = submitted.result()
        except Exception as error:  # the job died: killed, out of time or memory
            outcome = {"error": self.ended(step, submitted, str(error), log)}
        if "error" in outcome:
            outcome["error"] = (
                f"{step.name} failed ({self.kind} job): {outcome['error']} (log: {log})"
            )
            print(outcome["error"], file=sys.stderr, flush=True)
        return outcome

    def ended(self, step: Step, submitted, error: str, log: Path) -> str:
        """Why a job ended without a result, in the scheduler's words: its state, the line its log
        holds from Slurm (time limit, memory), and the setting to change."""
        state = re.search(r"state: ([A-Z_]+)", error)
        state = state.group(1) if state else "unknown"
        text = log.read_text(errors="replace") if log.is_file() else ""
        said = [m.group(1).strip() for m in map(SCHEDULER_SAID.match, text.splitlines()) if m]
        if state not in SCHEDULER_FIXES and said:  # the log is clearer than a missing state
            state = "OUT_OF_MEMORY" if re.search("memory|oom", said[-1], re.I) else "TIMEOUT"
        label = "Slurm state" if self.kind == "slurm" else "state"
        why = (
            f"job {submitted.job_id} ended without a result ({label}: {state}"
            + (f'; the log says: "{said[-1]}"' if said else "")
            + ")"
        )
        fix = SCHEDULER_FIXES.get(state)
        if fix:
            r = step.resources
            why += "; " + fix.format(
                minutes=max(1, round(r.hours * 60)),
                memory=memory(r.memory_gb),
                section=step.section,
                job=submitted.job_id,
            )
        return why

    @staticmethod
    def say_waiting(running: dict) -> None:
        if running:
            print(
                f"waiting for the {len(running)} running job(s) to finish: {', '.join(running)} "
                "(Ctrl-C cancels them)",
                file=sys.stderr,
                flush=True,
            )

    @staticmethod
    def cancel(running: dict) -> None:
        for name, (_, started, submitted) in running.items():
            if not submitted.done():
                submitted.cancel(check=False)
                print(f"{name}: cancelled job {submitted.job_id}", file=sys.stderr, flush=True)
            shutil.rmtree(started.entry, ignore_errors=True)


@contextmanager
def _project_on_path():
    """The job's Python imports the step's module from this project: put the project on its path."""
    before = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = str(ROOT) + (f":{before}" if before else "")
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = before


@contextmanager
def _hang_up_interrupts():
    """While jobs run, a hang-up (the terminal closed) or SIGTERM cancels them as Ctrl-C does."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    before = {s: signal.signal(s, interrupt) for s in (signal.SIGHUP, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)
