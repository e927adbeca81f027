"""The mutation check: every stored value that reaches a section's text or figures is corrupted,
one at a time, and the section's claims must then fail.

A value reaches the text when corrupting it changes the rendered LaTeX; the smallest corruption
that does (an integer off by one, a float scaled by 1 + 1e-4, then 1 + 1e-2, then 1.5, a flipped
boolean, a formula with one integer changed, a list of numbers with one entry removed) is the one
checked. A value reaches a figure when it is part of what a figure step stored as drawn
(compute/plotted.py) or of the stored results it drew from (the record's `sources`); any change of
it changes the figure, so its smallest corruption is checked, and text and figure values are counted
apart. Values a section declares as measured (wall-clock times, which nothing can derive a second
time) are counted apart too. Values at the same place of a repeated structure that reach no figure
are first corrupted together, so that large results (stored predictions, per-epoch matrices) that
never reach the text cost one rendering, not one each.
"""

from __future__ import annotations

import copy
import fnmatch
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Iterator

from compute.engine.step import Result
from report.claims import ClaimError, ClaimRegistry
from report.proofs import Proofs
from report.render import Tex, make_environment
from report.sections import Section, discover

FLOAT_STEPS = (1e-4, 1e-2, 0.5)
SREPR = re.compile(r"^[A-Z][A-Za-z]*\(")  # a SymPy srepr, e.g. Add(Integer(1), Symbol('D'))
GROUP = 2  # leaves of one shape beyond this many are first corrupted together (see `candidates`)
REMOVED = " (one entry removed)"  # how a list with an entry removed is named
DRAWN_ONLY = ".drawn"  # the claims that compare a figure with the stored values it drew


@dataclass
class Outcome:
    """Per section: the values whose corruption a claim caught, those it did not, the measured ones,
    and those whose corruption made the section stop with an error before any claim was checked;
    `figure` names the values that reach a figure and not the text, `drawn_only` those of them that
    only the comparison of a figure with the stored values it drew caught."""

    section: str
    caught: list[str] = field(default_factory=list)
    slipped: list[str] = field(default_factory=list)
    measured: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    figure: set[str] = field(default_factory=set)
    drawn_only: list[str] = field(default_factory=list)

    @property
    def fraction(self) -> float:
        checked = len(self.caught) + len(self.slipped)
        return len(self.caught) / checked if checked else 1.0

    def counts(self, figure: bool) -> tuple[int, int, int]:
        """(caught, checked, measured) among the figure values, or among the text values."""

        def mine(names):
            return [n for n in names if (n in self.figure) == figure]

        caught = len(mine(self.caught))
        return caught, caught + len(mine(self.slipped)), len(mine(self.measured))

    def line(self) -> str:
        def part(figure: bool) -> str:
            caught, checked, measured = self.counts(figure)
            share = 100 * caught / checked if checked else 100.0
            return f"{caught} of {checked} caught ({share:.1f} %), {measured} measured"

        return (
            f"{self.section}: {len(self.caught)} of {len(self.caught) + len(self.slipped)} "
            "corrupted values "
            f"caught by a claim ({100 * self.fraction:.1f} %); text: {part(False)}; "
            f"figures: {part(True)}, {len(self.drawn_only)} of them only by a figure's comparison "
            f"with its stored data; "
            f"{len(self.errors)} corruption(s) stopped the section with an error"
        )


@lru_cache(maxsize=None)
def section_plugin(name: str) -> Section:
    return discover()[name]


_ENVIRONMENT: list = []


def render_section(name: str, results: dict) -> tuple[str | None, list[str]]:
    """The section's LaTeX (figures named, not copied) and the problems of its claims. The text is
    empty when the claims check stops the rendering (a claim the template asks for is not defined),
    None when anything else does (the problem names the error)."""
    if not _ENVIRONMENT:  # one environment, so that each template is compiled once
        _ENVIRONMENT.append(make_environment())
    env, section = _ENVIRONMENT[0], section_plugin(name)
    try:
        registry = ClaimRegistry(section.claims(results))
        env.globals.update(Proofs(registry, lambda step, file: Tex(f"{step}/{file}")).globals())
        text = env.get_template(section.template).render(**section.context(results))
    except ClaimError as error:  # the claims check itself stopped the rendering
        return "", [str(error)]
    except (KeyError, IndexError, TypeError, ValueError, ZeroDivisionError, StopIteration) as error:
        return None, [f"{type(error).__name__}: {error}"]
    return text, registry.problems({name})


def leaves(data: Any, path: tuple = ()) -> Iterator[tuple[tuple, Any]]:
    """(path, value) of every value a corruption applies to: numbers, booleans and SymPy
    formulas."""
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
    if isinstance(value, list):
        return [value[: len(value) // 2] + value[len(value) // 2 + 1 :]]
    changed = re.sub(
        r"Integer\((-?\d+)\)", lambda m: f"Integer({int(m.group(1)) + 1})", value, count=1
    )
    return [changed] if changed != value else []


def lists(data: Any, path: tuple = ()) -> Iterator[tuple[tuple, list]]:
    """(path, list) of every non-empty list of numbers: a recorded series, a row of a matrix."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield from lists(value, path + (key,))
    elif isinstance(data, list):
        if data and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in data):
            yield path, data
        for i, value in enumerate(data):
            yield from lists(value, path + (i,))


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
    return any(fnmatch.fnmatchcase(name.removesuffix(REMOVED), p) for p in patterns)


def drawn_sources(section: str, results: dict) -> tuple[str, ...]:
    """Patterns of the values that reach a figure: what each figure step stored as drawn, and the
    stored results it drew from (each record's `sources`)."""
    found = []
    for step, result in results.items():
        if step.split(".", 1)[0] == section and isinstance(result.data.get("plotted"), dict):
            found.append(f"{step}:plotted")
            found += [
                source
                for record in result.data["plotted"].values()
                for source in record.get("sources", ())
            ]
    return tuple(found)


def is_drawn(name: str, sources: tuple[str, ...]) -> bool:
    name = name.removesuffix(REMOVED)
    return any(fnmatch.fnmatchcase(name, p) or fnmatch.fnmatchcase(name, p + ".*") for p in sources)


def _candidates(
    step: str, data: dict, original: str, section: str, results: dict, sources: tuple[str, ...]
) -> Iterator[tuple]:
    """(path, value, name) of the values and lists worth trying. Those that reach no figure are
    grouped by their place in repeated structures (every run's validation matrices, every entry of a
    curve) and first corrupted all at once, by the smallest and by the largest corruption; when
    neither changes the text, none is tried alone."""
    by_shape: dict[tuple, list] = {}
    found = [(p, v, dotted(step, p)) for p, v in leaves(data)]
    found += [(p, v, dotted(step, p) + REMOVED) for p, v in lists(data)]
    for path, value, name in found:
        if is_drawn(name, sources):
            yield path, value, name
            continue
        shape = tuple("*" if isinstance(p, int) else p for p in path) + (REMOVED,) * name.endswith(
            REMOVED
        )
        by_shape.setdefault(shape, []).append((path, value, name))
    for items in by_shape.values():
        if len(items) > GROUP:
            smallest = {p: c[0] for p, v, _ in items if (c := corruptions(v))}
            largest = {p: c[-1] for p, v, _ in items if (c := corruptions(v))}
            if all(
                render_section(section, replaced(results, step, whole))[0] == original
                for whole in (smallest, largest)
            ):
                continue
        yield from items


def check_section(section: str, results: dict) -> Outcome:
    """Corrupts every value of the section's stored results that reaches its text or figures, one
    at a time (see the module)."""
    measured = tuple(section_plugin(section).measured)
    original, problems = render_section(section, results)
    if original is None or problems:
        raise ClaimError(f"{section}: the claims fail before any corruption: {problems}")
    outcome, sources = Outcome(section), drawn_sources(section, results)
    for step in sorted(s for s in results if s.split(".", 1)[0] == section):
        for path, value, name in _candidates(
            step, results[step].data, original, section, results, sources
        ):
            verdict = _verdict(section, results, step, path, value, original)
            if verdict is None:
                continue
            problems, reaches_text = verdict
            if problems is None:
                outcome.errors.append(name)
                continue
            if not reaches_text:
                if not is_drawn(name, sources):
                    continue
                outcome.figure.add(name)
                if problems and all(p.split(":", 1)[0].endswith(DRAWN_ONLY) for p in problems):
                    outcome.drawn_only.append(name)
            if is_measured(name, measured):
                outcome.measured.append(name)
            else:
                (outcome.caught if problems else outcome.slipped).append(name)
    return outcome


def _verdict(section: str, results: dict, step: str, path: tuple, value, original: str):
    """(the claims' problems, whether the text changed) of the smallest corruption that changes the
    text, else of the smallest one; problems is None when the corruption stopped the section with an
    error; None when there is nothing to corrupt."""
    first = None
    for bad in corruptions(value):
        text, problems = render_section(section, replaced(results, step, {path: bad}))
        if text is None:
            return None, True
        if text != original:
            return problems, True
        first = first or (problems, False)
    return first


def measured_values(sections: list[str]) -> list[tuple[str, str]]:
    """(pattern, what it is) of every declared measured value, for the report's appendix."""
    return [
        (pattern, text) for s in sections for pattern, text in section_plugin(s).measured.items()
    ]
