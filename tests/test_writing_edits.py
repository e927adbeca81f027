"""Writing the report never costs a computation. In a copy of the project whose smoke build is
cached, editing every template, every report/ module, report.toml and every plotting module leaves
every computing step cached (only the figure steps re-plot), and so does editing a course's setting
the profile overrides, while editing model or training code re-runs exactly the steps that use it.
Checked through the planner (`build.py --explain`)."""

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from compute.engine.keys import ENGINE
from compute.engine.testing import copy_project, edit

PLAN_LINE = re.compile(r"^(?P<step>[\w.]+): (?P<state>.*) \[(?P<key>\w+)\]$")
needs_tools = pytest.mark.skipif(
    shutil.which("latexmk") is None or shutil.which("espeak-ng") is None,
    reason="latexmk/espeak-ng are not installed (make test installs them as root)",
)


def build(copy: Path, build_dir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            str(copy / "build.py"),
            "--profile",
            "smoke",
            "--build-dir",
            str(build_dir),
            *args,
        ],
        capture_output=True,
        text=True,
        cwd=copy,
        timeout=900,
    )


def plan(copy: Path, build_dir: Path) -> dict[str, str]:
    """{step: what the planner says} for every step of every section."""
    out = build(copy, build_dir, "--explain")
    assert out.returncode == 0, out.stderr
    found = {m["step"]: m["state"] for m in map(PLAN_LINE.match, out.stdout.splitlines()) if m}
    assert len(found) >= 10, out.stdout
    return found


def rerun(states: dict[str, str]) -> set[str]:
    return {step for step, state in states.items() if state != "cached"}


def imports_matplotlib(path: Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text())):
        names = (
            [a.name for a in node.names]
            if isinstance(node, ast.Import)
            else [node.module or ""]
            if isinstance(node, ast.ImportFrom)
            else []
        )
        if any(n.split(".")[0] == "matplotlib" or n == "compute.plotted" for n in names):
            return True
    return False


def plotting_modules(copy: Path) -> list[Path]:
    """The compute modules that draw (import matplotlib, or the figure style that does); steps.py
    only declares."""
    return sorted(
        p
        for p in (copy / "compute").rglob("*.py")
        if p.name != "steps.py" and imports_matplotlib(p)
    )


def computing_modules(copy: Path) -> set[Path]:
    """The modules in the cache key of every step that is not a figure step."""
    listing = subprocess.run(
        [
            sys.executable,
            "-c",
            "from compute.engine.keys import code_files\n"
            "from report.sections import discover\n"
            "for s in discover().values():\n"
            "    for step in s.steps('smoke', {}):\n"
            "        if not step.name.endswith('.figures'):\n"
            "            print(*code_files(step.run.__module__), sep='\\n')",
        ],
        capture_output=True,
        text=True,
        cwd=copy,
        check=True,
    ).stdout
    return {Path(line) for line in listing.splitlines()}


def append(path: Path, text: str) -> None:
    path.write_text(path.read_text() + text)


def add_function(path: Path) -> None:
    """A real code change (the normalised source changes), harmless to the numbers."""
    append(path, "\n\ndef _edited_for_the_test():\n    return 'a change'\n")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A copy of the project and its smoke build (every section computed, the PDF made)."""
    copy = copy_project(tmp_path_factory.mktemp("built") / "project")
    build_dir = copy.parent / "build"
    first = build(copy, build_dir)
    assert first.returncode == 0, first.stderr
    assert rerun(plan(copy, build_dir)) == set()
    return build_dir


@needs_tools
def test_editing_text_templates_report_code_and_plots_recomputes_nothing(built, project_copy):
    copy = project_copy
    plots = plotting_modules(copy)  # the next test checks that none is in a computing step's key
    assert {p.relative_to(copy).as_posix() for p in plots} >= {
        "compute/q1/figures.py",
        "compute/q2/figures.py",
        "compute/q3/figures.py",
    }
    for template in (copy / "templates").glob("*.j2"):
        append(template, "\nA new sentence.\n")
    for module in sorted((copy / "report").rglob("*.py")) + plots:
        add_function(module)
    append(copy / "report.toml", "\n# a new contributor line\n")
    states = plan(copy, built)
    assert rerun(states) == {"q1.figures", "q2.figures", "q3.figures"}
    style = "would run: code changed in compute/plotted.py"
    assert states["q3.figures"].startswith(style)
    assert "code changed in compute/q3/figures.py" in states["q3.figures"]
    assert states["q2.figures"].startswith(style)
    assert "code changed in compute/q2/figures.py" in states["q2.figures"]
    assert states["q1.figures"].startswith(style)
    assert "code changed in compute/q1/figures.py" in states["q1.figures"]


def test_no_plotting_module_is_in_a_computing_steps_key(project_copy):
    inside = computing_modules(project_copy)
    assert [p for p in plotting_modules(project_copy) if p in inside] == []


@needs_tools
@pytest.mark.parametrize(
    "module, steps",
    [
        ("compute/q1/numeric.py", {"q1.numeric", "q1.figures"}),
        ("compute/q2/models.py", {"q2.train", "q2.figures", "q2.cost"}),
        ("compute/q2/train.py", {"q2.train", "q2.figures"}),
        ("compute/q3/model.py", {"q3.train", "q3.figures"}),
        ("compute/q3/text.py", {"q3.corpus", "q3.features", "q3.train", "q3.figures"}),
    ],
)
def test_editing_model_or_training_code_reruns_exactly_the_steps_that_use_it(
    built, project_copy, module, steps
):
    add_function(project_copy / module)
    states = plan(project_copy, built)
    assert rerun(states) == steps
    assert any(states[s] == f"would run: code changed in {module}" for s in steps)
    assert all("upstream result changed" in states[s] or module in states[s] for s in steps)


@needs_tools
def test_editing_how_a_dataset_is_found_downloaded_or_checked_reruns_nothing(built, project_copy):
    """Locating, downloading and checking the datasets (`--check-data`, `--download`) is only the
    step declarations' business: a rewording of its messages recomputes nothing."""
    for module in ("compute/q2/fetch.py", "compute/q3/check.py", "compute/q3/download.py"):
        add_function(project_copy / module)
    assert rerun(plan(project_copy, built)) == set()


@needs_tools
def test_editing_a_course_setting_the_profile_overrides_keeps_its_trainings_cached(
    built, project_copy
):
    """The fixture's profile is smoke, which trains Q2 and Q3 for 2 epochs: the course's 15 epochs
    of each are used by the homework profile only. Editing them re-runs none of smoke's steps but
    the settings table's, which states the course's value beside the profile's."""
    for section in ("q2", "q3"):  # the course's epochs, written once in HOMEWORK
        edit(project_copy / f"compute/{section}/steps.py", '"epochs": 15,', '"epochs": 16,')
    states = plan(project_copy, built)
    assert states["q2.train"] == states["q3.train"] == "cached"
    assert rerun(states) == {"q3.settings"}
    assert states["q3.settings"] == (
        "would run: parameter changed: differences.epochs.homework (15 -> 16)"
    )


def engine_modules(copy: Path) -> list[Path]:
    """Every module of the engine's package, as the keys name it."""
    return sorted((copy / ENGINE.replace(".", "/")).glob("*.py"))


@needs_tools
def test_editing_the_engine_recomputes_nothing_and_its_version_reruns_everything(
    built, project_copy
):
    """The engine (how steps are keyed, run, stored, shared and reported) is in no step's key: an
    edit to any of its modules keeps every result; ENGINE_VERSION, bumped for an engine change that
    alters results, is in every key."""
    modules = engine_modules(project_copy)
    assert {m.name for m in modules} >= {
        "pipeline.py",
        "step.py",
        "jobs.py",
        "share.py",
        "progress.py",
    }
    for module in modules:
        add_function(module)
    assert rerun(plan(project_copy, built)) == set()
    keys = project_copy / "compute" / "engine" / "keys.py"
    keys.write_text(
        re.sub(
            r"^ENGINE_VERSION = (\d+)$",
            lambda m: f"ENGINE_VERSION = {int(m[1]) + 1}",
            keys.read_text(),
            flags=re.M,
        )
    )
    states = plan(project_copy, built)
    assert len(states) >= 10 and rerun(states) == set(states)
    assert all("engine changed (" in state for state in states.values())
