"""Claims: verification by type, and the registry's used/undefined/unused bookkeeping."""

import numpy as np
import pytest
import sympy

from report.claims import Claim, ClaimError, ClaimRegistry

D, K = sympy.symbols("D K", positive=True, integer=True)


def test_sympy_claim_holds_when_the_difference_simplifies_to_zero():
    assert Claim("q1.m", 1 + D + D * (D + 1) / 2, sympy.binomial(D + 2, 2)).failure() is None


def test_sympy_claim_fails_for_a_different_expression():
    assert "verification" in Claim("q1.m", 1 + D + D**2, sympy.binomial(D + 2, 2)).failure()


def test_integer_claims_are_exact_and_float_claims_use_the_tolerance():
    assert Claim("q2.p", 224892, 224892).failure() is None
    assert Claim("q2.p", 225618, 224892).failure() is not None
    assert Claim("q2.a", 0.8301, 0.83, tol=1e-3).failure() is None
    assert Claim("q2.a", 0.84, 0.83, tol=1e-3).failure() is not None


def test_boolean_claims_do_not_equal_integers():
    assert Claim("q3.x", True, 1).failure() is not None


def test_numpy_values_equal_their_python_values():
    assert Claim("x.a", np.int64(3), 3).failure() is None
    assert Claim("x.a", 3, np.int32(3)).failure() is None
    assert Claim("x.b", np.float32(0.5), 0.5).failure() is None
    assert Claim("x.c", np.bool_(True), True).failure() is None
    assert Claim("x.d", np.array([1, 2]), [1, 2]).failure() is None
    assert Claim("x.e", [np.float64(0.25), np.int64(2)], [0.25, 2]).failure() is None
    assert Claim("x.f", {"n": np.int64(4)}, {"n": 4}).failure() is None


def test_numpy_values_keep_the_distinctions_python_values_have():
    assert Claim("x.a", np.bool_(True), 1).failure() == "x.a: states True but verification gives 1"
    assert Claim("x.b", np.int64(1), True).failure() == "x.b: states 1 but verification gives True"
    assert Claim("x.c", np.int64(3), 4).failure() == "x.c: states 3 but verification gives 4"
    assert (
        Claim("x.d", (np.int64(1),), [1]).failure() == "x.d: states (1,) but verification gives [1]"
    )


def test_numpy_values_inside_a_list_are_printed_as_python_values():
    failure = Claim("x.a", [np.float64(0.25), np.float32(0.5)], [0.25, 0.75]).failure()
    assert failure == (
        "x.a: states [0.25, 0.5] but verification gives [0.25, 0.75] "
        "(first difference at [1]: 0.5 against 0.75)"
    )


def test_registry_reports_undefined_unused_and_failing_claims():
    reg = ClaimRegistry([Claim("q1.used", 1, 1), Claim("q1.unused", 2, 2), Claim("q1.wrong", 3, 4)])
    assert reg.value("q1.used") == 1
    assert reg.value("q1.wrong") == 3
    with pytest.raises(ClaimError):
        reg.value("q1.nowhere")
    problems = reg.problems({"q1"})
    assert problems == [
        "q1.nowhere: used in a template but not defined",
        "q1.unused: defined but never used in a template",
        "q1.wrong: states 3 but verification gives 4",
    ]
    assert reg.problems({"q2"}) == []


def test_a_claim_cannot_be_defined_twice():
    with pytest.raises(ClaimError):
        ClaimRegistry([Claim("q1.a", 1, 1), Claim("q1.a", 1, 1)])


def test_hand_written_maths_is_parsed_back_and_checked_against_its_claim():
    reg = ClaimRegistry([Claim("q1.m3", 1 + D + D * (D + 1) / 2, sympy.binomial(D + 2, 2))])
    assert reg.written(r"\binom{D+2}{2}", "q1.m3") == r"\binom{D+2}{2}"
    assert reg.problems({"q1"}) == []


def test_wrong_hand_written_maths_fails_the_check():
    reg = ClaimRegistry([Claim("q1.m3", 1 + D + D * (D + 1) / 2, sympy.binomial(D + 2, 2))])
    reg.written(r"1 + D + D^{2}", "q1.m3")
    (problem,) = reg.problems({"q1"})
    assert problem.startswith("q1.m3.written: states D**2 + D + 1")


def test_ambiguous_hand_written_maths_is_refused():
    reg = ClaimRegistry([Claim("q1.m3", 1 + D + D * (D + 1) / 2, sympy.binomial(D + 2, 2))])
    with pytest.raises(ClaimError, match="does not parse to one expression"):
        reg.written(r"1 + D + \frac{D(D+1)}{2}", "q1.m3")


def test_a_written_sum_is_evaluated_before_comparing():
    n = sympy.Symbol("n", integer=True, nonnegative=True)
    reg = ClaimRegistry(
        [
            Claim(
                "q1.m",
                sympy.binomial(D + K - 1, K - 1),
                sympy.summation(sympy.binomial(D + n - 1, n), (n, 0, K - 1)),
            )
        ]
    )
    reg.written(r"\sum_{n=0}^{K-1}\binom{D+n-1}{n}", "q1.m")
    assert reg.problems({"q1"}) == []


def test_q2_accuracy_tolerance_admits_float32_storage_and_catches_the_smallest_corruption():
    """Training stores accuracies in float32; the claim re-derives them in float64 (the quick build
    once failed 13 claims at a tolerance of 1e-9 on exactly this)."""
    import numpy as np

    from report.mutate import FLOAT_STEPS
    from report.sections.q2 import FLOAT32

    for correct, total in ((1703, 2000), (436, 529), (276, 1000)):
        exact = correct / total
        stored = float(np.float32(correct) / np.float32(total))
        assert Claim("q2.acc", stored, exact, tol=FLOAT32).failure() is None
        corrupted = stored * (1 + min(FLOAT_STEPS))
        assert Claim("q2.acc", corrupted, exact, tol=FLOAT32).failure() is not None
