"""Q3 training epoch: log-mel features cached by q3.features against features computed per batch.

Both ways run q3.train's own batch step (train_batch: forward, loss, AdamW step) on the same
model, the same clips in the same order and the same torch threads, in one process. Cached: the
features are computed once, saved and memory-mapped back as q3.train loads train.pt. On the fly:
every batch reads its wav files and computes the log-mel features with q3.features' functions
(read, log-mel, pad or crop), as the course's code did. A warm-up batch comes first; each way is
then timed over `--repeats` epochs, in rounds of one epoch of each, and its best (and median)
epoch is reported.

Clips: the LJ Speech sample in ../shared/data/ljspeech-sample (or --ljspeech PATH); without it, a
few clips spoken by espeak-ng (compute.q3.corpus) in a temporary folder. Model, decoder, batch size
and frames default to the quick profile's.

    .venv/bin/python benchmarks/q3_epoch.py [--quick] [--ljspeech PATH] [--clips N] [--frames N] ...
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from compute.engine.testing import LJSPEECH_SAMPLE, fake_context  # noqa: E402
from compute.q3 import corpus  # noqa: E402
from compute.q3.data import read_metadata, wav_path  # noqa: E402
from compute.q3.features import clip_features, mel_filterbank, pad_or_crop  # noqa: E402
from compute.q3.model import DECODERS, ModelDimensions, SpeechRecognizer  # noqa: E402
from compute.q3.steps import PROFILES, flat  # noqa: E402
from compute.q3.text import encode  # noqa: E402
from compute.q3.train import batch_indices, load_split, train_batch  # noqa: E402

P = flat(PROFILES["quick"])  # its settings by name, every step's together


class OnTheFly:
    """Stands in for the feature tensor: indexing it reads and converts those clips' wav files."""

    def __init__(self, paths: list[Path], frames: int):
        self.paths, self.frames, self.seconds, self.clips = paths, frames, 0.0, 0
        self.filterbank = mel_filterbank(P["n_fft"], P["n_mels"], P["mel_sample_rate"])

    def __getitem__(self, idx: torch.Tensor) -> torch.Tensor:
        began = time.perf_counter()
        mels = [
            clip_features(self.paths[i], P["sample_rate"], self.filterbank, P["n_fft"], P["hop"])[0]
            for i in idx.tolist()
        ]
        batch = torch.stack([pad_or_crop(mel, self.frames) for mel in mels])
        self.seconds, self.clips = (
            self.seconds + time.perf_counter() - began,
            self.clips + len(mels),
        )
        return batch


def clip_folder(args, scratch: Path) -> tuple[Path, str]:
    if args.ljspeech or (LJSPEECH_SAMPLE / "metadata.csv").is_file():
        return Path(args.ljspeech or LJSPEECH_SAMPLE), "LJ Speech"
    params = {"n_clips": args.clips, "sample_rate": P["sample_rate"]}
    ctx = fake_context(scratch, params, P["seed"], name="q3.corpus")
    return ctx.out / corpus.run(ctx)["dir"], "espeak-ng corpus"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="32 clips, 3 repeats (under a minute)")
    parser.add_argument(
        "--ljspeech", type=Path, help="an LJ Speech-layout folder (default: the shared sample)"
    )
    parser.add_argument(
        "--clips", type=int, help="clips per epoch (default 32 quick, 186 otherwise)"
    )
    parser.add_argument(
        "--frames", type=int, default=P["frames"], help="input frames (default: quick profile)"
    )
    parser.add_argument(
        "--batch-size", type=int, default=P["batch_size"], help="default: quick profile"
    )
    parser.add_argument(
        "--decoder", choices=DECODERS, default=DECODERS[0], help="default: the first one q3 trains"
    )
    parser.add_argument(
        "--repeats", type=int, help="timed epochs of each way (default 3 quick, 5 otherwise)"
    )
    args = parser.parse_args()
    args.clips = args.clips or (32 if args.quick else 186)
    args.repeats = args.repeats or (3 if args.quick else 5)
    return args


def time_epochs(ways: dict, fly: OnTheFly, clips: int, args) -> dict[str, list[float]]:
    """Seconds of each timed epoch of each way, after a warm-up batch of each, all on one model
    and optimizer made as q3.train makes them."""
    torch.manual_seed(P["seed"])
    dims = ModelDimensions(**P["model"], n_frames=args.frames)
    model = SpeechRecognizer(dims, args.decoder)
    optimizer = torch.optim.AdamW(
        model.parameters(),
        lr=P["lr"],
        weight_decay=P["weight_decay"],
        fused=P["fused_adamw"] or None,
    )
    batches = batch_indices(clips, args.batch_size, torch.Generator().manual_seed(P["seed"]))

    def epoch(split: dict, chosen: list[torch.Tensor]) -> float:
        began = time.perf_counter()
        for idx in chosen:
            train_batch(model, optimizer, split, idx, torch.device("cpu"), P["label_smoothing"])
        return time.perf_counter() - began

    for split in ways.values():
        epoch(split, batches[:1])  # warm-up batch
    fly.seconds = fly.clips = 0
    seconds: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(args.repeats):  # a round times each way once: both see the same load changes
        for name, split in ways.items():
            seconds[name].append(epoch(split, batches))
    return seconds


def print_results(seconds: dict[str, list[float]], n: int, fly: OnTheFly, same: bool) -> None:
    for name, times in seconds.items():
        best, median = min(times), statistics.median(times)
        print(
            f"{name}: {best / n:.4f} s per clip (best epoch {best:.3f} s), "
            f"median {median / n:.4f} s per clip ({median:.3f} s)"
        )
    print(
        f"feature extraction (read + log-mel + pad) during the on-the-fly epochs: "
        f"{1000 * fly.seconds / fly.clips:.2f} ms per clip"
    )
    print(f"on-the-fly features identical to the cached ones: {'yes' if same else 'NO'}")
    print(
        "q3 cached features epoch speedup: "
        f"{min(seconds['on the fly']) / min(seconds['cached']):.2f}x"
    )


def main() -> None:
    args = parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder, what = clip_folder(args, Path(tmp))
        rows = read_metadata(folder)[: args.clips]
        paths = [wav_path(folder, row.id) for row in rows]
        tokens = torch.tensor([encode(row.normalized, P["max_text"]) for row in rows])
        fly = OnTheFly(paths, args.frames)
        features = fly[torch.arange(len(rows))]
        torch.save({"features": features, "tokens": tokens}, Path(tmp) / "train.pt")
        ways = {
            "cached": load_split(Path(tmp), "train"),
            "on the fly": {"features": fly, "tokens": tokens},
        }
        same = torch.equal(ways["cached"]["features"], features)
        print(
            f"q3 epoch: {len(rows)} clips ({what}, {folder}), {args.decoder} decoder, "
            f"batch {args.batch_size}, {args.frames} frames, best of {args.repeats} epochs, "
            f"{torch.get_num_threads()} torch threads, "
            f"torch {torch.__version__}"
        )
        seconds = time_epochs(ways, fly, len(rows), args)
    print_results(seconds, len(rows), fly, same)


if __name__ == "__main__":
    main()
