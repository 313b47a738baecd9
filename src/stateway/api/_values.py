"""What the API accepts as a value: JSON that the store can write and the engine can read back.

Everything a client sends reaches the store sooner or later, so the checks sit at the edge: a
bad value is a 400 ``InvalidArgument`` naming the parameter, never a 500 later on.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from stateway.api._signature import ProtocolError

MAX_DEPTH = 100
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,127}")
NAME_RULE = "[A-Za-z_][A-Za-z0-9_-]{0,127}"
TOKEN_NUMBER = re.compile(r"[0-9]{1,9}")


class ApiError(ProtocolError):
    pass


def invalid(message: str) -> ApiError:
    return ApiError(400, "InvalidArgument", message)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def json_problem(value: Any) -> str | None:
    """Why ``value`` is not storable JSON (depth, NaN/Infinity, strings that are not Unicode), or None."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if not item.isascii():
                try:
                    item.encode("utf-8")
                except UnicodeEncodeError:
                    return "a string holds an unpaired surrogate (not valid Unicode)"
        elif isinstance(item, float):
            if not math.isfinite(item):
                return "NaN and Infinity are not JSON numbers"
        elif isinstance(item, (dict, list)):
            if depth > MAX_DEPTH:
                return f"it is nested more than {MAX_DEPTH} levels deep"
            if isinstance(item, dict):
                stack.extend((k, depth) for k in item)
                stack.extend((v, depth + 1) for v in item.values())
            else:
                stack.extend((v, depth + 1) for v in item)
    return None


def parse_json(text: str, name: str) -> Any:
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise invalid(f"{name} is nested more than {MAX_DEPTH} levels deep") from None
    except ValueError as exc:
        raise invalid(f"{name} is not JSON: {exc}") from None
    problem = json_problem(value)
    if problem is not None:
        raise invalid(f"{name} is not accepted: {problem}")
    return value


def check_name(value: str, field: str) -> str:
    """A flow, execution or schedule name, matched in full (a trailing newline is not allowed)."""
    if NAME.fullmatch(value) is None:
        shown = value if len(value) <= 64 else value[:64] + "…"
        raise invalid(f"{field} {shown!r} must match {NAME_RULE}")
    return value


def page_token(token: str) -> int:
    """NextToken values this server gives are decimal offsets; anything else is refused."""
    if TOKEN_NUMBER.fullmatch(token) is None:
        shown = token if len(token) <= 40 else token[:40] + "…"
        raise invalid(f"NextToken {shown!r} is not one this server gave")
    return int(token)
