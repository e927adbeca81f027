"""Q2 training throughput: the course's loop against the side-by-side runs that q2.train uses.

Both train the same two networks with batch 8 and plain SGD on the same generated images, in
this process, with the same number of CPU threads; each is timed over whole epochs, alternately,
and the best epoch of each counts. The course's loop trains one run at a time (a DataLoader over
the dataset, an nn.Module, torch.optim.SGD); q2.train trains the three learning rates of a
network together (compute/q2/fused.py). Throughput is samples per second per run.

    .venv/bin/python benchmarks/q2_epoch.py [--quick] [--images N] [--repeats K] [--threads T]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from compute.q2.data import to_tensors  # noqa: E402
from compute.q2.fused import FusedCNN  # noqa: E402
from compute.q2.models import NETWORKS  # noqa: E402
from compute.q2.steps import PROFILES  # noqa: E402
from compute.q2.synthetic import generate  # noqa: E402
from compute.q2.train import train_epoch  # noqa: E402

LEARNING_RATES = PROFILES["quick"]["learning_rates"]
BATCH = PROFILES["quick"]["batch_size"]


def course_epoch(model, loader, optimizer) -> None:
    """The course's training loop, one epoch."""
    model.train()
    for x, y in loader:
        optimizer.zero_grad()
        loss = F.nll_loss(model(x), y)
        loss.backward()
        optimizer.step()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small and short (under a minute)")
    parser.add_argument("--images", type=int, default=None, help="training images per epoch")
    parser.add_argument("--repeats", type=int, default=None, help="timed epochs of each variant")
    parser.add_argument("--threads", type=int, default=PROFILES["quick"]["cpu_threads"],
                        help="CPU threads for both (default: the profiles' setting)")
    args = parser.parse_args()
    n = args.images or (1000 if args.quick else 6000)
    repeats = args.repeats or (3 if args.quick else 5)
    torch.set_num_threads(args.threads)
    arrays = generate({"train": n, "val": 0, "test": 0}, seed=0)
    x, y = to_tensors(arrays["train_images"], arrays["train_labels"])
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=BATCH, shuffle=True)
    print(f"q2 epoch: {n} images, batch {BATCH}, {args.threads} thread(s), best of {repeats} epochs, "
          f"torch {torch.__version__}")

    course_total = fused_total = 0.0
    for net, make in NETWORKS.items():
        torch.manual_seed(0)
        model = make()
        optimizer = torch.optim.SGD(model.parameters(), lr=LEARNING_RATES[1])
        fused = FusedCNN([make() for _ in LEARNING_RATES], LEARNING_RATES)
        shuffle, dropout = torch.Generator().manual_seed(0), torch.Generator().manual_seed(1)
        course = side_by_side = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            course_epoch(model, loader, optimizer)
            course = min(course, time.perf_counter() - start)
            start = time.perf_counter()
            train_epoch(fused, x, y, BATCH, shuffle, dropout)
            side_by_side = min(side_by_side, time.perf_counter() - start)
        runs, steps = len(LEARNING_RATES), -(-n // BATCH)
        course_total += course * runs
        fused_total += side_by_side
        print(f"  {net}: course loop {course / steps * 1e3:.3f} ms/step ({n / course:,.0f} samples/s/run); "
              f"side by side {side_by_side / steps / runs * 1e3:.3f} ms/step/run "
              f"({n * runs / side_by_side:,.0f} samples/s/run): {course * runs / side_by_side:.2f}x")
    print(f"q2 epoch speedup: {course_total / fused_total:.1f}x")


if __name__ == "__main__":
    main()
