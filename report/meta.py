"""report.toml: the title page (title, subtitle, course, and the authors with their contributions),
read and checked before any computation so a typo costs seconds, not a build."""

from __future__ import annotations

import hashlib
import re
import subprocess
import tempfile
import tomllib
import unicodedata
from pathlib import Path

from compute.engine.errors import BuildError
from compute.engine.files import write_atomic

TEXT_KEYS = ("title", "subtitle", "course")
AUTHOR_KEYS = ("name", "student_id", "contribution")
NEEDS = (
    "it needs title, subtitle and course, and one [[authors]] table per author with name, "
    "student_id and contribution, all text in double quotes"
)


def _line_of(text: str, key: str, author: int | None) -> int | None:
    """The line of `key = ...` (inside the author-th [[authors]] table when one is given)."""
    lines = text.splitlines()
    start = 0
    if author is not None:
        tables = [n for n, line in enumerate(lines) if re.match(r"\s*\[\[\s*authors\s*\]\]", line)]
        if author >= len(tables):
            return None
        start = tables[author]
    for n in range(start, len(lines)):
        if re.match(rf"\s*{re.escape(key)}\s*=", lines[n]):
            return n + 1
        if n > start and author is not None and lines[n].lstrip().startswith("["):
            break
    return start + 1 if author is not None else None


def _check_text(table: dict, key: str, text: str, path: Path, author: int | None) -> None:
    where = f"authors[{author + 1}]." if author is not None else ""
    value = table.get(key)
    if isinstance(value, str) and value.strip():
        return
    line = _line_of(text, key, author)
    location = f"{path}:{line}" if line else str(path)
    problem = "is missing" if value is None else f"must be non-empty text in quotes, not {value!r}"
    raise BuildError(
        f"{location}: {where}{key} {problem}. Fix {path.name} (the title page): {NEEDS}"
    )


def load_meta(path: Path) -> dict:
    """The title page settings; BuildError names the file, the line and the fix."""
    try:
        # a byte-order mark (some editors write one) is not TOML; accents typed as a letter and a
        # combining mark become one character, as LaTeX's fonts hold them
        text = unicodedata.normalize("NFC", path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise BuildError(
            f"{path}: no such file; it holds the title page (title, authors). "
            f"Restore it with `git checkout -- {path.name}`"
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise BuildError(f"{path}: cannot be read ({error}); it must be UTF-8 TOML") from None
    try:
        meta = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        line = re.search(r"line (\d+)", str(error))
        raise BuildError(
            f"{path}" + (f":{line[1]}" if line else "") + f": not valid TOML ({error}). "
            f'Text values need double quotes, e.g. name = "Ada Lovelace"'
        ) from None
    for key in TEXT_KEYS:
        _check_text(meta, key, text, path, None)
    authors = meta.get("authors")
    if (
        not isinstance(authors, list)
        or not authors
        or not all(isinstance(a, dict) for a in authors)
    ):
        raise BuildError(f"{path}: no [[authors]] table. Fix {path.name} (the title page): {NEEDS}")
    for number, author in enumerate(authors):
        for key in AUTHOR_KEYS:
            _check_text(author, key, text, path, number)
    return meta


TRIAL = r"""\BLOCK{include "preamble.tex.j2"}
\begin{document}
\BLOCK{for value in values}
\VAR{value}\par
\BLOCK{endfor}
\end{document}
"""
UNICODE = re.compile(r"Unicode character (.) \((U\+[0-9A-F]+)\)")


def fields(meta: dict) -> list[tuple[str, int | None, str]]:
    """(key, author number or None, text) of every value the title page prints."""
    return [(key, None, meta[key]) for key in TEXT_KEYS] + [
        (key, n, a[key]) for n, a in enumerate(meta["authors"]) for key in AUTHOR_KEYS
    ]


def check_typesets(meta: dict, path: Path, env, memo: Path) -> None:
    """Typesets every title-page value once with the report's own preamble (pdfLaTeX, a second or
    so), so that a name LaTeX cannot print fails now, naming report.toml's line, and not after the
    computation. `env` is the report's Jinja environment. `memo` keeps the digest of the last
    trial that printed: the same values under the same preamble are not typeset again."""
    values = fields(meta)
    try:
        text = env.from_string(TRIAL).render(values=[value for _, _, value in values])
    except Exception as error:  # noqa: BLE001 - the preamble's own error, at its line
        from report.render import TemplateProblem, template_message

        raise TemplateProblem(template_message(env, error, "preamble.tex.j2")) from error
    digest = hashlib.sha256(text.encode()).hexdigest()
    if memo.is_file() and memo.read_text() == digest:
        return
    _trial(text, values, path)
    if memo.parent.is_dir():
        write_atomic(memo, digest)


def _trial(text: str, values: list, path: Path) -> None:
    """Runs pdfLaTeX on the trial; when it fails, the error names report.toml's line."""
    with tempfile.TemporaryDirectory(prefix="title-page-") as folder:
        (Path(folder) / "trial.tex").write_text(text, encoding="utf-8")
        proc = subprocess.run(
            [
                "pdflatex",
                "-interaction=nonstopmode",
                "-halt-on-error",
                "-no-shell-escape",
                "trial.tex",
            ],
            cwd=folder,
            capture_output=True,
            text=True,
            errors="replace",
        )
        if proc.returncode == 0:
            return
        log = (Path(folder) / "trial.log").read_text(errors="replace")
    toml = path.read_text(encoding="utf-8-sig")
    body_start = text.splitlines().index(r"\begin{document}") + 1
    line = re.search(r"^l\.(\d+)", log, re.M)
    index = (int(line[1]) - body_start - 1) if line else -1
    key, author, value = values[index] if 0 <= index < len(values) else (None, None, "")
    where = f"{path}:{_line_of(toml, key, author)}" if key else str(path)
    char = UNICODE.search(log)
    if char:
        raise BuildError(
            f"{where}: the character {char[1]} ({char[2]}) cannot be printed by the report's "
            "LaTeX (pdfLaTeX with T1 fonts: Latin letters and their accents). "
            f"Write {value or 'the value'!r} in "
            f"Latin letters (a transliteration), or without that character"
        )
    error = next((said[2:] for said in log.splitlines() if said.startswith("! ")), "LaTeX failed")
    raise BuildError(
        f"{where}: LaTeX cannot print {value or 'this value'!r} ({error}). Fix {path.name}"
    )
