"""Q3 training on the quick profile: the current settings against the ones before, in one run.

Before: the quick profile as it was (features with hop 160, every clip padded to 800 frames,
clips batched in random order, the two decoders trained one after the other with torch's default
threads, one per core, 10 epochs). Now: the quick profile's own settings and features (see
compute/q3/steps.py; the PDF's settings table lists what it changes from the homework).

Both ways run q3.train's own `run` (training epochs, per-epoch validation, test scoring) on the
first `--clips` training clips of the quick corpus, each on its own features (from the cache in
--build-dir, default build/, computed there when absent), with validation and test cut in the
same proportion. Each way is timed over `--epochs` epochs, in `--rounds` rounds of one run of
each, and its best run counts; the whole-training ratio scales the per-epoch times by each way's
number of epochs. The two processes need two free cores: on a loaded machine the ratio is lower
than on an idle one.

    .venv/bin/python benchmarks/q3_train.py [--quick] [--clips N] [--epochs N] [--rounds N] [--build-dir DIR]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from compute.pipeline import Runner  # noqa: E402
from compute.profiles import merged  # noqa: E402
from compute.progress import Reporter  # noqa: E402
from compute.q3 import steps as q3  # noqa: E402
from compute.q3 import train  # noqa: E402
from compute.step import Context, Result  # noqa: E402

BEFORE = {"hop": 160, "frames": 800, "padding": train.FIXED, "batch_size": 4, "eval_batch_size": 16,
          "lr": 1e-3, "fused_adamw": False, "epochs": 10, "warmup_epochs": 1, "decay_epochs": 8,
          "workers": 1, "cpu_threads": os.cpu_count() or 1}
SHOWN = ("hop", "frames", "padding", "batch_size", "fused_adamw", "epochs", "workers", "cpu_threads")


def profile_steps(settings: dict, name: str) -> dict:
    """q3.corpus, q3.features and q3.train of the quick profile with `settings` merged in."""
    q3.PROFILES[name] = merged(q3.PROFILES["quick"], settings)
    return {s.name: s for s in q3.steps(name, {"ljspeech": None})}


def subset(features: Path, clips: int, out: Path) -> Result:
    """The first `clips` training clips and as many validation and test clips, in proportion."""
    out.mkdir(parents=True, exist_ok=True)
    n_train = len(train.load_split(features, "train")["tokens"])
    sizes = {}
    for name in train.SPLITS:
        split = train.load_split(features, name)
        n = clips if name == "train" else max(4, clips * len(split["tokens"]) // n_train)
        torch.save({k: v[:n].clone() if isinstance(v, torch.Tensor) else v[:n] for k, v in split.items()},
                   out / f"{name}.pt")
        sizes[name] = min(n, len(split["tokens"]))
    return Result({"splits": sizes}, out)


def timed(params: dict, features: Result, scratch: Path) -> float:
    """Wall seconds of one q3.train run from scratch (no checkpoint to resume from)."""
    (scratch / "work").mkdir(parents=True)
    ctx = Context(params, 42, "cpu", scratch, scratch / "work", {"q3.features": features}, "q3.train",
                  interactive=False, reporter=Reporter())
    began = time.perf_counter()
    train.run(ctx)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="120 training clips, 1 epoch, 1 round")
    parser.add_argument("--clips", type=int, help="training clips (default 120 quick, 400 otherwise)")
    parser.add_argument("--epochs", type=int, default=1, help="epochs of each timed run (default 1)")
    parser.add_argument("--rounds", type=int, help="rounds of one run of each way (default 1 quick, 2 otherwise)")
    parser.add_argument("--build-dir", type=Path, default=ROOT / "build", help="where the corpus is cached")
    args = parser.parse_args()
    clips, rounds = args.clips or (120 if args.quick else 400), args.rounds or (1 if args.quick else 2)

    ways = {"before": profile_steps(BEFORE, "before"), "now": profile_steps({}, "now")}
    runner = Runner(args.build_dir)
    epochs = {name: steps["q3.train"].params["epochs"] for name, steps in ways.items()}
    with tempfile.TemporaryDirectory() as tmp:
        data, params = {}, {}
        for name, steps in ways.items():
            features = runner.run_all([steps["q3.corpus"], steps["q3.features"]])["q3.features"]
            data[name] = subset(features.dir, clips, Path(tmp) / f"features-{name}")
            params[name] = steps["q3.train"].params | {"epochs": args.epochs}
        print(f"q3 train: {data['now'].data['splits']} clips of the quick corpus, {args.epochs} epoch(s) per run, "
              f"best of {rounds} round(s), {os.cpu_count()} CPU cores, torch {torch.__version__}")
        seconds: dict[str, list[float]] = {name: [] for name in ways}
        for r in range(rounds):  # a round runs each way once, so both see the same changes of load
            for name in ways:
                seconds[name].append(timed(params[name], data[name], Path(tmp) / f"{name}-{r}"))
                print(f"  {name}: {seconds[name][-1]:.1f} s", flush=True)
    best = {name: min(s) for name, s in seconds.items()}
    for name, steps in ways.items():
        settings = {k: (steps["q3.features"].params | steps["q3.train"].params)[k] for k in SHOWN}
        print(f"{name}: {settings}: best {best[name]:.1f} s an epoch")
    print(f"per-epoch speedup: {best['before'] / best['now']:.2f}x")
    print(f"whole training ({epochs['before']} epochs before, {epochs['now']} now), per-epoch times scaled:")
    print(f"q3 train speedup: {best['before'] * epochs['before'] / (best['now'] * epochs['now']):.1f}x")


if __name__ == "__main__":
    main()
