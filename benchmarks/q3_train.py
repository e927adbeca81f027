"""Q3 training on the quick profile: the current settings against the ones before, in one run.

Before: the quick profile as it was (features with hop 160, every clip padded to 800 frames,
clips batched in random order, the two decoders trained one after the other with torch's default
threads, one per core, 10 epochs). Now: the quick profile's own settings and features (see
compute/q3/steps.py; the PDF's settings table lists what it changes from the homework).

Both ways run q3.train's own `run` (training epochs, per-epoch validation, test scoring) on the
first `--clips` training clips of the quick corpus, each on its own features (from the cache in
--build-dir, default build/, computed there when absent), with validation and test cut in the
same proportion. Each round runs each way once with 1 epoch and once with 2: the difference is
the cost of an epoch, the rest the fixed cost (starting the processes, test scoring). A round's
ratio is that of fixed cost plus each way's number of epochs times its epoch cost; the median of
the rounds' ratios is printed last. The two processes need two free cores: on a loaded machine
the ratio is lower than on an idle one.

    .venv/bin/python benchmarks/q3_train.py [--quick] [--clips N] [--rounds N] [--build-dir DIR]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from compute.engine.pipeline import Runner  # noqa: E402
from compute.engine.profiles import merged  # noqa: E402
from compute.engine.step import Result  # noqa: E402
from compute.engine.testing import fake_context  # noqa: E402
from compute.q3 import steps as q3  # noqa: E402
from compute.q3 import train  # noqa: E402

BEFORE = {
    "features": {"hop": 160, "frames": 800},
    "train": {
        "padding": train.FIXED,
        "batch_size": 4,
        "eval_batch_size": 16,
        "lr": 1e-3,
        "fused_adamw": False,
        "epochs": 10,
        "warmup_epochs": 1,
        "decay_epochs": 8,
        "workers": 1,
        "cpu_threads": os.cpu_count() or 1,
    },
}
SHOWN = (
    "hop",
    "frames",
    "padding",
    "batch_size",
    "fused_adamw",
    "epochs",
    "workers",
    "cpu_threads",
)


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
        torch.save(
            {k: v[:n].clone() if isinstance(v, torch.Tensor) else v[:n] for k, v in split.items()},
            out / f"{name}.pt",
        )
        sizes[name] = min(n, len(split["tokens"]))
    return Result({"splits": sizes}, out)


def timed(params: dict, seed: int, features: Result, scratch: Path) -> float:
    """Wall seconds of one q3.train run from scratch (no checkpoint to resume from)."""
    ctx = fake_context(scratch, params, seed, needed={"q3.features": features}, name="q3.train")
    began = time.perf_counter()
    train.run(ctx)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="120 training clips, 1 round")
    parser.add_argument(
        "--clips", type=int, help="training clips (default 120 quick, 400 otherwise)"
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds of the four runs (default 3, 1 with --quick)"
    )
    parser.add_argument(
        "--build-dir", type=Path, default=ROOT / "build", help="where the corpus is cached"
    )
    args = parser.parse_args()
    clips, rounds = args.clips or (120 if args.quick else 400), 1 if args.quick else args.rounds

    ways = {"before": profile_steps(BEFORE, "before"), "now": profile_steps({}, "now")}
    runner = Runner(args.build_dir)
    with tempfile.TemporaryDirectory() as tmp:
        data, params = {}, {}
        for name, steps in ways.items():
            features = runner.run_all([steps["q3.corpus"], steps["q3.features"]])["q3.features"]
            data[name] = subset(features.dir, clips, Path(tmp) / f"features-{name}")
            params[name] = steps["q3.train"].params
        print(
            f"q3 train: {data['now'].data['splits']} clips of the quick corpus, "
            "runs of 1 and 2 epochs, "
            f"{rounds} round(s), {os.cpu_count()} CPU cores, torch {torch.__version__}"
        )
        seconds = {(name, e): [] for name in ways for e in (1, 2)}
        for r in range(rounds):  # a round runs each way once, so both see the same changes of load
            for (name, e), times in seconds.items():
                times.append(
                    timed(
                        params[name] | {"epochs": e},
                        ways[name]["q3.train"].seed,
                        data[name],
                        Path(tmp) / f"{name}-{e}-{r}",
                    )
                )
                print(f"  {name}, {e} epoch(s): {times[-1]:.1f} s", flush=True)
    ratios = []
    for r in range(
        rounds
    ):  # each round's own epoch and fixed costs: the load can change between rounds
        whole = {}
        for name, steps in ways.items():
            one, epochs = seconds[name, 1][r], params[name]["epochs"]
            epoch = seconds[name, 2][r] - one
            whole[name] = one + (epochs - 1) * epoch
            settings = {k: (steps["q3.features"].params | params[name])[k] for k in SHOWN}
            print(
                f"round {r + 1}, {name}: {settings}: {epoch:.1f} s an epoch, "
                f"{one - epoch:.1f} s fixed, "
                f"{whole[name]:.0f} s for {epochs} epochs"
            )
        ratios.append(whole["before"] / whole["now"])
    print(f"ratio of each round: {', '.join(f'{x:.2f}' for x in ratios)}; the median:")
    print(f"q3 train speedup: {statistics.median(ratios):.1f}x")


if __name__ == "__main__":
    main()
