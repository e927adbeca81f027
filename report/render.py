"""Jinja2 with LaTeX-looking delimiters, and escaping by type.

Every plain string a template prints is escaped; trusted LaTeX (`Tex`) passes through; a number
or a SymPy object printed without `|num` or `|tex` is an error, so every number in the PDF is
formatted on purpose and every formula comes from SymPy's printer.
"""

from __future__ import annotations

import functools
import numbers
import re
import traceback
from pathlib import Path

import jinja2
import jinja2.ext
import sympy

from compute.engine.errors import BuildError
from compute.engine.files import ROOT
from report.links import LinkedExpr, LinkedInt, linked, origin

TEMPLATES = ROOT / "templates"


class Tex(str):
    """A string that is already valid LaTeX and must not be escaped."""


_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}
_SPECIAL_RE = re.compile(r"[\\&%$#_{}~^]|[\x00-\x08\x0b-\x1f\x7f]")


def escape(text: str) -> Tex:
    """Plain text -> LaTeX that prints it literally; control characters are dropped."""
    return Tex(_SPECIAL_RE.sub(lambda m: _SPECIAL.get(m.group(0), ""), str(text)))


MARKERS = {"claim": r"\claimref", "cited": r"\citedref"}


def anchor(name: str) -> str:
    """A claim's or published value's name as a hyperref destination (letters, digits, dots,
    dashes)."""
    return re.sub(r"[^A-Za-z0-9.]", "-", name)


def linked_text(text: str, value) -> Tex:
    """Formatted `text` of `value`, inside the link to its appendix entry when it has an origin."""
    ref = origin(value)
    if ref is None:
        return Tex(text)
    kind, name = ref
    if kind == "measured":
        return Tex(rf"\measuredref{{{text}}}")
    return Tex(rf"{MARKERS[kind]}{{{anchor(name)}}}{{{text}}}")


def finalize(value):
    if isinstance(value, jinja2.Undefined):
        str(value)  # StrictUndefined raises here, naming the missing variable
    if isinstance(value, Tex):
        return value
    if isinstance(value, str):
        return escape(value)
    if isinstance(value, (sympy.Basic, LinkedExpr)):
        raise TypeError(f"SymPy object {value} printed without |tex")
    if isinstance(value, (bool, numbers.Number)) or type(value).__module__ == "numpy":
        raise TypeError(f"number {value!r} printed without |num")
    raise TypeError(f"{type(value).__name__} {value!r} cannot be printed; format it first")


def num(value, digits: int | None = None, percent: bool = False, sign: bool = False) -> Tex:
    """A number for the text: integers with thousands separators, floats to `digits` decimals.

    percent=True prints 100*value followed by a percent sign. A number from a claim, a published
    value or a measurement (report/links.py) is printed inside the link to its appendix entry.
    """
    source = value
    if isinstance(value, LinkedExpr):
        value = value.value
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
    return linked_text(text + (r"\%" if percent else ""), source)


def tex(value) -> Tex:
    """A SymPy expression (or anything sympify accepts) as LaTeX, without math delimiters; linked
    to its appendix entry when it comes from a claim."""
    plain = value.value if isinstance(value, LinkedExpr) else value
    return linked_text(_latex(sympy.sympify(plain)), value)


@functools.lru_cache(maxsize=4096)  # the same formulas again on every rendering (--watch, --mutate)
def _latex(expr: sympy.Basic) -> str:
    return sympy.latex(expr)


def length(value) -> int:
    """|length, keeping the origin of a linked list: the number of learning rates a claim states."""
    ref = origin(value)
    return len(value) if ref is None else LinkedInt(len(value), ref)


def measured(value):
    """A wall-clock time or another value only measured: |num links it to the appendix's list of
    measured values."""
    return linked(value, ("measured", ""))


def recorded(text) -> Tex:
    """What the build records about itself (dates, versions, keys, code locations) for the appendix:
    marked so that the numeral check (report/numerals.py) knows it is no stated result."""
    return Tex(rf"\recorded{{{text if isinstance(text, Tex) else escape(text)}}}")


_COMMENT_LINE = re.compile(r"(?m)^[ \t]*%#.*\n")


class _WholeLineComments(jinja2.ext.Extension):
    """Drops lines that hold only a `%#` comment, so they leave no empty line (a LaTeX
    paragraph)."""

    def preprocess(self, source, name, filename=None):
        return _COMMENT_LINE.sub("", source)


def breakable(text: str) -> Tex:
    """Escaped text that LaTeX may break after any character (long transcriptions without
    spaces)."""
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
        block_start_string=r"\BLOCK{",
        block_end_string="}",
        variable_start_string=r"\VAR{",
        variable_end_string="}",
        comment_start_string=r"\#{",
        comment_end_string="}",
        line_comment_prefix="%#",
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        finalize=finalize,
        extensions=[_WholeLineComments],
    )
    env.filters.update(
        num=num,
        tex=tex,
        escape=escape,
        texjoin=texjoin,
        breakable=breakable,
        length=length,
        count=length,
        recorded=recorded,
    )
    env.globals.update({"measured": measured, "zip": zip} | (globals_ or {}))
    return env


def template_line_for(template: str, generated_line: str) -> int | None:
    """The template line that most likely produced a line of generated LaTeX.

    Each template line becomes a pattern (its literal text, with `\\VAR{...}` and `\\BLOCK{...}`
    as wildcards); the match with the most literal characters wins.
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


def template_origin(template: str, generated_line: str) -> tuple[str, int | None]:
    """The template (or one it includes) and the line that most likely wrote a line of generated
    LaTeX."""
    included = re.findall(r'\\BLOCK\{\s*include\s+"([^"]+)"', (TEMPLATES / template).read_text())
    for name in [template, *included]:
        line = template_line_for(name, generated_line)
        if line:
            return name, line
    return template, None


# --- where a template error is -----------------------------------------------------------------

_OPENERS = {"if", "for", "macro", "call", "filter", "with", "block", "raw", "autoescape"}


def source_line(source: str, line: int) -> int:
    """The line of `source` that is line `line` of what Jinja2 compiled (whole-line comments
    removed)."""
    removed = {source.count("\n", 0, m.start()) + 1 for m in _COMMENT_LINE.finditer(source)}
    kept = [n for n in range(1, source.count("\n") + 2) if n not in removed]
    return kept[line - 1] if 0 < line <= len(kept) else line


def _unclosed_block(env: jinja2.Environment, source: str) -> int | None:
    """The compiled line of the innermost `\\BLOCK{...}` still open at the end of the template."""
    stack, after_begin = [], False
    for lineno, kind, value in env.lex(_COMMENT_LINE.sub("", source)):
        if after_begin and kind == "name":
            if value in _OPENERS:
                stack.append(lineno)
            elif value.startswith("end") and stack:
                stack.pop()
        after_begin = kind == "block_begin"
    return stack[-1] if stack else None


def template_location(env: jinja2.Environment, error: BaseException) -> tuple[str, int] | None:
    """(template name, line in the template file) where rendering failed, for syntax errors and for
    errors raised while a template (or one it includes) runs."""
    folder = Path(env.loader.searchpath[0]).resolve()
    if isinstance(error, jinja2.TemplateSyntaxError) and error.name:
        source = (folder / error.name).read_text()
        line = error.lineno
        if "Unexpected end of template" in error.message:
            line = _unclosed_block(env, source) or line
        return error.name, source_line(source, line)
    frames = [
        f
        for f in traceback.extract_tb(error.__traceback__)
        if Path(f.filename).resolve().parent == folder and f.filename.endswith(".j2")
    ]
    if not frames:
        return None
    name = Path(frames[-1].filename).name
    return name, source_line((folder / name).read_text(), frames[-1].lineno)


def template_message(env: jinja2.Environment, error: BaseException, template: str) -> str:
    """One line for a failed rendering: templates/<file>:<line>: what went wrong."""
    name, line = template_location(env, error) or (template, None)
    text = (
        error.message if isinstance(error, jinja2.TemplateError) and error.message else str(error)
    )
    hint = {
        jinja2.TemplateSyntaxError: "fix the template syntax",
        jinja2.UndefinedError: "check the name against the section's context() and claims",
    }
    fix = next(
        (h for kind, h in hint.items() if isinstance(error, kind)),
        "fix the expression on that line",
    )
    return f"templates/{name}" + (f":{line}" if line else "") + f": {text} ({fix})"


def check_templates(env: jinja2.Environment) -> None:
    """Compiles every template, so a syntax error stops the build before any computation."""
    for name in env.list_templates(extensions=["j2"]):
        try:
            env.get_template(name)
        except jinja2.TemplateSyntaxError as error:
            raise TemplateProblem(template_message(env, error, name)) from error


class TemplateProblem(BuildError):
    """A template cannot be compiled or rendered; the message starts with its file and line."""
