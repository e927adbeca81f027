"""Q2 (CNN on OCTMNIST): the profiles and the steps that compute the section's results.

q2.data  generates the project's OCTMNIST-like data set (offline profiles) or checks the real file;
q2.train trains both networks at the three learning rates (2.1, 2.2);
q2.cost  counts parameters and multiply-adds and times inference (2.3).
"""

from __future__ import annotations

from pathlib import Path

from compute.engine.profiles import derive
from compute.engine.step import DataError, Resources, Step
from compute.q2 import cost, data, fetch, figures, synthetic, train

# The course's settings on the real OCTMNIST: one group per step (compute/engine/profiles.py);
# on a CPU with two or more cores the two networks train at once, one process each with
# `cpu_threads` threads (bit-identical to training them one after the other)
CPU_THREADS = 1
HOMEWORK = {
    "source": "octmnist",
    "octmnist_path": None,
    "seed": 42,
    "data": {"sizes": None},  # the split sizes of project-generated data; the real file has its own
    "train": {
        "networks": ["cnn_maxpool", "cnn_strided"],
        "learning_rates": [0.1, 0.01, 0.001],
        "epochs": 15,
        "batch_size": 8,
        "cpu_threads": CPU_THREADS,
        "workers": 2,
        "eval_batch": 1000,
    },
    "cost": {"cpu_threads": CPU_THREADS, "timing_batches": [1, 1000], "timing_repeats": 5},
}
PROFILES = derive(
    HOMEWORK,
    # project-generated data, sized so that all six runs take a few minutes on two CPU cores
    quick={
        "source": "synthetic",
        "data": {"sizes": {"train": 20_000, "val": 2_000, "test": 1_000}},
    },
    # seconds, for tests; the test split keeps 1,000 images so that the course's 529 exist;
    # one process: starting a second costs more than this training
    smoke={
        "source": "synthetic",
        "data": {"sizes": {"train": 96, "val": 64, "test": 1_000}},
        "train": {"epochs": 2, "workers": 1},
        "cost": {"timing_batches": [1, 16], "timing_repeats": 1},
    },
)


def steps(profile: str, options: dict) -> list[Step]:
    p = PROFILES[profile]
    if p["source"] == "synthetic":
        source = Step(
            "q2.data", synthetic.run, params=p["data"], libraries=("numpy",), seed=p["seed"]
        )
    else:
        path = fetch.locate(options.get("octmnist") or p["octmnist_path"])
        if path is None or not path.exists():
            if not options.get("download_missing"):
                raise DataError(
                    f"{path or fetch.DEFAULT_PATH}: OCTMNIST is not here. Fix: {data.FIX}."
                )
            # the homework profile fetches the real data when none is given
            path = download(options)
        source = Step(
            "q2.data",
            data.run,
            params={"path": str(path)},
            input_files=(path,),
            libraries=("numpy",),
            locations=("path",),
        )
    return [
        source,
        Step(
            "q2.train",
            train.run,
            params=p["train"],
            needs=("q2.data",),
            input_files=source.input_files,
            libraries=("torch", "numpy"),
            seed=p["seed"],
            uses_device=True,
            resources=Resources(cpus=2, memory_gb=16, hours=6),
        ),
        Step(
            "q2.figures",
            figures.run,
            needs=("q2.data", "q2.train"),
            libraries=("numpy", "matplotlib"),
            presents=True,
        ),
        Step(
            "q2.cost",
            cost.run,
            params=p["cost"],
            libraries=("torch", "sympy"),
            seed=p["seed"],
            uses_device=True,
            resources=Resources(memory_gb=8),
        ),
    ]


def check_data(profile: str, options: dict) -> list[str]:
    """What `build.py --check-data` prints for Q2: images per split, class counts, and problems.
    An unusable file raises DataError; a usable one that differs from the published file is a
    `problem:` line."""
    p = PROFILES[profile]
    if p["source"] == "synthetic":
        sizes = ", ".join(f"{s} {n:,}" for s, n in p["data"]["sizes"].items())
        return [
            f"project-generated OCTMNIST-like data (compute/q2/synthetic.py, seed {p['seed']}): "
            f"{sizes} images; nothing to check"
        ]
    path = fetch.locate(options.get("octmnist") or p["octmnist_path"])
    if path is None:
        raise DataError(
            f"{fetch.DEFAULT_PATH}: no OCTMNIST file given or downloaded. Fix: {data.FIX}."
        )
    arrays = data.load_arrays(path)
    lines = [f"{path}"]
    for split, d in data.describe(arrays).items():
        counts = ", ".join(f"{name} {n:,}" for name, n in zip(data.CLASSES, d["class_counts"]))
        lines.append(f"  {split}: {d['images']:,} images ({counts})")
    found = data.md5(path)
    if found != data.MD5:
        lines.append(f"problem: MD5 {found}, the published file has {data.MD5}")
    return lines + [f"problem: {m}" for m in data.reference_mismatches(arrays)]


def download(options: dict) -> Path:
    """For `make data`: fetches octmnist.npz (to the given path, else data/octmnist.npz) and checks
    it."""
    return fetch.download(fetch.locate(options.get("octmnist")) or fetch.DEFAULT_PATH)
