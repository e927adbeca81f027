import json
import math

import pytest
import sympy as sp
import torch

from compute.engine.step import Result
from compute.engine.testing import fake_context
from compute.q1 import figures, numeric, symbolic
from compute.q1.steps import PROFILES


@pytest.fixture(scope="module")
def symbolic_result(tmp_path_factory):
    ctx = fake_context(tmp_path_factory.mktemp("q1s"), params=PROFILES["smoke"]["symbolic"])
    return Result(symbolic.run(ctx), ctx.out)


@pytest.fixture(scope="module")
def numeric_run(tmp_path_factory, symbolic_result):
    ctx = fake_context(
        tmp_path_factory.mktemp("q1n"),
        params=PROFILES["smoke"]["numeric"],
        seed=PROFILES["smoke"]["seed"],
        needed={"q1.symbolic": symbolic_result},
    )
    return json.loads(json.dumps(numeric.run(ctx))), ctx.out


def test_feature_map_matches_the_symbolic_construction():
    x = [0.3, -1.2, 0.7]
    symbols = sp.symbols("x1:4")
    expected = [
        float(c.subs(dict(zip(symbols, x)))) for c in symbolic.feature_map(list(symbols), 4)
    ]
    phi = numeric.FeatureMap(3, 4, torch.float64)
    assert phi.dimension == 20
    assert phi(torch.tensor([x], dtype=torch.float64))[0].tolist() == pytest.approx(expected)


def test_linear_attention_equals_row_normalised_truncated_kernel():
    q, k, v = (
        torch.randn(7, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(i))
        for i in range(3)
    )
    kernel = numeric.truncated_exp(q @ k.T, 3)
    direct = (kernel @ v) / kernel.sum(1, keepdim=True)
    phi = numeric.FeatureMap(3, 3, torch.float64)
    assert torch.allclose(numeric.linear_attention(q, k, v, phi), direct)


def test_measured_crossover_interpolates_in_log_log():
    assert numeric.measured_crossover([100, 200], [1.0, 4.0], [2.0, 2.0]) == pytest.approx(
        math.sqrt(100 * 200)
    )
    assert numeric.measured_crossover([100, 200], [3.0, 4.0], [2.0, 2.0]) is None


def test_the_figures_step_draws_both_figures_from_the_stored_measurements(numeric_run, tmp_path):
    data, out = numeric_run
    assert list(out.iterdir()) == []  # measuring draws nothing
    ctx = fake_context(tmp_path, needed={"q1.numeric": Result(data, out)})
    drawn = figures.run(ctx)
    shown = drawn.pop("plotted")
    assert drawn == {"error": "approx_error.pdf", "timing": "attention_timing.pdf"}
    for name in drawn.values():
        assert (ctx.out / name).read_bytes()[:4] == b"%PDF"
    # what each figure shows, read back from the drawing: the measured times in milliseconds
    softmax = shown["attention_timing.pdf"]["axes"][0]["lines"][0]
    assert softmax["y"] == [s * 1e3 for s in data["timing"]["softmax"]["seconds"]]


def test_the_timing_figure_draws_the_flop_count_crossover_whether_or_not_the_curves_cross(
    numeric_run, tmp_path
):
    timing = numeric_run[0]["timing"]
    predicted = f"flop-count crossover {timing['predicted_crossover_length']:.0f}"
    for measured, drawn in ((None, [predicted]), (200.0, ["measured crossover 200", predicted])):
        shown = figures.plot_timing(timing | {"crossover_length": measured}, tmp_path / "t.pdf")
        lines = shown["axes"][0]["lines"]
        assert [line["label"] for line in lines if "crossover" in line["label"]] == drawn


def test_loglog_fit_recovers_the_exponent_from_the_fit_start_on():
    lengths = [2**i for i in range(4, 12)]
    # constant overhead below 256, then quadratic: only the fitted part counts
    seconds = [1e-3 if n < 256 else 3e-9 * n**2 for n in lengths]
    slope, intercept = numeric.loglog_fit(lengths, seconds, fit_from=256)
    assert slope == pytest.approx(2.0) and intercept == pytest.approx(math.log(3e-9))


def test_timing_reports_fitted_slopes_and_the_symbolic_crossover(numeric_run):
    # wall times depend on the machine, so only their bookkeeping is checked here; the slopes
    # themselves are measured by the quick profile and stated in the report
    timing = numeric_run[0]["timing"]
    for name in ("softmax", "linear"):
        curve = timing[name]
        kept = [
            (n, s) for n, s in zip(curve["lengths"], curve["seconds"]) if n >= timing["fit_from"]
        ]
        assert len(kept) >= 2 and all(s > 0 for _, s in kept)
        assert curve["slope"] == pytest.approx(
            numeric.loglog_fit(curve["lengths"], curve["seconds"], timing["fit_from"])[0]
        )
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
    ctx = fake_context(
        tmp_path,
        params=PROFILES["smoke"]["numeric"],
        needed={"q1.symbolic": Result(data, tmp_path)},
    )
    with pytest.raises(ValueError, match="D = 8"):
        numeric.run(ctx)
