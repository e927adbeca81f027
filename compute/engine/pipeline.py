"""Runs declared steps through a content-addressed cache under build/cache.

A step's key digests everything its result depends on: the normalised source of every project
module its `run` function imports, its parameters, the digests of its input files, the versions of
the libraries it names, the device class and the seed. Results are written atomically and only
after the step succeeded, so an interrupted or failed run never leaves a cache entry behind.

A key means the same computation on every machine, so results computed on a GPU machine are found
by a laptop: input files are named relative to their dataset folder (where the folder lies is not
in the key, its files' digests are), library versions are compared without their local build
label (torch 2.11.0+cu130 and 2.11.0+cpu are one release), and a step that uses the device has the
device class in its key (cpu or cuda: training on a GPU gives other numbers than on a CPU), not
the GPU model, which the manifest and the report's appendix name instead.
"""
from __future__ import annotations

import ast
import errno
import fcntl
import functools
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from compute.engine.errors import BuildError
from compute.engine.files import file_digest, write_atomic
from compute.engine.progress import Reporter
from compute.engine.step import Context, DataError, Result, Step

ROOT = Path(__file__).resolve().parents[2]
PROJECT_PACKAGES = ("compute", "report")
# The engine (this package): how steps are declared, keyed, run, stored, shared and reported. Its
# code is in no step's key (editing it must never retrain a model); an engine change that does
# alter results (how a step is seeded, run or stored) bumps ENGINE_VERSION, which every key holds.
ENGINE = __name__.rpartition(".")[0]
ENGINE_VERSION = 1


def is_engine(module: str) -> bool:
    return module == ENGINE or module.startswith(ENGINE + ".")


# --- what a key is made of -------------------------------------------------------------------

def normalised_source(path: Path) -> str:
    """The module's AST without docstrings: comments and formatting do not change a key."""
    return _normalised(path.read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=1024)  # by the text itself: a long-lived process (--watch) parses each version once
def _normalised(text: str) -> str:
    tree = ast.parse(text)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(body, list) and body and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree, annotate_fields=False, include_attributes=False)


def _module_file(name: str) -> Path | None:
    if name.split(".")[0] not in PROJECT_PACKAGES or is_engine(name):
        return None
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):  # `from pkg.module import function` names no module
        return None
    if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
        return None
    return Path(spec.origin)


def _imported_modules(path: Path, package: str) -> frozenset[str]:
    return _imports_in(path.read_text(encoding="utf-8"), package)


@functools.lru_cache(maxsize=1024)
def _imports_in(text: str, package: str) -> frozenset[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            names.add(base)
            # `from compute.q3 import model` imports the submodule `compute.q3.model`
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return frozenset(names)


def code_files(module: str) -> list[Path]:
    """The file defining `module` and every project module it imports, transitively, except the
    engine's (ENGINE)."""
    seen: dict[str, Path] = {}
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        path = _module_file(name)
        if path is None:
            continue
        seen[name] = path
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        todo.extend(_imported_modules(path, package))
    return sorted(set(seen.values()))


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

    def _tag(self, file: Path) -> str:
        if self.table is None:
            self.table = _read_json(self.path) if self.path.exists() else {}
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
            _write_json_atomic(self.path, self.table)
            self.dirty = False


def _read_json(path: Path):
    """The JSON document in `path`, or None when it is missing, unreadable or not JSON."""
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None


def library_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "absent"


def program_version(name: str) -> str:
    """The first line `name --version` prints, without what follows a double space (espeak-ng
    appends its data folder there); "absent" when the program is not installed."""
    if shutil.which(name) is None:
        return "absent"
    out = subprocess.run([name, "--version"], capture_output=True, text=True, timeout=30).stdout
    first = next((line.strip() for line in out.splitlines() if line.strip()), "unknown")
    return re.split(r"\s{2,}", first)[0]


def machine(device: str) -> str:
    """What computed a step: the GPU's name, or the CPU's model and the vector instruction set
    PyTorch dispatches to (results may differ between CPUs whose instruction sets differ)."""
    if device == "cuda":
        return device_kind(device).removeprefix("cuda:")
    model = platform.processor() or platform.machine()
    try:
        model = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                     if line.startswith(("model name", "Model")))
    except (OSError, StopIteration):
        pass
    import torch

    return f"{model} ({torch.backends.cpu.get_cpu_capability()})"


def public_version(version: str) -> str:
    """The release without its local build label: "2.11.0+cu130" and "2.11.0+cpu" give "2.11.0"."""
    return version.split("+", 1)[0]


def resolve_device(choice: str, where: str = "here") -> str:
    """The device class the steps compute on: cpu or cuda. `where` the steps compute: "here" (in
    this process or its subprocesses: cuda must be visible, auto takes it when it is), "slurm"
    (jobs on GPU nodes: auto means cuda) or "nowhere" (--frozen: cuda names the results wanted and
    needs no GPU here; auto takes cuda when this machine has it)."""
    if choice not in ("auto", "cpu", "cuda"):
        raise BuildError(f"--device {choice}: unknown device; use auto, cpu or cuda")
    if choice == "cpu":
        return "cpu"
    if where == "slurm" or (where == "nowhere" and choice == "cuda"):
        return "cuda"
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if choice == "cuda":
        raise BuildError("--device cuda: torch sees no CUDA device on this machine; use --device auto "
                         "(CUDA when present, else the CPU) or --device cpu")
    return "cpu"


def device_kind(device: str) -> str:
    if device == "cuda":
        import torch

        return "cuda:" + torch.cuda.get_device_name(0)
    return "cpu"


def _display(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def input_digests(step: Step, digests: DigestMemo) -> dict[str, str]:
    """Digests of the step's input files, each named by its path relative to the folder that holds
    them all (the same dataset has the same names wherever it lies); a missing one is a data
    problem named with its path."""
    files = tuple(map(Path, step.input_files))
    if not files:
        return {}
    common = Path(os.path.commonpath([f.parent for f in files]))
    inputs = {}
    for path in files:
        if not path.is_file():
            raise DataError(f"{path}: input file of {step.name} is missing. The dataset is incomplete: "
                            f"restore the file, or see what is missing with --check-data")
        inputs[path.relative_to(common).as_posix()] = digests.digest(path)
    digests.save()
    return inputs


def key_components(step: Step, upstream_keys: dict[str, str], device: str, digests: DigestMemo) -> dict:
    """Everything the step's result depends on, as a JSON-able dict (its digest is the key)."""
    inputs = input_digests(step, digests)
    params = {k: v for k, v in step.params.items() if k not in step.locations}
    return {
        "code": {_display(p): _sha(normalised_source(p)) for p in code_files(step.run.__module__)},
        "function": step.run.__qualname__,
        "params": json.loads(json.dumps(params, sort_keys=True, default=str)),
        "needs": {name: upstream_keys[name] for name in step.needs},
        "inputs": inputs,
        "libraries": {name: public_version(library_version(name)) for name in sorted(step.libraries)},
        "programs": {name: program_version(name) for name in sorted(step.programs)},
        "device": device if step.uses_device else "any",
        "seed": step.seed,
        "engine": ENGINE_VERSION,
    }


def cache_key(components: dict) -> str:
    return _sha(json.dumps(components, sort_keys=True))[:16]


def _short(value, width: int = 48) -> str:
    text = str(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def explain_change(old: dict | None, new: dict) -> str:
    """Says in words what differs between the last cached components and the current ones."""
    if old is None:
        return "never computed"
    reasons = []
    for part in ("code", "inputs", "libraries", "programs", "needs", "params"):
        before, after = old.get(part, {}), new[part]
        for name in sorted(set(before) | set(after)):
            if before.get(name) != after.get(name):
                what = {"code": "code changed in", "inputs": "input changed:",
                        "libraries": "library version changed:", "programs": "program version changed:",
                        "needs": "upstream result changed:",
                        "params": "parameter changed:"}[part]
                detail = ""
                if part in ("libraries", "programs", "params"):
                    detail = f" ({_short(before.get(name, 'unset'))} -> {_short(after.get(name, 'unset'))})"
                reasons.append(f"{what} {name}{detail}")
    for part in ("function", "device", "seed", "engine"):
        if old.get(part) != new[part]:
            reasons.append(f"{part} changed ({old.get(part)} -> {new[part]})")
    return "; ".join(reasons) or "cache entry missing"


# --- the cache on disk ------------------------------------------------------------------------

def _write_json_atomic(path: Path, data) -> None:
    write_atomic(path, json.dumps(data, indent=1, sort_keys=True))


def entry_digests(entry: Path) -> dict[str, str]:
    """SHA-256 of an entry's result.json and of every file under files/, by path within the entry."""
    paths = [entry / "result.json"] + sorted(p for p in (entry / "files").rglob("*") if p.is_file())
    return {p.relative_to(entry).as_posix(): file_digest(p) for p in paths if p.is_file()}


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class Outcome:
    """What happened to a step in this build, for the progress lines and the appendix."""

    name: str
    key: str
    cached: bool
    reason: str
    seconds: float  # time the computation took when it ran (from the manifest when cached)
    device: str
    machine: str  # the GPU, or the CPU model and its vector instruction set
    seed: int


class Cache:
    def __init__(self, root: Path, digests: DigestMemo | None = None):
        self.root = root
        self.digests = digests or DigestMemo(root.parent / "digests.json")
        self._damage: dict[tuple[str, str], str | None] = {}

    def entry(self, step: str, key: str) -> Path:
        return self.root / step / key

    def exists(self, step: str, key: str) -> bool:
        """Something lies where the entry's folder goes (an entry, intact or not, or a stray file)."""
        entry = self.entry(step, key)
        return entry.exists() or entry.is_symlink()

    def has(self, step: str, key: str) -> bool:
        """An intact entry: it exists and verify() finds nothing wrong."""
        return self.exists(step, key) and self.damage(step, key) is None

    def damage(self, step: str, key: str) -> str | None:
        """Why an existing entry cannot be trusted, in words; None when it is intact (remembered
        per build: the entry is checked once)."""
        if (step, key) not in self._damage:
            self._damage[(step, key)] = self.verify(self.entry(step, key))
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
        manifest = _read_json(entry / "manifest.json")
        if not isinstance(manifest, dict):
            return "manifest.json is missing or not valid JSON"
        if (manifest.get("step"), manifest.get("key")) != (step, key):
            return (f"its manifest describes {manifest.get('step')} [{manifest.get('key')}], not {step} [{key}] "
                    f"(an entry filed under another step or key)")
        components = manifest.get("components")
        if not isinstance(components, dict) or cache_key(components) != key:
            return (f"the key computed from its manifest's components is not {key} (the manifest was "
                    f"edited, or the entry comes from an incompatible version)")
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
        if not isinstance(_read_json(entry / "result.json"), dict):
            return "result.json is not a JSON object"
        return None

    def load(self, step: str, key: str) -> Result:
        d = self.entry(step, key)
        return Result(json.loads((d / "result.json").read_text()), d / "files")

    def manifest(self, step: str, key: str) -> dict:
        return json.loads((self.entry(step, key) / "manifest.json").read_text())

    def last_components(self, step: str) -> dict | None:
        latest = _read_json(self.root / step / "latest.json")
        return latest if isinstance(latest, dict) else None

    def folder(self, step: str) -> Path:
        """The step's folder in the cache, created; a stray file in its place is removed (the cache
        is the build's own, and nothing but entries belongs there)."""
        path = self.root / step
        if path.is_symlink() or (path.exists() and not path.is_dir()):
            path.unlink()
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _place(self, tmp: Path, step: str, key: str) -> None:
        """Moves a complete entry into place; whatever lay there (a damaged entry, a stray file)
        is replaced."""
        final = self.entry(step, key)
        if final.is_dir() and not final.is_symlink():
            shutil.rmtree(final)
        elif final.exists() or final.is_symlink():
            final.unlink()
        os.replace(tmp, final)
        self._damage.pop((step, key), None)

    def store(self, step: str, key: str, tmp: Path, data: dict, manifest: dict) -> None:
        (tmp / "result.json").write_text(json.dumps(data, indent=1))
        manifest = {**manifest, "digests": entry_digests(tmp)}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1))
        self._place(tmp, step, key)
        _write_json_atomic(self.root / step / "latest.json", manifest["components"])

    def receive(self, step: str, key: str, source: Path) -> str | None:
        """Copies a complete entry from another cache folder into this one, atomically, once it
        and its copy pass verify() as `step` under `key`; returns why it was refused (None when
        it was copied)."""
        damage = self.verify(source, step, key)
        if damage is None:
            tmp = self.folder(step) / f".tmp-{key}-{os.getpid()}"
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.copytree(source, tmp)
            damage = self.verify(tmp, step, key)
            if damage is not None:
                shutil.rmtree(tmp)
                return f"{damage} (after copying)"
            self._place(tmp, step, key)
        return damage

    def clean_leftovers(self) -> list[Path]:
        """Removes the temporary folders and files of runs that were killed (their process is gone)."""
        removed = []
        for path in self.root.glob("*/.*tmp*"):
            pid = re.search(r"-(\d+)$|\.(\d+)\.tmp$", path.name)
            if pid and not _process_alive(int(pid.group(1) or pid.group(2))):
                shutil.rmtree(path) if path.is_dir() else path.unlink()
                removed.append(path)
        return removed


@contextmanager
def build_lock(build_dir: Path):
    """Serialises builds that share a build folder; the second one waits and says so."""
    try:
        build_dir.mkdir(parents=True, exist_ok=True)
        handle = open(build_dir / ".lock", "w")
    except OSError as error:
        reason = {errno.EEXIST: "a file of that name exists", errno.ENOTDIR: "a part of the path is a file"}.get(
            error.errno, (error.strerror or str(error)).lower())
        raise BuildError(f"build folder {build_dir}: cannot be created or written ({reason}). "
                         f"Choose a writable folder with --build-dir") from None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print("another build is running in this folder; waiting for it to finish", file=sys.stderr)
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield


class MissingResult(BuildError):
    """--frozen: a step's result for its current key is not in the cache."""

    def __init__(self, step: str, key: str, reason: str):
        super().__init__(f"{step}: no result for key {key} ({reason}); --frozen computes nothing")
        self.step, self.key, self.reason = step, key, reason


def compute(step: Step, ctx: Context) -> dict:
    """Runs the step (in the build's process or in a job) and says what computed it and how long
    it took. The result must be JSON: one that is not is a failure, not a cache entry."""
    start = time.monotonic()
    data = step.run(ctx)
    json.dumps(data)
    return {"data": data, "seconds": time.monotonic() - start, "device": device_kind(ctx.device),
            "machine": machine(ctx.device)}


class Runner:
    """Decides per step whether the cache holds its result, runs it when not, and says why.
    `jobs` (compute/engine/jobs.py) runs the steps as local or Slurm jobs; without it they run here,
    one after the other. `frozen` computes nothing: a missing result is a MissingResult."""

    def __init__(self, build_dir: Path, device: str = "cpu", force: bool = False, frozen: bool = False,
                 jobs=None):
        self.build_dir = build_dir
        self.digests = DigestMemo(build_dir / "digests.json")
        self.cache = Cache(build_dir / "cache", self.digests)
        self.device = device
        self.force = force
        self.frozen = frozen
        self.jobs = jobs
        self.keys: dict[str, str] = {}
        self.outcomes: dict[str, Outcome] = {}
        removed = self.cache.clean_leftovers()
        if removed:
            print(f"removed {len(removed)} leftover temporary folder(s) of interrupted runs from "
                  f"{self.cache.root}", file=sys.stderr)

    def plan(self, step: Step) -> tuple[str, dict, str | None]:
        """The step's key, its components, and why it must run (None when cached)."""
        components = key_components(step, self.keys, self.device, self.digests)
        key = cache_key(components)
        self.keys[step.name] = key
        if self.force:
            return key, components, "forced (--force)"
        if self.cache.exists(step.name, key):
            return key, components, self.damaged(step.name) or self.redrawn(step)
        return key, components, explain_change(self.cache.last_components(step.name), components)

    def read_results(self, step: Step) -> dict[str, str]:
        """The digests of the upstream results a step reads, as the cache holds them now ({} for an
        upstream not there yet)."""
        return {n: self.cache.manifest(n, self.keys[n])["digests"]["result.json"] for n in step.needs
                if n in self.keys and self.cache.has(n, self.keys[n])}

    def redrawn(self, step: Step) -> str | None:
        """Why a cached figure step must draw again: an upstream step was recomputed since, under
        the same key, with other numbers (a measurement: the Q1 timings). A step that `presents`
        (a figure step) draws what its upstream steps stored, so its entry counts only for the
        upstream results it read (their digests, in its manifest); other steps' results depend only
        on what their keys cover."""
        if not step.presents:
            return None
        manifest = self.cache.manifest(step.name, self.keys[step.name])
        if "read" not in manifest:
            return "drawn by an older version, which did not record the results it read"
        drawn = manifest["read"]
        changed = [n for n, digest in self.read_results(step).items() if drawn.get(n) != digest]
        return (f"{', '.join(changed)} recomputed with other results since it was drawn"
                if changed else None)

    def damaged(self, name: str) -> str | None:
        """Why the entry of the step's planned key cannot be trusted; None when absent or intact."""
        key = self.keys[name]
        damage = self.cache.damage(name, key) if self.cache.exists(name, key) else None
        return None if damage is None else f"damaged, will recompute: {damage} in {self.cache.entry(name, key)}"

    def cached(self, step: Step) -> Result | None:
        """The cached result for the step's current key, or None; never computes."""
        key, _, reason = self.plan(step)
        if reason is not None:
            return None
        self._record(step, key, cached=True, reason="cached")
        return self.cache.load(step.name, key)

    def start(self, step: Step, needed: dict[str, Result]) -> Result | tuple[str, dict, str, Context]:
        """The cached result, or what running the step takes: its key, components, reason and the
        context, whose `out` is a fresh folder inside the cache (the job writes there, the
        build moves it into place)."""
        key, components, reason = self.plan(step)
        if reason is None:
            self._record(step, key, cached=True, reason="cached")
            print(f"{step.name}: cached ({key})", file=sys.stderr, flush=True)
            return self.cache.load(step.name, key)
        if self.frozen:
            raise MissingResult(step.name, key, reason)
        print(f"{step.name}: running ({reason})", file=sys.stderr, flush=True)
        tmp = self.cache.folder(step.name) / f".tmp-{key}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        (tmp / "files").mkdir(parents=True)
        work = self.build_dir / "work" / step.name / key
        work.mkdir(parents=True, exist_ok=True)
        ctx = Context(params=step.params, seed=step.seed, device=self.device, out=tmp / "files",
                      work=work, needed={n: needed[n] for n in step.needs}, name=step.name,
                      reporter=Reporter())
        return key, components, reason, ctx

    def finish(self, step: Step, started: tuple[str, dict, str, Context], outcome: dict) -> Result:
        """Stores what `compute` returned, atomically, with its manifest."""
        key, components, reason, ctx = started
        manifest = {"step": step.name, "key": key, "components": components, "seconds": outcome["seconds"],
                    "device": outcome["device"], "machine": outcome["machine"],
                    "finished": time.strftime("%Y-%m-%d %H:%M:%S")}
        if step.presents:
            manifest["read"] = self.read_results(step)
        try:
            self.cache.store(step.name, key, ctx.out.parent, outcome["data"], manifest)
        except BaseException:
            shutil.rmtree(ctx.out.parent, ignore_errors=True)
            raise
        shutil.rmtree(ctx.work, ignore_errors=True)
        print(f"{step.name}: done in {outcome['seconds']:.1f} s", file=sys.stderr, flush=True)
        self._record(step, key, cached=False, reason=reason)
        return self.cache.load(step.name, key)

    def run(self, step: Step, needed: dict[str, Result]) -> Result:
        started = self.start(step, needed)
        if isinstance(started, Result):
            return started
        try:
            outcome = compute(step, started[3])
        except BaseException as error:
            shutil.rmtree(started[3].out.parent, ignore_errors=True)
            error.add_note(f"while computing {step.name} (nothing of it was cached)")
            raise
        return self.finish(step, started, outcome)

    def _record(self, step: Step, key: str, cached: bool, reason: str) -> None:
        manifest = self.cache.manifest(step.name, key) if self.cache.has(step.name, key) else {}
        self.outcomes[step.name] = Outcome(step.name, key, cached, reason, manifest.get("seconds", 0.0),
                                           manifest.get("device", "not recorded"),
                                           manifest.get("machine", "not recorded"), step.seed)

    def run_all(self, steps: list[Step]) -> dict[str, Result]:
        if self.jobs is not None:
            return self.jobs.run_all(self, steps)
        results: dict[str, Result] = {}
        for step in steps:
            results[step.name] = self.run(step, results)
        return results
