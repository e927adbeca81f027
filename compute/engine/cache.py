"""The cache on disk. This module alone knows its layout; everything else asks it for named records.

    <build>/cache/<step>/<key>/        an entry: one computation of a step
        result.json                    the step's result (JSON)
        files/                         the files it wrote
        manifest.json                  what it was computed from (the key's components), by what
                                       machine, when, in how long, and the digest of every file
    <build>/cache/<step>/latest.json   the components of the step's last stored entry (--explain)
    <build>/cache/<step>/.tmp-<key>-<pid>  an entry being written; removed once its process is gone
    <build>/digests.json               file digests remembered between builds (DigestMemo)
    <build>/work/<step>/<key>/         a running step's scratch folder (checkpoints), kept until it
                                       succeeds

A folder written by --push holds entries as <step>/<key>/, as a build's cache does.

Results are written atomically and only after the step succeeded, so an interrupted or failed run
never leaves an entry behind; an entry is trusted only when it proves what it is (`verify`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from compute.engine.files import DigestMemo, file_digest, read_json, write_json
from compute.engine.keys import cache_key
from compute.engine.step import Result

RESULT, MANIFEST, FILES, LATEST = "result.json", "manifest.json", "files", "latest.json"


@dataclass(frozen=True)
class Entry:
    """Where one computation of a step lies: `<cache>/<step>/<key>/`."""

    step: str
    key: str
    path: Path

    @property
    def files(self) -> Path:
        return self.path / FILES

    def manifest(self) -> dict | None:
        """The entry's manifest; None when it is missing or unreadable."""
        found = read_json(self.path / MANIFEST)
        return found if isinstance(found, dict) else None

    def result_digest(self) -> str | None:
        """The SHA-256 of result.json as the manifest records it."""
        return result_digest(self.manifest() or {})


def result_digest(manifest: dict) -> str | None:
    """The SHA-256 of result.json as a manifest records it."""
    return (manifest.get("digests") or {}).get(RESULT)


def entry_of(result: Result) -> Entry:
    """The entry a loaded result lies in."""
    path = Path(result.dir).parent
    return Entry(path.parent.name, path.name, path)


def build_folder_parts(build_dir: Path) -> tuple[Path, Path]:
    """(its cache, its remembered digests) of a build folder."""
    return build_dir / "cache", build_dir / "digests.json"


def is_build_folder(folder: Path) -> bool:
    cache, digests = build_folder_parts(folder)
    return cache.is_dir() or digests.is_file()


def work_folder(build_dir: Path, step: str, key: str) -> Path:
    return build_dir / "work" / step / key


def entry_digests(entry: Path) -> dict[str, str]:
    """SHA-256 of an entry's result.json and of each file under files/, by path in the entry."""
    paths = [entry / RESULT] + sorted(p for p in (entry / FILES).rglob("*") if p.is_file())
    return {p.relative_to(entry).as_posix(): file_digest(p) for p in paths if p.is_file()}


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Cache:
    """The entries under `root` (a build's cache, or a folder written by --push)."""

    def __init__(self, root: Path, digests: DigestMemo | None = None):
        self.root = root
        self.digests = digests or DigestMemo(build_folder_parts(root.parent)[1])
        self._damage: dict[tuple[str, str], str | None] = {}

    @classmethod
    def of(cls, folder: Path, digests: DigestMemo | None = None) -> Cache:
        """The cache of a build folder, or a folder of entries itself (written by --push)."""
        cache, _ = build_folder_parts(folder)
        return cls(cache if cache.is_dir() else folder, digests)

    def entry(self, step: str, key: str) -> Entry:
        return Entry(step, key, self.root / step / key)

    def entries(self, step: str | None = None) -> list[Entry]:
        """Every entry that has a manifest file (intact or not), by step and key; of one step when
        given. Folders being written (.tmp-*) are not entries."""
        found = (
            (self.root / step).glob(f"*/{MANIFEST}") if step else self.root.glob(f"*/*/{MANIFEST}")
        )
        return [
            Entry(p.parent.parent.name, p.parent.name, p.parent)
            for p in sorted(found)
            if not p.parent.name.startswith(".")
        ]

    def history(self, step: str) -> list[tuple[Entry, dict]]:
        """The step's entries with a readable manifest, each with it, newest first (by when they
        finished)."""
        found = [(e, m) for e in self.entries(step) if (m := e.manifest()) is not None]
        return sorted(found, key=lambda em: str(em[1].get("finished", "")), reverse=True)

    def manifests(self, step: str) -> list[dict]:
        """The readable manifests of the step's entries, newest first (by when they finished)."""
        return [m for _, m in self.history(step)]

    def exists(self, step: str, key: str) -> bool:
        """Something lies where the entry's folder goes (an entry, intact or not, or a file)."""
        path = self.entry(step, key).path
        return path.exists() or path.is_symlink()

    def has(self, step: str, key: str) -> bool:
        """An intact entry: it exists and verify() finds nothing wrong."""
        return self.exists(step, key) and self.damage(step, key) is None

    def damage(self, step: str, key: str) -> str | None:
        """Why an existing entry cannot be trusted, in words; None when it is intact (remembered
        per build: the entry is checked once)."""
        if (step, key) not in self._damage:
            self._damage[(step, key)] = self.verify(self.entry(step, key).path)
        return self._damage[(step, key)]

    def verify(self, entry: Path, step: str | None = None, key: str | None = None) -> str | None:
        """Why the entry cannot be trusted as the result of `step` under `key` (by default its
        folder's names), in words; None when it proves what it is: its manifest names that step
        and key, the key computed again from the manifest's components is that key, every file
        matches the digest the manifest records and the result loads. A file is re-read only when
        its size or modification time changed since it was last digested (digests.json)."""
        step, key = step or entry.parent.name, key or entry.name
        if not entry.is_dir():
            return "a file lies where the entry's folder should be"
        manifest = read_json(entry / MANIFEST)
        if not isinstance(manifest, dict):
            return "manifest.json is missing or not valid JSON"
        if (manifest.get("step"), manifest.get("key")) != (step, key):
            return (
                f"its manifest describes {manifest.get('step')} [{manifest.get('key')}], not "
                f"{step} [{key}] (an entry filed under another step or key)"
            )
        components = manifest.get("components")
        if not isinstance(components, dict) or cache_key(components) != key:
            return (
                f"the key computed from its manifest's components is not {key} (the manifest was "
                f"edited, or the entry comes from an incompatible version)"
            )
        recorded = manifest.get("digests")
        if not isinstance(recorded, dict):
            return "manifest.json records no file digests (an entry from an older version)"
        for name, digest in sorted(recorded.items()):
            path = entry / name
            if not path.is_file():
                return f"{name} is missing"
            if self.digests.digest(path) != digest:
                return f"{name} differs from the digest recorded when it was stored"
        self.digests.save()
        if not isinstance(read_json(entry / RESULT), dict):
            return "result.json is not a JSON object"
        return None

    def load(self, step: str, key: str) -> Result:
        entry = self.entry(step, key)
        return Result(json.loads((entry.path / RESULT).read_text()), entry.files)

    def last_components(self, step: str) -> dict | None:
        latest = read_json(self.root / step / LATEST)
        return latest if isinstance(latest, dict) else None

    def folder(self, step: str) -> Path:
        """The step's folder in the cache, created; a stray file in its place is removed (the cache
        is the build's own, and nothing but entries belongs there)."""
        path = self.root / step
        if path.is_symlink() or (path.exists() and not path.is_dir()):
            path.unlink()
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _temporary(self, step: str, key: str) -> Path:
        """Where this process writes an entry before it is complete (see clean_leftovers)."""
        return self.folder(step) / f".tmp-{key}-{os.getpid()}"

    def new_entry(self, step: str, key: str) -> Entry:
        """A fresh temporary entry (its files/ folder made) inside the step's folder; `store`
        moves it into place once the step succeeded."""
        tmp = Entry(step, key, self._temporary(step, key))
        shutil.rmtree(tmp.path, ignore_errors=True)
        tmp.files.mkdir(parents=True)
        return tmp

    def _place(self, tmp: Path, step: str, key: str) -> None:
        """Moves a complete entry into place; whatever lay there (a damaged entry, a stray file)
        is replaced."""
        final = self.entry(step, key).path
        if final.is_dir() and not final.is_symlink():
            shutil.rmtree(final)
        elif final.exists() or final.is_symlink():
            final.unlink()
        os.replace(tmp, final)
        self._damage.pop((step, key), None)
        self._remember(self.entry(step, key))

    def _remember(self, entry: Entry) -> None:
        """Records the digests of a complete entry just moved into place (each was computed from
        its files, or checked against them, before): moved, not rewritten, its files keep their
        size and modification time, so verify() reads none of them again."""
        recorded = (entry.manifest() or {}).get("digests")
        for name, digest in (recorded if isinstance(recorded, dict) else {}).items():
            self.digests.remember(entry.path / name, digest)
        self.digests.save()

    def store(self, step: str, key: str, tmp: Path, data: dict, manifest: dict) -> None:
        (tmp / RESULT).write_text(json.dumps(data, indent=1))
        manifest = {**manifest, "digests": entry_digests(tmp)}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1))
        self._place(tmp, step, key)
        write_json(self.root / step / LATEST, manifest["components"])

    def receive(self, step: str, key: str, source: Entry) -> str | None:
        """Copies a complete entry from another cache folder into this one, atomically, once it
        and its copy pass verify() as `step` under `key`; returns why it was refused (None when
        it was copied)."""
        damage = self.verify(source.path, step, key)
        if damage is None:
            tmp = self._temporary(step, key)
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.copytree(source.path, tmp)
            damage = self.verify(tmp, step, key)
            if damage is not None:
                shutil.rmtree(tmp)
                return f"{damage} (after copying)"
            self._place(tmp, step, key)
        return damage

    def clean_leftovers(self) -> list[Path]:
        """Removes the temporary folders and files of killed runs (their process is gone)."""
        removed = []
        for path in self.root.glob("*/.*tmp*"):
            pid = re.search(r"-(\d+)$|\.(\d+)\.tmp$", path.name)
            if pid and not _process_alive(int(pid.group(1) or pid.group(2))):
                shutil.rmtree(path) if path.is_dir() else path.unlink()
                removed.append(path)
        return removed
