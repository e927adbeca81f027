"""Writing files whole or not at all, and digests of files: one implementation for the project."""
from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path
from typing import Callable


def file_digest(path: Path, algorithm: str = "sha256", chunk: int = 1 << 20) -> str:
    """The hex digest of a file's bytes, read in chunks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def write_atomic(path: Path, content: str | bytes | Path | Callable[[Path], object]) -> None:
    """Writes text, bytes, a copy of a file, or what `content(temporary_path)` writes, whole or not
    at all: an interruption or a failed write (a full disk) leaves the previous file, and neither a
    partial file nor a temporary one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        if callable(content):
            content(tmp)
        elif isinstance(content, Path):
            shutil.copyfile(content, tmp)
        else:
            tmp.write_bytes(content.encode() if isinstance(content, str) else content)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def user_path(text: str | os.PathLike) -> Path:
    """A path as a user writes it: `~` and environment variables expanded, the same for every path
    option and variable (the shell leaves `--push=~/x` and quoted paths unexpanded)."""
    return Path(os.path.expanduser(os.path.expandvars(os.fspath(text))))
