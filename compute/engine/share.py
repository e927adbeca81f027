"""Moves results between machines by key: `--push DIR` copies a build's cache entries into a
shared folder (a cluster file system, a mounted drive), `--pull DIR` copies the entries a build
needs from it. Only complete entries that pass their digest check are copied, into place
atomically; a damaged one is refused with a message and nothing of it is copied."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from compute.engine.cache import Cache, build_folder_parts, is_build_folder
from compute.engine.errors import BuildError
from compute.engine.keys import explain_change
from compute.engine.pipeline import Plan


def transfer(source: Cache, target: Cache, entries: dict[str, str]) -> dict[str, list[str]]:
    """Copies each step's entry {step: key} from `source` to `target` unless the target has it
    intact. Returns the steps copied, already there, absent from the source, and refused."""
    report: dict[str, list[str]] = {"copied": [], "present": [], "absent": [], "refused": []}
    for step, key in entries.items():
        if target.has(step, key):
            report["present"].append(step)
        elif not source.exists(step, key):
            report["absent"].append(step)
        else:
            refused = target.receive(step, key, source.entry(step, key))
            if refused is None:
                report["copied"].append(step)
            else:
                report["refused"].append(step)
                print(
                    f"refused {source.entry(step, key).path}: {refused}; not copied",
                    file=sys.stderr,
                )
    return report


def check_folder(folder: Path, option: str) -> None:
    """A BuildError naming the problem and the fix when `folder` cannot serve as the shared folder
    of `option` (--push or --pull): a file, a folder that does not exist (for --push: whose parent
    does not), a build folder, or (for --pull) a folder holding no shared entry at all."""
    if folder.exists() and not folder.is_dir():
        raise BuildError(
            f"{option} {folder}: is a file, not a folder. Give the shared folder that --push "
            f"writes (one subfolder per step)"
        )
    if is_build_folder(folder):
        cache, _ = build_folder_parts(folder)
        where = (
            f"Its results are in {cache}: use {option} {cache}, or a folder written by --push"
            if cache.is_dir()
            else f"It holds no results ({cache} does not exist): give a folder written by --push"
        )
        raise BuildError(f"{option} {folder}: is a build folder, not a shared folder. {where}")
    if option == "--push":
        if not folder.exists() and not folder.parent.is_dir():
            raise BuildError(
                f"--push {folder}: its parent folder {folder.parent} does not exist. Check the "
                f"path, or create it first (mkdir -p {folder.parent})"
            )
        return
    if not folder.exists():
        raise BuildError(
            f"--pull {folder}: no such folder. Check the path: it is the folder given to --push "
            f"on the machine that computed (copied here, or mounted)"
        )
    if not Cache(folder).entries():
        raise BuildError(
            f"--pull {folder}: holds no shared results (no <step>/<key>/manifest.json inside). "
            f"Give the folder that --push wrote"
        )


def why_absent(shared: Cache, step: str, components: dict) -> str | None:
    """Why the shared folder has no entry for the step's key: the newest one it has of the step
    was computed from something else (in --explain's words); None when it has none."""
    manifests = [m for m in shared.manifests(step) if isinstance(m.get("components"), dict)]
    if not manifests:
        return None
    newest = manifests[0]
    reasons = explain_change(newest["components"], components).split("; ")
    more = f"; and {len(reasons) - 3} more" if len(reasons) > 3 else ""
    return (
        f"{len(manifests)} entr{'y' if len(manifests) == 1 else 'ies'} of other keys; the newest "
        f"({newest.get('key')}) differs: {'; '.join(reasons[:3])}{more}"
    )


def pull(shared: Cache, target: Cache, planned: dict[str, Plan]) -> dict[str, list[str]]:
    """--pull: copies the entries {step: plan} the build needs, and says before any
    computation when the folder had nothing usable for it, naming per step what differs."""
    report = transfer(shared, target, {step: plan.key for step, plan in planned.items()})
    print(summary("pulled from", shared.root, report), file=sys.stderr)
    if planned and not report["copied"] and not report["present"]:
        print(
            f"warning: {shared.root} holds nothing usable for this build "
            f"(profile, device and code):",
            file=sys.stderr,
        )
        reasons = {
            step: why_absent(shared, step, planned[step].components) for step in report["absent"]
        }
        for step, reason in reasons.items():
            if reason is not None:
                print(f"  {step}: {reason}", file=sys.stderr)
        if none := [step for step, reason in reasons.items() if reason is None]:
            print(f"  no entry at all of {', '.join(none)}", file=sys.stderr)
    return report


def summary(verb: str, folder: Path, report: dict[str, list[str]]) -> str:
    parts = [f"{len(names)} {what} ({', '.join(names)})" for what, names in report.items() if names]
    return f"{verb} {folder}: " + ("; ".join(parts) or "no entries")


TIMING = re.compile(r"seconds|ms_per|^timing$")


def comparable_results(folder: Path) -> dict:
    """{step/key: result} without timings (fields named *seconds*, *ms_per*, `timing`), without what
    a figure step read back from its drawing (`plotted`: the timing figure draws measured times) and
    without where an upstream's files lay: what must agree wherever and however a step computed."""

    def strip(value):
        if isinstance(value, dict):
            return {
                k: strip(v)
                for k, v in value.items()
                if not TIMING.search(k) and k not in ("root", "plotted")
            }
        return [strip(v) for v in value] if isinstance(value, list) else value

    cache = Cache.of(folder)
    return {f"{e.step}/{e.key}": strip(cache.load(e.step, e.key).data) for e in cache.entries()}
