"""Independent trainings run at once, one spawned process per CPU core (Q2's networks, Q3's
decoders). With a fixed torch thread count per process the numbers equal those of running the
same calls one after the other with that thread count."""

from __future__ import annotations

import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed

import torch


def process_count(workers: int, jobs: int, device: str, cpus: int | None = None) -> int:
    """How many jobs run at once: at most `workers`, one per job and CPU core (`cpus`, by default
    this machine's), never on CUDA."""
    if device != "cpu":
        return 1
    return max(1, min(workers, jobs, cpus or os.cpu_count() or 1))


def in_processes(function, calls: list[tuple], threads: int, names: list[str]) -> list:
    """[function(*args) for args in calls], each call in its own process with `threads` torch
    threads. Processes are spawned, not forked: a fork of a process whose OpenMP threads have
    run may hang. The first exception is raised once the other calls have ended (whatever they
    checkpointed is kept), with a note naming the call that raised it."""
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        len(calls), mp_context=spawn, initializer=torch.set_num_threads, initargs=(threads,)
    ) as pool:
        futures = {pool.submit(function, *args): name for args, name in zip(calls, names)}
        for future in as_completed(futures):
            error = future.exception()
            if error is not None:
                print(
                    f"  {futures[future]}: failed ({type(error).__name__}: {error}); "
                    f"waiting for the other processes to end",
                    file=sys.stderr,
                    flush=True,
                )
                error.add_note(f"raised in the process that ran {futures[future]}")
                raise error
        return [future.result() for future in futures]
