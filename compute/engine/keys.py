"""What a step's cache key is made of, and what changed when it differs.

A step's key digests everything its result depends on: the normalised source of every project
module its `run` function imports (the engine's excepted), its parameters, the digests of its
input files, the versions of the libraries and programs it names, the device class, the seed and
ENGINE_VERSION.

A key means the same computation on every machine, so results computed on a GPU machine are found
by a laptop: input files are named relative to their dataset folder (where the folder lies is not
in the key, its files' digests are), library versions are compared without their local build
label (torch 2.11.0+cu130 and 2.11.0+cpu are one release), and a step that uses the device has the
device class in its key (cpu or cuda: training on a GPU gives other numbers than on a CPU), not
the GPU model, which the manifest and the report's appendix name instead.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

from compute.engine.files import ROOT, DigestMemo
from compute.engine.step import DataError, Step

PROJECT_PACKAGES = ("compute", "report")
# The engine (this package): how steps are declared, keyed, run, stored, shared and reported. Its
# code is in no step's key (editing it must never retrain a model); an engine change that does
# alter results (how a step is seeded, run or stored) bumps ENGINE_VERSION, which every key holds.
ENGINE = __name__.rpartition(".")[0]
ENGINE_VERSION = 1


def is_engine(module: str) -> bool:
    return module == ENGINE or module.startswith(ENGINE + ".")


def normalised_source(path: Path) -> str:
    """The module's AST without docstrings: comments and formatting do not change a key."""
    return _normalised(path.read_text(encoding="utf-8"))


# by the text itself: a long-lived process (--watch) parses each version once
@functools.lru_cache(maxsize=1024)
def _normalised(text: str) -> str:
    tree = ast.parse(text)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(body, list)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
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


def public_version(version: str) -> str:
    """The release without its local build label: "2.11.0+cu130" and "2.11.0+cpu" give "2.11.0"."""
    return version.split("+", 1)[0]


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
            raise DataError(
                f"{path}: input file of {step.name} is missing. The dataset is incomplete: "
                f"restore the file, or see what is missing with --check-data"
            )
        inputs[path.relative_to(common).as_posix()] = digests.digest(path)
    digests.save()
    return inputs


def key_components(
    step: Step, upstream_keys: dict[str, str], device: str, digests: DigestMemo
) -> dict:
    """Everything the step's result depends on, as a JSON-able dict (its digest is the key)."""
    inputs = input_digests(step, digests)
    params = {k: v for k, v in step.params.items() if k not in step.locations}
    return {
        "code": {_display(p): _sha(normalised_source(p)) for p in code_files(step.run.__module__)},
        "function": step.run.__qualname__,
        "params": json.loads(json.dumps(params, sort_keys=True, default=str)),
        "needs": {name: upstream_keys[name] for name in step.needs},
        "inputs": inputs,
        "libraries": {
            name: public_version(library_version(name)) for name in sorted(step.libraries)
        },
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


def dotted(params: dict, prefix: str = "") -> dict:
    """Nested settings by dotted name ({"timing": {"lengths": ...}} gives "timing.lengths"), so that
    a change names the one setting that changed."""
    out = {}
    for name, value in params.items():
        nested = isinstance(value, dict) and value
        out |= dotted(value, f"{prefix}{name}.") if nested else {prefix + name: value}
    return out


def explain_change(old: dict | None, new: dict) -> str:
    """Says in words what differs between the last cached components and the current ones; a
    nested parameter by its dotted name (`parameter changed: timing.repeats (3 -> 5)`)."""
    if old is None:
        return "never computed"
    reasons = []
    for part in ("code", "inputs", "libraries", "programs", "needs", "params"):
        before, after = old.get(part, {}), new[part]
        if part == "params":
            before, after = dotted(before), dotted(after)
        for name in sorted(set(before) | set(after)):
            if before.get(name) != after.get(name):
                what = {
                    "code": "code changed in",
                    "inputs": "input changed:",
                    "libraries": "library version changed:",
                    "programs": "program version changed:",
                    "needs": "upstream result changed:",
                    "params": "parameter changed:",
                }[part]
                detail = ""
                if part in ("libraries", "programs", "params"):
                    was, now = before.get(name, "unset"), after.get(name, "unset")
                    detail = f" ({_short(was)} -> {_short(now)})"
                reasons.append(f"{what} {name}{detail}")
    for part in ("function", "device", "seed", "engine"):
        if old.get(part) != new[part]:
            reasons.append(f"{part} changed ({old.get(part)} -> {new[part]})")
    return "; ".join(reasons) or "cache entry missing"
