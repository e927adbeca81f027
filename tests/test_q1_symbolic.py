import json

import pytest
import sympy as sp

from compute.engine.testing import fake_context
from compute.q1 import symbolic
from compute.q1.steps import PROFILES
from compute.q1.symbolic import D, L, M


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    ctx = fake_context(tmp_path_factory.mktemp("q1s"), params=PROFILES["smoke"]["symbolic"])
    return json.loads(json.dumps(symbolic.run(ctx)))


def expr(text):
    return sp.sympify(text)


@pytest.mark.parametrize("dimension", [1, 2, 3])
@pytest.mark.parametrize("terms", [1, 2, 3, 4])
def test_feature_map_inner_product_is_the_truncated_exponential(dimension, terms):
    assert symbolic.feature_map_is_exact(dimension, terms)


def test_feature_map_without_the_square_root_is_not_exact(monkeypatch):
    monkeypatch.setattr(symbolic, "sqrt", lambda x: x)
    assert not symbolic.feature_map_is_exact(2, 3)


def test_feature_map_for_k3_d2_lists_the_six_scaled_monomials(result):
    x1, x2 = sp.symbols("x1 x2", real=True)
    phi = [expr(c) for c in result["feature_map"]["phi_k3_d2"]]
    assert phi == [1, x1, x2, x1**2 / sp.sqrt(2), x1 * x2, x2**2 / sp.sqrt(2)]


def test_feature_map_dimension_counted_equals_binomial_on_the_grid():
    for d in range(1, 9):
        for k in range(1, 7):
            assert symbolic.feature_map_dimension(d, k) == sp.binomial(d + k - 1, k - 1)


def test_feature_map_dimension_for_d64_is_2145_and_47905(result):
    assert symbolic.feature_map_dimension(64, 3) == 2145
    assert symbolic.feature_map_dimension(64, 4) == 47905
    table = {(r["D"], r["K"]): r for r in result["feature_map"]["table"]}
    assert table[64, 3]["constructed"] == 2145 and table[64, 4]["closed_form"] == 47905
    assert table[64, 5]["constructed"] is None and table[64, 5]["closed_form"] == 814385
    assert all(r["agree"] for r in table.values())


def test_sum_over_degrees_simplifies_to_the_closed_form(result):
    formula = result["feature_map"]["formula"]
    assert formula["summation_equals_closed_form"] and formula["induction_step_is_zero"]
    assert formula["induction_base_is_one"] and formula["k3_equal"]
    K = sp.Symbol("K", positive=True, integer=True)
    assert expr(formula["closed_form"]) == sp.binomial(D + K - 1, K - 1)


def test_published_formula_gives_11_where_the_construction_gives_10(result):
    wrong = result["feature_map"]["wrong_formula"]
    assert (wrong["formula_value"], wrong["construction_value"]) == (11, 10)
    assert wrong["summand_depends_on_i"] is False
    assert wrong["construction_per_degree"] == [1, 2, 3, 4]
    assert wrong["formula_per_degree"] == [1, 2, 4, 4]
    assert wrong["corrected_value"] == 10


def test_tensor_power_map_is_exact_but_larger(result):
    tensor = result["feature_map"]["tensor_power"]
    assert tensor["all_exact"] and tensor["larger_when_D_ge_2_and_K_ge_3"]
    assert expr(tensor["dimension"]) == 1 + D + D**2
    assert (
        symbolic.feature_map_dimension(3, 3)
        == 10
        < 13
        == len(symbolic.tensor_power_map(list(sp.symbols("x1:4")), 3))
    )


def test_softmax_attention_costs_4_L2_D_to_leading_order(result):
    softmax = result["complexity"]["softmax"]
    assert expr(softmax["total"]) == 4 * L**2 * D + 2 * L**2 - L * D - L
    assert expr(softmax["leading"]) == 4 * L**2 * D
    assert softmax["degree_in_L"] == 2 and expr(softmax["leading_ratio_limit_all"]) == 1


def test_linear_attention_right_to_left_costs_4_LMD_to_leading_order(result):
    linear = result["complexity"]["linear_right_to_left"]
    assert expr(linear["leading"]) == 4 * L * M * D and linear["degree_in_L"] == 1
    assert expr(result["complexity"]["linear_k3"]["leading"]) == 2 * L * D**3


def test_linear_attention_left_to_right_is_quadratic_in_L(result):
    left = result["complexity"]["linear_left_to_right"]
    assert left["degree_in_L"] == 2
    assert expr(left["leading"]) == 2 * L**2 * M + 2 * L**2 * D
    assert expr(left["coefficient_over_2M_limit_k3"]) == 1


def test_memory_is_L2_for_scores_and_LM_plus_MD_for_linear(result):
    memory = result["complexity"]["memory"]
    assert expr(memory["softmax_leading"]) == L**2
    assert expr(memory["linear_leading"]) == 2 * L * M + M * D


def test_crossover_length_makes_both_counts_equal_and_is_near_M(result):
    crossover = result["complexity"]["crossover"]
    at = {D: 16, M: 153}
    length = expr(crossover["length"]).subs(at)
    equation = expr(crossover["equation"]).subs(at)
    assert sp.simplify(equation.lhs.subs(L, length) - equation.rhs.subs(L, length)) == 0
    assert crossover["value"] == pytest.approx(155.307, abs=1e-3)
    assert expr(crossover["ratio_large_D_k3"]) == 1


def test_truncated_exponential_with_three_terms_is_at_least_one_half(result):
    positivity = result["positivity"]
    assert positivity["k3_equals_square_form"]
    assert expr(positivity["k3_minimum"]) == sp.Rational(1, 2)
    assert [expr(c) for c in positivity["k3_critical_points"]] == [-1]
    assert positivity["k3_real_roots"] == 0 and positivity["k5_minimum"] > 0


def test_truncated_exponential_with_even_terms_goes_negative(result):
    values = {n["K"]: (n["t"], n["value_float"]) for n in result["positivity"]["even_k_negative"]}
    assert values == {2: (-2, -1.0), 4: (-3, -2.0)}


def test_kernel_attention_identity_holds_for_symbolic_entries(result):
    assert result["kernel_attention"]["all_equal"]
    assert symbolic.kernel_attention_identity(3, 1, 3)["equal"]
