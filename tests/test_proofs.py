"""Stated numbers keep their origin into the LaTeX (links to the appendix of proofs), the numeral
check finds hand-typed numbers in generated LaTeX, and figure checks compare what was drawn."""

import sys

import sympy

from report.claims import Claim, ClaimRegistry
from report.figures import axes, figure_claims, line
from report.links import linked
from report.numerals import stray_numerals
from report.proofs import Proofs
from report.render import Tex, make_environment


def render(source: str, claims=(), **variables) -> str:
    registry = ClaimRegistry(list(claims))
    env = make_environment(Proofs(registry, lambda step, file: Tex(file)).globals())
    return env.from_string(source).render(**variables)


def test_a_claimed_number_links_to_its_entry_and_arithmetic_keeps_the_link():
    claims = [
        Claim("q2.best_margin.cnn_maxpool", 0.125, 0.125),
        Claim("q2.rates", [0.1, 0.01], [0.1, 0.01]),
    ]
    assert (
        render(r"\VAR{(100 * claim('q2.best_margin.cnn_maxpool'))|num(1)}", claims)
        == r"\claimref{q2.best-margin.cnn-maxpool}{12.5}"
    )
    assert render(r"\VAR{claim('q2.rates')|length|num}", claims) == r"\claimref{q2.rates}{2}"
    assert (
        render(r"\VAR{claim('q2.rates')|map('num', 2)|texjoin(', ')}", claims)
        == r"\claimref{q2.rates}{0.10}, \claimref{q2.rates}{0.01}"
    )


def test_a_number_from_two_different_claims_links_to_neither():
    a, b = linked(3, ("claim", "q1.a")), linked(4, ("claim", "q1.b"))
    assert not hasattr(a + b, "ref") and (a + 1).ref == ("claim", "q1.a")


def test_published_and_measured_values_link_to_their_own_entries():
    assert (
        render(r"\VAR{cited('q2.published.params')|num}")
        == r"\citedref{q2.published.params}{225{,}618}"
    )
    assert render(r"\VAR{measured(1.25)|num(1)}") == r"\measuredref{1.2}"


def test_a_claimed_formula_links_through_tex():
    claims = [Claim("q1.memory_softmax", sympy.Symbol("L") ** 2, sympy.Symbol("L") ** 2)]
    assert (
        render(r"$\VAR{claim('q1.memory_softmax')|tex}$", claims)
        == r"$\claimref{q1.memory-softmax}{L^{2}}$"
    )


def test_hand_typed_numerals_are_found_and_structure_is_not():
    typed = (
        "the 529 images\n" r"the question asks for $K = 3$, and $2$ more" "\n" r"dropout 0.7 after"
    )
    assert stray_numerals(typed) == [(1, "529"), (2, "2"), (2, "3"), (3, "0.7")]
    structure = "\n".join(
        [
            r"on the \claimref{q2.course-test-images}{529} images, "
            r"\citedref{q3.published.clips}{2{,}620} clips",
            r"\subsection*{Question 2.1: the max-pooling (2.1) network} "
            r"on LJ Speech 1.1, \texttt{float64}",
            r"\includegraphics[width=0.48\linewidth]{figures/q2-figures-samples.pdf}\hspace*{1em}",
            r"$\sum_{n=0}^{K-1} t^n/n! = 1 + t + \tfrac12 t^{2}$, $\binom{D+2}{2}$, "
            r"\measuredref{0.3}\,s on AVX2",
            r"\recorded{Python 3.11.7} % a comment with 42",
        ]
    )
    assert stray_numerals(structure) == []


def _record(ys):
    return {
        "file": "val_acc_net.pdf",
        "sources": [],
        "axes": [
            {
                "xlabel": "epoch",
                "ylabel": "accuracy",
                "xscale": "linear",
                "yscale": "linear",
                "legend": ["lr = 0.1"],
                "lines": [{"label": "lr = 0.1", "x": list(range(1, len(ys) + 1)), "y": ys}],
                "images": [],
            }
        ],
    }


def test_a_figure_is_checked_point_by_point_against_what_it_should_show():
    expected = [axes("epoch", "accuracy", [line("lr = 0.1", [1, 2, 3], [0.5, 0.6, 0.7])])]
    assert [c.failure() for c in figure_claims("q2", _record([0.5, 0.6, 0.7]), expected)] == [
        None
    ] * 3
    failed = {
        c.name for c in figure_claims("q2", _record([0.5, 0.61, 0.7]), expected) if c.failure()
    }
    assert failed == {"q2.figure.val_acc_net.drawn"}
    failed = {c.name for c in figure_claims("q2", _record([0.5, 0.6]), expected) if c.failure()}
    assert failed == {"q2.figure.val_acc_net.points", "q2.figure.val_acc_net.drawn"}


def test_a_figures_checks_count_as_used_when_the_template_includes_it():
    claims = figure_claims(
        "q2", _record([0.5]), [axes("epoch", "accuracy", [line("lr = 0.1", [1], [0.5])])]
    )
    registry = ClaimRegistry(claims)
    assert len(registry.problems({"q2"})) == 3  # defined, never used
    env = make_environment(Proofs(registry, lambda step, file: Tex(file)).globals())
    text = env.from_string(
        r"\VAR{fig('q2.figures', 'val_acc_net.pdf')} \VAR{figure_checks()}"
    ).render()
    assert registry.problems({"q2"}) == []
    assert (
        text == r"val_acc_net.pdf Drawn data checked: \figureref{q2.figures.val-acc-net.pdf}{F1}."
    )


def test_a_claim_names_the_line_of_code_that_made_it():
    claim, here = Claim("q1.x", 1, 1), sys._getframe().f_lineno
    assert claim.where == f"tests/test_proofs.py:{here}"
