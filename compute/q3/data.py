"""Reads an LJ Speech 1.1 folder (metadata.csv + wavs/): its rows, the course's split of them,
and its clips' audio. What the steps read with; finding and checking a folder is check.py's.

The layout is the dataset's own: `metadata.csv` holds one clip per line, pipe-separated and
unquoted, `id|transcript|normalized transcript`; `wavs/<id>.wav` holds the audio (16-bit PCM,
mono, 22,050 Hz). The course splits clips by row order.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import soundfile
import torch
import torchaudio

from compute.engine.step import DataError

METADATA = "metadata.csv"
WAVS = "wavs"
CLIPS = 13100  # rows of LJ Speech 1.1's metadata.csv
# train [0, 9825), validation [9825, 10480), test [10480, 13100): every clip
COURSE_BOUNDS = (9825, 10480, CLIPS)
ENV_VAR = "LJSPEECH_PATH"


class DataWarning(UserWarning):
    """A clip was usable only after a change (resampled, downmixed); the message names the file."""


@dataclass(frozen=True)
class Row:
    """One line of metadata.csv. `row` is its 1-based line number in the file."""

    id: str
    transcript: str
    normalized: str
    row: int


def wav_path(root: Path, clip_id: str) -> Path:
    return Path(root) / WAVS / f"{clip_id}.wav"


def read_metadata(root: Path) -> list[Row]:
    """All rows of root/metadata.csv, in file order; any malformed row is a DataError."""
    path = Path(root) / METADATA
    if not path.is_file():
        raise DataError(
            f"{path}: not found. An LJ Speech folder holds metadata.csv and wavs/; "
            f"download it with `make data` or point {ENV_VAR} at the LJSpeech-1.1 folder."
        )
    data = path.read_bytes()
    if data.startswith(b"\xef\xbb\xbf"):  # a byte-order mark left by some editors
        data = data[3:]
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    rows: list[Row] = []
    seen: dict[str, int] = {}
    offset = 0
    for number, raw in enumerate(lines, 1):
        start, offset = offset, offset + len(raw) + 1
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            raise DataError(
                f"{path} row {number}: byte {raw[err.start]:#04x} "
                f"at file offset {start + err.start} is not UTF-8. "
                "Re-save the file as UTF-8 (LJ Speech 1.1 is UTF-8) or re-download it."
            ) from None
        fields = line.rstrip("\r").split("|")
        if len(fields) != 3:
            raise DataError(
                f"{path} row {number}: {len(fields)} field(s) where id|transcript|normalized "
                f"transcript needs 3 ({line[:60]!r}). Fix or remove that row."
            )
        clip_id, transcript, normalized = fields
        if not clip_id.strip():
            raise DataError(f"{path} row {number}: the clip id is empty. Fix or remove that row.")
        if not normalized.strip():
            raise DataError(
                f"{path} row {number} ({clip_id}): the normalized transcript is empty. "
                f"Fill in the third field or remove that row."
            )
        if clip_id in seen:
            raise DataError(
                f"{path} row {number}: clip id {clip_id} already used on row "
                f"{seen[clip_id]}. Remove the duplicate row."
            )
        seen[clip_id] = number
        rows.append(Row(clip_id, transcript, normalized, number))
    if not rows:
        raise DataError(
            f"{path}: empty; it should hold one line per clip, id|transcript|normalized "
            f"transcript ({CLIPS:,} in LJ Speech 1.1). Re-download or re-extract the dataset."
        )
    return rows


def split_rows(rows: list[Row], bounds, source: str = METADATA) -> dict[str, list[Row]]:
    """The course split by row order: train [0, b0), val [b0, b1), test [b1, b2).

    Rows past b2 are left out (a smaller split of a larger folder); fewer rows than b2 is an error,
    since the validation and test splits would silently shrink.
    """
    train_end, val_end, total = (int(b) for b in bounds)
    if not 0 <= train_end <= val_end <= total:
        raise DataError(f"split bounds {list(bounds)}: need 0 <= train_end <= val_end <= total.")
    if len(rows) < total:
        raise DataError(too_few_rows(source, len(rows), bounds))
    return {"train": rows[:train_end], "val": rows[train_end:val_end], "test": rows[val_end:total]}


def too_few_rows(source: str, rows: int, bounds) -> str:
    return (
        f"{source}: {rows} rows but the split bounds {list(bounds)} need {int(bounds[2])}. "
        f"Use the complete LJ Speech 1.1 ({CLIPS:,} rows) or bounds that fit this folder."
    )


def declared_frames(path: Path) -> int | None:
    """The number of frames a WAV file's header declares (its data chunk's size over the frame
    size), or None for a file that is not a RIFF/WAVE file or whose header cannot be walked. A
    truncated file holds fewer frames than this; libsndfile reads what is there without failing."""
    try:
        with open(path, "rb") as f:
            riff = f.read(12)
            if len(riff) < 12 or riff[:4] != b"RIFF" or riff[8:12] != b"WAVE":
                return None
            frame_bytes = None
            while header := f.read(8):
                if len(header) < 8:
                    return None
                chunk, size = header[:4], int.from_bytes(header[4:], "little")
                if chunk == b"fmt ":
                    fmt = f.read(size + size % 2)
                    frame_bytes = int.from_bytes(fmt[12:14], "little") if len(fmt) >= 14 else None
                elif chunk == b"data":
                    return size // frame_bytes if frame_bytes else None
                else:
                    f.seek(size + size % 2, os.SEEK_CUR)
    except OSError:
        return None
    return None


def truncation(path: Path, frames: int, rate: int) -> str | None:
    """Why a clip that decoded to `frames` frames is not whole, or None when it holds all the audio
    its header declares."""
    declared = declared_frames(path)
    if declared is None or frames >= declared:
        return None
    return (
        f"truncated: its header declares {declared / rate:.2f} s of audio but the file holds "
        f"{frames / rate:.2f} s ({frames} of {declared} frames)"
    )


def read_wav(path: Path, sample_rate: int) -> torch.Tensor:
    """A clip as float32 samples in [-1, 1], shape (samples,).

    A sample rate other than `sample_rate` is resampled, and a clip with several channels is
    averaged to mono; both with a DataWarning naming the file, since LJ Speech has neither.
    """
    wave, notes = load_wav(path, sample_rate)
    for note in notes:
        warnings.warn(DataWarning(note), stacklevel=2)
    return wave


def load_wav(path: Path, sample_rate: int) -> tuple[torch.Tensor, list[str]]:
    """read_wav's samples and its warnings as strings (for callers reading clips in threads)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: wav file not found. Re-download or re-extract the dataset.")
    try:
        audio, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, ValueError) as err:
        raise DataError(
            f"{path}: unreadable as audio ({err}). Re-download or re-extract this file."
        ) from None
    if audio.shape[0] == 0:
        raise DataError(f"{path}: holds no samples. Re-download or re-extract this file.")
    cut = truncation(path, audio.shape[0], rate)
    if cut:
        raise DataError(f"{path}: {cut}. Re-download or re-extract this file.")
    wave = torch.from_numpy(audio.T.copy())  # (channels, samples)
    notes = []
    if wave.shape[0] > 1:
        notes.append(
            f"{path}: {wave.shape[0]} channels; averaged to mono (LJ Speech clips are mono)."
        )
        wave = wave.mean(dim=0, keepdim=True)
    if rate != sample_rate:
        notes.append(f"{path}: sample rate {rate} Hz; resampled to {sample_rate} Hz.")
        wave = torchaudio.functional.resample(wave, rate, sample_rate)
    return wave[0].contiguous(), notes
