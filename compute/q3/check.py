"""Finding an LJ Speech 1.1 folder and saying what in it is usable (`build.py --check-data`),
and the files a step reading it depends on. Only the step declarations (compute/q3/steps.py), the
report's section and the tests import this module: it is in no step's key, so that rewording a
message of `--check-data` recomputes nothing.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import soundfile

from compute.engine.files import user_path
from compute.engine.step import DataError
from compute.q3.data import (
    ENV_VAR,
    METADATA,
    WAVS,
    read_metadata,
    split_rows,
    too_few_rows,
    truncation,
    wav_path,
)
from compute.q3.text import unknown_characters

SPLITS = ("train", "val", "test")
FIRST_FEW = 5  # how many names a report lists before saying "and N more"


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
        too_short = too_few_rows(str(Path(root) / METADATA), rows, bounds)
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
    """The LJ Speech folder: an explicit path, else the one the variable ENV_VAR names, else the
    first default holding metadata.csv; None when none is given or found. A folder that was asked
    for by name but holds no metadata.csv (neither it nor its LJSpeech-1.1/ subfolder) is a
    DataError.
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
