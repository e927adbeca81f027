"""The mutation check: every stored value that reaches a section's text is corrupted, one at a time,
and the section's claims must then fail.

A value reaches the text when corrupting it changes the rendered LaTeX; the smallest corruption
that does (an integer off by one, a float moved by a relative 1e-4, then 1e-2, then 50 %, a
flipped boolean, a formula with one integer changed) is the one checked. Values a section declares
as measured (wall-clock times, which nothing can derive a second time) are counted apart. Values at
the same place of a repeated structure are first corrupted together, so that large results (stored
predictions, per-epoch matrices) that never reach the text cost one rendering, not one each.
"""
from __future__ import annotations

import copy
import fnmatch
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Iterator

from compute.step import Result
from report.claims import ClaimError, ClaimRegistry
from report.render import Tex, make_environment
from report.sections import Section, discover

FLOAT_STEPS = (1e-4, 1e-2, 0.5)
SREPR = re.compile(r"^[A-Z][A-Za-z]*\(")  # a SymPy srepr, e.g. Add(Integer(1), Symbol('D'))
GROUP = 2  # leaves of one shape beyond this many are first corrupted together (see `candidates`)


@dataclass
class Outcome:
    """Per section: the values whose corruption a claim caught, those it did not, the measured ones,
    and those whose corruption made the section stop with an error before any claim was checked."""

    section: str
    caught: list[str] = field(default_factory=list)
    slipped: list[str] = field(default_factory=list)
    measured: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def fraction(self) -> float:
        checked = len(self.caught) + len(self.slipped)
        return len(self.caught) / checked if checked else 1.0

    def line(self) -> str:
        return (f"{self.section}: {len(self.caught)} of {len(self.caught) + len(self.slipped)} corrupted values "
                f"caught by a claim ({100 * self.fraction:.1f} %); {len(self.measured)} measured value(s) "
                f"not checked; {len(self.errors)} corruption(s) stopped the section with an error")


@lru_cache(maxsize=None)
def section_plugin(name: str) -> Section:
    return discover()[name]


class _Renderer:
    """One Jinja environment, so each template is compiled once, rendering against any registry."""

    def __init__(self):
        self.registry = ClaimRegistry()
        self.env = make_environment({
            "claim": lambda name: self.registry.value(name),
            "fig": lambda step, file: Tex(f"{step}/{file}"),
            "written": lambda source, name: Tex(self.registry.written(source, name))})


_RENDERER: list[_Renderer] = []


def render_section(name: str, results: dict) -> tuple[str | None, list[str]]:
    """The section's LaTeX (figures named, not copied) and the problems of its claims. The text is
    empty when the claims check stops the rendering (a claim the template asks for is not defined),
    None when anything else does (the problem names the error)."""
    if not _RENDERER:
        _RENDERER.append(_Renderer())
    renderer, section = _RENDERER[0], section_plugin(name)
    try:
        renderer.registry = ClaimRegistry(section.claims(results))
        text = renderer.env.get_template(section.template).render(**section.context(results))
    except ClaimError as error:  # the claims check itself stopped the rendering
        return "", [str(error)]
    except (KeyError, IndexError, TypeError, ValueError, ZeroDivisionError, StopIteration) as error:
        return None, [f"{type(error).__name__}: {error}"]
    return text, renderer.registry.problems({name})


def leaves(data: Any, path: tuple = ()) -> Iterator[tuple[tuple, Any]]:
    """(path, value) of every value a corruption applies to: numbers, booleans and SymPy formulas."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield from leaves(value, path + (key,))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from leaves(value, path + (i,))
    elif isinstance(data, (bool, int, float)) or (isinstance(data, str) and SREPR.match(data)):
        yield path, data


def corruptions(value: Any) -> list[Any]:
    """The corrupted values to try, smallest first."""
    if isinstance(value, bool):
        return [not value]
    if isinstance(value, int):
        return [value + 1]
    if isinstance(value, float):
        return [value * (1 + s) if value else s for s in FLOAT_STEPS]
    changed = re.sub(r"Integer\((-?\d+)\)", lambda m: f"Integer({int(m.group(1)) + 1})", value, count=1)
    return [changed] if changed != value else []


def replaced(results: dict, step: str, changes: dict[tuple, Any]) -> dict:
    """A copy of `results` in which step's data has each path set to its new value."""
    data = copy.deepcopy(results[step].data)
    for path, value in changes.items():
        node = data
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return results | {step: Result(data, results[step].dir)}


def dotted(step: str, path: tuple) -> str:
    return f"{step}:" + ".".join(str(p) for p in path)


def is_measured(name: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def candidates(step: str, data: dict, original: str, section: str, results: dict) -> Iterator[tuple]:
    """(path, value) of the leaves worth trying. Leaves at the same place in repeated structures
    (every run's validation matrices, every entry of a curve) are first corrupted all at once, by
    the smallest and by the largest corruption; when neither changes the text, none is tried alone."""
    by_shape: dict[tuple, list] = {}
    for path, value in leaves(data):
        by_shape.setdefault(tuple("*" if isinstance(p, int) else p for p in path), []).append((path, value))
    for items in by_shape.values():
        if len(items) > GROUP:
            smallest = {p: c[0] for p, v in items if (c := corruptions(v))}
            largest = {p: c[-1] for p, v in items if (c := corruptions(v))}
            if all(render_section(section, replaced(results, step, whole))[0] == original
                   for whole in (smallest, largest)):
                continue
        yield from items


def check_section(section: str, results: dict) -> Outcome:
    """Corrupts every value of the section's stored results, one at a time (see the module)."""
    measured = section_plugin(section).measured
    original, problems = render_section(section, results)
    if original is None or problems:
        raise ClaimError(f"{section}: the claims fail before any corruption: {problems}")
    outcome = Outcome(section)
    steps = sorted(s for s in results if s.split(".", 1)[0] == section)
    for step in steps:
        for path, value in candidates(step, results[step].data, original, section, results):
            name = dotted(step, path)
            for bad in corruptions(value):
                text, problems = render_section(section, replaced(results, step, {path: bad}))
                if text is None:
                    outcome.errors.append(f"{name} ({problems[0]})")
                    break
                if text == original:
                    continue
                if is_measured(name, tuple(measured)):
                    outcome.measured.append(name)
                else:
                    (outcome.caught if problems else outcome.slipped).append(name)
                break
    return outcome


def measured_values(sections: list[str]) -> list[tuple[str, str]]:
    """(pattern, what it is) of every declared measured value, for the report's appendix."""
    return [(pattern, text) for s in sections for pattern, text in section_plugin(s).measured.items()]
