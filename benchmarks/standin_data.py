"""Full-size stand-ins of the homework's datasets, for measuring the homework profile without them.

Writes, under the target folder (default /work/data-standin, outside the project):
- `LJSpeech-1.1/`: metadata.csv and 13,100 wav files in LJ Speech 1.1's format (16-bit PCM, mono,
  22,050 Hz), clip lengths between 1.11 and 10.10 s drawn around LJ Speech's mean of 6.57 s and
  scaled to its published total (23:55:17); each clip's audio is a real LJ Speech clip of the
  sample (--sample) repeated or cut to that length, and its row the sample's transcript.
- `octmnist.npz`: OCTMNIST's split sizes (97,477 / 10,832 / 1,000 images) drawn by the project's
  own generator (compute/q2/synthetic.py).

Only the sizes and formats are real: the numbers a build computes from these mean nothing.

    .venv/bin/python benchmarks/standin_data.py [--target DIR] [--clips N] [--hours H]
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np
import soundfile

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from compute.engine.testing import LJSPEECH_SAMPLE  # noqa: E402
from compute.q2.data import REAL_SIZES, save_arrays  # noqa: E402
from compute.q2.synthetic import generate  # noqa: E402
from compute.q3.data import read_metadata, wav_path  # noqa: E402

RATE = 22050
CLIPS, HOURS = 13_100, (23 * 3600 + 55 * 60 + 17) / 3600  # LJ Speech 1.1: 13,100 clips, 23:55:17
SHORTEST, LONGEST, MEAN = 1.11, 10.10, 6.57


def clip_seconds(n: int, hours: float, rng: np.random.Generator) -> np.ndarray:
    """n lengths in [SHORTEST, LONGEST] (a beta distribution with LJ Speech's mean), scaled to
    `hours`."""
    mean = (MEAN - SHORTEST) / (LONGEST - SHORTEST)
    seconds = SHORTEST + (LONGEST - SHORTEST) * rng.beta(3 * mean, 3 * (1 - mean), n)
    for _ in range(20):  # scale towards the total while staying inside the bounds
        seconds = np.clip(seconds * hours * 3600 / seconds.sum(), SHORTEST, LONGEST)
    return seconds


def write_ljspeech(target: Path, sample: Path, n: int, hours: float) -> float:
    rows = read_metadata(sample)
    audio = [soundfile.read(str(wav_path(sample, row.id)), dtype="int16")[0] for row in rows]
    wavs = target / "wavs"
    wavs.mkdir(parents=True, exist_ok=True)
    lengths = np.round(clip_seconds(n, hours, np.random.default_rng(0)) * RATE).astype(int)
    lines = []
    for i, samples in enumerate(lengths):
        clip_id = f"LJ{1 + i // 300:03d}-{1 + i % 300:04d}"
        source = audio[i % len(audio)]
        soundfile.write(
            str(wavs / f"{clip_id}.wav"), np.resize(source, samples), RATE, subtype="PCM_16"
        )
        row = rows[i % len(rows)]
        lines.append(f"{clip_id}|{row.transcript}|{row.normalized}\n")
    (target / "metadata.csv").write_text("".join(lines), encoding="utf-8")
    return lengths.sum() / RATE / 3600


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--target", type=Path, default=Path("/work/data-standin"))
    parser.add_argument(
        "--sample",
        type=Path,
        default=LJSPEECH_SAMPLE,
        help="an LJ Speech folder whose clips and rows are repeated",
    )
    parser.add_argument("--clips", type=int, default=CLIPS)
    parser.add_argument(
        "--hours", type=float, help=f"total audio (default {HOURS:.2f} h scaled to --clips)"
    )
    args = parser.parse_args()
    hours = args.hours or HOURS * args.clips / CLIPS
    needed = hours * 3600 * RATE * 2 + 120e6
    free = shutil.disk_usage(args.target.parent if not args.target.exists() else args.target).free
    if free < 1.2 * needed:
        sys.exit(
            f"{args.target}: {free / 1e9:.1f} GB free, the stand-ins need {needed / 1e9:.1f} GB; "
            f"use fewer --clips"
        )
    total = write_ljspeech(args.target / "LJSpeech-1.1", args.sample, args.clips, hours)
    print(f"{args.target / 'LJSpeech-1.1'}: {args.clips:,} clips, {total:.2f} h")
    arrays = generate(dict(REAL_SIZES), seed=0)
    print(
        save_arrays(arrays, args.target / "octmnist.npz"), {k: v.shape for k, v in arrays.items()}
    )


if __name__ == "__main__":
    main()
