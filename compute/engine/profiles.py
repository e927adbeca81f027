"""The profiles every section defines, and the one way a section declares its settings for them.

A section writes the course's exact settings once (`homework`) and, for each other profile, only
what that profile changes; `derive` merges the changes in (nested dicts key by key, anything else
replaced whole), so every section's `PROFILES` has the same shape and the same names.

The one shape of a section's settings: one group per step that takes parameters, named by the
last part of the step's name ("train" for q2.train), holding exactly that step's parameters
(`Step(..., params=p["train"])`); beside the groups, at the top level, the section-wide values
that are no step's parameters as such: the seed, and where the data comes from (which source,
a dataset's path, how strictly `--check-data` judges it). A step that reads a dataset gets where
it lies on top of its group (q2.data on the real file takes its path instead of its group).
So a setting reaches exactly the steps that use it, and editing one re-runs only those.
"""

from __future__ import annotations

import copy
import difflib

from compute.engine.errors import BuildError

PROFILES = {
    "quick": "the offline default: project-generated data, sized for a laptop CPU (minutes)",
    "homework": "the course's exact settings on the real datasets (a GPU is advised)",
    "smoke": "tiny settings for the tests (seconds); the numbers mean nothing",
}
DEFAULT = "quick"


def merged(base: dict, changes: dict, where: str = "", profile: str = "") -> dict:
    """A copy of `base` with `changes` applied: nested dicts merged key by key, other values
    replaced. A change of a setting `base` lacks (a misspelt name) is an error naming it and the
    nearest valid one."""
    out = copy.deepcopy(base)
    for key, value in changes.items():
        if key not in out:
            near = difflib.get_close_matches(str(key), [str(k) for k in out], n=1)
            raise BuildError(
                f"profiles: {profile or 'a profile'} changes {where}{key}, a setting the course's "
                f"settings (HOMEWORK) lack"
                + (f"; did you mean {where}{near[0]}?" if near else ".")
                + f" Valid there: {', '.join(map(str, out))}"
            )
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value, f"{where}{key}.", profile)
        else:
            out[key] = copy.deepcopy(value)
    return out


def derive(homework: dict, **changes: dict) -> dict[str, dict]:
    """{profile: settings} for every profile: the homework settings, with each other profile's
    changes merged in. Naming a profile that does not exist, or leaving one out, is an error."""
    others = set(PROFILES) - {"homework"}
    if set(changes) != others:
        raise BuildError(
            f"profiles: give the changes of exactly {', '.join(sorted(others))} "
            f"(got {', '.join(sorted(changes)) or 'none'})"
        )
    return {
        name: copy.deepcopy(homework)
        if name == "homework"
        else merged(homework, changes[name], profile=name)
        for name in PROFILES
    }
