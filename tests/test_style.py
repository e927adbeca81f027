"""The house style is checked by the linter, not by review: ruff, configured in pyproject.toml,
finds nothing to report and nothing to reformat in the project's Python files."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIX = "run `.venv/bin/ruff format` and `.venv/bin/ruff check --fix`, then wrap what is left by hand"

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("ruff") is None, reason="ruff is not installed (the dev group has it)"
)


def ruff(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    """Runs ruff from the project's root, so that it reads pyproject.toml and skips what git
    ignores (build folders, .venv)."""
    command = [sys.executable, "-m", "ruff", *args, "--no-cache"]
    return subprocess.run(command, cwd=ROOT, input=stdin, capture_output=True, text=True)


@pytest.mark.parametrize("command", [["check"], ["format", "--check"]], ids=["check", "format"])
def test_ruff_finds_nothing_to_change(command):
    done = ruff(*command, "--output-format", "concise", ".")
    if done.returncode:
        pytest.fail(f"{done.stdout}{done.stderr}\n{FIX}", pytrace=False)


def test_a_line_over_the_house_limit_is_reported():
    line = "x = 1  # " + "w" * 91  # 100 characters: the longest line allowed
    within = ruff("check", "--stdin-filename", "within.py", "-", stdin=line + "\n")
    over = ruff("check", "--stdin-filename", "over.py", "-", stdin=line + "w\n")
    assert within.returncode == 0, within.stdout
    assert over.returncode == 1 and "E501" in over.stdout, over.stdout
