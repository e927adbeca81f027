"""Log-mel features and token ids for every clip, computed once per dataset and profile.

The audio pipeline is the reference's: power spectrogram (n_fft 400, hop 160, Hann, centred,
reflect padding), 80 Slaney mel bins built for `mel_sample_rate` (16 kHz in the reference although
the audio is 22,050 Hz: its quirk, kept to match its numbers), log10 of max(x, 1e-10), floor at
the clip's maximum - 8, then (x + 4) / 4, zero-padded or cropped on the right to `frames`.
"""

from __future__ import annotations

import os
import time
from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import numpy as np
import torch
import torchaudio

from compute.engine.step import DataError
from compute.q3.data import ENV_VAR, load_wav, read_metadata, split_rows, wav_path
from compute.q3.text import encode, normalise, unknown_characters
from compute.torchtools import save_atomic, torch_threads

SPLIT_FILES = {"train": "train.pt", "val": "val.pt", "test": "test.pt"}
# the settings the result records (and the text states): how audio and text became features
SETTINGS = ("sample_rate", "mel_sample_rate", "n_fft", "hop", "n_mels", "frames", "max_text")


def mel_filterbank(n_fft: int, n_mels: int, mel_sample_rate: int) -> torch.Tensor:
    """(n_fft // 2 + 1, n_mels) Slaney-scale, Slaney-normalised triangles from 0 to
    mel_sample_rate / 2."""
    return torchaudio.functional.melscale_fbanks(
        n_freqs=n_fft // 2 + 1,
        f_min=0.0,
        f_max=mel_sample_rate / 2,
        n_mels=n_mels,
        sample_rate=mel_sample_rate,
        norm="slaney",
        mel_scale="slaney",
    )


def log_mel(wave: torch.Tensor, filterbank: torch.Tensor, n_fft: int, hop: int) -> torch.Tensor:
    """wave: (samples,) -> (n_mels, samples // hop + 1) normalised log-mel spectrogram."""
    if wave.numel() <= n_fft // 2:  # reflect padding needs more samples than it pads
        wave = torch.nn.functional.pad(wave, (0, n_fft // 2 + 1 - wave.numel()))
    spectrum = torch.stft(
        wave,
        n_fft,
        hop_length=hop,
        window=torch.hann_window(n_fft),
        center=True,
        pad_mode="reflect",
        return_complex=True,
    )
    power = spectrum.abs() ** 2  # (n_fft // 2 + 1, frames)
    mel = filterbank.T @ power
    log = torch.clamp(mel, min=1e-10).log10()
    log = torch.maximum(log, log.max() - 8.0)
    return (log + 4.0) / 4.0


def pad_or_crop(features: torch.Tensor, frames: int) -> torch.Tensor:
    """(n_mels, t) -> (n_mels, frames): zeros appended on the right, or the right end cut."""
    if features.shape[1] >= frames:
        return features[:, :frames]
    return torch.nn.functional.pad(features, (0, frames - features.shape[1]))


def dataset_folder(ctx) -> Path:
    p = ctx.params
    if p["source"] == "corpus":
        corpus = ctx.needed["q3.corpus"]
        return Path(corpus.dir) / corpus.data["dir"]
    if p["source"] == "ljspeech":
        if not p.get("root"):
            raise DataError(
                "q3 features: source is ljspeech but no folder was given. Download it with "
                f"`make data` or set {ENV_VAR} to the LJSpeech-1.1 folder."
            )
        return Path(p["root"])
    raise DataError(f"q3 features: unknown source {p['source']!r}; use 'corpus' or 'ljspeech'.")


def clip_features(path: Path, sample_rate: int, filterbank: torch.Tensor, n_fft: int, hop: int):
    """(log-mel (n_mels, t), samples, notes about resampling or downmixing) of one wav."""
    wave, notes = load_wav(path, sample_rate)
    return log_mel(wave, filterbank, n_fft, hop), wave.numel(), notes


def in_order(pool: ThreadPoolExecutor, work, items, window: int):
    """pool.map with at most `window` items in flight, so finished clips do not pile up."""
    pending: deque = deque()
    for item in items:
        pending.append(pool.submit(work, item))
        if len(pending) >= window:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def check_wavs(root: Path, rows: list) -> None:
    """DataError naming the clips of the split that have no wav file."""
    missing = [wav_path(root, row.id).name for row in rows if not wav_path(root, row.id).is_file()]
    if missing:
        raise DataError(
            f"{root}/wavs: {len(missing)} clips of the split have no wav file "
            f"({', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}). "
            f"Re-download or re-extract the dataset, or choose bounds without them."
        )


def write_split(
    ctx, name: str, chosen: list, clips, tally: Counter, unknown: Counter, notes: list[str]
) -> None:
    """Writes ctx.out/<name>.pt from the next len(chosen) clips of `clips`, counting samples,
    frames and cropped clips in `tally`."""
    p = ctx.params
    n_mels, frames, max_text = int(p["n_mels"]), int(p["frames"]), int(p["max_text"])
    # The feature tensor can be large (full LJ Speech train: 8.7 GB), so it lives in a file.
    backing = Path(ctx.work) / f"{name}.features.f32"
    backing.parent.mkdir(parents=True, exist_ok=True)
    features = np.memmap(
        backing, dtype=np.float32, mode="w+", shape=(max(len(chosen), 1), n_mels, frames)
    )
    frames_used = torch.zeros(len(chosen), dtype=torch.int64)
    for i in range(len(chosen)):
        mel, samples, clip_notes = next(clips)
        notes += clip_notes
        frames_used[i] = min(mel.shape[1], frames)
        tally.update(
            samples=samples, frames=int(frames_used[i]), cropped=int(mel.shape[1] > frames)
        )
        features[i] = pad_or_crop(mel, frames).numpy()
    texts = [normalise(row.normalized, max_text) for row in chosen]
    for text in texts:
        unknown.update(unknown_characters(text))
    features.flush()
    data = {
        "ids": [row.id for row in chosen],
        "texts": texts,
        "features": torch.from_numpy(np.asarray(features[: len(chosen)])),
        "tokens": torch.tensor(
            [encode(row.normalized, max_text) for row in chosen], dtype=torch.int64
        ).reshape(len(chosen), max_text + 2),
        "frames_used": frames_used,
    }
    save_atomic(ctx.out / SPLIT_FILES[name], data)
    del data, features
    backing.unlink()


def run(ctx) -> dict:
    """Writes ctx.out/{train,val,test}.pt: ids, texts, features [N, n_mels, frames], tokens,
    frames_used."""
    p = ctx.params
    root = dataset_folder(ctx)
    splits = split_rows(read_metadata(root), p["bounds"], str(root / "metadata.csv"))
    rows = [row for split in SPLIT_FILES for row in splits[split]]
    check_wavs(root, rows)
    filterbank = mel_filterbank(int(p["n_fft"]), int(p["n_mels"]), int(p["mel_sample_rate"]))
    work = partial(
        clip_features,
        sample_rate=int(p["sample_rate"]),
        filterbank=filterbank,
        n_fft=int(p["n_fft"]),
        hop=int(p["hop"]),
    )
    workers = max(1, os.cpu_count() or 1)
    unknown: Counter[str] = Counter()
    tally: Counter[str] = Counter()
    notes: list[str] = []
    # Clips are small: one thread per clip, clips in parallel. Torch's own threads on top of that
    # oversubscribe the cores and run many times slower.
    start = time.monotonic()
    with torch_threads(1):
        with ThreadPoolExecutor(max_workers=workers) as pool:
            clips = in_order(
                pool, work, (wav_path(root, row.id) for row in rows), window=4 * workers
            )
            clips = iter(ctx.progress(clips, total=len(rows), desc="log-mel"))
            for split in SPLIT_FILES:
                write_split(ctx, split, splits[split], clips, tally, unknown, notes)
            for _ in clips:  # lets the progress report its last line
                pass
    seconds = time.monotonic() - start

    for note in notes[:5]:
        ctx.log(note)
    if len(notes) > 5:
        ctx.log(f"... and {len(notes) - 5} more clips resampled or downmixed")
    return {
        "splits": {split: len(splits[split]) for split in SPLIT_FILES},
        "source": p["source"],
        "root": str(root),
        "hours": tally["samples"] / int(p["sample_rate"]) / 3600,
        "unknown_chars": dict(sorted(unknown.items(), key=lambda kv: (-kv[1], kv[0]))),
        "resampled": sum("resampled" in n for n in notes),
        "downmixed": sum("averaged to mono" in n for n in notes),
        "cropped": tally["cropped"],
        "mean_frames_used": tally["frames"] / max(len(rows), 1),
        "seconds": seconds,
        "ms_per_clip": 1000 * seconds / max(len(rows), 1),
        "workers": workers,
        "settings": {k: p[k] for k in SETTINGS},
    }
