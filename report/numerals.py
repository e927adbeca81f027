"""The numeral check: every digit of the generated LaTeX comes from a claim, a published value
(report/cited.py), a measured value or the document's structure; one typed by hand into a template,
or into a string a template prints, is reported with the template's file and line.

Numbers from claims, published values and measurements are inside their links (\\claimref,
\\citedref, \\measuredref) and what the build records about itself inside \\recorded; those are
masked first, with the structure: LaTeX lengths and options, labels, references, file names and
identifiers in \\texttt, question numbers ("Question 2.1", "(2.1)"), the dataset's version
("LJ Speech 1.1"), and in mathematics the indices, exponents, fractions and the constants of a
formula ($1 + t$). What remains is a hand-typed numeral: one in the prose, or one that stands alone
as a value in mathematics ($K = 3$, $2$).
"""

from __future__ import annotations

import re
from pathlib import Path

from report.render import template_origin

# commands whose arguments are never a stated number: how many {...} arguments each takes
MASKED_ARGUMENTS = {
    "claimref": 2,
    "citedref": 2,
    "measuredref": 1,
    "recorded": 1,
    "texttt": 1,
    "label": 1,
    "ref": 1,
    "pageref": 1,
    "hyperlink": 1,
    "hypertarget": 1,
    "input": 1,
    "includegraphics": 1,
    "usepackage": 1,
    "documentclass": 1,
    "setlength": 2,
    "rule": 2,
    "vspace": 1,
    "hspace": 1,
    "fcolorbox": 2,
    "parbox": 1,
    "captionsetup": 1,
    "begin": 2,
    "title": 1,
    "textcolor": 1,
    "color": 1,
    "definecolor": 3,
    "hypersetup": 1,
    "newcommand": 2,
    "renewcommand": 2,
    "DeclareRobustCommand": 2,
    "claimpages": 1,
    "raisebox": 1,
    "multicolumn": 2,
    "figureref": 1,
    "entry": 2,
    "author": 1,
    "date": 1,
}
LENGTH = re.compile(
    r"-?\d*\.?\d+\s*(?:pt|em|ex|cm|mm|in|bp|sp|mu)\b|\d*\.?\d+\s*\\(?:line|text|column)width"
)
# question numbers, the dataset's version, commands and colours with digits (\tfrac12, red!70),
# identifiers (float64, AVX2, OFF001-0011) and macro parameters (#1)
STRUCTURE = re.compile(
    r"[Qq]uestion [1-3](?:\.[1-4])?|\([1-3]\.[1-4]\)|\bQ[1-3](?:\.[1-4])?\b|LJ Speech 1\.1"
    r"|\\[A-Za-z]+\d+|!\d+|\b[A-Za-z][\w-]*\d[\w-]*|#+\d"
)
MATH = re.compile(r"\$\$.*?\$\$|(?<!\\)\$.*?(?<!\\)\$|\\\[.*?\\\]|\\\(.*?\\\)", re.S)
# in mathematics: indices and exponents, the arguments of fractions, roots and binomials
MATH_STRUCTURE = re.compile(r"[_^]\s*\d|\\[td]?frac\d\d")
MATH_GROUPED = ("_", "^", r"\frac", r"\tfrac", r"\dfrac", r"\binom", r"\sqrt")
NUMERAL = re.compile(r"\d+(?:(?:\{,\}|[.,])\d+)*")
# a number standing alone as a value in mathematics: the whole formula, or all of one side of a
# relation
ALONE = re.compile(
    r"^\s*(?:\\ensuremath\{-\}|-)?\s*(\d+(?:(?:\{,\}|\.)\d+)*)\s*$"
    r"|(?:=|<|>|\\le|\\ge|\\leq|\\geq|\\approx)\s*(?:\\ensuremath\{-\}|-)?\s*"
    r"(\d+(?:(?:\{,\}|\.)\d+)*)\s*(?=$|[,;)\]]|\\[,;!]|\\q?quad|\\text|\\mathrm)"
)


def _blank(text: str, start: int, end: int) -> str:
    """text with the digits of [start, end) replaced, keeping every position and line."""
    return text[:start] + re.sub(r"\d", "#", text[start:end]) + text[end:]


def _group_end(text: str, start: int) -> int:
    """The position after the balanced {...} (or [...]) group opening at `start`."""
    opening = text[start]
    closing, depth = {"{": "}", "[": "]"}[opening], 0
    for i in range(start, len(text)):
        if text[i] == "\\":
            continue
        if text[i] == opening and (i == 0 or text[i - 1] != "\\"):
            depth += 1
        elif text[i] == closing and text[i - 1] != "\\":
            depth -= 1
            if depth == 0:
                return i + 1
    return len(text)


def _arguments_end(text: str, at: int, count: int) -> int:
    """After the command ending at `at`: its optional [...] arguments and `count` {...} ones."""
    position, taken = at, 0
    while position < len(text):
        rest = len(text[position:]) - len(text[position:].lstrip(" *"))
        position += rest
        if position < len(text) and text[position] == "[":
            position = _group_end(text, position)
        elif position < len(text) and text[position] == "{" and taken < count:
            position, taken = _group_end(text, position), taken + 1
        else:
            return position
    return position


def _mask_commands(text: str) -> str:
    for match in re.finditer(r"\\([A-Za-z]+)\*?", text):
        count = MASKED_ARGUMENTS.get(match.group(1))
        if count is not None:
            text = _blank(text, match.start(), _arguments_end(text, match.end(), count))
    return text


def _mask_math_structure(formula: str) -> str:
    for match in re.finditer("|".join(re.escape(c) for c in MATH_GROUPED), formula):
        end = match.end()
        groups = 2 if match.group(0) in (r"\frac", r"\tfrac", r"\dfrac", r"\binom") else 1
        while end < len(formula) and formula[end] == " ":
            end += 1
        for _ in range(groups):
            if end < len(formula) and formula[end] == "{":
                end = _group_end(formula, end)
        formula = _blank(formula, match.start(), end)
    for match in MATH_STRUCTURE.finditer(formula):
        formula = _blank(formula, match.start(), match.end())
    return formula


def _math_values(formula: str) -> list[tuple[int, int]]:
    """(start, end) of the numbers standing alone as values in a formula; its other digits are
    masked."""
    return [m.span(1) if m.group(1) else m.span(2) for m in ALONE.finditer(formula)]


def stray_numerals(text: str) -> list[tuple[int, str]]:
    """(line, numeral) of every hand-typed numeral in generated LaTeX (see the module)."""
    text = original = re.sub(r"(?<!\\)%[^\n]*", lambda m: " " * len(m.group(0)), text)
    text = _mask_commands(text)
    for pattern in (LENGTH, STRUCTURE):
        for match in pattern.finditer(text):
            text = _blank(text, match.start(), match.end())
    found = []
    for match in MATH.finditer(text):
        delimiter = 1 if match.group(0)[0] == "$" else 2
        formula = _mask_math_structure(match.group(0)[delimiter:-delimiter])
        offset = match.start() + delimiter
        found += [(offset + a, offset + b) for a, b in _math_values(formula)]
        text = _blank(text, match.start(), match.end())
    found += [m.span() for m in NUMERAL.finditer(text)]
    return sorted((text.count("\n", 0, a) + 1, original[a:b]) for a, b in found)


def problems(tex_dir: Path, sources: dict[str, str]) -> list[str]:
    """One line per hand-typed numeral in the generated files (their templates in `sources`)."""
    out = []
    for generated, template in sources.items():
        text = (tex_dir / generated).read_text()
        lines = text.splitlines()
        for line, numeral in stray_numerals(text):
            name, origin = template_origin(template, lines[line - 1])
            where = f"templates/{name}" + (
                f":{origin}" if origin else f" (generated {generated}:{line})"
            )
            out.append(
                f"{where}: the numeral {numeral} comes from no claim, published value or "
                "measurement "
                f"(in: {lines[line - 1].strip()[:90]}); state it with claim(...), cited(...) or "
                f"measured(...)"
            )
    return out
