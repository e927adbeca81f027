"""The section plug-in contract: what a question of the report provides, and how the build finds it.

A section is one module `report/sections/<name>.py` that defines `SECTION = Section(...)`; the
build imports every module of this package whose name does not start with `_`, and orders the
sections by name. Nothing else lists them: the command line's choices and help text, the
placeholder pages and the README's section list (`python -m report.sections --readme`) are all
made from the discovered sections.

A section provides:
- compute: `profiles` (its settings for each profile of compute/engine/profiles.py, declared with
  `compute.engine.profiles.derive`, in the one shape that module describes: a group per step that
  takes parameters, named by the step's last name part and holding exactly its parameters, and at
  the top level the seed and where the data comes from) and `steps(profile, options) -> [Step]`,
  the cached steps that compute its results (compute/engine/step.py says what a step declares).
  `options` holds the dataset paths and device of the command line; `options["download_missing"]`
  is set only when the section is being computed. A missing dataset raises
  `compute.engine.step.DataError`.
- report: `claims(results) -> [Claim]`, each stated number with its independent verification
  (report/claims.py), and `context(results) -> dict`, the variables of its template; `results`
  maps each step name to its `Result`.
- template: `templates/<name>.tex.j2` (or `template=`), rendered into `<name>.tex` and input by
  main.tex.j2; it states numbers through `claim('<name>.…')` and figures through
  `fig('<step>', '<file>')`.
- optional: `check_data(profile, options) -> [lines]` for `--check-data`,
  `download(options)` for `--download`, `data_options`, the `DataOption`s of its datasets (name,
  help, environment variable, the profiles that read it): build.py adds each to the command line
  and its help, and the option under another profile is an error naming these; and `measured`,
  {result path pattern: what it is} of the values only measured (wall-clock times), which no
  claim can derive again: the mutation check
  (report/mutate.py) counts them apart and the appendix lists them; `proofs`, {claim name pattern:
  (the step whose stored value the claim states, how the claim re-derives it in one line)}, for the
  appendix of proofs (report/proofs.py; a test checks that every claim has one); and
  `compare(results) -> [(what, value, (low, high), inside)]`, this build's results next to their
  published ranges, empty unless the data is the real one: `--check` warns for each outside.
  Beside the section, in compute/<name>/plan.py, `PROJECTIONS` project the cost of the steps the
  data scales for `build.py --plan` and the preflight of a build (compute/engine/plan.py).

Claim names and step names start with the section's name and a dot.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from dataclasses import dataclass, field
from typing import Callable

from compute.engine.errors import BuildError
from compute.engine.profiles import PROFILES

NAME = re.compile(r"[a-z][a-z0-9]*")


class SectionError(BuildError):
    """A section module breaks the contract; the message names the module and the fix."""


@dataclass(frozen=True)
class DataOption:
    """A command-line option naming where a section's dataset lies (e.g. --ljspeech PATH); build.py
    adds it, and lists it in --help, from the section that declares it."""

    name: str  # the option without its dashes, e.g. "ljspeech"; a key of `options` in steps()
    help: str  # what it names, e.g. "the LJSpeech-1.1 folder"
    variable: str  # the environment variable read when the option is not given
    profiles: tuple[str, ...]  # the profiles that read the dataset; under any other it is an error
    dataset: str = ""  # the dataset's name in the help, e.g. "LJ Speech"


@dataclass(frozen=True)
class Section:
    name: str  # the module's name; prefixes its steps and claims, e.g. "q2"
    title: str  # the section heading, also on its placeholder page
    summary: str  # one line for --help and the README
    profiles: dict  # {profile: settings}, every profile of compute/engine/profiles.py
    steps: Callable  # (profile, options) -> list[Step]
    claims: Callable  # (results) -> list[Claim]
    context: Callable  # (results) -> dict of template variables
    template: str = ""  # default: "<name>.tex.j2"
    check_data: Callable | None = None  # (profile, options) -> list[str]
    download: Callable | None = None  # (options) -> where the data is
    data_options: tuple[DataOption, ...] = ()  # the dataset paths the command line takes
    # {"<step>:<path pattern>": what the measured value is}
    measured: dict = field(default_factory=dict)
    # {claim name pattern: (step it reads, how it is re-derived)}
    proofs: dict = field(default_factory=dict)
    compare: Callable | None = None  # (results) -> [(what, value, (low, high), inside)]

    def __post_init__(self):
        if not NAME.fullmatch(self.name):
            raise SectionError(
                f"section name {self.name!r}: use lower-case letters and digits, e.g. 'q4'"
            )
        if set(self.profiles) != set(PROFILES):
            raise SectionError(
                f"section {self.name}: profiles {sorted(self.profiles)} must be exactly "
                f"{sorted(PROFILES)}; declare them with compute.engine.profiles.derive"
            )
        if not self.template:
            object.__setattr__(self, "template", f"{self.name}.tex.j2")


def discover() -> dict[str, Section]:
    """{name: Section} for every section module of this package, ordered by name."""
    found = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        section = getattr(module, "SECTION", None)
        if not isinstance(section, Section):
            raise SectionError(
                f"{module.__file__}: a section module defines SECTION = Section(...) "
                f"(see report/sections/__init__.py); rename helpers to start with '_'"
            )
        if section.name != info.name:
            raise SectionError(
                f"{module.__file__}: SECTION.name is {section.name!r}; it must be the "
                f"module's name, {info.name!r}"
            )
        found[section.name] = section
    return found


def markdown_list(sections: dict[str, Section]) -> str:
    """The README's section list."""
    return "\n".join(f"- `{s.name}` {s.title}: {s.summary}" for s in sections.values()) + "\n"


README_START, README_END = (
    "<!-- sections: made by python -m report.sections --readme -->",
    "<!-- /sections -->",
)


def readme_with_sections(text: str, sections: dict[str, Section]) -> str:
    """The README text with the block between the section markers replaced by the current list."""
    start, end = text.index(README_START) + len(README_START), text.index(README_END)
    return text[:start] + "\n" + markdown_list(sections) + text[end:]
