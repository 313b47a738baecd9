"""Checks on values every entry point shares (API, console, CLI, Python): names, JSON object texts."""

from __future__ import annotations

import re
from typing import Any

from stateway.jsontext import MAX_DEPTH, InvalidJSONValue, parse_json
from stateway.runtime import InvalidArgument

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,127}")
NAME_RULE = "[A-Za-z_][A-Za-z0-9_-]{0,127}"
MAX_INPUT_BYTES = 64 * 1024


def check_name(value: str, field: str) -> str:
    """A flow, execution, schedule or alias name, matched in full (a trailing newline is not allowed)."""
    if not isinstance(value, str) or NAME.fullmatch(value) is None:
        shown = value if not isinstance(value, str) or len(value) <= 64 else value[:64] + "…"
        raise InvalidArgument(f"{field} {shown!r} must match {NAME_RULE}")
    return value


def json_value(text: str, field: str) -> Any:
    """Strict JSON (no NaN/Infinity, valid Unicode, at most MAX_DEPTH levels)."""
    try:
        return parse_json(text)
    except InvalidJSONValue as exc:
        raise InvalidArgument(f"{field} is not accepted: {exc}") from None
    except RecursionError:
        raise InvalidArgument(f"{field} is nested more than {MAX_DEPTH} levels deep") from None


def json_object(text: str, field: str) -> dict[str, Any]:
    """A JSON object given as text, at most 64 KiB (an execution's input, a schedule's payload)."""
    if len(text.encode()) > MAX_INPUT_BYTES:
        raise InvalidArgument(f"{field} is over the limit of {MAX_INPUT_BYTES} bytes")
    value = json_value(text, field)
    if not isinstance(value, dict):
        raise InvalidArgument(f"{field} must be a JSON object")
    return value
