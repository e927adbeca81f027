"""How close `build.py --plan` comes: q3.train projected as --plan projects it
(compute/q3/plan.py: a few timed batches of each decoder at the step's shapes, scaled by its
counts), then run for real, a run many times longer than the batches the projection timed;
prints the projection, the measured time and, last, `plan accuracy: N.NNx` (measured / projected).

- smoke: the whole q3.train step of the smoke profile on its features.
- quick: q3.train of the quick profile on the first --clips training clips of its features (default
  300) and as many validation and test clips in proportion, for --epochs (default 2).
- homework: q3.train at the homework's shapes (batches of 64 clips padded to 2,754 frames and 99
  ids) on random features of --clips training clips (default 768: 12 batches a decoder) and 32
  validation and 32 test clips, for --epochs (default 1).

The smoke and quick features are computed into --build-dir (default build/) when absent, as a
build would. The projection and the run see the same machine a few minutes apart: on cores other
work shares, the load can change between them.

    .venv/bin/python benchmarks/plan_accuracy.py [--profile smoke|quick|homework] \
        [--clips N] [--epochs N]
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

from q3_train import subset  # noqa: E402  (benchmarks/q3_train.py)

from compute.engine.pipeline import Runner  # noqa: E402
from compute.engine.plan import Probe, size  # noqa: E402
from compute.engine.progress import duration  # noqa: E402
from compute.engine.step import Result, Step  # noqa: E402
from compute.engine.testing import fake_context  # noqa: E402
from compute.q3 import features, train  # noqa: E402
from compute.q3 import plan as q3_plan  # noqa: E402
from compute.q3 import steps as q3  # noqa: E402
from compute.q3.text import encode  # noqa: E402

DEFAULTS = {"smoke": (None, None), "quick": (300, 2), "homework": (768, 1)}
TEXT = (
    "printing, in the only sense with which we are at present concerned, differs from most if not "
    "all"
)


def random_features(folder: Path, clips: dict[str, int], p: dict) -> Result:
    """Features files as q3.features writes them: random log-mels of every clip padded to the
    profile's frames, and transcripts of LJ Speech's length."""
    folder.mkdir(parents=True, exist_ok=True)
    generator = torch.Generator().manual_seed(0)
    for name, n in clips.items():
        torch.save(
            {
                "ids": [f"{name}-{i}" for i in range(n)],
                "texts": [TEXT[: p["max_text"]]] * n,
                "features": torch.randn(n, p["n_mels"], p["frames"], generator=generator),
                "tokens": torch.tensor([encode(TEXT, p["max_text"])] * n),
                "frames_used": torch.full((n,), p["frames"]),
            },
            folder / f"{name}.pt",
        )
    return Result({"splits": clips}, folder)


def declared(profile: str, epochs: int | None, build_dir: Path, folder: Path, clips: int | None):
    """The q3.features and q3.train steps and the features q3.train reads."""
    p = q3.PROFILES[profile]
    if profile == "homework":
        feature_step = Step("q3.features", features.run, params=p["features"])
        result = random_features(folder, {"train": clips, "val": 32, "test": 32}, p["features"])
        train_step = Step(
            "q3.train",
            train.run,
            params=p["train"],
            needs=("q3.features",),
            seed=p["seed"],
            uses_device=True,
        )
    else:
        steps = {s.name: s for s in q3.steps(profile, {"ljspeech": None})}
        feature_step, train_step = steps["q3.features"], steps["q3.train"]
        result = Runner(build_dir).run_all([steps["q3.corpus"], feature_step])["q3.features"]
        if clips:
            result = subset(result.dir, clips, folder)
    if epochs:
        train_step = Step(
            train_step.name,
            train_step.run,
            params=train_step.params | {"epochs": epochs},
            needs=train_step.needs,
            seed=train_step.seed,
            uses_device=True,
        )
    return feature_step, train_step, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", choices=tuple(DEFAULTS), default="smoke")
    parser.add_argument("--clips", type=int, help="training clips (quick: 300, homework: 768)")
    parser.add_argument("--epochs", type=int, help="epochs (quick: 2, homework: 1; smoke: its own)")
    parser.add_argument(
        "--build-dir", type=Path, default=ROOT / "build", help="where the features are cached"
    )
    args = parser.parse_args()
    clips, epochs = (
        args.clips or DEFAULTS[args.profile][0],
        args.epochs or DEFAULTS[args.profile][1],
    )
    device = "cuda" if torch.cuda.is_available() else "cpu"
    with tempfile.TemporaryDirectory(
        dir=args.build_dir if args.build_dir.exists() else None
    ) as tmp:
        feature_step, train_step, result = declared(
            args.profile, epochs, args.build_dir, Path(tmp) / "features", clips
        )
        counts = {name: len(train.load_split(result.dir, name)["tokens"]) for name in train.SPLITS}
        print(
            f"plan accuracy: q3.train of the {args.profile} profile, {counts} clips, "
            f"{train_step.params['epochs']} epoch(s), {device}, {os.cpu_count()} cores, "
            f"load {os.getloadavg()[0]:.1f}"
        )
        probe = Probe(
            device,
            {"q3.features": feature_step, "q3.train": train_step},
            {"q3.features": result},
            Path(tmp),
            thorough=True,
        )
        began = time.perf_counter()
        projection = q3_plan.train_projection(train_step, probe)
        print(
            f"projected: {projection.seconds:.1f} s ({duration(projection.seconds)}), "
            f"RAM {size(projection.ram)}, "
            f"measured in {time.perf_counter() - began:.0f} s from {projection.basis}",
            flush=True,
        )
        ctx = fake_context(
            Path(tmp) / "run",
            train_step.params,
            train_step.seed,
            {"q3.features": result},
            device,
            "q3.train",
        )
        began = time.perf_counter()
        train.run(ctx)
        measured = time.perf_counter() - began
    print(f"measured: {measured:.1f} s ({duration(measured)}), load {os.getloadavg()[0]:.1f}")
    print(f"plan accuracy: {measured / projection.seconds:.2f}x")


if __name__ == "__main__":
    main()
