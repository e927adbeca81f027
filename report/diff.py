"""What changed in the stated numbers between two builds, and why.

After every build that checks its claims, `report_changes` compares them with those of the previous
build in the same folder (kept in <build>/claims.json: each claim's value and tolerance, and the key
and result digest of each step) and prints the claims whose value changed, grouped by the step they
follow from, each step with what differs in its cache key as `--explain` words it. `build.py --diff
A B` (`compare_folders`) compares two build folders or `--push` folders in the same way; a folder
without a claims file has its claims evaluated on its entries.

A changed claim follows from the step of its section whose result differs and is read by the
section's claims; when several are, from the one whose result, taken alone from the other build,
changes the claim's value again (the last such step in the order they ran).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import sympy

from compute.engine.cache import Cache, result_digest
from compute.engine.errors import BuildError
from compute.engine.files import DigestMemo, read_json, write_atomic
from compute.engine.keys import explain_change
from compute.engine.step import Result
from report.claims import WRITTEN, plain
from report.sections import discover

FILE = "claims.json"
FAILED = (Exception,)  # what evaluating one build's claims on another build's results may raise
GONE = "another key (an entry is no longer in its folder: what differs is unknown)"
DAMAGED = "a damaged entry ({}); remove that folder, or rebuild or push it again"


def json_value(value):
    """A claim's value as JSON: NumPy values as Python's (claims.plain); numbers, booleans, strings
    and lists as they are; a formula as text."""
    return _json(plain(value))


def _json(value):
    if isinstance(value, sympy.Basic):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json(v) for k, v in value.items()}
    return value if value is None or isinstance(value, (bool, int, float, str)) else str(value)


def section_of(name: str) -> str:
    return name.split(".", 1)[0]


@dataclass
class Side:
    """One build as compared: its claims {name: {"value", "tol"}}, its steps
    {name: {"key", "result"}} in the order they ran, the cache holding their entries, and where its
    claims come from."""

    folder: Path
    cache: Cache
    steps: dict
    claims: dict
    source: str
    notes: list[str] = field(default_factory=list)

    def manifest(self, step: str) -> dict | None:
        return self.cache.entry(step, self.steps[step]["key"]).manifest()

    def result(self, step: str) -> Result | None:
        """The step's result, None when its entry is gone; a damaged entry is an error."""
        key = self.steps[step]["key"]
        if not self.cache.exists(step, key):
            return None
        damage = self.cache.damage(step, key)
        if damage is not None:
            raise BuildError(f"{self.cache.entry(step, key).path}: {DAMAGED.format(damage)}")
        return self.cache.load(step, key)

    def results(self, section: str) -> dict[str, Result]:
        found = {s: self.result(s) for s in self.steps if section_of(s) == section}
        return {s: r for s, r in found.items() if r is not None}


class _Reads(dict):
    """Results that note which steps the claims read."""

    def __init__(self, results: dict):
        super().__init__(results)
        self.read: set[str] = set()

    def __getitem__(self, step):
        self.read.add(step)
        return super().__getitem__(step)

    def get(self, step, default=None):
        return self[step] if step in self else default


def evaluate(section: str, results: dict) -> tuple[dict, set[str]]:
    """The section's claims on these results ({name: {"value", "tol"}}) and the steps they read."""
    reads = _Reads(results)
    # one build's results beside another's may not fit: judged by the values
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        claims = discover()[section].claims(reads)
    return {c.name: {"value": json_value(c.value), "tol": c.tol} for c in claims}, reads.read


def same(a, b) -> bool:
    # NaN equals NaN
    return a == b or json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _numbers(value) -> list[float] | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, list)):
        return None
    if not isinstance(value, list):
        return [value]
    flat = [_numbers(v) for v in value]
    return None if any(f is None for f in flat) else [x for f in flat for x in f]


def difference(a, b) -> float | int | None:
    """b - a for two numbers; for two lists of numbers of one shape, the element difference largest
    in size; None when the values are not numbers (a formula, a word, a yes/no)."""
    xs, ys = _numbers(a), _numbers(b)
    if xs is None or ys is None or len(xs) != len(ys) or isinstance(a, list) != isinstance(b, list):
        return None
    return max((y - x for x, y in zip(xs, ys)), key=abs, default=0)


def claim_row(name: str, a: dict | None, b: dict | None) -> dict:
    row = {
        "name": name,
        "a": None if a is None else a["value"],
        "b": None if b is None else b["value"],
    }
    if a is None or b is None:
        return row | {"status": "only_a" if b is None else "only_b"}
    if same(a["value"], b["value"]):
        return row | {"status": "equal"}
    tol, diff = max(a["tol"], b["tol"]), difference(a["value"], b["value"])
    return row | {
        "status": "changed",
        "difference": diff,
        "tolerance": tol,
        "within": diff is not None and abs(diff) <= tol,
    }


def cause(a: Side, b: Side, step: str, reasons: dict) -> str:
    """What differs between the step's entries in A and B, in --explain's words."""
    if step not in a.steps or step not in b.steps:
        return "only in " + ("B" if step not in a.steps else "A")
    manifests = [m for m in (a.manifest(step), b.manifest(step)) if m]
    parts = [m["components"] for m in manifests if isinstance(m.get("components"), dict)]
    if a.steps[step]["key"] == b.steps[step]["key"]:
        why = reasons.get(step) or "the same key, another result"
    elif len(parts) == 2:
        why = explain_change(*parts)
    else:
        why = reasons.get(step) or GONE
    machines = [m.get("machine", "not recorded") for m in manifests]
    return why + (f"; machine {machines[0]} -> {machines[1]}" if len(set(machines)) == 2 else "")


def step_rows(a: Side, b: Side, reasons: dict) -> list[dict]:
    """Every step whose key or result differs, with the cause."""
    names = list(a.steps) + [s for s in b.steps if s not in a.steps]
    return [
        {
            "name": s,
            "a": (a.steps.get(s) or {}).get("key"),
            "b": (b.steps.get(s) or {}).get("key"),
            "cause": cause(a, b, s, reasons),
        }
        for s in names
        if a.steps.get(s) != b.steps.get(s)
    ]


def sources(names: list[str], a: Side, b: Side, changed: list[str]) -> dict[str, str | None]:
    """{claim: the step it follows from, None when no one step} for the changed claims (see the
    module's docstring)."""
    found: dict[str, str | None] = {}
    for section in dict.fromkeys(map(section_of, names)):
        mine = [n for n in names if section_of(n) == section]
        steps = [s for s in changed if section_of(s) == section and s in a.steps and s in b.steps]
        base = b.results(section)
        try:
            values, read = evaluate(section, base)
        except FAILED:
            values, read = None, set(steps)
        steps = [s for s in steps if s in read]
        if len(steps) <= 1 or values is None:
            found.update(dict.fromkeys(mine, steps[0] if len(steps) == 1 else None))
            continue
        for step in reversed(steps):
            other = a.result(step)
            try:
                swapped, _ = evaluate(section, base | {step: other})
            except FAILED:
                continue
            found.update(
                {
                    n: step
                    for n in mine
                    if n not in found
                    and not same(swapped.get(n, {}).get("value"), values.get(n, {}).get("value"))
                }
            )
    return found


def compare(a: Side, b: Side, reasons: dict | None = None) -> dict:
    """The difference of two builds: every claim of either (with its status, and for a changed one
    the difference, whether it is within the claim's tolerance and the step it follows from), and
    every step whose key or result differs, with the cause. `reasons` names why a step re-ran
    (this build)."""
    names = list(a.claims) + [n for n in b.claims if n not in a.claims]
    rows = [claim_row(n, a.claims.get(n), b.claims.get(n)) for n in names]
    steps = step_rows(a, b, reasons or {})
    changed = [r["name"] for r in rows if r["status"] == "changed"]
    follows = sources(changed, a, b, [s["name"] for s in steps])
    for row in rows:
        if row["status"] == "changed":
            row["step"] = follows.get(row["name"])
    return {
        "summary": summary(rows, steps),
        "a": side_info(a),
        "b": side_info(b),
        "claims": rows,
        "steps": steps,
    }


def side_info(side: Side) -> dict:
    return {"folder": str(side.folder), "source": side.source, "notes": side.notes}


def summary(rows: list[dict], steps: list[dict]) -> str:
    count = {s: sum(r["status"] == s for r in rows) for s in ("changed", "only_a", "only_b")}
    beyond = sum(r["status"] == "changed" and not r["within"] for r in rows)
    return (
        f"{count['changed']} of {len(rows)} claims differ ({beyond} beyond their tolerance), "
        f"{count['only_a']} only in A, {count['only_b']} only in B; {len(steps)} step(s) differ"
    )


def failing(diff: dict) -> list[str]:
    """The claims that differ beyond their tolerance, or are stated in one build only."""
    return [
        r["name"]
        for r in diff["claims"]
        if r["status"] in ("only_a", "only_b") or (r["status"] == "changed" and not r["within"])
    ]


# --- text ---------------------------------------------------------------------------------------


def show(value) -> str:
    text = (
        f"{value:.6g}"
        if isinstance(value, float)
        else value
        if isinstance(value, str)
        else json.dumps(value)
    )
    return text if len(text) <= 48 else text[:45] + "..."


def claim_line(row: dict) -> str:
    diff, tol = row["difference"], row["tolerance"]
    delta = (
        "" if diff is None else (f"{diff:+d}" if isinstance(diff, int) else f"{diff:+.3g}") + ", "
    )
    where = "within" if row["within"] else "beyond"
    return (
        f"{row['name']}: {show(row['a'])} -> {show(row['b'])} ({delta}"
        f"{where} its tolerance, {f'{tol:g}' if tol else 'exact'})"
    )


def grouped(diff: dict, indent: str = "  ") -> list[str]:
    """The changed claims under the step each follows from, each step with its cause."""
    causes = {s["name"]: s["cause"] for s in diff["steps"]}
    changed = [r for r in diff["claims"] if r["status"] == "changed"]
    groups: dict[str, list[dict]] = {}
    for row in changed:
        groups.setdefault(row["step"] or section_of(row["name"]), []).append(row)
    lines = []
    order = {step: i for i, step in enumerate(causes)}
    for label, rows in sorted(groups.items(), key=lambda g: order.get(g[0], len(order))):
        if label in causes:
            lines.append(f"{indent}{label} ({causes[label]}):")
        else:
            steps = [s for s in causes if section_of(s) == label]
            lines.append(
                f"{indent}{label}, traced to no one step ("
                + (
                    f"several changed: {', '.join(steps)}"
                    if steps
                    else "no step of it changed: the claims' own code, or a file they read"
                )
                + "):"
            )
        lines += [f"{indent}  {claim_line(r)}" for r in rows]
    return lines


def as_text(diff: dict) -> str:
    lines = [f"summary: {diff['summary']}"]
    for name in ("a", "b"):
        info = diff[name]
        lines += [f"{name.upper()}: {info['folder']}: {info['source']}"] + [
            f"   {n}" for n in info["notes"]
        ]
    if any(r["status"] == "changed" for r in diff["claims"]):
        lines += ["claims that differ, by the step they follow from:"] + grouped(diff)
    for status, label, other in (("only_a", "A", "B"), ("only_b", "B", "A")):
        alone = [r for r in diff["claims"] if r["status"] == status]
        if alone:
            lines.append(f"claims only in {label}:")
        stated = {section_of(r["name"]) for r in diff["claims"] if r["status"] != status}
        for section in dict.fromkeys(section_of(r["name"]) for r in alone):
            mine = [r for r in alone if section_of(r["name"]) == section]
            lines += (
                [f"  {r['name']}: {show(r[label.lower()])}" for r in mine]
                if section in stated
                else [
                    f"  {section}: all {len(mine)} of its claims ({other} states none of {section})"
                ]
            )
    if diff["steps"]:
        lines.append("steps whose key or result differs (key in A -> key in B):")
        lines += [
            f"  {s['name']}: {s['a'] or '-'} -> {s['b'] or '-'}: {s['cause']}"
            for s in diff["steps"]
        ]
    equal = sum(r["status"] == "equal" for r in diff["claims"])
    return "\n".join(lines + [f"unchanged: {equal} claim(s) (each listed by --json)"])


# --- after each build ---------------------------------------------------------------------------


def snapshot(registry, runner, sections: list[str]) -> dict:
    """{section: {"profile", "steps", "claims"}} of this build, as claims.json keeps them."""
    out = {}
    for name in sections:
        steps = {
            o.name: {"key": o.key, "result": runner.cache.entry(o.name, o.key).result_digest()}
            for o in runner.outcomes.values()
            if section_of(o.name) == name
        }
        claims = {
            c.name: {"value": json_value(c.value), "tol": c.tol}
            for c in registry.claims.values()
            if section_of(c.name) == name and not c.name.endswith(WRITTEN)
        }
        out[name] = {"profile": runner.profile, "steps": steps, "claims": claims}
    return out


def valid(stored) -> bool:
    """Whether a claims file holds what `report_changes` writes."""
    try:
        sections = stored["sections"].values()
        return all(
            isinstance(s["key"], str) for v in sections for s in v["steps"].values()
        ) and all(
            "value" in c and isinstance(c["tol"], (int, float))
            for v in sections
            for c in v["claims"].values()
        )
    except (KeyError, TypeError, AttributeError):
        return False


def stored_side(folder: Path, cache: Cache, sections: dict, source: str) -> Side:
    return Side(
        folder,
        cache,
        {s: v for p in sections.values() for s, v in p["steps"].items()},
        {n: v for p in sections.values() for n, v in p["claims"].items()},
        source,
    )


def report_changes(registry, runner, computed: list[str], keep: bool = True) -> None:
    """Prints (to stderr) the claims of the computed sections whose value changed since the previous
    build in this folder, by the step they follow from; nothing when none did. With `keep`, this
    build's claims replace those sections' in <build>/claims.json, for the next build."""
    build_dir = runner.build_dir
    path = build_dir / FILE
    stored = read_json(path)
    previous = stored["sections"] if valid(stored) else {}
    if path.exists() and not valid(stored):
        print(
            f"{path}: damaged; the changes since the previous build cannot be shown; "
            f"it is written anew",
            file=sys.stderr,
        )
    now = snapshot(registry, runner, computed)
    both = [s for s in computed if s in previous]
    if both:
        diff = compare(
            stored_side(build_dir, runner.cache, {s: previous[s] for s in both}, "previous build"),
            stored_side(build_dir, runner.cache, {s: now[s] for s in both}, "this build"),
            reasons={o.name: o.reason for o in runner.outcomes.values() if not o.cached},
        )
        if any(r["status"] != "equal" for r in diff["claims"]):
            print(change_text(diff, build_dir), file=sys.stderr)
    merged = previous | now
    if keep and merged != previous:
        built = time.strftime("%Y-%m-%d %H:%M:%S")
        write_atomic(path, json.dumps({"built": built, "sections": merged}, indent=1))


def change_text(diff: dict, build_dir: Path) -> str:
    rows = diff["claims"]
    changed = [r for r in rows if r["status"] == "changed"]
    beyond = sum(not r["within"] for r in changed)
    lines = [
        f"claims changed since the previous build in {build_dir}: {len(changed)} of {len(rows)} "
        f"({beyond} beyond their tolerance)"
    ] + grouped(diff)
    for status, label in (("only_b", "new"), ("only_a", "no longer stated")):
        alone = [r["name"] for r in rows if r["status"] == status]
        if alone:
            lines.append(f"  {label}: {', '.join(alone)}")
    return "\n".join(lines)


# --- build.py --diff A B ------------------------------------------------------------------------


def choose_entries(cache: Cache) -> dict[str, dict]:
    """{step: manifest} of the entries a folder without a claims file is judged by: newest first (by
    the manifests' "finished"), each step's newest entry whose upstream keys agree with the entries
    already chosen, so that a step and the steps it read come from one computation."""
    found = []
    for entry in cache.entries():
        manifest = entry.manifest()
        if manifest is None or not isinstance(manifest.get("components"), dict):
            raise BuildError(f"{entry.path}: {DAMAGED.format('its manifest.json is unreadable')}")
        found.append(
            manifest | {"step": entry.step, "key": entry.key, "result": result_digest(manifest)}
        )
    chosen: dict[str, dict] = {}
    pinned: dict[str, str] = {}
    for m in sorted(found, key=lambda m: str(m.get("finished", "")), reverse=True):
        needs = m["components"].get("needs") or {}
        if m["step"] in chosen or pinned.get(m["step"], m["key"]) != m["key"]:
            continue
        if any(chosen.get(n, {}).get("key", pinned.get(n, k)) != k for n, k in needs.items()):
            continue
        chosen[m["step"]] = m
        pinned.update(needs)
    return dict(
        sorted(chosen.items(), key=lambda c: (section_of(c[0]), str(c[1].get("finished", ""))))
    )


def evaluated_side(folder: Path, cache: Cache, chosen: dict[str, dict]) -> Side:
    """A folder without a claims file: each section's claims evaluated on the chosen entries."""
    steps = {s: {"key": m["key"], "result": m["result"]} for s, m in chosen.items()}
    side = Side(
        folder,
        cache,
        steps,
        {},
        "no claims file: the claims evaluated on the newest entry of each "
        "step that fits the entries chosen (newest first); the entries:",
        [
            f"{s} {m['key']} (finished {m.get('finished', 'at a time not recorded')})"
            for s, m in chosen.items()
        ],
    )
    sections = discover()
    for section in dict.fromkeys(map(section_of, steps)):
        if section not in sections:
            side.notes.append(
                f"{section}: no such section in this project; its entries are not read"
            )
            continue
        results = side.results(section)
        try:
            side.claims.update(evaluate(section, results)[0])
        except FAILED as error:
            side.notes.append(
                f"{section}: its claims cannot be evaluated on these entries "
                f"({type(error).__name__}: {error})"
            )
    return side


def read_folder(folder: Path, digests: DigestMemo) -> Side:
    """A build folder (its claims.json, or its cache when it has none) or a folder that --push
    wrote."""
    if not folder.is_dir():
        what = "not a folder" if folder.exists() else "no such folder"
        raise BuildError(
            f"{folder}: {what}; --diff compares two build folders (--build-dir) or folders "
            f"written by --push"
        )
    path = folder / FILE
    if path.exists():
        stored = read_json(path)
        if not valid(stored):
            raise BuildError(
                f"{path}: damaged (not the claims file a build writes); delete it, and build "
                f"again in {folder} to write it anew"
            )
        profiles = sorted({v.get("profile", "?") for v in stored["sections"].values()})
        return stored_side(
            folder,
            Cache.of(folder, digests),
            stored["sections"],
            f"the claims of its last build ({stored.get('built', 'time not recorded')}, "
            f"profile {', '.join(profiles)})",
        )
    cache = Cache.of(folder, digests)
    chosen = choose_entries(cache)
    if not chosen:
        what = (
            "an empty folder"
            if not any(folder.iterdir())
            else "a build folder whose cache holds no results"
            if cache.root != folder
            else "neither a build folder (no claims.json, no cache/) nor a folder written by "
            "--push (no <step>/<key>/manifest.json)"
        )
        raise BuildError(
            f"{folder}: {what}; --diff compares two build folders or folders written by --push"
        )
    return evaluated_side(folder, cache, chosen)


def compare_folders(a: Path, b: Path, as_json: bool = False, fail_on_change: bool = False) -> int:
    """build.py --diff A B: prints the difference (text or JSON); with `fail_on_change`, returns 1
    when a claim differs beyond its tolerance or is stated in one build only."""
    with tempfile.TemporaryDirectory() as tmp:
        digests = DigestMemo(Path(tmp) / "digests.json")  # the folders compared are only read
        diff = compare(read_folder(a, digests), read_folder(b, digests))
    print(json.dumps(diff, indent=1) if as_json else as_text(diff))
    bad = failing(diff)
    if fail_on_change and bad:
        print(
            f"--fail-on-change: {len(bad)} claim(s) differ beyond their tolerance or are stated in "
            f"one build only: {', '.join(bad[:8])}" + (", ..." if len(bad) > 8 else ""),
            file=sys.stderr,
        )
        return 1
    return 0
