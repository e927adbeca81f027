"""`python -m report.sections new q4 "Title"`: writes a new question that builds and checks.

The scaffold is a working section, not a template to fill before it runs: its settings for every
profile, one cached step, two claims (a declared setting and a result derived again another way),
the template that states them, and a test of the step. A newcomer then edits the step's
computation, the claims and the template; every file the scaffold writes is the new question's own,
so removing them removes the question.
"""

from __future__ import annotations

from pathlib import Path

from compute.engine.errors import BuildError
from compute.engine.files import ROOT, write_atomic
from report.render import escape
from report.sections import NAME

# The files are written as the linter formats them (pyproject.toml), so that a new question leaves
# `ruff check` and `ruff format --check` clean; {imports} are sorted where they are filled in.
STEPS = '''"""{title}: the steps.

The settings for every profile, and the cached steps that compute the question's results.
"""

from __future__ import annotations

{imports}

# The course's settings, written once, one group per step (its parameters) and the seed; the
# other profiles say only what they change (compute/engine/profiles.py).
HOMEWORK = {{"compute": {{"n": 1000}}, "seed": 0}}
PROFILES = derive(HOMEWORK, quick={{}}, smoke={{"compute": {{"n": 12}}}})


def steps(profile: str, options: dict) -> list[Step]:
    p = PROFILES[profile]
    return [Step("{name}.compute", work.run, params=p["compute"], seed=p["seed"])]
'''

WORK = '''"""{title}: the computation.

Its source is in the step's cache key: a change re-runs it.
"""

from __future__ import annotations


def run(ctx) -> dict:
    """The sum of the first n squares, added up one by one (replace with the question's work)."""
    n = ctx.params["n"]
    return {{"n": n, "sum": sum(k * k for k in range(1, n + 1))}}
'''

SECTION = '''"""{title}: the claims.

Every number the text states, each checked by a second derivation.
"""

from __future__ import annotations

from compute.{name} import steps
from report.claims import Claim, declared
from report.sections import Section

STEP = "{name}.compute"


def claims(results) -> list[Claim]:
    result = results[STEP]
    n = result.data["n"]
    return [
        Claim("{name}.n", n, declared(result)["params"]["n"]),
        Claim("{name}.sum", result.data["sum"], n * (n + 1) * (2 * n + 1) // 6),
    ]


def context(results) -> dict:
    return {{}}


PROOFS = {{
    "{name}.n": (STEP, "the setting the step was declared with, read from its manifest"),
    "{name}.sum": (STEP, "the closed form of the sum of the first n squares"),
}}

SECTION = Section(
    name="{name}",
    title={title_literal},
    summary="a new question",
    profiles=steps.PROFILES,
    steps=steps.steps,
    claims=claims,
    context=context,
    proofs=PROOFS,
)
'''

TEMPLATE = r"""%# {title}: numbers through claim(...)|num, figures through fig(step, file).
\section{{{title_tex}}}
\label{{sec:{name}}}

The first \VAR{{claim('{name}.n')|num}} squares add up to \VAR{{claim('{name}.sum')|num}}.
"""

TEST = '''"""{title}: the tests.

The step's computation on small inputs.
"""

{imports}


def test_the_squares_are_added_up(tmp_path):
    assert work.run(fake_context(tmp_path, params={{"n": 4}})) == {{"n": 4, "sum": 1 + 4 + 9 + 16}}
'''


def files(name: str, title: str) -> dict[str, str]:
    """{path relative to the project: text} of a new section."""
    values = {
        "name": name,
        "title": title,
        "title_tex": escape(title),
        "title_literal": literal(title),
    }
    steps_imports = (
        "from compute.engine.profiles import derive",
        "from compute.engine.step import Step",
        f"from compute.{name} import work",
    )
    test_imports = (
        f"from compute.{name} import work",
        "from compute.engine.testing import fake_context",
    )
    return {
        f"compute/{name}/__init__.py": "",
        f"compute/{name}/steps.py": STEPS.format(**values, imports=imports(steps_imports)),
        f"compute/{name}/work.py": WORK.format(**values),
        f"report/sections/{name}.py": SECTION.format(**values),
        f"templates/{name}.tex.j2": TEMPLATE.format(**values),
        f"tests/test_{name}.py": TEST.format(**values, imports=imports(test_imports)),
    }


def imports(lines: tuple[str, ...]) -> str:
    """The import lines in the linter's order, by module: a question's name may sort before or
    after `engine`."""
    return "\n".join(sorted(lines))


def literal(text: str) -> str:
    """`text` as a Python string literal quoted as the formatter quotes it: in double quotes unless
    it holds a double quote (then repr's own choice, which the formatter keeps)."""
    quoted = repr(text)
    return f'"{quoted[1:-1]}"' if quoted[0] == "'" and '"' not in text else quoted


def new(name: str, title: str, root: Path = ROOT) -> list[Path]:
    """Writes the new section's files; refuses a bad name or one whose files exist."""
    if not NAME.fullmatch(name):
        raise BuildError(f"section name {name!r}: use lower-case letters and digits, e.g. q4")
    if not title.strip():
        raise BuildError(
            'the section needs a title, e.g. python -m report.sections new q4 "A title"'
        )
    planned = {root / path: text for path, text in files(name, title.strip()).items()}
    taken = [str(p.relative_to(root)) for p in planned if p.exists()]
    if taken:
        raise BuildError(
            f"section {name}: {', '.join(taken)} already exist(s); choose another name"
        )
    for path, text in planned.items():
        write_atomic(path, text)
    return list(planned)
