"""report.toml: the title page (title, subtitle, course, and the authors with their contributions),
read and checked before any computation so a typo costs seconds, not a build."""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

from compute.errors import BuildError

TEXT_KEYS = ("title", "subtitle", "course")
AUTHOR_KEYS = ("name", "student_id", "contribution")
NEEDS = ("it needs title, subtitle and course, and one [[authors]] table per author with name, "
         "student_id and contribution, all text in double quotes")


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
    raise BuildError(f"{location}: {where}{key} {problem}. Fix {path.name} (the title page): {NEEDS}")


def load_meta(path: Path) -> dict:
    """The title page settings; BuildError names the file, the line and the fix."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BuildError(f"{path}: no such file; it holds the title page (title, authors). "
                         f"Restore it with `git checkout -- {path.name}`") from None
    except (OSError, UnicodeDecodeError) as error:
        raise BuildError(f"{path}: cannot be read ({error}); it must be UTF-8 TOML") from None
    try:
        meta = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        line = re.search(r"line (\d+)", str(error))
        raise BuildError(f"{path}" + (f":{line[1]}" if line else "") + f": not valid TOML ({error}). "
                         f"Text values need double quotes, e.g. name = \"Ada Lovelace\"") from None
    for key in TEXT_KEYS:
        _check_text(meta, key, text, path, None)
    authors = meta.get("authors")
    if not isinstance(authors, list) or not authors or not all(isinstance(a, dict) for a in authors):
        raise BuildError(f"{path}: no [[authors]] table. Fix {path.name} (the title page): {NEEDS}")
    for number, author in enumerate(authors):
        for key in AUTHOR_KEYS:
            _check_text(author, key, text, path, number)
    return meta
