"""Q1's claims, each checked by a second route, and the variables its template reads."""
from __future__ import annotations

from math import comb

import numpy as np
import sympy as sp

from compute.q1 import steps
from report.claims import Claim
from report.sections import Section

L, D, M, K, n = sp.symbols("L D M K n", positive=True, integer=True)
t = sp.Symbol("t", real=True)


def _sym(text: str) -> sp.Expr:
    """A result's srepr back into SymPy, its symbols replaced by ours (matched by name)."""
    expr = sp.sympify(text)
    ours = {s.name: s for s in (L, D, M, t, K, n)}
    return expr.subs({s: ours.get(s.name, s) for s in expr.free_symbols})


def _leading_by_limits(total: sp.Expr, monomial: sp.Expr) -> sp.Expr:
    """c * monomial with c = lim total / monomial as L, then every other size, grows without bound."""
    ratio = sp.limit(total / monomial, L, sp.oo)
    for size in sorted(ratio.free_symbols, key=str):
        ratio = sp.limit(ratio, size, sp.oo)
    return ratio * monomial


def _top_degree(expr: sp.Expr, *gens) -> sp.Expr:
    poly = sp.Poly(sp.expand(expr), *gens)
    top = max(sum(m) for m in poly.monoms())
    return sum(c * sp.prod(g**e for g, e in zip(gens, m)) for m, c in poly.terms() if sum(m) == top)


def _phi_inner_is_truncated_exp(components: list[sp.Expr], terms: int) -> bool:
    """The stated phi (in x1, x2): phi(q).phi(k) minus the truncated series of q.k expands to 0."""
    x = sorted({s for c in components for s in c.free_symbols}, key=str)
    q, k = sp.symbols(f"q1:{len(x) + 1}"), sp.symbols(f"k1:{len(x) + 1}")
    inner = sum(c.subs(dict(zip(x, q))) * c.subs(dict(zip(x, k))) for c in components)
    s = sum(a * b for a, b in zip(q, k))
    return sp.expand(inner - sum(s**j / sp.factorial(j) for j in range(terms))) == 0


def claims(results: dict) -> list[Claim]:
    sym, timing = results["q1.symbolic"].data, results["q1.numeric"].data["timing"]
    cx, fm = sym["complexity"], sym["feature_map"]
    soft, lin, l2r = cx["softmax"], cx["linear_right_to_left"], cx["linear_left_to_right"]
    soft_total, lin_total, l2r_total = (_sym(c["total"]) for c in (soft, lin, l2r))
    out = [
        Claim("q1.softmax_total", soft_total, sum(_sym(p) for p in soft["parts"].values())),
        Claim("q1.softmax_leading", _sym(soft["leading"]), _leading_by_limits(soft_total, L**2 * D)),
        Claim("q1.linear_total", lin_total, sum(_sym(p) for p in lin["parts"].values())),
        Claim("q1.linear_leading", _sym(lin["leading"]), _leading_by_limits(lin_total, L * M * D)),
        Claim("q1.linear_degree_in_L", lin["degree_in_L"], int(sp.degree(lin_total, L))),
        Claim("q1.left_to_right_total", l2r_total, sum(_sym(p) for p in l2r["parts"].values())),
        Claim("q1.left_to_right_degree_in_L", l2r["degree_in_L"], int(sp.degree(l2r_total, L))),
        Claim("q1.left_to_right_leading", _sym(l2r["leading"]), _top_degree(l2r_total, L, M, D)),
        Claim("q1.linear_k3_leading", _sym(cx["linear_k3"]["leading"]),
              _top_degree(lin_total.subs(M, (D + 2) * (D + 1) / 2), L, D)),
        Claim("q1.memory_softmax", _sym(cx["memory"]["softmax_leading"]), L**2),
        Claim("q1.memory_linear", _sym(cx["memory"]["linear_leading"]),
              _top_degree(_sym(cx["memory"]["linear"]), L, M, D)),
        Claim("q1.M_general", _sym(fm["formula"]["closed_form"]),
              sp.summation(sp.binomial(D + n - 1, n), (n, 0, K - 1))),
        Claim("q1.M_k3", _sym(fm["formula"]["k3_expression"]), sp.binomial(D + 2, 2)),
        Claim("q1.M_counts_match_closed_form", all(c["constructed"] == c["closed_form"] for c in fm["counts"]),
              all(c["constructed"] == comb(c["D"] + c["K"] - 1, c["K"] - 1) for c in fm["counts"])),
        Claim("q1.phi_k3_is_exact", _phi_inner_is_truncated_exp([_sym(c) for c in fm["phi_k3_d2"]], 3), True),
        Claim("q1.identity_grid_exact", fm["identity_all_exact"], True),
        Claim("q1.wrong_formula_value", fm["wrong_formula"]["formula_value"],
              1 + 2 + (4 - 2) * comb(2 + 4 - 2, 4 - 1)),
        Claim("q1.wrong_formula_truth", fm["wrong_formula"]["construction_value"], comb(2 + 4 - 1, 4 - 1)),
        Claim("q1.tensor_power_k3", _sym(fm["tensor_power"]["dimension"]), 1 + D + D**2),
        Claim("q1.kernel_identity_holds", sym["kernel_attention"]["all_equal"], True),
        Claim("q1.k3_square_form", _sym(sym["positivity"]["k3_square_form"]), 1 + t + t**2 / 2),
        Claim("q1.k3_minimum", _sym(sym["positivity"]["k3_minimum"]), (1 + t + t**2 / 2).subs(t, -1)),
        Claim("q1.crossover_length", cx["crossover"]["value"], _crossover(soft_total, lin_total,
                                                                        cx["crossover"]["dimension"],
                                                                        cx["crossover"]["feature_dimension"]),
              tol=1e-6),
    ]
    for row in fm["table"]:
        out.append(Claim(f"q1.M_table.D{row['D']}.K{row['K']}", row["constructed"] or row["closed_form"],
                         comb(row["D"] + row["K"] - 1, row["K"] - 1)))
    for name in ("softmax", "linear"):
        curve = timing[name]
        keep = [(x, s) for x, s in zip(curve["lengths"], curve["seconds"]) if x >= timing["fit_from"]]
        refit = float(np.polyfit(np.log([x for x, _ in keep]), np.log([s for _, s in keep]), 1)[0])
        out.append(Claim(f"q1.slope_{name}", curve["slope"], refit, tol=1e-9))
    return out


def _crossover(softmax: sp.Expr, linear: sp.Expr, dimension: int, features: int) -> float:
    roots = sp.Poly((softmax - linear).subs({D: dimension, M: features}), L).nroots()
    return max(float(r) for r in roots if abs(sp.im(r)) < 1e-12)


def context(results: dict) -> dict:
    sym, num = results["q1.symbolic"].data, results["q1.numeric"].data
    cx, fm = sym["complexity"], sym["feature_map"]
    parts = {name: {part: _sym(expr) for part, expr in cx[name]["parts"].items()}
             for name in ("softmax", "linear_right_to_left", "linear_left_to_right")}
    table = fm["table"]
    return {
        "counting": cx["counting"],
        "parts": parts,
        "phi": [_sym(c) for c in fm["phi_k3_d2"]],
        "wrong": fm["wrong_formula"],
        "wrong_formula": _sym(fm["wrong_formula"]["formula"]),
        "identity_dims": sorted({c["D"] for c in fm["identity"]}),
        "identity_terms": sorted({c["K"] for c in fm["identity"]}),
        "count_dims": sorted({c["D"] for c in fm["counts"]}),
        "count_terms": sorted({c["K"] for c in fm["counts"]}),
        "table_dims": sorted({r["D"] for r in table}),
        "table_terms": sorted({r["K"] for r in table}),
        "table_constructed": {(r["D"], r["K"]): r["constructed"] is not None for r in table},
        "kernel_checks": sym["kernel_attention"]["checks"],
        "negatives": [{**x, "expression": _sym(x["expression"]), "value": _sym(x["value"])}
                      for x in sym["positivity"]["even_k_negative"]],
        "crossover": cx["crossover"],
        "crossover_formula": _sym(cx["crossover"]["length"]),
        "error": num["error"],
        "timing": num["timing"],
        "figures": results["q1.figures"].data,
    }


SECTION = Section(
    name="q1", title="Efficient self-attention",
    summary="complexities, the feature map and its dimension M (SymPy), the linear-attention "
            "identity, measured softmax vs linear attention timings",
    profiles=steps.PROFILES, steps=steps.steps, claims=claims, context=context)
