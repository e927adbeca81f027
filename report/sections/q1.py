"""Q1's claims, each checked by a second route, and the variables its template reads.

The operation counts are checked against polynomials fitted through the operations counted while
running the algorithms on small matrices of a counting number type; leading terms by scaling
limits; dimensions by counting monomials with a recurrence; identities numerically; slopes by the
closed-form least-squares line; settings against the steps' declarations.
"""

from __future__ import annotations

import itertools
import math
from fractions import Fraction
from functools import lru_cache, reduce

import numpy as np
import sympy as sp
import torch

from compute.q1 import steps
from report.cited import cited_value
from report.claims import Claim, declared, parse_written_math
from report.figures import axes, figure_claims, line, prefix
from report.sections import Section

L, D, M, K, n = sp.symbols("L D M K n", positive=True, integer=True)
t = sp.Symbol("t", real=True)
GRID = (1, 2, 3)  # sizes the counts are taken at: every count has degree <= 2 in each size
MEASURED = {"q1.numeric:timing.*.seconds.*": "Q1.4, the timing figure: wall time of each call"}


@lru_cache(maxsize=None)
def _sym(text: str) -> sp.Expr:
    """A result's srepr back into SymPy, its symbols replaced by ours (matched by name)."""
    expr = sp.sympify(text)
    ours = {s.name: s for s in (L, D, M, t, K, n)}
    return expr.subs({s: ours.get(s.name, s) for s in expr.free_symbols})


class Tally:
    """A number that counts the scalar operations done with it: multiply, add, divide, exp."""

    done = 0

    def _op(self, _other=None):
        Tally.done += 1
        return Tally()

    __add__ = __mul__ = __truediv__ = _op


def _matmul(a: list, b: list) -> list:
    return [
        [
            reduce(lambda x, y: x + y, (a[i][k] * b[k][j] for k in range(len(b))))
            for j in range(len(b[0]))
        ]
        for i in range(len(a))
    ]


def _sum(row: list):
    return reduce(lambda x, y: x + y, row)


def _matrix(rows: int, cols: int) -> list:
    return [[Tally() for _ in range(cols)] for _ in range(rows)]


def _transpose(a: list) -> list:
    return [list(col) for col in zip(*a)]


def _take() -> int:
    """The operations counted since the last call."""
    done, Tally.done = Tally.done, 0
    return done


def _softmax_parts(length: int, d: int, m: int) -> dict:
    q, k, v = _matrix(length, d), _matrix(length, d), _matrix(length, d)
    _take()
    scores = _matmul(q, _transpose(k))
    parts = {"scores": _take()}
    weights = [[x._op() for x in row] for row in scores]  # exp
    sums = [_sum(row) for row in weights]
    normalised = [[x / s for x in row] for row, s in zip(weights, sums)]
    parts["softmax"] = _take()
    _matmul(normalised, v)
    return parts | {"values": _take(), "held": len(scores) * len(scores[0])}


def _linear_parts(length: int, d: int, m: int) -> dict:
    phi_q, phi_k, v = _matrix(length, m), _matrix(length, m), _matrix(length, d)
    _take()
    key_values = _matmul(_transpose(phi_k), v)
    parts = {"key_values": _take()}
    key_sums = [_sum(col) for col in _transpose(phi_k)]
    parts["key_sums"] = _take()
    numerators = _matmul(phi_q, key_values)
    parts["query_values"] = _take()
    normaliser = _matmul(phi_q, [[s] for s in key_sums])
    parts["normaliser"] = _take()
    [[x / z[0] for x in row] for row, z in zip(numerators, normaliser)]
    held = 2 * length * m + len(key_values) * len(key_values[0]) + len(key_sums) + len(normaliser)
    return parts | {"division": _take(), "held": held}


def _left_to_right_parts(length: int, d: int, m: int) -> dict:
    phi_q, phi_k, v = _matrix(length, m), _matrix(length, m), _matrix(length, d)
    _take()
    kernel = _matmul(phi_q, _transpose(phi_k))
    parts = {"kernel_matrix": _take()}
    sums = [_sum(row) for row in kernel]
    parts["normaliser"] = _take()
    values = _matmul(kernel, v)
    parts["values"] = _take()
    [[x / s for x in row] for row, s in zip(values, sums)]
    return parts | {"division": _take(), "held": len(kernel) * len(kernel[0])}


ALGORITHMS = {
    "softmax": _softmax_parts,
    "linear_right_to_left": _linear_parts,
    "linear_left_to_right": _left_to_right_parts,
}


@lru_cache(maxsize=None)
def counted(algorithm: str) -> dict[str, sp.Expr]:
    """Per part, the total and the scalars held: the polynomial through the counts of one run of
    the algorithm at every point of the grid of sizes."""
    points = {size: ALGORITHMS[algorithm](*size) for size in itertools.product(GRID, repeat=3)}
    monomials = [L**a * D**b * M**c for a, b, c in itertools.product(range(len(GRID)), repeat=3)]
    system = sp.Matrix(
        [[mono.subs({L: length, D: d, M: m}) for mono in monomials] for length, d, m in points]
    )
    parts = list(next(iter(points.values())))
    # one column per part
    solved = system.LUsolve(sp.Matrix([[p[what] for what in parts] for p in points.values()]))
    out = {
        what: sp.expand(sum(c * mono for c, mono in zip(solved[:, i], monomials)))
        for i, what in enumerate(parts)
    }
    out["total"] = sp.expand(sum(v for k, v in out.items() if k != "held"))
    return out


@lru_cache(maxsize=None)
def _leading_by_scaling(expr: sp.Expr, gens) -> sp.Expr:
    """The terms of highest total degree: lim s^-k expr(s x) for the one k that gives a finite,
    non-zero limit."""
    s = sp.Symbol("s", positive=True)
    scaled = expr.subs({g: s * g for g in gens}, simultaneous=True)
    for k in range(1, 8):
        limit = sp.limit(scaled / s**k, s, sp.oo)
        if limit.is_finite and limit != 0:
            return sp.expand(limit)
    return sp.nan


@lru_cache(maxsize=None)
def growth_degree(algorithm: str) -> int:
    """The degree in L seen from the counts: log2 of the count ratio when L doubles (D = M = 2)."""
    counts = []
    for length in (64, 128):
        counts.append(sum(v for k, v in ALGORITHMS[algorithm](length, 2, 2).items() if k != "held"))
    return round(math.log2(counts[1] / counts[0]))


@lru_cache(maxsize=None)
def monomials_up_to(dimension: int, degree: int) -> int:
    """Monomials of degree <= `degree` in `dimension` variables, counted by recurrence over the
    exponent of the last variable (no binomial coefficient)."""
    if dimension == 0:
        return 1
    return sum(monomials_up_to(dimension - 1, degree - e) for e in range(degree + 1))


def _of_degree(dimension: int, degree: int) -> int:
    return monomials_up_to(dimension, degree) - (
        monomials_up_to(dimension, degree - 1) if degree else 0
    )


def _numeric_phi(x: np.ndarray, terms: int) -> np.ndarray:
    """x^a / sqrt(a!) for every multi-index of degree < terms, built from index multisets."""
    out = []
    for degree in range(terms):
        for combo in itertools.combinations_with_replacement(range(len(x)), degree):
            counts = np.bincount(np.array(combo, dtype=int), minlength=len(x))
            out.append(np.prod(x**counts) / math.sqrt(np.prod([math.factorial(c) for c in counts])))
    return np.array(out)


@lru_cache(maxsize=None)
def _identity_holds_numerically(dimension: int, terms: int, seed: int = 0) -> bool:
    rng = np.random.default_rng(seed)
    q, k = rng.normal(size=(2, dimension))
    series = sum((q @ k) ** j / math.factorial(j) for j in range(terms))
    return bool(
        np.isclose(_numeric_phi(q, terms) @ _numeric_phi(k, terms), series, rtol=1e-12, atol=1e-12)
    )


@lru_cache(maxsize=None)
def _kernel_attention_holds_numerically(length: int, dimension: int, terms: int) -> bool:
    """D^-1 Phi(Q) (Phi(K)^T V) against the rows sum_j k(q_i, k_j) v_j / sum_j k(q_i, k_j)."""
    rng = np.random.default_rng(length * 10 + dimension)
    q, k, v = rng.normal(scale=0.5, size=(3, length, dimension))
    phi_q, phi_k = (np.array([_numeric_phi(x, terms) for x in y]) for y in (q, k))
    linear = phi_q @ (phi_k.T @ v) / (phi_q @ phi_k.sum(0))[:, None]
    kernel = sum((q @ k.T) ** j / math.factorial(j) for j in range(terms))
    return bool(np.allclose(linear, kernel @ v / kernel.sum(1, keepdims=True), rtol=1e-10))


def _least_squares(lengths, seconds, fit_from) -> tuple[float, float]:
    """Slope and intercept of log(seconds) on log(L) for L >= fit_from, from the normal
    equations."""
    pairs = [(math.log(x), math.log(s)) for x, s in zip(lengths, seconds) if x >= fit_from]
    mx, my = (sum(p[i] for p in pairs) / len(pairs) for i in (0, 1))
    slope = sum((x - mx) * (y - my) for x, y in pairs) / sum((x - mx) ** 2 for x, _ in pairs)
    return slope, my - slope * mx


def _crossing(lengths, slow, fast) -> float | None:
    """Where `fast` first drops below `slow`, interpolating log(slow / fast) linearly in log L."""
    gaps = [math.log(s / f) for s, f in zip(slow, fast)]
    if gaps[0] > 0:
        return None
    for (x0, g0), (x1, g1) in zip(zip(lengths, gaps), zip(lengths[1:], gaps[1:])):
        if g0 <= 0 < g1:
            return math.exp(math.log(x0) + (math.log(x1) - math.log(x0)) * g0 / (g0 - g1))
    return None


@lru_cache(maxsize=None)
def _crossover_roots() -> list[sp.Expr]:
    """The lengths where the counted softmax and right-to-left totals are equal, as formulas."""
    return sp.solve(sp.Eq(counted("softmax")["total"], counted("linear_right_to_left")["total"]), L)


@lru_cache(maxsize=None)
def _crossover(softmax: sp.Expr, linear: sp.Expr, dimension: int, features: int) -> float:
    roots = sp.Poly((softmax - linear).subs({D: dimension, M: features}), L).nroots()
    return max(float(r) for r in roots if abs(sp.im(r)) < 1e-12)


def _complexity_claims(cx: dict) -> list[Claim]:
    out = []
    for name, stem in (
        ("softmax", "softmax"),
        ("linear_right_to_left", "linear"),
        ("linear_left_to_right", "left_to_right"),
    ):
        again = counted(name)
        out += [
            Claim(f"q1.part.{stem}.{part}", _sym(expr), again[part])
            for part, expr in cx[name]["parts"].items()
        ]
        out.append(Claim(f"q1.{stem}_total", _sym(cx[name]["total"]), again["total"]))
        gens = (L, D) if name == "softmax" else (L, M, D)
        out.append(
            Claim(
                f"q1.{stem}_leading",
                _sym(cx[name]["leading"]),
                _leading_by_scaling(again["total"], gens),
            )
        )
        out.append(Claim(f"q1.{stem}_degree_in_L", cx[name]["degree_in_L"], growth_degree(name)))
    k3 = counted("linear_right_to_left")["total"].subs(
        M, sp.interpolate([(d, monomials_up_to(d, 2)) for d in range(1, 5)], D)
    )
    out += [
        Claim(
            "q1.linear_k3_leading",
            _sym(cx["linear_k3"]["leading"]),
            _leading_by_scaling(k3, (L, D)),
        ),
        Claim(
            "q1.memory_softmax",
            _sym(cx["memory"]["softmax_leading"]),
            _leading_by_scaling(counted("softmax")["held"], (L, D)),
        ),
        Claim(
            "q1.memory_linear",
            _sym(cx["memory"]["linear_leading"]),
            _leading_by_scaling(counted("linear_right_to_left")["held"], (L, M, D)),
        ),
    ]
    cross = cx["crossover"]
    soft, lin = counted("softmax")["total"], counted("linear_right_to_left")["total"]
    at = {D: cross["dimension"], M: cross["feature_dimension"]}
    roots = _crossover_roots()
    out += [
        Claim("q1.crossover_length", cross["value"], _crossover(soft, lin, *at.values()), tol=1e-6),
        Claim(
            "q1.crossover_formula",
            _sym(cross["length"]),
            max(roots, key=lambda r: float(r.subs(at))),
        ),
        Claim(
            "q1.crossover_feature_dimension",
            cross["feature_dimension"],
            monomials_up_to(cross["dimension"], 2),
        ),
    ]
    return out


@lru_cache(maxsize=None)
def _monomial_sum() -> sp.Expr:
    """SymPy's closed form of the sum over the degrees n < K of the monomials of degree n."""
    return sp.summation(sp.binomial(D + n - 1, n), (n, 0, K - 1))


def _tensor_power_dimension() -> sp.Expr:
    """A polynomial in D through the sizes of the tensor powers of degree < 3 at D = 1..4."""
    return sp.interpolate(
        [
            (d, sum(1 for j in range(3) for _ in itertools.product(range(d), repeat=j)))
            for d in range(1, 5)
        ],
        D,
    )


def _published_formula() -> sp.Expr:
    """The published formula for the feature dimension, in our symbols."""
    published = parse_written_math(cited_value("q1.published_formula"))
    i = sp.Symbol("i", positive=True, integer=True)
    return published.subs(
        {s: {"D": D, "K": K, "i": i}.get(s.name, s) for s in published.free_symbols}
    )


def _count_claims(fm: dict, params: dict) -> list[Claim]:
    """The feature dimension's formulas, the counts and the identity against the constructions."""
    return [
        Claim("q1.M_general", _sym(fm["formula"]["closed_form"]), _monomial_sum()),
        Claim(
            "q1.M_k3",
            _sym(fm["formula"]["k3_expression"]),
            sp.interpolate([(x, monomials_up_to(x, 2)) for x in range(1, 5)], D),
        ),
        Claim(
            "q1.M_counts_match_closed_form",
            fm["counts_all_agree"],
            all(
                c["constructed"] == monomials_up_to(c["D"], c["K"] - 1) == c["closed_form"]
                for c in fm["counts"]
            ),
        ),
        Claim(
            "q1.count_grid",
            [max(c["D"] for c in fm["counts"]), max(c["K"] for c in fm["counts"])],
            [max(params["count_dimensions"]), max(params["count_terms"])],
        ),
        Claim(
            "q1.phi_k3_is_exact",
            _phi_inner_is_truncated_exp(tuple(_sym(c) for c in fm["phi_k3_d2"]), 3),
            True,
        ),
        Claim(
            "q1.phi_dimension",
            len(fm["phi_k3_d2_input"]),
            next((d for d in range(1, 10) if math.comb(d + 2, 2) == len(fm["phi_k3_d2"])), None),
        ),
        Claim(
            "q1.identity_grid_exact",
            fm["identity_all_exact"],
            all(_identity_holds_numerically(c["D"], c["K"]) for c in fm["identity"]),
        ),
        Claim(
            "q1.identity_grid",
            [sorted({c["D"] for c in fm["identity"]}), sorted({c["K"] for c in fm["identity"]})],
            [params["identity_dimensions"], params["identity_terms"]],
        ),
    ]


def _wrong_formula_claims(wrong: dict, d: int, k: int) -> list[Claim]:
    """The published formula, its value at D = d, K = k per degree, and the true count there."""
    return [
        Claim("q1.wrong_formula", _sym(wrong["formula"]), _published_formula()),
        Claim("q1.wrong_formula_at", [wrong["dimension"], wrong["terms"]], [d, k]),
        Claim(
            "q1.wrong_formula_value",
            wrong["formula_value"],
            1 + d + sum(math.comb(d + k - 2, k - 1) for _ in range(3, k + 1)),
        ),
        Claim(
            "q1.wrong_formula_per_degree",
            wrong["formula_per_degree"],
            [1, d] + [math.comb(d + k - 2, k - 1)] * (k - 2),
        ),
        Claim("q1.wrong_formula_truth", wrong["construction_value"], monomials_up_to(d, k - 1)),
        Claim(
            "q1.construction_per_degree",
            wrong["construction_per_degree"],
            [_of_degree(d, j) for j in range(k)],
        ),
    ]


def _table_claims(table: list[dict], params: dict) -> list[Claim]:
    """The table of feature dimensions: its grid, each entry, and which entries were constructed."""
    out = [
        Claim(
            "q1.table_grid",
            [sorted({r["D"] for r in table}), sorted({r["K"] for r in table})],
            [params["table_dimensions"], params["table_terms"]],
        ),
    ]
    for row in table:
        out.append(
            Claim(
                f"q1.M_table.D{row['D']}.K{row['K']}",
                row["constructed"] or row["closed_form"],
                monomials_up_to(row["D"], row["K"] - 1),
            )
        )
        out.append(
            Claim(
                f"q1.M_table_constructed.D{row['D']}.K{row['K']}",
                row["constructed"] is not None,
                math.comb(row["D"] + row["K"] - 1, row["K"] - 1) <= params["construct_up_to"],
            )
        )
    return out


def _feature_map_claims(fm: dict, params: dict) -> list[Claim]:
    tensor = Claim(
        "q1.tensor_power_k3", _sym(fm["tensor_power"]["dimension"]), _tensor_power_dimension()
    )
    return (
        _count_claims(fm, params)
        + _wrong_formula_claims(fm["wrong_formula"], *params["wrong_formula_at"])
        + [tensor]
        + _table_claims(fm["table"], params)
    )


@lru_cache(maxsize=None)
def _phi_inner_is_truncated_exp(components: tuple[sp.Expr, ...], terms: int) -> bool:
    """The stated phi (in x1, x2): phi(q).phi(k) minus the truncated series of q.k expands to 0."""
    x = sorted({s for c in components for s in c.free_symbols}, key=str)
    q, k = sp.symbols(f"q1:{len(x) + 1}"), sp.symbols(f"k1:{len(x) + 1}")
    inner = sum(c.subs(dict(zip(x, q))) * c.subs(dict(zip(x, k))) for c in components)
    s = sum(a * b for a, b in zip(q, k))
    return sp.expand(inner - sum(s**j / sp.factorial(j) for j in range(terms))) == 0


def _series_value(terms: int, at: int) -> Fraction:
    return sum(Fraction(at) ** j / math.factorial(j) for j in range(terms))


def _positivity_claims(sym: dict, params: dict) -> list[Claim]:
    pos = sym["positivity"]
    series = sp.Poly(sum(t**j / sp.factorial(j) for j in range(3)), t)
    a, b, _ = series.all_coeffs()
    vertex = -b / (2 * a)
    critical = [_sym(c) for c in pos["k3_critical_points"]]
    out = [
        Claim("q1.k3_square_form", _sym(pos["k3_square_form"]), series.as_expr()),
        Claim("q1.k3_argmin", critical[0] if len(critical) == 1 else sp.nan, vertex),
        Claim("q1.k3_minimum", _sym(pos["k3_minimum"]), series.as_expr().subs(t, vertex)),
        Claim(
            "q1.kernel_identity_holds",
            sym["kernel_attention"]["all_equal"],
            all(
                _kernel_attention_holds_numerically(c["L"], c["D"], params["kernel_terms"])
                for c in sym["kernel_attention"]["checks"]
            ),
        ),
        Claim(
            "q1.kernel_grid",
            sorted({(c["L"], c["D"]) for c in sym["kernel_attention"]["checks"]}),
            sorted(itertools.product(params["kernel_lengths"], params["kernel_dimensions"])),
        ),
    ]
    for j, x in enumerate(pos["even_k_negative"]):
        value = _series_value(x["K"], x["t"])
        out += [
            Claim(
                f"q1.negative.{j}.series",
                _sym(x["expression"]),
                sum(t**i / sp.factorial(i) for i in range(x["K"])),
            ),
            Claim(
                f"q1.negative.{j}.value",
                _sym(x["value"]),
                sp.Rational(value.numerator, value.denominator),
            ),
            Claim(f"q1.negative.{j}.at", x["t"], x["t"] if value < 0 else None),
        ]
    return out


def _numeric_claims(num: dict, params: dict, crossover: float) -> list[Claim]:
    timing, error = num["timing"], num["error"]
    p = params["timing"]
    out = [
        Claim(f"q1.timing.{k}", timing[k], p[k])
        for k in ("dimension", "terms", "threads", "repeats", "fit_from")
    ]
    out += [
        Claim(
            "q1.timing.feature_dimension",
            timing["feature_dimension"],
            monomials_up_to(p["dimension"], p["terms"] - 1),
        ),
        Claim("q1.error.length", error["length"], params["error"]["length"]),
        Claim("q1.error.dimension", error["dimension"], params["error"]["dimension"]),
        Claim(
            "q1.timing.predicted_crossover",
            timing["predicted_crossover_length"],
            crossover,
            tol=1e-9,
        ),
        Claim(
            "q1.timing.longest_softmax",
            max(timing["softmax"]["lengths"]),
            max(x for x in p["lengths"] if x <= p["softmax_max_length"]),
        ),
    ]
    for name in ("softmax", "linear"):
        curve = timing[name]
        out.append(
            Claim(
                f"q1.slope_{name}",
                curve["slope"],
                _least_squares(curve["lengths"], curve["seconds"], timing["fit_from"])[0],
                tol=1e-9,
            )
        )
    return out + _measured_crossover_claims(timing, p, crossover)


def _measured_crossover_claims(timing: dict, p: dict, crossover: float) -> list[Claim]:
    """Where the timed curves cross, and its ratios to M and to the predicted crossover."""
    shared = len(timing["softmax"]["lengths"])
    measured = _crossing(
        timing["softmax"]["lengths"],
        timing["softmax"]["seconds"],
        timing["linear"]["seconds"][:shared],
    )
    stated = timing["crossover_length"]
    if not (measured and stated):
        return [Claim("q1.timing.crossover", stated, measured)]
    return [
        Claim("q1.timing.crossover", stated, measured, tol=1e-6),
        Claim(
            "q1.timing.crossover_over_M",
            timing["crossover_over_feature_dimension"],
            measured / monomials_up_to(p["dimension"], p["terms"] - 1),
            tol=1e-9,
        ),
        Claim(
            "q1.timing.crossover_over_predicted",
            timing["crossover_over_predicted"],
            measured / crossover,
            tol=1e-9,
        ),
    ]


@lru_cache(maxsize=8)
def approximation_again(
    dimension: int, length: int, trials: int, terms: tuple, spreads: tuple, seed: int
) -> tuple:
    """Per spread, per K: the mean relative error of the output, the mean L1 distance of the
    attention weights and the rows left out (normaliser <= 0), computed again through the L x L
    truncated-series kernel (no feature map) in numpy, on the same random draws as q1.numeric."""
    generator, curves = torch.Generator().manual_seed(seed), []
    for spread in spreads:
        scale = math.sqrt(spread) * dimension**-0.25
        draws = [
            [
                (
                    torch.randn(length, dimension, generator=generator, dtype=torch.float64) * s
                ).numpy()
                for s in (scale, scale, 1.0)
            ]
            for _ in range(trials)
        ]
        points = []
        for k in terms:
            output, weights, left_out = [], [], 0
            for q, key, v in draws:
                scores = q @ key.T
                exact = np.exp(scores - scores.max(1, keepdims=True))
                exact /= exact.sum(1, keepdims=True)
                kernel = sum(scores**j / math.factorial(j) for j in range(k))
                normaliser = kernel.sum(1)
                use = normaliser > 0
                approx, wanted = kernel[use] @ v / normaliser[use, None], exact[use] @ v
                output += list(
                    np.linalg.norm(approx - wanted, axis=1) / np.linalg.norm(wanted, axis=1)
                )
                weights += list(np.abs(kernel[use] / normaliser[use, None] - exact[use]).sum(1))
                left_out += int((~use).sum())
            points.append((float(np.mean(output)), float(np.mean(weights)), left_out))
        curves.append(tuple(points))
    return tuple(curves)


def _error_figure_claims(record: dict, error: dict, params: dict, seed: int) -> list[Claim]:
    """The error figure: per declared spread, the output error and the weights' distance at each
    declared K, computed again (approximation_again); its legend names the declared spreads."""
    again = approximation_again(
        params["dimension"],
        params["length"],
        params["trials"],
        tuple(params["terms"]),
        tuple(params["logit_stds"]),
        seed,
    )
    lines, legend = [], []
    for spread, points in zip(params["logit_stds"], again):
        label = rf"std$(q^\top k) = {spread:g}$"
        lines += [
            line(label, params["terms"], [p[0] for p in points]),
            line("", params["terms"], [p[1] for p in points]),
        ]
        legend.append(label)
        bad = [(k, p[0]) for k, p in zip(params["terms"], points) if p[2]]
        if bad:
            lines.append(line("rows with normaliser $\\leq 0$ left out", *zip(*bad)))
            legend.append(lines[-1]["label"])
    legend += ["output: relative error", "weights: $L^1$ distance"]
    expected = axes(
        "terms of the series $K$", "mean error (dimensionless)", lines, legend, yscale="log"
    )
    stored = [
        [
            [
                pt["K"],
                pt["mean_relative_error"],
                pt["mean_weights_l1"],
                pt["rows_nonpositive_normaliser"],
            ]
            for pt in curve["points"]
        ]
        + [curve["logit_std"]]
        for curve in error["curves"]
    ]
    wanted = [
        [[k, *p] for k, p in zip(params["terms"], points)] + [spread]
        for spread, points in zip(params["logit_stds"], again)
    ]
    return figure_claims("q1", record, [expected], rtol=1e-6, derived=True) + [
        Claim(prefix("q1", record["file"]) + ".stored", stored, wanted, rtol=1e-6)
    ]


def _timing_figure_claims(
    record: dict, timing: dict, params: dict, predicted: float
) -> list[Claim]:
    """The timing figure: each measured point at its declared length, the fitted lines and their
    slopes from the least-squares fit done again, the measured and the predicted crossover."""
    lines, fits = [], {}
    declared_lengths = {
        "linear": params["lengths"],
        "softmax": [x for x in params["lengths"] if x <= params["softmax_max_length"]],
    }
    for name in ("softmax", "linear"):
        curve, lengths = timing[name], declared_lengths[name]
        fits[name] = _least_squares(curve["lengths"], curve["seconds"], params["fit_from"])
        slope, intercept = fits[name]
        label = "softmax" if name == "softmax" else f"linear, $K={params['terms']}$"
        lines += [
            line(
                f"{label} (slope {slope:.2f})",
                map(float, lengths),
                [s * 1e3 for s in curve["seconds"]],
            ),
            line(
                "",
                [float(x) for x in lengths if x >= params["fit_from"]],
                [math.exp(intercept) * x**slope * 1e3 for x in lengths if x >= params["fit_from"]],
            ),
        ]
    shared = len(timing["softmax"]["lengths"])
    crossing = _crossing(
        timing["softmax"]["lengths"],
        timing["softmax"]["seconds"],
        timing["linear"]["seconds"][:shared],
    )
    if crossing:
        lines.append(line(f"measured crossover {crossing:.0f}", [crossing] * 2, [0, 1]))
    lines.append(line(f"flop-count crossover {predicted:.0f}", [predicted] * 2, [0, 1]))
    expected = axes(
        "sequence length $L$", "wall time per call (ms)", lines, xscale="log", yscale="log"
    )
    name = prefix("q1", record["file"])
    return figure_claims("q1", record, [expected], tol=1e-12, rtol=1e-9) + [
        Claim(
            f"{name}.intercepts",
            [timing[n]["fit_intercept"] for n in fits],
            [fits[n][1] for n in fits],
            rtol=1e-9,
        ),
        Claim(
            f"{name}.lengths",
            [timing[n]["lengths"] for n in fits],
            [declared_lengths[n] for n in fits],
        ),
    ]


def claims(results: dict) -> list[Claim]:
    sym, num = results["q1.symbolic"].data, results["q1.numeric"].data
    symbolic, numeric = (
        declared(results["q1.symbolic"])["params"],
        declared(results["q1.numeric"])["params"],
    )
    cross = sym["complexity"]["crossover"]
    expected_crossover = _crossover(
        counted("softmax")["total"],
        counted("linear_right_to_left")["total"],
        cross["dimension"],
        cross["feature_dimension"],
    )
    plotted, numeric_result = results["q1.figures"].data["plotted"], results["q1.numeric"]
    return (
        _complexity_claims(sym["complexity"])
        + [Claim("q1.crossover_dimension", cross["dimension"], symbolic["timing_dimension"])]
        + _feature_map_claims(sym["feature_map"], symbolic)
        + _positivity_claims(sym, symbolic)
        + _numeric_claims(num, numeric, expected_crossover)
        + _error_figure_claims(
            plotted["approx_error.pdf"],
            num["error"],
            numeric["error"],
            declared(numeric_result)["seed"],
        )
        + _timing_figure_claims(
            plotted["attention_timing.pdf"], num["timing"], numeric["timing"], expected_crossover
        )
    )


def context(results: dict) -> dict:
    sym = results["q1.symbolic"].data
    cx, fm = sym["complexity"], sym["feature_map"]
    return {
        "counting": cx["counting"],
        "parts": {name: list(cx[name]["parts"]) for name in ALGORITHMS},
        "phi": [_sym(c) for c in fm["phi_k3_d2"]],
        "negatives": list(range(len(sym["positivity"]["even_k_negative"]))),
        "timing": results["q1.numeric"].data["timing"],
        "error_dtype": results["q1.numeric"].data["error"]["dtype"],
        "figures": results["q1.figures"].data,
    }


COUNTED = (
    "a polynomial fitted through the operations counted while the algorithm runs on small matrices "
    "of numbers that count"
)
SCALED = (
    "the counted total with every size scaled by s, "
    "over the power of s with a finite non-zero limit"
)
DECLARED_SYMBOLIC, DECLARED_NUMERIC = (
    ("q1.symbolic", "the setting the step was declared with"),
    ("q1.numeric", "the setting the step was declared with"),
)
RECURRENCE = (
    "monomials counted by a recurrence over the exponent of the last variable (no binomial)"
)
PROOFS = {
    "q1.part.*": ("q1.symbolic", COUNTED),
    "q1.*_total": ("q1.symbolic", COUNTED),
    "q1.linear_k3_leading": ("q1.symbolic", SCALED + ", with M replaced by the counted monomials"),
    "q1.*_leading": ("q1.symbolic", SCALED),
    "q1.*_degree_in_L": (
        "q1.symbolic",
        "the base-two logarithm of the ratio of counted operations when L doubles",
    ),
    "q1.memory_*": ("q1.symbolic", "the scaling limit of the entries the counted algorithm holds"),
    "q1.crossover_length": (
        "q1.symbolic",
        "the largest real root of the counted totals' difference at the stated D and M",
    ),
    "q1.crossover_formula": ("q1.symbolic", "the root SymPy solves from the counted totals"),
    "q1.crossover_feature_dimension": ("q1.symbolic", RECURRENCE),
    "q1.crossover_dimension": DECLARED_SYMBOLIC,
    "q1.M_general": (
        "q1.symbolic",
        "SymPy's closed form of the sum of binomial coefficients over the degrees",
    ),
    "q1.M_k3": (
        "q1.symbolic",
        "the polynomial in D through the monomials of degree two or less, counted by recurrence",
    ),
    "q1.M_counts_match_closed_form": (
        "q1.symbolic",
        "every constructed count recounted by recurrence",
    ),
    "q1.count_grid": DECLARED_SYMBOLIC,
    "q1.identity_grid": DECLARED_SYMBOLIC,
    "q1.table_grid": DECLARED_SYMBOLIC,
    "q1.kernel_grid": DECLARED_SYMBOLIC,
    "q1.wrong_formula_at": DECLARED_SYMBOLIC,
    "q1.phi_k3_is_exact": (
        "q1.symbolic",
        "SymPy expands the stated map's inner product minus the truncated series",
    ),
    "q1.phi_dimension": (
        "q1.symbolic",
        "the D whose count of monomials of degree two or less is the number "
        "of components of the stated map",
    ),
    "q1.identity_grid_exact": (
        "q1.symbolic",
        "the identity evaluated numerically on random vectors",
    ),
    "q1.wrong_formula": (
        "q1.symbolic",
        "the published formula (cited), read by SymPy's LaTeX parser",
    ),
    "q1.wrong_formula_value": ("q1.symbolic", "the published sum evaluated with integers"),
    "q1.wrong_formula_per_degree": ("q1.symbolic", "the published summands, one per degree"),
    "q1.wrong_formula_truth": ("q1.symbolic", RECURRENCE),
    "q1.construction_per_degree": ("q1.symbolic", RECURRENCE),
    "q1.M_table.*": ("q1.symbolic", RECURRENCE),
    "q1.M_table_constructed.*": (
        "q1.symbolic",
        "whether the map fits the declared construction limit",
    ),
    "q1.tensor_power_k3": (
        "q1.symbolic",
        "the polynomial in D through the counted ordered index tuples",
    ),
    "q1.k3_square_form": ("q1.symbolic", "the truncated series as a polynomial in t"),
    "q1.k3_argmin": ("q1.symbolic", "the vertex of the parabola from its coefficients"),
    "q1.k3_minimum": ("q1.symbolic", "the series at that vertex"),
    "q1.kernel_identity_holds": (
        "q1.symbolic",
        "numerically, on random matrices, against kernel-weighted rows",
    ),
    "q1.negative.*.series": ("q1.symbolic", "the truncated series summed again"),
    "q1.negative.*.value": ("q1.symbolic", "the series at the point, in exact fractions"),
    "q1.negative.*.at": ("q1.symbolic", "the series is negative there, in exact fractions"),
    "q1.timing.feature_dimension": ("q1.numeric", RECURRENCE),
    "q1.timing.predicted_crossover": (
        "q1.numeric",
        "the crossover solved again from the counted totals",
    ),
    "q1.timing.longest_softmax": (
        "q1.numeric",
        "the longest declared length within the declared softmax limit",
    ),
    "q1.timing.crossover": (
        "q1.numeric",
        "where the measured times cross, interpolated again in log L",
    ),
    "q1.timing.crossover_over_*": (
        "q1.numeric",
        "that crossing over M, or over the predicted crossover",
    ),
    "q1.timing.*": DECLARED_NUMERIC,
    "q1.error.*": DECLARED_NUMERIC,
    "q1.slope_*": ("q1.numeric", "least squares on the logarithms, from the normal equations"),
    "q1.figure.approx_error.derived": (
        "q1.figures",
        "every error computed again through the whole "
        "truncated-series kernel matrix in numpy, on the same "
        "random draws",
    ),
    "q1.figure.approx_error.stored": (
        "q1.numeric",
        "the same computation, against the stored errors and rows left out",
    ),
    "q1.figure.attention_timing.drawn": (
        "q1.figures",
        "the measured times at the declared lengths; the "
        "fitted lines, slopes and crossovers derived again",
    ),
    "q1.figure.attention_timing.intercepts": ("q1.numeric", "least squares on the logarithms"),
    "q1.figure.attention_timing.lengths": DECLARED_NUMERIC,
}

SECTION = Section(
    name="q1",
    title="Efficient self-attention",
    summary="complexities, the feature map and its dimension M (SymPy), the linear-attention "
    "identity, measured softmax vs linear attention timings",
    profiles=steps.PROFILES,
    steps=steps.steps,
    claims=claims,
    context=context,
    measured=MEASURED,
    proofs=PROOFS,
)
