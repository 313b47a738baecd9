"""JSON value helpers with FDL's strict typing (booleans are not numbers)."""

from __future__ import annotations

import math
from typing import Any

from stateway.expr._errors import EvaluationError

INT_MIN, INT_MAX = -(2**63), 2**63 - 1


def kind_of(value: Any) -> str:
    t = type(value)
    if t is bool:
        return "boolean"
    if t is int:
        return "integer"
    if t is float:
        return "number"
    if t is str:
        return "string"
    if value is None:
        return "null"
    if t is list:
        return "array"
    if t is dict:
        return "object"
    return t.__name__


def type_name(value: Any) -> str:
    kind = kind_of(value)
    return "a number" if kind == "integer" else {"array": "an array", "object": "an object", "null": "null"}.get(
        kind, f"a {kind}"
    )


def is_number(value: Any) -> bool:
    t = type(value)
    return t is int or t is float


def strict_equal(a: Any, b: Any) -> bool:
    if is_number(a) and is_number(b):
        return a == b
    if type(a) is not type(b):
        return False
    if type(a) is list:
        return len(a) == len(b) and all(strict_equal(x, y) for x, y in zip(a, b, strict=True))
    if type(a) is dict:
        return a.keys() == b.keys() and all(strict_equal(a[k], b[k]) for k in a)
    return a == b


def compare_order(op: str, a: Any, b: Any) -> int:
    if (is_number(a) and is_number(b)) or (type(a) is str and type(b) is str):
        return -1 if a < b else (1 if a > b else 0)
    raise EvaluationError(f"'{op}' cannot order {type_name(a)} and {type_name(b)}")


def check_integer(what: str, value: int) -> int:
    """Integer arithmetic stays within 64 bits: a bigger result is an overflow, not a huge number."""
    if INT_MIN <= value <= INT_MAX:
        return value
    raise EvaluationError(f"{what}: integer overflow (the result is outside the 64-bit range)")


def check_number(what: str, value: Any) -> Any:
    """The result of arithmetic: a 64-bit integer or a finite float (NaN and Infinity are not JSON)."""
    if type(value) is int:
        return check_integer(what, value)
    if math.isfinite(value):
        return value
    raise EvaluationError(f"{what}: number overflow (the result {value} is not a JSON number)")
