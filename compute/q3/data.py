"""Reads an LJ Speech 1.1 folder (metadata.csv + wavs/) and says what in it is usable.

The layout is the dataset's own: `metadata.csv` holds one clip per line, pipe-separated and
unquoted, `id|transcript|normalized transcript`; `wavs/<id>.wav` holds the audio (16-bit PCM,
mono, 22,050 Hz). The course splits clips by row order.
"""

from __future__ import annotations

import os
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import soundfile
import torch
import torchaudio

from compute.engine.files import user_path
from compute.engine.step import DataError
from compute.q3.text import unknown_characters

METADATA = "metadata.csv"
WAVS = "wavs"
SPLITS = ("train", "val", "test")
# train [0, 9825), validation [9825, 10480), test [10480, 13100)
COURSE_BOUNDS = (9825, 10480, 13100)
ENV_VAR = "LJSPEECH_PATH"
FIRST_FEW = 5  # how many names a report lists before saying "and N more"


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
            f"transcript (13,100 in LJ Speech 1.1). Re-download or re-extract the dataset."
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
        raise DataError(
            f"{source}: {len(rows)} rows but the split bounds {list(bounds)} need {total}. "
            f"Use the complete LJ Speech 1.1 (13,100 rows) or bounds that fit this folder."
        )
    return {"train": rows[:train_end], "val": rows[train_end:val_end], "test": rows[val_end:total]}


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


def _first_few(names: list[str]) -> dict:
    return {"count": len(names), "first": names[:FIRST_FEW]}


def summarize(root: Path, bounds, sample_rate: int) -> dict:
    """What a folder holds, from metadata.csv and the wav headers (no audio is decoded).

    Returns {"root", "clips" (rows inside the bounds), "readable", "hours" (readable clips),
    "splits": {split: rows}, "missing_by_split": {split: absent wavs}, "unknown_chars": {char:
    occurrences in the lower-cased normalized transcripts}, "missing", "unreadable",
    "truncated" (fewer frames than the header declares), "other_rate", "not_mono": each {"count",
    "first": [up to 5 names]}}.
    """
    root = Path(root)
    splits = split_rows(read_metadata(root), bounds, str(root / METADATA))
    unknown: Counter[str] = Counter()
    missing, unreadable, truncated, other_rate, not_mono = [], [], [], [], []
    missing_by_split = {}
    seconds, readable = 0.0, 0
    for split in SPLITS:
        absent = 0
        for row in splits[split]:
            unknown.update(unknown_characters(row.normalized))
            path = wav_path(root, row.id)
            if not path.is_file():
                missing.append(path.name)
                absent += 1
                continue
            try:
                info = soundfile.info(str(path))
            except (soundfile.LibsndfileError, RuntimeError, ValueError):
                unreadable.append(path.name)
                continue
            if info.frames == 0 or truncation(path, info.frames, info.samplerate):
                (truncated if info.frames else unreadable).append(path.name)
                continue
            readable += 1
            seconds += info.frames / info.samplerate
            if info.samplerate != sample_rate:
                other_rate.append(path.name)
            if info.channels != 1:
                not_mono.append(path.name)
        missing_by_split[split] = absent
    return {
        "root": str(root),
        "clips": sum(len(rows) for rows in splits.values()),
        "readable": readable,
        "hours": seconds / 3600,
        "splits": {split: len(rows) for split, rows in splits.items()},
        "missing_by_split": missing_by_split,
        "unknown_chars": dict(sorted(unknown.items(), key=lambda kv: (-kv[1], kv[0]))),
        "missing": _first_few(missing),
        "unreadable": _first_few(unreadable),
        "truncated": _first_few(truncated),
        "other_rate": _first_few(other_rate),
        "not_mono": _first_few(not_mono),
    }


def _names(entry: dict) -> str:
    more = entry["count"] - len(entry["first"])
    return ", ".join(entry["first"]) + (f" and {more} more" if more > 0 else "")


def check_data(root: Path, bounds, sample_rate: int, require_complete: bool) -> list[str]:
    """Lines describing the folder; DataError when it cannot be used.

    Unusable: no metadata.csv, a malformed row, too few rows for the bounds, no readable clip;
    with require_complete (the homework profile) also any wav a split lists that is absent or
    unreadable, since the split would no longer be the course's.
    """
    too_short = None
    rows = len(read_metadata(root))
    if rows < bounds[2]:  # not the whole dataset: describe what is there, then refuse
        too_short = (
            f"{Path(root) / METADATA}: {rows} rows but the split bounds {list(bounds)} need "
            f"{bounds[2]}. "
            "Use the complete LJ Speech 1.1 (13,100 rows) or bounds that fit this folder."
        )
        bounds = [rows, rows, rows]
    s = summarize(root, bounds, sample_rate)
    if s["readable"] == 0:
        raise DataError(
            f"{s['root']}: none of the {s['clips']} clips in metadata.csv has a readable "
            f"wav in {WAVS}/. Re-download or re-extract the dataset."
        )
    lines = [
        f"{s['root']}: {s['clips']} clips, {s['readable']} readable, {s['hours']:.2f} hours",
        "splits: " + ", ".join(f"{k} {v}" for k, v in s["splits"].items()),
    ]
    if s["unknown_chars"]:
        lines.append(
            "characters mapped to the unknown token #: "
            + ", ".join(f"{ch!r} x{n}" for ch, n in s["unknown_chars"].items())
        )
    problems = _problems(s)
    for key, what in (
        ("other_rate", f"not at {sample_rate} Hz (will be resampled)"),
        ("not_mono", "not mono (will be averaged to mono)"),
    ):
        if s[key]["count"]:
            lines.append(f"{s[key]['count']} wav files {what}: {_names(s[key])}")
    if too_short:
        raise DataError("\n".join(lines + [f"warning: {p}" for p in problems] + [too_short]))
    if problems and require_complete:
        raise DataError(
            f"{s['root']}: "
            + "; ".join(problems)
            + ". The homework profile needs every clip of the course split; "
            "re-download or re-extract the dataset (`make data`)."
        )
    return lines + [f"warning: {p}" for p in problems]


def _problems(s: dict) -> list[str]:
    """The wav files summarize found missing, unreadable or truncated, one line per kind."""
    problems = []
    if s["missing"]["count"]:
        by_split = ", ".join(f"{k} {v}" for k, v in s["missing_by_split"].items() if v)
        problems.append(
            f"{s['missing']['count']} wav files missing ({by_split}): {_names(s['missing'])}"
        )
    if s["unreadable"]["count"]:
        problems.append(
            f"{s['unreadable']['count']} wav files unreadable: {_names(s['unreadable'])}"
        )
    if s["truncated"]["count"]:
        problems.append(
            f"{s['truncated']['count']} wav files truncated (their header declares more audio "
            f"than they hold): {_names(s['truncated'])}"
        )
    return problems


def find_ljspeech(option_path=None, environ=None, defaults=()) -> Path | None:
    """The LJ Speech folder: an explicit path, else $LJSPEECH_PATH, else the first default holding
    metadata.csv; None when none is given or found. A folder that was asked for by name but holds
    no metadata.csv (neither it nor its LJSpeech-1.1/ subfolder) is a DataError.
    """
    environ = os.environ if environ is None else environ
    for given, origin in ((option_path, "the given path"), (environ.get(ENV_VAR), f"${ENV_VAR}")):
        if given:
            found = _holding_metadata(user_path(given))
            if found is None:
                raise DataError(
                    f"{given} ({origin}): no {METADATA} there or in {given}/LJSpeech-1.1. "
                    f"Point it at the extracted LJSpeech-1.1 folder."
                )
            return found
    for folder in defaults:
        found = _holding_metadata(Path(folder))
        if found is not None:
            return found
    return None


def _holding_metadata(folder: Path) -> Path | None:
    for candidate in (folder, folder / "LJSpeech-1.1"):
        if (candidate / METADATA).is_file():
            return candidate
    return None


def input_files(root: Path) -> tuple[Path, ...]:
    """The files a step reading this folder depends on: metadata.csv and every wav it lists."""
    root = Path(root)
    return (root / METADATA,) + tuple(wav_path(root, row.id) for row in read_metadata(root))
