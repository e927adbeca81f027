"""Finding and downloading OCTMNIST's `octmnist.npz`. Only the step declarations
(compute/q2/steps.py) and the tests import this module: it is in no step's key."""

from __future__ import annotations

import os
import shutil
import tempfile
import urllib.request
from pathlib import Path

from compute.engine.files import user_path
from compute.engine.step import DataError
from compute.q2.data import ENV_VAR, FILE_NAME, MD5, md5

URL = "https://zenodo.org/records/10519652/files/octmnist.npz?download=1"
DEFAULT_PATH = Path(__file__).resolve().parents[2] / "data" / FILE_NAME


def locate(path: Path | str | None) -> Path | None:
    """The OCTMNIST file to use: the given path, else the one ENV_VAR names, else a downloaded
    copy."""
    for candidate in (path, os.environ.get(ENV_VAR) or None):
        if candidate:
            candidate = user_path(candidate)
            return candidate / FILE_NAME if candidate.is_dir() else candidate
    return DEFAULT_PATH if DEFAULT_PATH.is_file() else None


def download(target: Path = DEFAULT_PATH) -> Path:
    """Fetches octmnist.npz to `target` (via the medmnist package when installed, else Zenodo),
    checks its MD5, and only then moves it into place."""
    target = Path(target)
    if target.is_file() and md5(target) == MD5:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".octmnist-", dir=target.parent))
    try:
        fetched = _fetch_with_medmnist(scratch) or _fetch_from_zenodo(scratch)
        found = md5(fetched)
        if found != MD5:
            raise DataError(
                f"{URL}: downloaded file has MD5 {found}, expected {MD5} (corrupted or "
                "changed upstream). Fix: run `make data` again, or download it by hand "
                f"and set {ENV_VAR}."
            )
        os.replace(fetched, target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def _fetch_with_medmnist(folder: Path) -> Path | None:
    try:
        import medmnist
    except ImportError:
        return None
    medmnist.OCTMNIST(split="test", root=str(folder), download=True)
    return folder / FILE_NAME


def _fetch_from_zenodo(folder: Path) -> Path:
    from tqdm import tqdm

    part = folder / (FILE_NAME + ".part")
    try:
        with urllib.request.urlopen(URL, timeout=60) as response, open(part, "wb") as f:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=FILE_NAME) as bar:
                for block in iter(lambda: response.read(1 << 20), b""):
                    f.write(block)
                    bar.update(len(block))
    except OSError as error:
        raise DataError(
            f"{URL}: download failed ({error}). Fix: check the network and run "
            f"`make data` again, or download {FILE_NAME} by hand and set {ENV_VAR}."
        ) from error
    return part
