"""What the API accepts as a value: JSON that the store can write and the engine can read back.

Everything a client sends reaches the store sooner or later, so the checks sit at the edge: a
bad value is a 400 ``InvalidArgument`` naming the parameter, never a 500 later on.
"""

from __future__ import annotations

import re
from typing import Any

from stateway.api._signature import ProtocolError
from stateway.app._checks import json_value
from stateway.runtime import InvalidArgument

TOKEN_NUMBER = re.compile(r"[0-9]{1,9}")


class ApiError(ProtocolError):
    pass


def invalid(message: str) -> ApiError:
    return ApiError(400, "InvalidArgument", message)


def parse_json(text: str, name: str) -> Any:
    """A JSON parameter: strict JSON (no NaN/Infinity, valid Unicode, at most MAX_DEPTH levels)."""
    try:
        return json_value(text, name)
    except InvalidArgument as exc:
        raise invalid(str(exc)) from None


def page_token(token: str) -> int:
    """NextToken values this server gives are decimal offsets; anything else is refused."""
    if TOKEN_NUMBER.fullmatch(token) is None:
        shown = token if len(token) <= 40 else token[:40] + "…"
        raise invalid(f"NextToken {shown!r} is not one this server gave")
    return int(token)
