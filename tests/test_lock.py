"""The Python environment comes from an exact lock: the lock matches pyproject.toml, every
requirement carries hashes, and what is installed is what the lock says."""

import importlib.metadata
import re
import shutil
import tomllib
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from compute.engine.files import ROOT

RELOCK = (
    "run `make lock` (uv lock, then uv export to requirements.lock and requirements-dev.lock) "
    "and commit the three files"
)


def _specs(requirements) -> dict[str, str]:
    out = {}
    for text in requirements:
        req = Requirement(text)
        out[canonicalize_name(req.name)] = req.specifier
    return out


def _locked(entries) -> dict[str, SpecifierSet]:
    return {canonicalize_name(d["name"]): SpecifierSet(d.get("specifier", "")) for d in entries}


def lock_mismatches(pyproject: Path, uv_lock: Path) -> list[str]:
    """What pyproject.toml asks for that uv.lock was not resolved from (empty when they agree)."""
    project = tomllib.loads(pyproject.read_text())
    lock = tomllib.loads(uv_lock.read_text())
    name = canonicalize_name(project["project"]["name"])
    root = next(p for p in lock["package"] if canonicalize_name(p["name"]) == name)
    meta = root.get("metadata", {})
    wanted = {"dependencies": _specs(project["project"].get("dependencies", []))}
    locked = {"dependencies": _locked(meta.get("requires-dist", []))}
    for group, reqs in project.get("dependency-groups", {}).items():
        wanted[group] = _specs(reqs)
        locked[group] = _locked(meta.get("requires-dev", {}).get(group, []))
    problems = []
    for group in sorted(set(wanted) | set(locked)):
        want, have = wanted.get(group, {}), locked.get(group, {})
        for pkg in sorted(set(want) | set(have)):
            if want.get(pkg) != have.get(pkg):
                problems.append(
                    f"{group}: {pkg} is '{want.get(pkg, 'absent')}' in pyproject.toml "
                    f"but '{have.get(pkg, 'absent')}' in uv.lock"
                )
    if lock.get("requires-python") != project["project"].get("requires-python"):
        problems.append("requires-python differs between pyproject.toml and uv.lock")
    return problems


def requirements_pins(path: Path) -> dict[str, tuple[str, str, int]]:
    """name -> (version, marker, number of hashes) for each entry of an exported requirements
    file."""
    text = re.sub(r"\\\n\s*", " ", path.read_text())
    pins = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()  # continuations are joined: a hash never starts a line
        if not line:
            continue
        hashes = len(re.findall(r"--hash=sha256:[0-9a-f]{64}", line))
        spec = re.sub(r"\s*--hash=\S+", "", line).strip()
        req, _, marker = spec.partition(";")
        name, _, version = req.strip().partition("==")
        pins.setdefault(canonicalize_name(name), []).append((version, marker.strip(), hashes))
    return pins


def test_lock_was_made_from_this_pyproject():
    problems = lock_mismatches(ROOT / "pyproject.toml", ROOT / "uv.lock")
    assert not problems, "the lock is out of date:\n" + "\n".join(problems) + "\n" + RELOCK


def test_an_edited_pyproject_without_a_relock_is_caught(tmp_path):
    edited = tmp_path / "pyproject.toml"
    text = (ROOT / "pyproject.toml").read_text()
    edited.write_text(text.replace('"sympy==1.14.*"', '"sympy==1.13.*",\n    "requests==2.32.*"'))
    problems = lock_mismatches(edited, ROOT / "uv.lock")
    assert any("sympy" in p and "1.13" in p for p in problems)
    assert any("requests" in p and "absent" in p for p in problems)
    shutil.copy(ROOT / "pyproject.toml", edited)
    assert lock_mismatches(edited, ROOT / "uv.lock") == []


@pytest.mark.parametrize("name", ["requirements.lock", "requirements-dev.lock"])
def test_exported_requirements_equal_uv_lock_and_carry_hashes(name):
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    versions = {}
    for p in lock["package"]:
        versions.setdefault(canonicalize_name(p["name"]), set()).add(p["version"])
    pins = requirements_pins(ROOT / name)
    assert pins, f"{name} lists no packages"
    for pkg, entries in pins.items():
        for version, marker, hashes in entries:
            assert version in versions.get(pkg, set()), (
                f"{name}: {pkg}=={version} is not in uv.lock; {RELOCK}"
            )
            assert hashes >= 1, f"{name}: {pkg} has no hash"


def test_installed_packages_are_exactly_the_lock():
    for name in ("requirements.lock", "requirements-dev.lock"):
        for pkg, entries in requirements_pins(ROOT / name).items():
            for version, marker, _ in entries:
                if marker and not Marker(marker).evaluate():
                    continue
                installed = importlib.metadata.version(pkg)
                assert installed == version, (
                    f"{pkg} {installed} is installed but {name} says {version}; "
                    f"run `rm -rf .venv && make test` to rebuild the environment"
                )


def test_the_torch_set_loads_together():
    """torchaudio's native library must match torch's ABI (torchaudio 2.11.1 needs
    torch >= 2.13)."""
    torch = pytest.importorskip("torch")
    import torchaudio.functional as F

    banks = F.melscale_fbanks(201, 0.0, 8000.0, 80, 16000)
    assert torch.__version__.split("+")[0] == "2.11.0" and tuple(banks.shape) == (201, 80)
