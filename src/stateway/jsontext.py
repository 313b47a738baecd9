"""JSON text for everything Stateway stores or records: compact, UTF-8, fast.

orjson does the work (several times faster than the standard library on the hot path: state,
history and commands are serialised on every commit); values it refuses, such as integers
beyond 64 bits, fall back to the standard library so that no valid JSON value is lost.
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def dumps(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except (orjson.JSONEncodeError, TypeError):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def loads(text: str | bytes) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)  # raises the standard ValueError with its message


def deep_copy(value: Any) -> Any:
    """A deep copy of a JSON value (a round trip is the fastest way for JSON-shaped data)."""
    return loads(dumps(value))
