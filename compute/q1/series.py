"""The exponential's Taylor series cut after `terms` terms, for SymPy expressions and torch
tensors alike."""

from __future__ import annotations

from math import factorial


def truncated_exp(s, terms: int):
    """sum_{n < terms} s^n / n!; exact (rational coefficients) on SymPy expressions."""
    return sum(s**n / factorial(n) for n in range(terms))
