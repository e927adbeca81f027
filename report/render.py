"""Jinja2 with LaTeX-looking delimiters, and escaping by type.

Every plain string a template prints is escaped; trusted LaTeX (`Tex`) passes through; a number
or a SymPy object printed without `|num` or `|tex` is an error, so every number in the PDF is
formatted on purpose and every formula comes from SymPy's printer.
"""
from __future__ import annotations

import numbers
import re
from pathlib import Path

import jinja2
import jinja2.ext
import sympy

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


class Tex(str):
    """A string that is already valid LaTeX and must not be escaped."""


_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
            "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
_SPECIAL_RE = re.compile(r"[\\&%$#_{}~^]|[\x00-\x08\x0b-\x1f\x7f]")


def escape(text: str) -> Tex:
    """Plain text -> LaTeX that prints it literally; control characters are dropped."""
    return Tex(_SPECIAL_RE.sub(lambda m: _SPECIAL.get(m.group(0), ""), str(text)))


def finalize(value):
    if isinstance(value, jinja2.Undefined):
        str(value)  # StrictUndefined raises here, naming the missing variable
    if isinstance(value, Tex):
        return value
    if isinstance(value, str):
        return escape(value)
    if isinstance(value, sympy.Basic):
        raise TypeError(f"SymPy object {value} printed without |tex")
    if isinstance(value, (bool, numbers.Number)) or type(value).__module__ == "numpy":
        raise TypeError(f"number {value!r} printed without |num")
    raise TypeError(f"{type(value).__name__} {value!r} cannot be printed; format it first")


def num(value, digits: int | None = None, percent: bool = False, sign: bool = False) -> Tex:
    """A number for the text: integers with thousands separators, floats to `digits` decimals.

    percent=True prints 100*value followed by a percent sign.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Number):
        raise TypeError(f"|num needs a number, got {value!r}")
    if isinstance(value, sympy.Basic):
        value = int(value) if value.is_Integer else float(value)
    if percent:
        value = 100 * value
    if isinstance(value, numbers.Integral) and digits is None:
        text = f"{int(value):{'+' if sign else ''},}"
    else:
        text = f"{float(value):{'+' if sign else ''},.{3 if digits is None else digits}f}"
    text = text.replace(",", "{,}").replace("-", r"\ensuremath{-}")
    return Tex(text + (r"\%" if percent else ""))


def tex(value) -> Tex:
    """A SymPy expression (or anything sympify accepts) as LaTeX, without math delimiters."""
    return Tex(sympy.latex(sympy.sympify(value)))


class _WholeLineComments(jinja2.ext.Extension):
    """Drops lines that hold only a `%#` comment, so they leave no empty line (a LaTeX paragraph)."""

    def preprocess(self, source, name, filename=None):
        return re.sub(r"(?m)^[ \t]*%#.*\n", "", source)


def breakable(text: str) -> Tex:
    """Escaped text that LaTeX may break after any character (long transcriptions without spaces)."""
    return Tex(r"\allowbreak{}".join(escape(ch) for ch in str(text)))


def texjoin(items, separator: str = ", ") -> Tex:
    """Joins already-formatted pieces (each Tex) with a separator written in the template."""
    items = list(items)
    for item in items:
        if not isinstance(item, Tex):
            raise TypeError(f"|texjoin needs formatted pieces (|num or |tex), got {item!r}")
    return Tex(separator.join(items))


def make_environment(globals_: dict | None = None) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        block_start_string=r"\BLOCK{", block_end_string="}",
        variable_start_string=r"\VAR{", variable_end_string="}",
        comment_start_string=r"\#{", comment_end_string="}",
        line_comment_prefix="%#",
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined, autoescape=False, finalize=finalize,
        extensions=[_WholeLineComments],
    )
    env.filters.update(num=num, tex=tex, escape=escape, texjoin=texjoin, breakable=breakable)
    env.globals.update(globals_ or {})
    return env


def table(header: list, rows: list[list], align: str) -> Tex:
    """A booktabs tabular; cells must be text (escaped here) or already-formatted Tex."""
    def cell(value):
        if isinstance(value, Tex):
            return str(value)
        if isinstance(value, str):
            return escape(value)
        raise TypeError(f"table cell {value!r} must be formatted (|num or Tex) first")

    def line(values):
        if len(values) != len(header):
            raise ValueError(f"table row {values!r} has {len(values)} cells, the header {len(header)}")
        return " & ".join(cell(v) for v in values) + r" \\"

    body = [line(header), r"\midrule"] + [line(row) for row in rows]
    return Tex("\\begin{tabular}{%s}\n\\toprule\n%s\n\\bottomrule\n\\end{tabular}" % (align, "\n".join(body)))


def template_line_for(template: str, generated_line: str) -> int | None:
    """The template line that most likely produced a line of generated LaTeX.

    Each template line becomes a pattern (its literal text, with `\\VAR{...}` and `\\BLOCK{...}` as wildcards); the
    match with the most literal characters wins.
    """
    best, best_len = None, 0
    for number, line in enumerate((TEMPLATES / template).read_text().splitlines(), 1):
        parts = re.split(r"\\(?:VAR|BLOCK)\{.*?\}", line.strip())
        literal = sum(len(p) for p in parts)
        if literal <= best_len or not line.strip():
            continue
        pattern = ".*".join(re.escape(p) for p in parts)
        if re.search(pattern, generated_line.strip()):
            best, best_len = number, literal
    return best
