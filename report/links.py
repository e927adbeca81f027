"""Numbers that remember where they come from: a claim, a published value or a measurement.

The templates' `claim(...)`, `cited(...)` and `measured(...)` hand out such numbers; arithmetic
with plain numbers keeps the origin (`100 * claim('q2.best_margin.cnn_maxpool')` still comes from
that claim), and `|num` and `|tex` print them inside a link to their entry in the appendix
(report/render.py). `ref` is (kind, name): ("claim", "q2.epochs"),
("cited", "q2.published.best_rate") or ("measured", "").
"""

from __future__ import annotations

from typing import Any

import sympy

ARITHMETIC = (
    "__add__",
    "__radd__",
    "__sub__",
    "__rsub__",
    "__mul__",
    "__rmul__",
    "__truediv__",
    "__rtruediv__",
    "__floordiv__",
    "__mod__",
    "__pow__",
    "__neg__",
    "__pos__",
    "__abs__",
)


def _keeping(base: type, name: str):
    plain = getattr(base, name)

    def method(self, *other):
        result = plain(self, *other)
        if result is NotImplemented or any(getattr(o, "ref", self.ref) != self.ref for o in other):
            return result
        return linked(result, self.ref)

    return method


def _linked_number(base: type) -> type:
    def new(cls, value, ref):
        made = base.__new__(cls, value)
        made.ref = ref
        return made

    return type(
        f"Linked{base.__name__.title()}",
        (base,),
        {"__new__": new, **{name: _keeping(base, name) for name in ARITHMETIC}},
    )


LinkedInt, LinkedFloat = _linked_number(int), _linked_number(float)


class LinkedList(list):
    """A list whose entries are linked; `|length` of it links too (report/render.py)."""

    def __init__(self, items, ref):
        super().__init__(items)
        self.ref = ref


class LinkedExpr:
    """A SymPy expression with its origin; only `|tex` prints it."""

    def __init__(self, value: sympy.Basic, ref):
        self.value, self.ref = value, ref


def linked(value: Any, ref: tuple[str, str]) -> Any:
    """value with every number in it carrying `ref`; booleans, strings and None stay as they are."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return LinkedInt(value, ref)
    if isinstance(value, float):
        return LinkedFloat(value, ref)
    if isinstance(value, sympy.Basic):
        return LinkedExpr(value, ref)
    if isinstance(value, list):
        return LinkedList([linked(v, ref) for v in value], ref)
    if isinstance(value, tuple):
        return tuple(linked(v, ref) for v in value)
    if isinstance(value, dict):
        return {k: linked(v, ref) for k, v in value.items()}
    return value


def origin(value: Any) -> tuple[str, str] | None:
    return getattr(value, "ref", None)
