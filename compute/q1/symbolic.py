"""Q1 in SymPy: operation counts of softmax and linear attention, the truncated-exponential
feature map and its dimension, and the kernel-attention identity, each built and checked.

Every expression leaves this module as `sympy.srepr`; counts are flops (one scalar
multiplication, addition, division or exponential each), with Phi(Q), Phi(K) taken as given.
"""

from __future__ import annotations

from itertools import combinations_with_replacement, product
from math import comb, prod

import sympy as sp
from sympy import binomial, expand, factorial, oo, sqrt

from compute.q1.series import truncated_exp

L, D, M = sp.symbols("L D M", positive=True, integer=True)
t = sp.Symbol("t", real=True)
COUNTING = "flops"


# --- 1.1 and 1.4: operation counts --------------------------------------------------------


def matmul_flops(rows, inner, cols):
    """(rows x inner) @ (inner x cols): each entry is `inner` products and `inner - 1` sums."""
    return rows * cols * (2 * inner - 1)


def softmax_attention_flops() -> dict:
    """Softmax(Q K^T) V, part by part: scores, exp + row sums + division, weighted sum of V."""
    return {
        "scores": matmul_flops(L, D, L),
        "softmax": L**2 + L * (L - 1) + L**2,
        "values": matmul_flops(L, L, D),
    }


def linear_attention_flops() -> dict:
    """Right to left: Phi(K)^T V and Phi(K)^T 1 once, then Phi(Q) times both, then divide."""
    return {
        "key_values": matmul_flops(M, L, D),
        "key_sums": M * (L - 1),
        "query_values": matmul_flops(L, M, D),
        "normaliser": matmul_flops(L, M, 1),
        "division": L * D,
    }


def linear_attention_left_to_right_flops() -> dict:
    """Left to right: the L x L matrix Phi(Q) Phi(K)^T first, then its row sums and times V."""
    return {
        "kernel_matrix": matmul_flops(L, M, L),
        "normaliser": L * (L - 1),
        "values": matmul_flops(L, L, D),
        "division": L * D,
    }


def top_degree_part(expr, *gens):
    """The terms of highest total degree in `gens`: the polynomial's leading behaviour."""
    poly = sp.Poly(expand(expr), *gens)
    top = poly.total_degree()
    return sp.Add(
        *[c * prod(g**e for g, e in zip(gens, m)) for m, c in poly.terms() if sum(m) == top]
    )


def cost_summary(parts: dict, gens) -> dict:
    """Total, its leading part, the degree in L and lim_{L->oo} total / leading."""
    total = expand(sum(parts.values()))
    leading = top_degree_part(total, *gens)
    ratio_in_L = sp.simplify(sp.limit(total / leading, L, oo))
    return {
        "parts": {name: sp.srepr(expand(p)) for name, p in parts.items()},
        "total": sp.srepr(total),
        "leading": sp.srepr(leading),
        "degree_in_L": int(sp.degree(total, L)),
        "leading_ratio_limit_L": sp.srepr(ratio_in_L),
        "leading_ratio_limit_all": sp.srepr(sp.limit(sp.limit(ratio_in_L, D, oo), M, oo)),
    }


def crossover_length(dimension: int, feature_dimension: int) -> dict:
    """L* where the softmax and right-to-left counts are equal, as a formula in D, M and a value."""
    softmax = expand(sum(softmax_attention_flops().values()))
    linear = expand(sum(linear_attention_flops().values()))
    roots = sp.solve(sp.Eq(softmax, linear), L)
    values = [float(r.subs({D: dimension, M: feature_dimension})) for r in roots]
    # the larger root is the one that grows with M: below it softmax is cheaper
    root = roots[values.index(max(values))]
    k3 = sp.expand_func(binomial(D + 2, 2))
    return {
        "equation": sp.srepr(sp.Eq(softmax, linear)),
        "length": sp.srepr(root),
        "roots_at_dimension": values,
        "dimension": dimension,
        "feature_dimension": feature_dimension,
        "value": max(values),
        "value_over_feature_dimension": max(values) / feature_dimension,
        # L* / M for fixed D as M grows, and then as D grows; and along M = C(D+2, 2)
        "ratio_large_M": sp.srepr(sp.factor(sp.limit(root / M, M, oo), deep=True)),
        "ratio_large_M_then_D": sp.srepr(sp.limit(sp.limit(root / M, M, oo), D, oo)),
        "ratio_large_D_k3": sp.srepr(sp.limit(root.subs(M, k3) / k3, D, oo)),
    }


def memory_summary() -> dict:
    """Scalars held besides Q, K, V and the output: scores vs feature matrices and two sums."""
    softmax = L**2
    linear = 2 * L * M + M * D + M + L
    return {
        "softmax": sp.srepr(softmax),
        "softmax_leading": sp.srepr(top_degree_part(softmax, L)),
        "linear": sp.srepr(linear),
        "linear_leading": sp.srepr(top_degree_part(linear, L, M, D)),
    }


def complexity(timing_dimension: int) -> dict:
    right_to_left = linear_attention_flops()
    left_to_right = linear_attention_left_to_right_flops()
    k3 = {name: p.subs(M, sp.expand_func(binomial(D + 2, 2))) for name, p in right_to_left.items()}
    left_coefficient = sp.Poly(expand(sum(left_to_right.values())), L).coeff_monomial(L**2)
    return {
        "counting": COUNTING,
        "softmax": cost_summary(softmax_attention_flops(), (L, D)),
        "linear_right_to_left": cost_summary(right_to_left, (L, M, D)),
        "linear_left_to_right": {
            **cost_summary(left_to_right, (L, M, D)),
            "coefficient_of_L2": sp.srepr(left_coefficient),
            # M >= D + 1 for K >= 2, so 2M + 2D is between 2M and 4M: Theta(L^2 M)
            "coefficient_over_2M_limit_k3": sp.srepr(
                sp.limit(
                    (left_coefficient / (2 * M)).subs(M, sp.expand_func(binomial(D + 2, 2))), D, oo
                )
            ),
            # left to right / right to left grows like L times this
            "over_right_to_left_per_L_limit": sp.srepr(
                sp.factor(
                    sp.limit(sum(left_to_right.values()) / (L * sum(right_to_left.values())), L, oo)
                )
            ),
        },
        "linear_k3": cost_summary(k3, (L, D)),
        "memory": memory_summary(),
        "crossover": crossover_length(timing_dimension, comb(timing_dimension + 2, 2)),
    }


# --- 1.2: the feature map ----------------------------------------------------------------


def multi_indices(dimension: int, terms: int):
    """Every a in N^D with |a| <= terms - 1, by degree: one per monomial of the series.

    Within a degree, ordered by highest variable first (colex), the order compute/q1/numeric.py
    builds them in.
    """
    for degree in range(terms):
        for combo in sorted(
            combinations_with_replacement(range(dimension), degree), key=lambda c: c[::-1]
        ):
            a = [0] * dimension
            for i in combo:
                a[i] += 1
            yield tuple(a)


def feature_map(x: list, terms: int) -> list:
    """phi(x) = [x^a / sqrt(a!)] for |a| <= terms - 1, so phi(q)^T phi(k) = sum_n (q^T k)^n / n!."""
    return [
        prod(xi**ai for xi, ai in zip(x, a)) / sqrt(prod(factorial(ai) for ai in a))
        for a in multi_indices(len(x), terms)
    ]


def vectors(name: str, count: int, dimension: int) -> list[list[sp.Symbol]]:
    return [
        list(sp.symbols(f"{name}{i}_1:{dimension + 1}", real=True)) for i in range(1, count + 1)
    ]


def feature_map_is_exact(dimension: int, terms: int) -> bool:
    """phi(q)^T phi(k) - sum_{n<K} (q^T k)^n / n! expands to 0."""
    (q,), (k,) = vectors("q", 1, dimension), vectors("k", 1, dimension)
    inner = sum(a * b for a, b in zip(feature_map(q, terms), feature_map(k, terms)))
    return expand(inner - truncated_exp(sum(a * b for a, b in zip(q, k)), terms)) == 0


def tensor_power_map(x: list, terms: int) -> list:
    """The redundant map: every ordered product x_i1...x_in / sqrt(n!), D^n of them per degree."""
    return [
        prod(x[i] for i in idx) / sqrt(factorial(n))
        for n in range(terms)
        for idx in product(range(len(x)), repeat=n)
    ]


def tensor_power_map_is_exact(dimension: int, terms: int) -> bool:
    (q,), (k,) = vectors("q", 1, dimension), vectors("k", 1, dimension)
    inner = sum(a * b for a, b in zip(tensor_power_map(q, terms), tensor_power_map(k, terms)))
    return expand(inner - truncated_exp(sum(a * b for a, b in zip(q, k)), terms)) == 0


def feature_map_dimension(dimension: int, terms: int) -> int:
    """M counted from the construction: the number of multi-indices."""
    return sum(1 for _ in multi_indices(dimension, terms))


def dimension_formula() -> dict:
    """sum_{n<K} C(D+n-1, n) = C(D+K-1, K-1): by SymPy's summation and by one induction step."""
    n, K = sp.symbols("n K", positive=True, integer=True)
    per_degree = binomial(D + n - 1, n)
    summed = sp.summation(per_degree, (n, 0, K - 1))
    closed = binomial(D + K - 1, K - 1)
    base = binomial(D + 1 - 1, 1 - 1)  # K = 1: only the constant
    # adding degree K to C(D+K-1, K-1) must give C(D+K, K) (Pascal's rule)
    step = closed + per_degree.subs(n, K) - closed.subs(K, K + 1)
    k3 = 1 + D + D * (D + 1) / 2
    return {
        "per_degree": sp.srepr(per_degree),
        "sum": sp.srepr(sp.Sum(per_degree, (n, 0, K - 1))),
        "summation_result": sp.srepr(summed),
        "closed_form": sp.srepr(closed),
        "summation_equals_closed_form": bool(sp.simplify(summed - closed) == 0),
        "induction_base_is_one": bool(sp.expand_func(base) == 1),
        "induction_step": sp.srepr(step),
        "induction_step_is_zero": bool(sp.combsimp(step) == 0),
        "k3_expression": sp.srepr(k3),
        "k3_closed_form": sp.srepr(binomial(D + 2, 2)),
        "k3_equal": bool(sp.simplify(k3 - sp.expand_func(binomial(D + 2, 2))) == 0),
    }


def wrong_formula(dimension: int, terms: int) -> dict:
    """The published 1 + D + sum_{i=3}^{K} C(D+K-2, K-1): its summand has no i in it."""
    i, K = sp.symbols("i K", positive=True, integer=True)
    summand = binomial(D + K - 2, K - 1)
    formula = 1 + D + sp.Sum(summand, (i, 3, K))
    corrected = 1 + D + sp.Sum(binomial(D + i - 2, i - 1), (i, 3, K))
    at = {D: dimension, K: terms}
    per_degree = [comb(dimension + d - 1, d) for d in range(terms)]
    return {
        "formula": sp.srepr(formula),
        "summand": sp.srepr(summand),
        "summand_depends_on_i": bool(summand.has(i)),
        "formula_summed": sp.srepr(sp.simplify(formula.doit())),
        "dimension": dimension,
        "terms": terms,
        "formula_value": int(formula.subs(at).doit()),
        "construction_value": feature_map_dimension(dimension, terms),
        "construction_per_degree": per_degree,
        # the formula counts every degree i - 1 >= 2 as if it were the top degree K - 1
        "formula_per_degree": per_degree[:2]
        + [comb(dimension + terms - 2, terms - 1)] * (terms - 2),
        "corrected": sp.srepr(corrected),
        "corrected_value": int(corrected.subs(at).doit()),
    }


def dimension_table(dimensions, terms_list, construct_up_to: int) -> list[dict]:
    """M for each (D, K): from the construction where it has at most construct_up_to entries."""
    rows = []
    for d in dimensions:
        for k in terms_list:
            closed = comb(d + k - 1, k - 1)
            counted = feature_map_dimension(d, k) if closed <= construct_up_to else None
            rows.append(
                {
                    "D": d,
                    "K": k,
                    "closed_form": closed,
                    "constructed": counted,
                    "agree": counted is None or counted == closed,
                    "tensor_power": sum(d**n for n in range(k)),
                }
            )
    return rows


def feature_map_section(p: dict) -> dict:
    identity = [
        {"D": d, "K": k, "exact": feature_map_is_exact(d, k)}
        for d in p["identity_dimensions"]
        for k in p["identity_terms"]
    ]
    counts = [
        {
            "D": d,
            "K": k,
            "constructed": feature_map_dimension(d, k),
            "closed_form": comb(d + k - 1, k - 1),
        }
        for d in p["count_dimensions"]
        for k in p["count_terms"]
    ]
    tensor = [
        {
            "D": d,
            "K": k,
            "exact": tensor_power_map_is_exact(d, k),
            "dimension": sum(d**n for n in range(k)),
            "minimal": comb(d + k - 1, k - 1),
        }
        for d in p["tensor_dimensions"]
        for k in p["tensor_terms"]
    ]
    x = list(sp.symbols("x1:3", real=True))
    return {
        "identity": identity,
        "identity_all_exact": all(c["exact"] for c in identity),
        "counts": counts,
        "counts_all_agree": all(c["constructed"] == c["closed_form"] for c in counts),
        "formula": dimension_formula(),
        "phi_k3_d2": [sp.srepr(c) for c in feature_map(x, 3)],
        "phi_k3_d2_input": [sp.srepr(c) for c in x],
        "wrong_formula": wrong_formula(*p["wrong_formula_at"]),
        "tensor_power": {
            "dimension": sp.srepr(sum(D**n for n in range(3))),
            "checks": tensor,
            "all_exact": all(c["exact"] for c in tensor),
            "larger_when_D_ge_2_and_K_ge_3": all(
                c["dimension"] > c["minimal"] for c in tensor if c["D"] >= 2 and c["K"] >= 3
            ),
        },
        "table": dimension_table(p["table_dimensions"], p["table_terms"], p["construct_up_to"]),
    }


# --- 1.3: kernel attention and positivity ------------------------------------------------


def kernel_attention_identity(length: int, dimension: int, terms: int) -> dict:
    """D^-1 Phi(Q) (Phi(K)^T V) against rows sum_j k(q_i,k_j) v_j / sum_j k(q_i,k_j).

    Both sides are numerator / normaliser; equal numerators and equal normalisers prove it.
    """
    Q, K = vectors("q", length, dimension), vectors("k", length, dimension)
    V = sp.Matrix(vectors("v", length, dimension))
    phi_q = sp.Matrix([feature_map(q, terms) for q in Q])
    phi_k = sp.Matrix([feature_map(k, terms) for k in K])
    numerators = phi_q * (phi_k.T * V)  # right to left: never forms the L x L matrix
    normalisers = phi_q * (phi_k.T * sp.ones(length, 1))
    kernel = sp.Matrix(
        length, length, lambda i, j: truncated_exp(sum(a * b for a, b in zip(Q[i], K[j])), terms)
    )
    numerators_equal = all(expand(e) == 0 for e in numerators - kernel * V)
    normalisers_equal = all(expand(e) == 0 for e in normalisers - kernel * sp.ones(length, 1))
    return {
        "L": length,
        "D": dimension,
        "K": terms,
        "numerators_equal": numerators_equal,
        "normalisers_equal": normalisers_equal,
        "equal": numerators_equal and normalisers_equal,
    }


def positivity() -> dict:
    """1 + t + t^2/2 = ((t+1)^2 + 1)/2 >= 1/2; truncations of odd degree (even K) go negative."""
    k3 = truncated_exp(t, 3)
    square = ((t + 1) ** 2 + 1) / 2
    critical = sp.solve(sp.diff(k3, t), t)
    k5 = truncated_exp(t, 5)
    k5_min_at = sp.nsolve(sp.diff(k5, t), t, -1.6)
    negatives = []
    for terms, at in ((2, -2), (4, -3)):
        value = truncated_exp(t, terms).subs(t, at)
        negatives.append(
            {
                "K": terms,
                "t": at,
                "expression": sp.srepr(truncated_exp(t, terms)),
                "value": sp.srepr(value),
                "value_float": float(value),
            }
        )
    return {
        "k3": sp.srepr(k3),
        "k3_square_form": sp.srepr(square),
        "k3_equals_square_form": bool(expand(k3 - square) == 0),
        "k3_factor_over_complex": sp.srepr(sp.factor(k3, extension=sp.I)),
        "k3_critical_points": [sp.srepr(c) for c in critical],
        "k3_minimum": sp.srepr(sp.minimum(k3, t, sp.S.Reals)),
        "k3_second_derivative": sp.srepr(sp.diff(k3, t, 2)),
        "k3_real_roots": len(sp.real_roots(sp.Poly(k3, t))),
        "k5_minimum_at": float(k5_min_at),
        "k5_minimum": float(k5.subs(t, k5_min_at)),
        "even_k_negative": negatives,
    }


def run(ctx) -> dict:
    p = ctx.params
    ctx.log("operation counts and crossover")
    costs = complexity(p["timing_dimension"])
    ctx.log("feature map identity and dimensions")
    features = feature_map_section(p)
    ctx.log("kernel attention identity and positivity")
    identities = [
        kernel_attention_identity(n, d, p["kernel_terms"])
        for n in p["kernel_lengths"]
        for d in p["kernel_dimensions"]
    ]
    return {
        "complexity": costs,
        "feature_map": features,
        "kernel_attention": {
            "checks": identities,
            "all_equal": all(c["equal"] for c in identities),
        },
        "positivity": positivity(),
        "symbols": {"L": sp.srepr(L), "D": sp.srepr(D), "M": sp.srepr(M), "t": sp.srepr(t)},
    }
