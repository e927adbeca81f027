"""The section plug-in contract: discovery, profiles declared one way, and a fourth section added
in a copy of the project by creating files only."""

import importlib.util
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from compute.engine.errors import BuildError
from compute.engine.files import ROOT
from compute.engine.profiles import PROFILES, derive, merged
from compute.engine.testing import pdf_text, ruff
from report.sections import (
    README_END,
    README_START,
    Section,
    SectionError,
    discover,
    readme_with_sections,
)

needs_latex = pytest.mark.skipif(
    shutil.which("latexmk") is None or shutil.which("pdftotext") is None,
    reason="latexmk/pdftotext are not installed (make test installs them as root)",
)


def test_the_three_sections_are_discovered_in_order_with_every_profile():
    sections = discover()
    assert list(sections) == ["q1", "q2", "q3"]
    for name, section in sections.items():
        assert set(section.profiles) == set(PROFILES)
        assert (
            section.template == f"{name}.tex.j2"
            and (ROOT / "templates" / section.template).exists()
        )
        assert all(step.name.startswith(name + ".") for step in section.steps("smoke", {}))
    assert sections["q1"].check_data is None and sections["q2"].check_data is not None


@pytest.mark.parametrize("profile", ["quick", "smoke"])
def test_every_settings_group_is_exactly_its_steps_parameters(profile):
    """The one shape of compute/engine/profiles.py: each dict at the top of a section's settings
    is the parameters of the step it names, a step reading a dataset also told where the data lies;
    only the settings table's step takes parameters made from the settings as a whole."""
    ungrouped = set()
    for name, section in discover().items():
        settings = section.profiles[profile]
        declared = {step.name: step for step in section.steps(profile, {})}
        for group, values in settings.items():
            if isinstance(values, dict):
                params = declared[f"{name}.{group}"].params
                assert {k: params[k] for k in values} == values, (name, group)
                assert {k: v for k, v in params.items() if k not in values} in (
                    {},
                    {"source": settings.get("source"), "root": None},
                ), (name, group)
        ungrouped |= {
            s
            for s, step in declared.items()
            if step.params and not isinstance(settings.get(s.split(".")[-1]), dict)
        }
    assert ungrouped == {"q3.settings"}


def test_the_readme_section_list_is_the_discovered_one():
    text = (ROOT / "README.md").read_text()
    assert README_START in text and README_END in text
    assert readme_with_sections(text, discover()) == text, "run: python -m report.sections --readme"


def test_help_lists_each_section_from_its_plug_in():
    out = subprocess.run(
        [sys.executable, str(ROOT / "build.py"), "--help"], capture_output=True, text=True, cwd=ROOT
    ).stdout
    assert "q2  A CNN on OCTMNIST: two networks x three learning rates" in out


def test_derive_merges_nested_settings_and_requires_every_profile():
    base = {"model": {"width": 8, "depth": 2}, "lr": 0.1, "sizes": [1, 2]}
    p = derive(base, quick={"model": {"width": 4}}, smoke={"sizes": [1], "lr": 0.5})
    assert p["homework"] == base
    assert p["quick"] == {"model": {"width": 4, "depth": 2}, "lr": 0.1, "sizes": [1, 2]}
    assert p["smoke"] == {"model": {"width": 8, "depth": 2}, "lr": 0.5, "sizes": [1]}
    assert merged(base, {}) is not base and base["model"] == {"width": 8, "depth": 2}
    with pytest.raises(BuildError, match="give the changes of exactly quick, smoke"):
        derive(base, quick={})


@pytest.mark.parametrize(
    "changes, message",
    [
        (
            {"lr": 0.5, "epoch": 3},
            "profiles: smoke changes epoch, a setting the course's settings (HOMEWORK) lack; "
            "did you mean epochs? Valid there: model, lr, epochs",
        ),
        (
            {"model": {"widht": 4}},
            "profiles: smoke changes model.widht, a setting the course's settings (HOMEWORK) "
            "lack; did you mean model.width? Valid there: width, depth",
        ),
    ],
)
def test_derive_refuses_a_misspelt_setting_naming_the_nearest_valid_one(changes, message):
    base = {"model": {"width": 8, "depth": 2}, "lr": 0.1, "epochs": 3}
    with pytest.raises(BuildError) as refused:
        derive(base, quick={}, smoke=changes)
    assert str(refused.value) == message


def test_a_section_missing_a_profile_is_refused_naming_the_fix():
    with pytest.raises(SectionError, match="q9: profiles .* must be exactly .*derive"):
        Section(
            name="q9",
            title="t",
            summary="s",
            profiles={"quick": {}},
            steps=list,
            claims=list,
            context=dict,
        )


FOURTH = {
    "compute/q4/__init__.py": "",
    "compute/q4/steps.py": '''
from compute.engine.profiles import derive
from compute.engine.step import Step

HOMEWORK = {"squares": {"n": 100}}
PROFILES = derive(HOMEWORK, quick={}, smoke={"squares": {"n": 12}})


def run(ctx):
    """Sums the first n squares by adding them up."""
    return {"n": ctx.params["n"], "sum": sum(k * k for k in range(1, ctx.params["n"] + 1))}


def steps(profile, options):
    return [Step("q4.squares", run, params=PROFILES[profile]["squares"])]
''',
    "report/sections/q4.py": """
from compute.q4 import steps
from report.claims import Claim, declared
from report.sections import DataOption, Section


def claims(results):
    r = results["q4.squares"].data
    return [Claim("q4.sum", r["sum"], r["n"] * (r["n"] + 1) * (2 * r["n"] + 1) // 6),
            Claim("q4.n", r["n"], declared(results["q4.squares"])["params"]["n"])]


def context(results):
    return {}


SQUARES = DataOption("squares", "a table of squares", "SQUARES_TABLE", ("homework",), "Squares")
SECTION = Section(name="q4", title="Sums of squares", summary="a closed form checked by addition",
                  profiles=steps.PROFILES, steps=steps.steps, claims=claims, context=context,
                  data_options=(SQUARES,))
""",
    "templates/q4.tex.j2": r"""\clearpage
\section{Sums of squares}
\label{sec:q4}
The first \VAR{claim('q4.n')|num} squares add up to \VAR{claim('q4.sum')|num}.
""",
}


@needs_latex
def test_a_fourth_section_builds_by_adding_files_only(project_copy, tmp_path):
    copy = project_copy
    before = {p: p.read_bytes() for p in copy.rglob("*") if p.is_file()}
    for name, text in FOURTH.items():
        assert not (copy / name).exists()
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        (copy / name).write_text(text.lstrip())
    build = subprocess.run(
        [
            sys.executable,
            str(copy / "build.py"),
            "--profile",
            "smoke",
            "--section",
            "q4",
            "--build-dir",
            str(tmp_path / "build"),
        ],
        capture_output=True,
        text=True,
        cwd=copy,
        timeout=600,
    )
    assert build.returncode == 0, build.stderr
    assert "q4.squares: running (never computed)" in build.stderr
    text = pdf_text(tmp_path / "build" / "report.pdf")
    assert "Sums of squares" in text and "The first 12 squares add up to 650." in text
    assert text.count("NOT COMPUTED") == 3  # q1 to q3 were not asked for and are not cached here
    assert all(p.read_bytes() == data for p, data in before.items()), "an existing file was edited"
    listed = subprocess.run(
        [sys.executable, str(copy / "build.py"), "--help"], capture_output=True, text=True, cwd=copy
    ).stdout
    assert "q4  Sums of squares: a closed form checked by addition" in listed
    # its data option
    assert "--squares PATH        a table of squares; or set SQUARES_TABLE" in listed
    assert (
        "Squares    --squares PATH  or  SQUARES_TABLE=...  a table of squares; read by the homework"
        in listed
    )
    refused = subprocess.run(
        [
            sys.executable,
            str(copy / "build.py"),
            "--profile",
            "smoke",
            "--squares",
            "t.csv",
            "--explain",
            "--build-dir",
            str(tmp_path / "build"),
        ],
        capture_output=True,
        text=True,
        cwd=copy,
    )
    assert refused.returncode == 1
    assert refused.stderr.startswith(
        "error: --squares: the smoke profile does not read it (q4 makes its own"
    )


def _python(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """This Python run with `args` in `cwd`, its output captured as text."""
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, cwd=cwd, timeout=600
    )


def _assert_lint_clean(copy: Path, code: list[str]) -> None:
    """ruff check and ruff format --check pass on `code` (in `copy`); without ruff, a warning."""
    if importlib.util.find_spec("ruff") is None:
        warnings.warn("ruff is not installed (the dev group has it): the new code was not linted")
        return
    for command in (["check"], ["format", "--check"]):
        linted = ruff(copy, *command, *code)
        assert linted.returncode == 0, linted.stdout + linted.stderr


@needs_latex
def test_a_scaffolded_question_builds_checks_at_full_strength_and_leaves_with_its_files(
    project_copy, tmp_path
):
    copy = project_copy
    before = {p: p.read_bytes() for p in copy.rglob("*") if p.is_file()}
    made = _python(copy, "-m", "report.sections", "new", "q9", "Sums of squares & more")
    assert made.returncode == 0, made.stderr
    written = {p for p in copy.rglob("*") if p.is_file()} - set(before)
    assert {p.relative_to(copy).as_posix() for p in written} == {
        "compute/q9/__init__.py",
        "compute/q9/steps.py",
        "compute/q9/work.py",
        "report/sections/q9.py",
        "templates/q9.tex.j2",
        "tests/test_q9.py",
    }
    # the linter finds nothing in the new question's code: a newcomer's tree stays clean
    code = sorted(p.relative_to(copy).as_posix() for p in written if p.suffix == ".py")
    _assert_lint_clean(copy, code)
    smoke_q9 = ("build.py", "--profile", "smoke", "--section", "q9")
    checked = _python(
        copy, *smoke_q9, "--check", "--mutate", "--build-dir", str(tmp_path / "build")
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "q9: 2 of 2 corrupted values caught by a claim (100.0 %)" in checked.stdout
    built = _python(copy, *smoke_q9, "--build-dir", str(tmp_path / "build"))
    assert built.returncode == 0, built.stderr
    assert "The first 12 squares add up to 650." in pdf_text(tmp_path / "build" / "report.pdf")
    tested = _python(copy, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_q9.py")
    assert tested.returncode == 0
    again = _python(copy, "-m", "report.sections", "new", "q9", "Again")
    assert again.returncode == 1 and "already exist(s); choose another name" in again.stderr
    for path in written:
        path.unlink()

    def kept(p: Path) -> bool:
        return not {"__pycache__", ".pytest_cache"} & set(p.parts)  # what Python and pytest leave

    # no other file was touched
    assert {p: p.read_bytes() for p in copy.rglob("*") if p.is_file() and kept(p)} == {
        p: d for p, d in before.items() if kept(p)
    }
