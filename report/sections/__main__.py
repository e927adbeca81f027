"""`python -m report.sections` prints the section list; with `--readme` it rewrites the README's;
`new NAME "Title"` writes a new section that builds and checks (report/scaffold.py)."""

import sys

from compute.engine.errors import BuildError
from compute.engine.files import ROOT, write_atomic
from report.scaffold import new
from report.sections import discover, markdown_list, readme_with_sections

README = ROOT / "README.md"

if sys.argv[1:2] == ["new"]:
    if len(sys.argv) != 4:
        sys.exit(
            'usage: python -m report.sections new NAME "Title"   (e.g. new q4 "Sums of squares")'
        )
    try:
        written = new(sys.argv[2], sys.argv[3])
    except BuildError as error:
        sys.exit(f"error: {error}")
    print("wrote " + ", ".join(str(p.relative_to(ROOT)) for p in written))
    name = sys.argv[2]
    print(
        f"try it: python build.py --profile smoke --section {name} --check --mutate\n"
        f"next: edit compute/{name}/work.py (the computation), compute/{name}/steps.py (its "
        f"settings), report/sections/{name}.py (the claims), templates/{name}.tex.j2 (the text); "
        "then python -m report.sections --readme"
    )
elif sys.argv[1:] == ["--readme"]:
    write_atomic(README, readme_with_sections(README.read_text(), discover()))
    print(f"{README}: section list updated")
else:
    print(markdown_list(discover()), end="")
