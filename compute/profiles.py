"""The profiles every section defines, and the one way a section declares its settings for them.

A section writes the course's exact settings once (`homework`) and, for each other profile, only
what that profile changes; `derive` merges the changes in (nested dicts key by key, anything else
replaced whole), so every section's `PROFILES` has the same shape and the same names.
"""
from __future__ import annotations

import copy

PROFILES = {
    "quick": "the offline default: project-generated data, sized for a laptop CPU (minutes)",
    "homework": "the course's exact settings on the real datasets (a GPU is advised)",
    "smoke": "tiny settings for the tests (seconds); the numbers mean nothing",
}
DEFAULT = "quick"


def merged(base: dict, changes: dict) -> dict:
    """A copy of `base` with `changes` applied: nested dicts merged key by key, other values replaced."""
    out = copy.deepcopy(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def derive(homework: dict, **changes: dict) -> dict[str, dict]:
    """{profile: settings} for every profile: the homework settings, with each other profile's
    changes merged in. Naming a profile that does not exist, or leaving one out, is an error."""
    others = set(PROFILES) - {"homework"}
    if set(changes) != others:
        raise ValueError(f"profiles: give the changes of exactly {', '.join(sorted(others))} "
                         f"(got {', '.join(sorted(changes)) or 'none'})")
    return {name: copy.deepcopy(homework) if name == "homework" else merged(homework, changes[name])
            for name in PROFILES}
