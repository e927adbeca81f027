"""`python -m report.sections` prints the section list; with `--readme` it rewrites the README's."""
import sys
from pathlib import Path

from compute.files import write_atomic
from report.sections import discover, markdown_list, readme_with_sections

README = Path(__file__).resolve().parents[2] / "README.md"

if sys.argv[1:] == ["--readme"]:
    write_atomic(README, readme_with_sections(README.read_text(), discover()))
    print(f"{README}: section list updated")
else:
    print(markdown_list(discover()), end="")
