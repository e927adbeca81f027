"""Writing files whole or not at all, reading JSON that may be damaged, and digests of files
(remembered between builds): one implementation for the project."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[2]  # the project's folder


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


def read_json(path: Path):
    """The JSON document in `path`, or None when it is missing, unreadable or not JSON."""
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None


def write_json(path: Path, data) -> None:
    """Writes `data` as JSON (keys sorted, one entry a line), whole or not at all."""
    write_atomic(path, json.dumps(data, indent=1, sort_keys=True))


class DigestMemo:
    """SHA-256 digests of files, remembered by (path, size, mtime) in <build>/digests.json, so a
    dataset of thousands of files or a large cached result is read once, not at every build."""

    def __init__(self, path: Path):
        self.path, self.table, self.dirty = path, None, False

    def digest(self, file: Path) -> str:
        tag = self._tag(file)
        if tag not in self.table:
            self.table[tag], self.dirty = file_digest(file), True
        return self.table[tag]

    def remember(self, file: Path, digest: str) -> None:
        """Records the digest of a file whose bytes are known (just written and digested), so that
        the next check of it reads nothing."""
        tag = self._tag(file)
        if self.table.get(tag) != digest:
            self.table[tag], self.dirty = digest, True

    def _tag(self, file: Path) -> str:
        if self.table is None:
            self.table = read_json(self.path) if self.path.exists() else {}
            self.table = self.table if isinstance(self.table, dict) else {}
        stat = file.stat()
        return f"{file.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"

    def known(self, files) -> bool:
        """Whether the digest of every file is remembered as it is now (no file is read)."""
        try:
            return all(self._tag(Path(f)) in self.table for f in files)
        except OSError:
            return False

    def save(self) -> None:
        if self.dirty:
            write_json(self.path, self.table)
            self.dirty = False
