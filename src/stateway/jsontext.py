"""JSON text for everything Stateway stores or records: compact, UTF-8, fast.

orjson does the work (several times faster than the standard library on the hot path: state,
history and commands are serialised on every commit); values it refuses, such as integers
beyond 64 bits, fall back to the standard library so that no valid JSON value is lost. An engine
message (``stateway.engine.messages``) inside a value is written in its wire form by both.

Every value that enters an execution's state must be JSON in the strict sense, because it is
written, read back and shown to other systems: no NaN or Infinity, strings that are valid
Unicode (no lone surrogates), and nesting at most ``MAX_DEPTH`` deep. ``check_value`` tests an
already-built value; ``parse_json`` parses text from outside (an API body, a ``--input``) and
checks it. Both raise ``InvalidJSONValue``, a ``ValueError`` whose message says what and where;
API entry points answer it with 400 ``InvalidArgument``, the CLI with exit status 2, and the
engine fails the state with ``FnF.InvalidArgument``.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

import orjson

MAX_DEPTH = 100
"""How deeply arrays and objects may nest in any value of an execution (input, output, globals)."""


class InvalidJSONValue(ValueError):
    """A value that is not strict JSON: NaN/Infinity, a lone surrogate, or nested too deeply."""

    code = "InvalidArgument"

    def __init__(self, message: str, path: str = "") -> None:
        self.message = message
        self.path = path
        super().__init__(f"{message} at {path}" if path else message)


def _object(value: Any) -> Any:
    """An object orjson hands back (a dataclass) or the standard library cannot write: an engine
    message as its wire form (``to_wire``), any other dataclass as its fields, as orjson writes them."""
    to_wire = getattr(value, "to_wire", None)
    if to_wire is not None:
        return to_wire()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    raise TypeError(f"a {type(value).__name__} is not JSON")


def dumps(value: Any) -> str:
    try:
        return orjson.dumps(value, default=_object, option=orjson.OPT_PASSTHROUGH_DATACLASS).decode()
    except (orjson.JSONEncodeError, TypeError):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_object)


def loads(text: str | bytes) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)  # raises the standard ValueError with its message


def deep_copy(value: Any) -> Any:
    """A deep copy of a JSON value (a round trip is the fastest way for JSON-shaped data)."""
    return loads(dumps(value))


def bad_text(text: str) -> bool:
    """Text JSON cannot carry: a lone surrogate (not encodable as UTF-8)."""
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _where(path: list[Any]) -> str:
    out = "$"
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def check_value(value: Any, *, max_depth: int = MAX_DEPTH) -> None:
    """Raise ``InvalidJSONValue`` unless ``value`` is strict JSON (see the module's docstring).

    Walks the value once, iteratively; plain Python JSON types only (dict with str keys, list,
    str, int, float, bool, None)."""
    t = type(value)
    if t is str:
        if bad_text(value):
            raise InvalidJSONValue("text that is not valid Unicode (a lone surrogate)", "$")
        return
    if t is float:
        if not math.isfinite(value):
            raise InvalidJSONValue(f"{value} is not a JSON number", "$")
        return
    if t is not dict and t is not list:
        if value is None or t is bool or t is int:
            return
        raise InvalidJSONValue(f"a {t.__name__} is not a JSON value", "$")
    # (container, depth, path); the path is formatted only when something is wrong
    stack: list[tuple[Any, int, tuple[Any, ...]]] = [(value, 1, ())]
    while stack:
        node, depth, path = stack.pop()
        if depth > max_depth:
            raise InvalidJSONValue(f"arrays and objects nest more than {max_depth} deep", _where(list(path)))
        items = node.items() if type(node) is dict else enumerate(node)
        for key, item in items:
            if type(key) is str:
                if bad_text(key):
                    raise InvalidJSONValue("a key that is not valid Unicode (a lone surrogate)", _where(list(path)))
            elif type(node) is dict:
                raise InvalidJSONValue(f"an object key must be text, not {type(key).__name__}", _where(list(path)))
            t = type(item)
            if t is str:
                if bad_text(item):
                    raise InvalidJSONValue("text that is not valid Unicode (a lone surrogate)",
                                           _where([*path, key]))
            elif t is dict or t is list:
                stack.append((item, depth + 1, (*path, key)))
            elif t is float:
                if not math.isfinite(item):
                    raise InvalidJSONValue(f"{item} is not a JSON number", _where([*path, key]))
            elif not (item is None or t is bool or t is int):
                raise InvalidJSONValue(f"a {t.__name__} is not a JSON value", _where([*path, key]))


def nests_deeper_than(value: Any, max_depth: int = MAX_DEPTH) -> bool:
    """Whether arrays and objects in ``value`` nest more than ``max_depth`` deep (containers only:
    several times faster than ``check_value`` on a large value)."""
    stack = [(value, 1)]
    pop, push = stack.pop, stack.append
    while stack:
        node, depth = pop()
        if depth > max_depth:
            return True
        t = type(node)
        if t is not dict and t is not list:
            continue
        for item in (node.values() if t is dict else node):
            ti = type(item)
            if ti is dict or ti is list:
                push((item, depth + 1))
    return False


def parse_json(text: str | bytes, *, max_depth: int = MAX_DEPTH) -> Any:
    """Parse JSON text from outside and ``check_value`` it. Raises ``InvalidJSONValue`` for text
    that is not JSON (with the parser's message), NaN/Infinity, numbers that overflow a double,
    lone surrogates, and nesting over ``max_depth``."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise InvalidJSONValue(f"not JSON: {exc}") from None
    check_value(value, max_depth=max_depth)
    return value


def size_of(value: Any) -> int:
    """Bytes of ``value`` as compact UTF-8 JSON, the measure of every size limit."""
    return len(dumps(value).encode())
