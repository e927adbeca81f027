"""The registry of claims: every formula or number the text states, with its verification.

A claim pairs the value the text states with the same quantity derived another way (an
independent count, a recomputation from the raw per-epoch logs, a closed form). `build.py --check`
fails when a template uses a claim that is not defined, when a defined claim is never used, or when
a value disagrees with its verification.
"""

from __future__ import annotations

import functools
import math
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sympy

from compute.engine.cache import Entry, entry_of
from compute.engine.errors import BuildError
from compute.engine.files import ROOT
from report.links import linked

# the suffix of a claim's hand-written restatement (ClaimRegistry.written): checked against the
# claim, not a value of its own
WRITTEN = ".written"
HELPERS = {__file__}  # modules that build claims for their callers: a claim's `where` is the caller


class ClaimError(BuildError):
    """A claim is undefined, unused or fails its verification."""


@dataclass(frozen=True)
class Claim:
    """name: "<section>.<what>"; value: what the text states; expected: derived independently.

    Values may be SymPy expressions (equal when their difference simplifies to 0), exact integers,
    booleans or strings (equal), floats (equal within `tol`, absolute), or lists, tuples and dicts
    of these (equal entry by entry; a failure names the first entry that differs).
    `where` is the file:line that made the claim, found by itself; the appendix of proofs shows it.
    """

    name: str
    value: Any
    expected: Any
    tol: float = 0.0
    where: str = ""
    # floats also agree within rtol times the expected value (values of many scales)
    rtol: float = 0.0

    def __post_init__(self):
        if not self.where:
            object.__setattr__(self, "where", _caller())

    def failure(self) -> str | None:
        """Why the claim does not hold, or None when it does."""
        v, e = self.value, self.expected
        first = _difference(v, e, self.tol, self.rtol)
        if first is None:
            return None
        at, a, b = first
        where = (
            f" (first difference at {at}: {_short(a, 60)} against {_short(b, 60)})" if at else ""
        )
        tolerance = (f" (tolerance {self.tol})" if self.tol else "") + (
            f" (relative tolerance {self.rtol})" if self.rtol else ""
        )
        return (
            f"{self.name}: states {_short(v)} but verification gives {_short(e)}"
            + where
            + tolerance
        )


def _caller() -> str:
    """project file:line of the code that made a claim (the first frame outside this module)."""
    frame = sys._getframe(2)
    while frame is not None and frame.f_code.co_filename in HELPERS | {"<string>"}:
        frame = frame.f_back  # "<string>": the dataclass's generated __init__
    if frame is None:
        return ""
    path = Path(frame.f_code.co_filename)
    return f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name}:{frame.f_lineno}"


def plain(value):
    """NumPy scalars and arrays (anything with `tolist` but a SymPy matrix) as the Python numbers,
    booleans and lists they hold, inside lists, tuples and dicts too; every other value as it is.
    A claim compares and prints its values so: np.int64(3) states 3, as 3 does."""
    if hasattr(value, "tolist") and not isinstance(value, sympy.MatrixBase):
        return plain(value.tolist())
    if isinstance(value, (list, tuple)):
        return (list if isinstance(value, list) else tuple)(plain(v) for v in value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def _short(value, limit: int = 200) -> str:
    text = repr(plain(value))  # 0.34, not np.float64(0.34)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"


def _difference(v, e, tol: float, rtol: float = 0.0, at: str = "") -> tuple[str, Any, Any] | None:
    """None when v and e agree, else (where, what v has there, what e has there); where is "" for
    single values. NumPy values are compared as plain() gives them: an integer and a boolean, or a
    tuple and a list, still differ."""
    v, e = plain(v), plain(e)
    if isinstance(v, sympy.Basic) or isinstance(e, sympy.Basic):
        return None if _sympy_equal(sympy.sympify(v), sympy.sympify(e)) else (at, v, e)
    if isinstance(v, float) or isinstance(e, float):
        numbers = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (v, e))
        return (
            None
            if numbers and math.isfinite(v) and abs(v - e) <= tol + rtol * abs(e)
            else (at, v, e)
        )
    if isinstance(v, (list, tuple, dict)) and type(v) is type(e):
        if len(v) != len(e) or (isinstance(v, dict) and v.keys() != e.keys()):
            return at + " (the number of entries)", len(v), len(e)
        for key in v.keys() if isinstance(v, dict) else range(len(v)):
            if (first := _difference(v[key], e[key], tol, rtol, f"{at}[{key!r}]")) is not None:
                return first
        return None
    return None if type(v) is type(e) and v == e else (at, v, e)


def declared(result) -> dict:
    """{"params": ..., "seed": ...} a step was declared with (what its cache key is made of),
    from the manifest the runner wrote beside the result: settings the text states are checked
    against them."""
    return _declared(entry_of(result))


@functools.lru_cache(maxsize=256)
def _declared(entry: Entry) -> dict:
    """Read once per entry: an entry's folder is named by its key, so its manifest never changes."""
    manifest = entry.manifest()
    if manifest is None:
        raise ClaimError(
            f"{entry.path}: no manifest beside this result, so its stated settings cannot be "
            f"checked; rebuild the step (python build.py --force --section ...)"
        )
    components = manifest["components"]
    return {"params": components["params"], "seed": components["seed"]}


@functools.lru_cache(maxsize=4096)
def _sympy_equal(a: sympy.Basic, b: sympy.Basic) -> bool:
    if isinstance(a, sympy.Expr) and isinstance(b, sympy.Expr):
        return sympy.simplify(sympy.combsimp((a - b).doit())) == 0
    return bool(a == b)


# the same source parses to the same expression; --watch rebuilds often
@functools.lru_cache(maxsize=256)
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
        raise ClaimError(
            f"the hand-written maths {source!r} does not parse to one expression "
            f"(got {type(parsed).__name__}); write it without ambiguity"
        )
    return parsed


class ClaimRegistry:
    """Claims by name; records which ones the templates used."""

    def __init__(self, claims: list[Claim] = ()):
        self.claims: dict[str, Claim] = {}
        self.used: dict[str, None] = {}  # in the order the text first uses them
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
        self.used.setdefault(name)
        return self.claims[name].value

    def stated(self, name: str) -> Any:
        """What the template's `claim(name)` gives: the value, each number of it carrying a link to
        the claim's entry in the appendix of proofs (report/links.py)."""
        return linked(self.value(name), ("claim", name))

    def figure(self, prefix: str, file: str) -> None:
        """A template includes a figure: the checks of its drawn data, the claims named
        `prefix`.* (report/figures.prefix), count as used."""
        found = [n for n in self.claims if n.startswith(prefix + ".")]
        if not found:
            raise ClaimError(
                f"figure {file} of {prefix.split('.', 1)[0]} has no checks of its drawn data "
                f"(claims named {prefix}.*); add them to the section's claims (report/figures.py)"
            )
        for name in found:
            self.used.setdefault(name)

    def written(self, source: str, name: str) -> str:
        """Hand-written LaTeX stating claim `name` again: parsed back, then checked as a claim."""
        value = self.value(name)
        parsed = parse_written_math(source)
        ours = {s.name: s for s in sympy.sympify(value).free_symbols}
        parsed = parsed.subs({s: ours.get(s.name, s) for s in parsed.free_symbols})
        check = Claim(name + WRITTEN, parsed, value, where=self.claims[name].where)
        self.claims.setdefault(check.name, check)
        self.used.setdefault(check.name)
        return source

    def problems(self, sections: set[str] | None = None) -> list[str]:
        """Everything wrong with the claims of the given sections (all when None)."""

        def mine(name: str) -> bool:
            return sections is None or name.split(".", 1)[0] in sections

        out = [
            f"{n}: used in a template but not defined" for n in sorted(self.undefined) if mine(n)
        ]
        out += [
            f"{n}: defined but never used in a template"
            for n in sorted(self.claims.keys() - self.used.keys())
            if mine(n)
        ]
        failures = (c.failure() for n, c in sorted(self.claims.items()) if mine(n))
        return out + [f for f in failures if f]
