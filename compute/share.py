"""Moves results between machines by key: `--push DIR` copies a build's cache entries into a
shared folder (a cluster file system, a mounted drive), `--pull DIR` copies the entries a build
needs from it. Only complete entries that pass their digest check are copied, into place
atomically; a damaged one is refused with a message and nothing of it is copied."""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from compute.pipeline import Cache


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
                print(f"refused {source.entry(step, key)}: {refused}; not copied", file=sys.stderr)
    return report


def summary(verb: str, folder: Path, report: dict[str, list[str]]) -> str:
    parts = [f"{len(names)} {what} ({', '.join(names)})" for what, names in report.items() if names]
    return f"{verb} {folder}: " + ("; ".join(parts) or "no entries")


TIMING = re.compile(r"seconds|ms_per|^timing$")


def comparable_results(cache_root: Path) -> dict:
    """{step/key: result} without timings (fields named *seconds*, *ms_per*, `timing`), without what a
    figure step read back from its drawing (`plotted`: the timing figure draws measured times) and
    without where an upstream's files lay: what must agree wherever and however a step computed."""
    def strip(value):
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items()
                    if not TIMING.search(k) and k not in ("root", "plotted")}
        return [strip(v) for v in value] if isinstance(value, list) else value
    return {f"{p.parent.parent.name}/{p.parent.name}": strip(json.loads(p.read_text()))
            for p in sorted(cache_root.glob("*/*/result.json"))}
