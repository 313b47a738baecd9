"""What the API accepts as a value: JSON that the store can write and the engine can read back.

Everything a client sends reaches the store sooner or later, so the checks sit at the edge: a
bad value is a 400 ``InvalidArgument`` naming the parameter, never a 500 later on.
"""

from __future__ import annotations

import re
from typing import Any

from stateway.api._signature import ProtocolError
from stateway.jsontext import MAX_DEPTH, InvalidJSONValue
from stateway.jsontext import parse_json as parse_strict_json

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,127}")
NAME_RULE = "[A-Za-z_][A-Za-z0-9_-]{0,127}"
TOKEN_NUMBER = re.compile(r"[0-9]{1,9}")


class ApiError(ProtocolError):
    pass


def invalid(message: str) -> ApiError:
    return ApiError(400, "InvalidArgument", message)


def parse_json(text: str, name: str) -> Any:
    """A JSON parameter: strict JSON (no NaN/Infinity, valid Unicode, at most MAX_DEPTH levels)."""
    try:
        return parse_strict_json(text)
    except InvalidJSONValue as exc:
        raise invalid(f"{name} is not accepted: {exc}") from None
    except RecursionError:
        raise invalid(f"{name} is nested more than {MAX_DEPTH} levels deep") from None


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
