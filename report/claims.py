"""The registry of claims: every formula or number the text states, with its verification.

A claim pairs the value the text states with the same quantity derived another way (an
independent count, a recomputation from the raw per-epoch logs, a closed form). `build.py --check`
fails when a template uses a claim that is not defined, when a defined claim is never used, or when
a value disagrees with its verification.
"""
from __future__ import annotations

import functools
import json
import math
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sympy


class ClaimError(Exception):
    """A claim is undefined, unused or fails its verification."""


@dataclass(frozen=True)
class Claim:
    """name: "<section>.<what>"; value: what the text states; expected: derived independently.

    Values may be SymPy expressions (equal when their difference simplifies to 0), exact integers,
    booleans or strings (equal), or floats (equal within `tol`, absolute).
    """

    name: str
    value: Any
    expected: Any
    tol: float = 0.0

    def failure(self) -> str | None:
        """Why the claim does not hold, or None when it does."""
        v, e = self.value, self.expected
        if isinstance(v, sympy.Basic) or isinstance(e, sympy.Basic):
            ok = _sympy_equal(sympy.sympify(v), sympy.sympify(e))
        elif isinstance(v, float) or isinstance(e, float):
            ok = (isinstance(v, (int, float)) and isinstance(e, (int, float))
                  and math.isfinite(v) and abs(v - e) <= self.tol)
        else:
            ok = type(v) is type(e) and v == e
        return None if ok else f"{self.name}: states {v!r} but verification gives {e!r}" + (
            f" (tolerance {self.tol})" if self.tol else "")


def declared(result) -> dict:
    """{"params": ..., "seed": ...} a step was declared with (what its cache key is made of), from the
    manifest the runner wrote beside the result: settings the text states are checked against them."""
    return _declared(str(Path(result.dir).parent / "manifest.json"))


@functools.lru_cache(maxsize=256)
def _declared(path: str) -> dict:
    """Read once per entry: an entry's folder is named by its key, so its manifest never changes."""
    if not Path(path).is_file():
        raise ClaimError(f"{path}: no manifest beside this result, so its stated settings cannot be "
                         f"checked; rebuild the step (python build.py --force --section ...)")
    components = json.loads(Path(path).read_text())["components"]
    return {"params": components["params"], "seed": components["seed"]}


@functools.lru_cache(maxsize=4096)
def _sympy_equal(a: sympy.Basic, b: sympy.Basic) -> bool:
    if isinstance(a, sympy.Expr) and isinstance(b, sympy.Expr):
        return sympy.simplify(sympy.combsimp((a - b).doit())) == 0
    return bool(a == b)


@functools.lru_cache(maxsize=256)  # the same source parses to the same expression; --watch rebuilds often
def parse_written_math(source: str, seconds: float = 5.0) -> sympy.Expr:
    """Hand-written LaTeX maths back into SymPy (lark backend), with a time limit; an ambiguous or
    non-expression parse is refused rather than guessed."""
    from sympy.parsing.latex import parse_latex

    def too_slow(*_):
        raise ClaimError(f"parsing the hand-written maths {source!r} took over {seconds} s")

    previous = signal.signal(signal.SIGALRM, too_slow)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        parsed = parse_latex(source, backend="lark")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    if not isinstance(parsed, sympy.Expr):
        raise ClaimError(f"the hand-written maths {source!r} does not parse to one expression "
                         f"(got {type(parsed).__name__}); write it without ambiguity")
    return parsed


class ClaimRegistry:
    """Claims by name; records which ones the templates used."""

    def __init__(self, claims: list[Claim] = ()):
        self.claims: dict[str, Claim] = {}
        self.used: set[str] = set()
        self.undefined: set[str] = set()
        self.add(claims)

    def add(self, claims) -> None:
        for claim in claims:
            if claim.name in self.claims:
                raise ClaimError(f"claim {claim.name!r} is defined twice")
            self.claims[claim.name] = claim

    def value(self, name: str) -> Any:
        """What a template calls: the stated value of a defined claim."""
        if name not in self.claims:
            self.undefined.add(name)
            raise ClaimError(f"the template uses claim {name!r}, which no section defines")
        self.used.add(name)
        return self.claims[name].value

    def written(self, source: str, name: str) -> str:
        """Hand-written LaTeX that states claim `name` again: parsed back, then checked as a claim."""
        value = self.value(name)
        parsed = parse_written_math(source)
        ours = {s.name: s for s in sympy.sympify(value).free_symbols}
        parsed = parsed.subs({s: ours.get(s.name, s) for s in parsed.free_symbols})
        check = Claim(f"{name}.written", parsed, value)
        self.claims.setdefault(check.name, check)
        self.used.add(check.name)
        return source

    def problems(self, sections: set[str] | None = None) -> list[str]:
        """Everything wrong with the claims of the given sections (all when None)."""
        def mine(name: str) -> bool:
            return sections is None or name.split(".", 1)[0] in sections

        out = [f"{n}: used in a template but not defined" for n in sorted(self.undefined) if mine(n)]
        out += [f"{n}: defined but never used in a template"
                for n in sorted(set(self.claims) - self.used) if mine(n)]
        failures = (c.failure() for n, c in sorted(self.claims.items()) if mine(n))
        return out + [f for f in failures if f]
