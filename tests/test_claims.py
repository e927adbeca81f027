"""Claims: verification by type, and the registry's used/undefined/unused bookkeeping."""
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


def test_registry_reports_undefined_unused_and_failing_claims():
    reg = ClaimRegistry([Claim("q1.used", 1, 1), Claim("q1.unused", 2, 2), Claim("q1.wrong", 3, 4)])
    assert reg.value("q1.used") == 1
    assert reg.value("q1.wrong") == 3
    with pytest.raises(ClaimError):
        reg.value("q1.nowhere")
    problems = reg.problems({"q1"})
    assert problems == ["q1.nowhere: used in a template but not defined",
                        "q1.unused: defined but never used in a template",
                        "q1.wrong: states 3 but verification gives 4"]
    assert reg.problems({"q2"}) == []


def test_a_claim_cannot_be_defined_twice():
    with pytest.raises(ClaimError):
        ClaimRegistry([Claim("q1.a", 1, 1), Claim("q1.a", 1, 1)])
