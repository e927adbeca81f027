"""Q2 training throughput: the course's loop against q2.train's way of training the six runs.

The course's loop trains one run at a time: a DataLoader over the dataset, an nn.Module,
torch.optim.SGD, batch 8, with the CPU threads torch picks by default (all cores) and with one
thread; the better of the two is the baseline. q2.train trains the three learning rates of a
network side by side (compute/q2/fused.py), both networks at once in two processes with one
thread each. Every variant trains on the same generated images; each is timed over `--repeats`
epochs, in rounds of one epoch of every variant, and its best epoch counts. Throughput is samples
per second per run, so the speedup is (course seconds per epoch, summed over the six runs) /
(seconds per epoch of all six runs).

    .venv/bin/python benchmarks/q2_epoch.py [--quick] [--images N] [--repeats K]
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from compute.q2.data import to_tensors  # noqa: E402
from compute.q2.fused import FusedCNN  # noqa: E402
from compute.q2.models import NETWORKS  # noqa: E402
from compute.q2.steps import PROFILES  # noqa: E402
from compute.q2.synthetic import generate  # noqa: E402
from compute.q2.train import process_count, train_epoch  # noqa: E402

LEARNING_RATES = PROFILES["quick"]["train"]["learning_rates"]
BATCH = PROFILES["quick"]["train"]["batch_size"]
DEFAULT_THREADS = torch.get_num_threads()  # what a student's script gets


def course_epoch(model, loader, optimizer) -> None:
    """The course's training loop, one epoch."""
    model.train()
    for x, y in loader:
        optimizer.zero_grad()
        loss = F.nll_loss(model(x), y)
        loss.backward()
        optimizer.step()


def images(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    arrays = generate({"train": n, "val": 0, "test": 0}, seed=0)
    return to_tensors(arrays["train_images"], arrays["train_labels"])


def course_trainer(net: str, x, y, limit: float):
    """A function that trains one run of `net` with the course's loop for an epoch and returns
    its seconds. An epoch still running after `limit` seconds (threads that compete with other
    processes for shared cores can slow the loop by orders of magnitude) is stopped there, and its
    time extrapolated from the steps done."""
    torch.manual_seed(0)
    model = NETWORKS[net]()
    optimizer = torch.optim.SGD(model.parameters(), lr=LEARNING_RATES[1])
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(x, y), batch_size=BATCH, shuffle=True
    )

    def epoch() -> float:
        done, start = [], time.perf_counter()
        course_epoch(model, _until(loader, start + limit, done), optimizer)
        if len(done) < len(loader):
            print(
                f"  (course loop, {net}, {torch.get_num_threads()} threads: "
                f"stopped after {limit:.0f} s, "
                f"{len(done)} of {len(loader)} steps)"
            )
        return (time.perf_counter() - start) * len(loader) / len(done)

    return epoch


def _until(batches, deadline: float, done: list):
    """The batches, until the first one asked for after `deadline`; each one given is appended
    to `done`."""
    for batch in batches:
        if done and time.perf_counter() > deadline:
            return
        done.append(None)
        yield batch


def side_by_side_trainer(net: str, x, y):
    """A function that trains the three runs of `net` side by side for an epoch, as q2.train
    does, and returns its seconds."""
    torch.manual_seed(0)
    fused = FusedCNN([NETWORKS[net]() for _ in LEARNING_RATES], LEARNING_RATES)
    shuffle, dropout = torch.Generator().manual_seed(0), torch.Generator().manual_seed(1)

    def epoch() -> float:
        start = time.perf_counter()
        train_epoch(fused, x, y, BATCH, shuffle, dropout)
        return time.perf_counter() - start

    return epoch


_worker: dict = {}  # in a worker process: the barrier, the images, a trainer per network


def _start_worker(barrier, n: int) -> None:
    torch.set_num_threads(1)
    _worker.update(barrier=barrier, images=images(n))


def _side_by_side_epoch_in_worker(net: str) -> float:
    if net not in _worker:
        _worker[net] = side_by_side_trainer(net, *_worker["images"])
    _worker["barrier"].wait()  # the epochs of both networks start together
    return _worker[net]()


def measure(n: int, repeats: int, limit: float, thread_counts: list[int], processes: int) -> dict:
    """The best seconds per epoch of every variant; a round times each once, so that all of them
    see the same changes of load."""
    x, y = images(n)
    course = {(t, net): course_trainer(net, x, y, limit) for t in thread_counts for net in NETWORKS}
    fused = {net: side_by_side_trainer(net, x, y) for net in NETWORKS}
    seconds = defaultdict(list)
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        processes,
        mp_context=spawn,
        initializer=_start_worker,
        initargs=(spawn.Barrier(processes), n),
    ) as pool:
        for _ in range(repeats):
            for (threads, net), epoch in course.items():
                torch.set_num_threads(threads)
                seconds["course", threads, net].append(epoch())
            torch.set_num_threads(1)
            for net, epoch in fused.items():
                seconds["one process", net].append(epoch())
            if processes > 1:
                pair = [pool.submit(_side_by_side_epoch_in_worker, net) for net in NETWORKS]
                seconds["processes"].append(max(future.result() for future in pair))
                for net, future in zip(NETWORKS, pair):
                    seconds["in processes", net].append(future.result())
    return {key: min(values) for key, values in seconds.items()}


def _threads(t: int) -> str:
    return f"{t} thread{'s' * (t > 1)}"


def report(best: dict, n: int, thread_counts: list[int], processes: int) -> None:
    runs = len(LEARNING_RATES)
    print("course loop, one run at a time, seconds per epoch of one run:")
    for net in NETWORKS:
        times = [best["course", t, net] for t in thread_counts]
        print(
            f"  {net}: "
            + ", ".join(
                f"{s:.3f} s at {_threads(t)} ({n / s:,.0f} samples/s/run)"
                for t, s in zip(thread_counts, times)
            )
        )
    totals = {t: runs * sum(best["course", t, net] for net in NETWORKS) for t in thread_counts}
    baseline = min(totals.values())
    print(
        "  six runs: "
        + ", ".join(f"{s:.3f} s at {_threads(t)}" for t, s in totals.items())
        + f"; baseline {baseline:.3f} s"
    )
    print(
        f"side by side, one process, 1 thread ({runs} runs per step), "
        f"seconds per epoch of {runs} runs:"
    )
    for net in NETWORKS:
        s = best["one process", net]
        print(
            f"  {net}: {s:.3f} s ({n * runs / s:,.0f} samples/s/run), "
            f"{runs * best['course', 1, net] / s:.2f}x the course loop at 1 thread"
        )
    one_process = sum(best["one process", net] for net in NETWORKS)
    print(
        f"  six runs, one network after the other: {one_process:.3f} s, "
        f"{baseline / one_process:.2f}x the baseline"
    )
    if processes > 1:
        wall = best["processes"]  # the best epoch of both networks together
        print(
            f"as q2.train runs them, both networks at once in {processes} processes "
            "with 1 thread each: "
            + ", ".join(f"{net} {best['in processes', net]:.3f} s" for net in NETWORKS)
        )
        print(
            f"  six runs: {wall:.3f} s per epoch "
            f"({n * len(NETWORKS) * runs / wall:,.0f} samples/s/run), "
            f"{one_process / wall:.2f}x one process"
        )
    else:
        wall = one_process
        print("as q2.train runs them on this machine: one network after the other, in one process")
    print(f"q2 epoch speedup: {baseline / wall:.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small and short (under a minute)")
    parser.add_argument("--images", type=int, default=None, help="training images per epoch")
    parser.add_argument("--repeats", type=int, default=None, help="timed epochs of each variant")
    args = parser.parse_args()
    n = args.images or (2000 if args.quick else 6000)
    repeats = args.repeats or (3 if args.quick else 5)
    limit = 2.0 if args.quick else 10.0  # seconds per epoch of the course's loop
    thread_counts = list(dict.fromkeys((DEFAULT_THREADS, 1)))
    processes = process_count(PROFILES["quick"]["train"], "cpu")
    print(
        f"q2 epoch: {n} images, batch {BATCH}, best of {repeats} epochs, "
        f"torch {torch.__version__}, "
        f"{DEFAULT_THREADS} threads by default"
    )
    report(measure(n, repeats, limit, thread_counts, processes), n, thread_counts, processes)


if __name__ == "__main__":
    main()
