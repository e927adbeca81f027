"""OCTMNIST: reading and checking `octmnist.npz`, and the course's view of it. Finding and
downloading the file is fetch.py's (in no step's key)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import torch

from compute.engine.files import file_digest, write_atomic
from compute.engine.step import DataError

CLASSES = ("CNV", "DME", "drusen", "normal")
SPLITS = ("train", "val", "test")
IMAGE_SIZE = 28
REAL_SIZES = {"train": 97_477, "val": 10_832, "test": 1_000}
TRAIN_COUNTS = (33_484, 10_213, 7_754, 46_026)
TRAIN_PRIOR = tuple(c / sum(TRAIN_COUNTS) for c in TRAIN_COUNTS)
COURSE_TEST_PER_CLASS = (182, 55, 42, 250)  # the course's 529 test images: the first of each class
PIXEL_SCALE = 256.0  # the course divides by 256, not 255
MD5 = "c68d92d5b585d8d81f7112f81e2d0842"
FILE_NAME = "octmnist.npz"
ENV_VAR = "OCTMNIST_PATH"
FIX = f"run `make data`, or point {ENV_VAR} at a complete copy of {FILE_NAME} (MD5 {MD5})"


def md5(path: Path) -> str:
    return file_digest(path, "md5")


def load_arrays(path: Path) -> dict[str, np.ndarray]:
    """The six arrays of an octmnist.npz-format file, checked; DataError names any problem."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file. Fix: {FIX}.")
    if not zipfile.is_zipfile(path):
        raise DataError(
            f"{path}: not a .npz file (a .npz is a zip archive of arrays; this one is "
            f"{path.stat().st_size:,} bytes of something else). Fix: {FIX}."
        )
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [
                f"{s}_{k}"
                for s in SPLITS
                for k in ("images", "labels")
                if f"{s}_{k}" not in npz.files
            ]
            if missing:
                raise DataError(f"{path}: missing array(s) {', '.join(missing)}. Fix: {FIX}.")
            arrays = {f"{s}_{k}": npz[f"{s}_{k}"] for s in SPLITS for k in ("images", "labels")}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        raise DataError(f"{path}: not a readable .npz file ({error}). Fix: {FIX}.") from error
    problems = array_problems(arrays)
    if problems:
        raise DataError(f"{path}: {'; '.join(problems)}. Fix: {FIX}.")
    return arrays


def array_problems(arrays: dict[str, np.ndarray]) -> list[str]:
    """What is wrong with the arrays of an octmnist.npz-format file (empty when nothing is)."""
    problems = []
    for s in SPLITS:
        images, labels = arrays[f"{s}_images"], arrays[f"{s}_labels"]
        for name, a in ((f"{s}_images", images), (f"{s}_labels", labels)):
            if a.dtype != np.uint8:
                problems.append(f"{name} has dtype {a.dtype}, expected uint8")
        if images.ndim != 3 or images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
            problems.append(f"{s}_images has shape {images.shape}, expected (N, 28, 28)")
        if images.shape[:1] == (0,) or labels.shape[:1] == (0,):
            problems.append(f"{s}_images or {s}_labels is empty (the {s} split holds no images)")
        if labels.ndim != 2 or labels.shape[1] != 1:
            problems.append(f"{s}_labels has shape {labels.shape}, expected (N, 1)")
        elif images.ndim >= 1 and len(labels) != len(images):
            problems.append(f"{s}: {len(images)} images but {len(labels)} labels")
        if labels.size and labels.max() >= len(CLASSES):
            problems.append(
                f"{s}_labels holds {int(labels.max())}; classes are 0..{len(CLASSES) - 1}"
            )
    return problems


def class_counts(labels: np.ndarray) -> list[int]:
    return np.bincount(labels.reshape(-1), minlength=len(CLASSES)).tolist()


def describe(arrays: dict[str, np.ndarray]) -> dict:
    """Images and class counts per split."""
    return {
        s: {
            "images": int(len(arrays[f"{s}_labels"])),
            "class_counts": class_counts(arrays[f"{s}_labels"]),
        }
        for s in SPLITS
    }


def course_test_subset(labels: np.ndarray) -> np.ndarray:
    """Indices of the course's test subset: the first 182, 55, 42, 250 images of classes 0..3."""
    labels = labels.reshape(-1)
    chosen = []
    for c, k in enumerate(COURSE_TEST_PER_CLASS):
        of_class = np.flatnonzero(labels == c)
        if len(of_class) < k:
            raise DataError(
                f"test split has {len(of_class)} images of class {c} ({CLASSES[c]}); "
                f"the course's subset needs {k}. Fix: {FIX}."
            )
        chosen.append(of_class[:k])
    return np.sort(np.concatenate(chosen))


def to_tensors(images: np.ndarray, labels: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 (N, 28, 28), (N, 1) -> float (N, 1, 28, 28) in [0, 1) and int64 (N,)."""
    x = torch.from_numpy(images.astype(np.float32) / PIXEL_SCALE).unsqueeze(1)
    return x, torch.from_numpy(labels.reshape(-1).astype(np.int64))


def save_arrays(arrays: dict[str, np.ndarray], path: Path) -> Path:
    """Writes an octmnist.npz-format file whole or not at all."""

    def savez(tmp: Path) -> None:
        with open(tmp, "wb") as f:  # a file object: np.savez would add .npz to a bare path
            np.savez(f, **arrays)

    write_atomic(Path(path), savez)
    return Path(path)


def reference_mismatches(arrays: dict[str, np.ndarray]) -> list[str]:
    """Where a real file differs from the published OCTMNIST split sizes and training class
    counts."""
    found = describe(arrays)
    problems = [
        f"{s} has {found[s]['images']} images, OCTMNIST has {n}"
        for s, n in REAL_SIZES.items()
        if found[s]["images"] != n
    ]
    if found["train"]["class_counts"] != list(TRAIN_COUNTS):
        problems.append(
            f"train class counts {found['train']['class_counts']}, "
            f"OCTMNIST has {list(TRAIN_COUNTS)}"
        )
    return problems


def run(ctx) -> dict:
    """The q2.data step for the real file: checks it and summarises it (its digest is in the
    key)."""
    path = Path(ctx.params["path"])
    arrays = load_arrays(path)
    return {
        "source": "octmnist",
        "file": str(path.resolve()),
        "md5": md5(path),
        "splits": describe(arrays),
        "classes": list(CLASSES),
        "reference_mismatches": reference_mismatches(arrays),
    }
