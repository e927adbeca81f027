"""Escaping by type, number formatting, and tracing a LaTeX error back to its template line."""

import jinja2
import pytest
import sympy

from report import render
from report.render import Tex, escape, num


def render_string(source: str, **variables) -> str:
    return render.make_environment().from_string(source).render(**variables)


def test_plain_strings_are_escaped_for_latex():
    assert escape("50% of a_b & {c} #1 $x ~y ^z \\") == (
        r"50\% of a\_b \& \{c\} \#1 \$x \textasciitilde{}y \textasciicircum{}z \textbackslash{}"
    )


def test_control_characters_are_dropped():
    assert escape("a\x07b\x1bc") == "abc"


def test_trusted_latex_passes_through_unchanged():
    assert render_string(r"\VAR{x}", x=Tex(r"\frac{1}{2}")) == r"\frac{1}{2}"


def test_template_strings_are_escaped_by_the_finalize_hook():
    assert render_string(r"\VAR{x}", x="<a_b>") == r"<a\_b>"


@pytest.mark.parametrize("value", [0.5, 3, sympy.Symbol("L") ** 2])
def test_numbers_and_sympy_objects_must_go_through_a_filter(value):
    with pytest.raises(TypeError):
        render_string(r"\VAR{x}", x=value)


def test_num_formats_integers_with_thousands_separators():
    assert num(224892) == "224{,}892"
    assert render_string(r"\VAR{x|num}", x=47905) == "47{,}905"


def test_num_formats_floats_and_percentages():
    assert num(0.83364, 3) == "0.834"
    assert num(0.83364, 1, percent=True) == r"83.4\%"
    assert num(-1.5, 1) == r"\ensuremath{-}1.5"


def test_tex_prints_sympy_latex():
    L, D = sympy.symbols("L D")
    assert render_string(r"\VAR{e|tex}", e=2 * L**2 * D) == "2 D L^{2}"


def test_undefined_variables_are_errors():
    with pytest.raises(jinja2.UndefinedError):
        render_string(r"\VAR{missing}")


def test_block_and_comment_delimiters_read_like_latex():
    out = render_string(
        "\\BLOCK{for i in xs}\n\\VAR{i}\n\\BLOCK{endfor}\n%# a line comment\n\\#{ a comment }done",
        xs=["a", "b"],
    )
    assert out == "a\nb\ndone"


def test_template_line_for_finds_the_line_that_produced_the_output(tmp_path, monkeypatch):
    (tmp_path / "t.tex.j2").write_text("intro\nThe value is \\VAR{x} here.\n\\badmacro{\\VAR{y}}\n")
    monkeypatch.setattr(render, "TEMPLATES", tmp_path)
    assert render.template_line_for("t.tex.j2", r"\badmacro{12}") == 3
    assert render.template_line_for("t.tex.j2", "The value is 4 here.") == 2
