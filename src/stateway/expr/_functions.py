"""The built-in function library of fdl.md §4.4.

Every function is total: wrong arguments give ``EvaluationError`` (``FnF.InvalidArgument``),
never a Python exception; the number of arguments is checked when the expression is parsed
(``SIGNATURES``); regular expressions run on RE2, in time linear in the text.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
import random
import uuid as uuid_module
from collections.abc import Callable
from typing import Any

import re2

from stateway.expr._converted import v1_condition, v1_result, v1_sized
from stateway.expr._errors import EvaluationError
from stateway.expr._jsonpath import json_path
from stateway.expr._values import check_integer, is_number, kind_of, strict_equal, type_name
from stateway.jsontext import InvalidJSONValue, parse_json

_HASHES = {"MD5": "md5", "SHA-1": "sha1", "SHA-256": "sha256", "SHA-512": "sha512"}


def _want(fn: str, position: int, value: Any, *kinds: str) -> None:
    if kind_of(value) not in kinds and not ("number" in kinds and kind_of(value) == "integer"):
        wanted = " or ".join(kinds)
        raise EvaluationError(f"{fn}(): argument {position} must be {wanted}, got {type_name(value)}")


def _format(template: Any, *args: Any) -> str:
    _want("format", 1, template, "string")
    parts = template.split("{}")
    if len(parts) - 1 != len(args):
        raise EvaluationError(f"format(): the template has {len(parts) - 1} placeholders but {len(args)} values were given")
    out = [parts[0]]
    for arg, rest in zip(args, parts[1:], strict=True):
        out.append(arg if isinstance(arg, str) else json.dumps(arg, ensure_ascii=False, separators=(",", ":")))
        out.append(rest)
    return "".join(out)


def _length(value: Any) -> int:
    _want("length", 1, value, "string", "array", "object")
    return len(value)


def _hash(text: Any, algo: Any) -> str:
    _want("hash", 1, text, "string")
    name = _HASHES.get(algo) if isinstance(algo, str) else None
    if name is None:
        raise EvaluationError(f"hash(): argument 2 must be one of {', '.join(_HASHES)}, got {algo!r}")
    return hashlib.new(name, text.encode()).hexdigest()


def _array_contains(arr: Any, value: Any) -> bool:
    _want("arrayContains", 1, arr, "array")
    return any(strict_equal(x, value) for x in arr)


def _array_unique(arr: Any) -> list[Any]:
    _want("arrayUnique", 1, arr, "array")
    out: list[Any] = []
    for x in arr:
        if not any(strict_equal(x, y) for y in out):
            out.append(x)
    return out


def _json_merge(a: Any, b: Any) -> dict[str, Any]:
    _want("jsonMerge", 1, a, "object")
    _want("jsonMerge", 2, b, "object")
    return {**a, **b}


def _from_base64(text: Any) -> str:
    _want("fromBase64", 1, text, "string")
    try:
        return base64.b64decode(text, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise EvaluationError(f"fromBase64(): argument 1 is not base64 text: {exc}") from None


def _to_base64(text: Any) -> str:
    _want("toBase64", 1, text, "string")
    return base64.b64encode(text.encode()).decode()


def _string_to_json(text: Any) -> Any:
    _want("stringToJson", 1, text, "string")
    try:
        return parse_json(text)
    except InvalidJSONValue as exc:
        raise EvaluationError(f"stringToJson(): argument 1 is not strict JSON: {exc}") from None


def _json_to_string(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except ValueError as exc:
        raise EvaluationError(f"jsonToString(): {exc}") from None


_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # a refused pattern is the user's error, reported as such, not logged by RE2


class RegexError(ValueError):
    """A pattern RE2 does not accept (backreferences, lookaround, …)."""


@functools.lru_cache(maxsize=512)
def compile_regex(pattern: str) -> Any:
    """RE2: linear time in the text, whatever the pattern. Raises RegexError for a refused pattern."""
    try:
        return re2.compile(pattern, options=_RE2_OPTIONS)
    except re2.error as exc:
        message = exc.args[0].decode(errors="replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise RegexError(f"{pattern!r} is not a pattern RE2 accepts: {message}") from None


def _regex_match(text: Any, pattern: Any) -> bool:
    _want("regexMatchString", 1, text, "string")
    _want("regexMatchString", 2, pattern, "string")
    try:
        return compile_regex(pattern).search(text) is not None
    except RegexError as exc:
        raise EvaluationError(f"regexMatchString(): argument 2: {exc}") from None


def _split(text: Any, sep: Any) -> list[str]:
    _want("split", 1, text, "string")
    _want("split", 2, sep, "string")
    if sep == "":
        raise EvaluationError("split(): argument 2 must not be empty")
    return text.split(sep)


def _map_keys(obj: Any) -> list[str]:
    _want("mapKeys", 1, obj, "object")
    return list(obj)


def _map_values(obj: Any) -> list[Any]:
    _want("mapValues", 1, obj, "object")
    return list(obj.values())


def _get(container: Any, key: Any) -> Any:
    if type(container) is list:
        if kind_of(key) != "integer":
            raise EvaluationError(f"get(): an array needs an integer index, got {type_name(key)}")
        return container[key] if -len(container) <= key < len(container) else None
    if type(container) is dict:
        _want("get", 2, key, "string")
        return container.get(key)
    raise EvaluationError(f"get(): argument 1 must be an array or object, got {type_name(container)}")


def _int_add(a: Any, b: Any) -> int:
    for i, v in ((1, a), (2, b)):
        if kind_of(v) != "integer":
            raise EvaluationError(f"intAdd(): argument {i} must be an integer, got {type_name(v)}")
    return check_integer("intAdd()", a + b)


def _random_int(low: Any, high: Any) -> int:
    for i, v in ((1, low), (2, high)):
        if kind_of(v) != "integer":
            raise EvaluationError(f"randomInt(): argument {i} must be an integer, got {type_name(v)}")
    if low > high:
        raise EvaluationError("randomInt(): argument 1 must not be greater than argument 2")
    return random.randint(low, high)


def _uuid() -> str:
    return str(uuid_module.uuid4())


def _to_array(*values: Any) -> list[Any]:
    return list(values)


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "format": _format,
    "length": _length,
    "uuid": _uuid,
    "hash": _hash,
    "arrayContains": _array_contains,
    "arrayUnique": _array_unique,
    "jsonMerge": _json_merge,
    "fromBase64": _from_base64,
    "toBase64": _to_base64,
    "stringToJson": _string_to_json,
    "fromJSON": _string_to_json,
    "jsonToString": _json_to_string,
    "toJSON": _json_to_string,
    "regexMatchString": _regex_match,
    "split": _split,
    "toArray": _to_array,
    "mapKeys": _map_keys,
    "mapValues": _map_values,
    "get": _get,
    "intAdd": _int_add,
    "randomInt": _random_int,
    "jsonPath": json_path,  # Stateway extension: the older dialect's wildcard paths (fdl-v1.md §4.3)
    # Stateway extensions that keep converted older-dialect flows exact (expr/_converted.py)
    "v1Result": v1_result,
    "v1Condition": v1_condition,
    "v1Sized": v1_sized,
}

# name -> (fewest arguments, most arguments or None for any number, signature shown in errors)
SIGNATURES: dict[str, tuple[int, int | None, str]] = {
    "format": (1, None, "format(template, values…)"),
    "length": (1, 1, "length(x)"),
    "uuid": (0, 0, "uuid()"),
    "hash": (2, 2, "hash(text, algorithm)"),
    "arrayContains": (2, 2, "arrayContains(array, value)"),
    "arrayUnique": (1, 1, "arrayUnique(array)"),
    "jsonMerge": (2, 2, "jsonMerge(a, b)"),
    "fromBase64": (1, 1, "fromBase64(text)"),
    "toBase64": (1, 1, "toBase64(text)"),
    "stringToJson": (1, 1, "stringToJson(text)"),
    "fromJSON": (1, 1, "fromJSON(text)"),
    "jsonToString": (1, 1, "jsonToString(value)"),
    "toJSON": (1, 1, "toJSON(value)"),
    "regexMatchString": (2, 2, "regexMatchString(text, pattern)"),
    "split": (2, 2, "split(text, separator)"),
    "toArray": (0, None, "toArray(values…)"),
    "mapKeys": (1, 1, "mapKeys(object)"),
    "mapValues": (1, 1, "mapValues(object)"),
    "get": (2, 2, "get(container, keyOrIndex)"),
    "intAdd": (2, 2, "intAdd(a, b)"),
    "randomInt": (2, 2, "randomInt(min, max)"),
    "jsonPath": (2, 2, "jsonPath(value, path)"),
    "v1Result": (1, 2, "v1Result(value, decode)"),
    "v1Condition": (1, 1, "v1Condition(value)"),
    "v1Sized": (5, 5, "v1Sized(output, input, local, limit, step)"),
}
assert SIGNATURES.keys() == FUNCTIONS.keys()

__all__ = ["FUNCTIONS", "SIGNATURES", "RegexError", "compile_regex", "is_number"]
