import json
import math

import pytest
import sympy as sp
import torch

from compute.q1 import numeric, symbolic
from compute.q1.steps import PROFILES
from compute.step import Result, fake_context


@pytest.fixture(scope="module")
def symbolic_result(tmp_path_factory):
    ctx = fake_context(tmp_path_factory.mktemp("q1s"), params=PROFILES["smoke"]["symbolic"])
    return Result(symbolic.run(ctx), ctx.out)


@pytest.fixture(scope="module")
def numeric_run(tmp_path_factory, symbolic_result):
    ctx = fake_context(tmp_path_factory.mktemp("q1n"), params=PROFILES["smoke"]["numeric"],
                       seed=PROFILES["smoke"]["seed"], needed={"q1.symbolic": symbolic_result})
    return json.loads(json.dumps(numeric.run(ctx))), ctx.out


def test_feature_map_matches_the_symbolic_construction():
    x = [0.3, -1.2, 0.7]
    symbols = sp.symbols("x1:4")
    expected = [float(c.subs(dict(zip(symbols, x)))) for c in symbolic.feature_map(list(symbols), 4)]
    phi = numeric.FeatureMap(3, 4, torch.float64)
    assert phi.dimension == 20
    assert phi(torch.tensor([x], dtype=torch.float64))[0].tolist() == pytest.approx(expected)


def test_linear_attention_equals_row_normalised_truncated_kernel():
    q, k, v = (torch.randn(7, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(i))
               for i in range(3))
    kernel = numeric.truncated_exp(q @ k.T, 3)
    direct = (kernel @ v) / kernel.sum(1, keepdim=True)
    phi = numeric.FeatureMap(3, 3, torch.float64)
    assert torch.allclose(numeric.linear_attention(q, k, v, phi), direct)


def test_measured_crossover_interpolates_in_log_log():
    assert numeric.measured_crossover([100, 200], [1.0, 4.0], [2.0, 2.0]) == pytest.approx(
        math.sqrt(100 * 200))
    assert numeric.measured_crossover([100, 200], [3.0, 4.0], [2.0, 2.0]) is None


def test_numeric_step_writes_both_figures(numeric_run):
    data, out = numeric_run
    assert data["figures"] == {"error": "approx_error.pdf", "timing": "attention_timing.pdf"}
    for name in data["figures"].values():
        assert (out / name).read_bytes()[:4] == b"%PDF"


def test_timing_slopes_are_near_two_for_softmax_and_near_one_for_linear(numeric_run):
    timing = numeric_run[0]["timing"]
    softmax, linear = timing["softmax"]["slope"], timing["linear"]["slope"]
    assert 1.3 < softmax < 3.5 and 0.4 < linear < 1.6 and softmax > linear + 0.4
    assert timing["feature_dimension"] == 153
    assert timing["predicted_crossover_length"] == pytest.approx(155.307, abs=1e-3)


def test_approximation_error_falls_as_terms_grow(numeric_run):
    points = numeric_run[0]["error"]["curves"][0]["points"]
    errors = [p["mean_relative_error"] for p in points]
    assert errors[-1] < errors[0] / 3
    assert all(p["feature_map_max_abs_gap"] < 1e-10 for p in points)
    assert [p["M"] for p in points] == [1, 5, 15, 35]


def test_even_terms_give_negative_kernel_entries_and_odd_terms_none(numeric_run):
    points = {p["K"]: p for p in numeric_run[0]["error"]["curves"][0]["points"]}
    assert points[3]["negative_kernel_fraction"] == 0 and points[2]["negative_kernel_fraction"] > 0


def test_numeric_step_refuses_a_crossover_solved_for_another_dimension(tmp_path, symbolic_result):
    data = json.loads(json.dumps(symbolic_result.data))
    data["complexity"]["crossover"]["dimension"] = 8
    ctx = fake_context(tmp_path, params=PROFILES["smoke"]["numeric"],
                       needed={"q1.symbolic": Result(data, tmp_path)})
    with pytest.raises(ValueError, match="D = 8"):
        numeric.run(ctx)
