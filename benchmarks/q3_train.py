"""Q3 training on the quick profile: the current way against the way before, in one process.

Before: every clip padded to the profile's 800 frames, clips batched in random order, the two
decoders trained one after the other with torch's default threads (one per core), 10 epochs.
Now: the quick profile's settings (clips of similar length batched together, each batch cut to
its longest clip; the two decoders at once, one process and one torch thread each; its epochs).

Both ways run q3.train's own `run` (training epochs, per-epoch validation, test scoring) on the
same clips: the first `--clips` training clips of the quick profile's corpus and features (from
the cache in --build-dir, default build/, computed there when absent) with validation and test cut in the same proportion.
Each way is timed over `--epochs` epochs, in `--rounds` rounds of one run of each, and its best
run counts; the whole-training ratio scales the per-epoch times by each way's number of epochs.
The two processes need two free cores: on a loaded machine the ratio is lower than on an idle one.

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
from compute.progress import Reporter  # noqa: E402
from compute.q3 import steps as q3  # noqa: E402
from compute.q3 import train  # noqa: E402
from compute.step import Context, Result  # noqa: E402

BEFORE = {"padding": train.FIXED, "workers": 1, "cpu_threads": os.cpu_count() or 1, "epochs": 10}


def subset(features: Path, clips: int, out: Path) -> Result:
    """The first `clips` training clips and as many validation and test clips, in proportion."""
    out.mkdir(parents=True, exist_ok=True)
    sizes = {}
    for name in train.SPLITS:
        split = train.load_split(features, name)
        n = clips if name == "train" else max(4, clips * len(split["tokens"]) // len(
            train.load_split(features, "train")["tokens"]))
        torch.save({k: v[:n].clone() if isinstance(v, torch.Tensor) else v[:n] for k, v in split.items()},
                   out / f"{name}.pt")
        sizes[name] = min(n, len(split["tokens"]))
    return Result({"splits": sizes}, out)


def timed(params: dict, features: Result, scratch: Path) -> float:
    """Wall seconds of one q3.train run from scratch (no checkpoint to resume from)."""
    scratch.mkdir(parents=True)
    ctx = Context(params, 42, "cpu", scratch, scratch / "work", {"q3.features": features}, "q3.train",
                  interactive=False, reporter=Reporter())
    (scratch / "work").mkdir()
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

    quick = q3.steps("quick", {"ljspeech": None})
    params = next(s for s in quick if s.name == "q3.train").params | {"epochs": args.epochs}
    now = {k: params[k] for k in BEFORE} | {"epochs": q3.PROFILES["quick"]["epochs"]}
    ways = {"before": params | BEFORE | {"epochs": args.epochs}, "now": params}
    features = Runner(args.build_dir).run_all([s for s in quick if s.name in ("q3.corpus", "q3.features")])
    with tempfile.TemporaryDirectory() as tmp:
        data = subset(features["q3.features"].dir, clips, Path(tmp) / "features")
        print(f"q3 train: {data.data['splits']} clips of the quick corpus, {args.epochs} epoch(s) per run, "
              f"best of {rounds} round(s), {os.cpu_count()} CPU cores, torch {torch.__version__}")
        seconds: dict[str, list[float]] = {name: [] for name in ways}
        for r in range(rounds):  # a round runs each way once, so both see the same changes of load
            for name, way in ways.items():
                seconds[name].append(timed(way, data, Path(tmp) / f"{name}-{r}"))
                print(f"  {name}: {seconds[name][-1]:.1f} s", flush=True)
    before, after = min(seconds["before"]), min(seconds["now"])
    print(f"before: {BEFORE}: best {before:.1f} s")
    print(f"now: {now}: best {after:.1f} s")
    print(f"per-epoch speedup: {before / after:.2f}x")
    print(f"whole training ({BEFORE['epochs']} epochs before, {now['epochs']} now), per-epoch times scaled:")
    print(f"q3 train speedup: {before * BEFORE['epochs'] / (after * now['epochs']):.1f}x")


if __name__ == "__main__":
    main()
