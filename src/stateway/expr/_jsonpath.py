"""The older dialect's JSONPath subset (fdl-v1.md §4.3): ``$``, ``$input``, ``$local``, ``$context``
roots; ``.key``, ``["key"]``, ``[n]``, ``[*]``/``.*``. A missing key gives ``null``; after a wildcard,
elements where the rest finds nothing are skipped. Also the ``jsonPath(value, path)`` function, a
Stateway extension of the newer dialect that ``stateway convert`` uses for wildcards."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from stateway.expr._errors import EvaluationError

_ROOT = re.compile(r"\$(input|local|context)?")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_INDEX = re.compile(r"\d+\]")
WILDCARD = "*"  # a segment; keys named "*" are written ["*"] and kept as _Key


class _Key(str):
    """A literal key (so that a key spelled "*" is not a wildcard)."""


class V1SyntaxError(ValueError):
    """A path or condition that does not parse; ``position`` is 0-based in the text."""

    def __init__(self, message: str, position: int) -> None:
        self.message = message
        self.position = position
        super().__init__(f"{message} at position {position}")


class V1EvalError(ValueError):
    """A condition could not be evaluated (FnF.InvalidArgument)."""


def is_path(value: Any) -> bool:
    """A mapping source is a path when it is a root alone or followed by '.' or '[' (§4.1)."""
    if not isinstance(value, str) or not value.startswith("$"):
        return False
    for root in ("$input", "$local", "$context", "$"):
        if value.startswith(root):
            rest = value[len(root):]
            if rest == "" or rest[0] in ".[":
                return True
    return False


@dataclass(frozen=True)
class Path:
    source: str
    root: str  # "input", "local", "context" or "" for $
    segments: tuple[Any, ...]  # str key, int index, or WILDCARD

    def evaluate(self, roots: dict[str, Any]) -> Any:
        return _walk(roots.get(self.root), self.segments, 0)


def _walk(value: Any, segments: tuple[Any, ...], i: int) -> Any:
    while i < len(segments):
        seg = segments[i]
        if seg is WILDCARD or (seg == WILDCARD and type(seg) is str):
            if isinstance(value, dict):
                values = list(value.values())
            elif isinstance(value, list):
                values = value
            else:
                return []
            out = []
            for v in values:
                found = _walk(v, segments, i + 1)
                if found is not None:
                    out.append(found)
            return out
        if isinstance(seg, int):
            value = value[seg] if isinstance(value, list) and seg < len(value) else None
        else:
            value = value.get(seg) if isinstance(value, dict) else None
        if value is None:
            return None
        i += 1
    return value


def parse_path(text: str, start: int = 0) -> tuple[Path, int]:
    """Parses a path at ``text[start:]``; returns it and the position after it."""
    m = _ROOT.match(text, start)
    if m is None:
        raise V1SyntaxError("expected a path starting with $", start)
    root = m.group(1) or ""
    i = m.end()
    segments: list[Any] = []
    while i < len(text):
        c = text[i]
        if c == ".":
            if text.startswith("..", i):
                raise V1SyntaxError("recursive descent '..' is not supported", i)
            if text.startswith(".*", i):
                segments.append(WILDCARD)
                i += 2
                continue
            n = _NAME.match(text, i + 1)
            if n is None:
                raise V1SyntaxError("expected a key name after '.'", i + 1)
            segments.append(_Key(n.group()))
            i = n.end()
        elif c == "[":
            j = i + 1
            if text.startswith("*]", j):
                segments.append(WILDCARD)
                i = j + 2
            elif j < len(text) and text[j] in "\"'":
                quote = text[j]
                end = text.find(quote, j + 1)
                if end < 0 or not text.startswith("]", end + 1):
                    raise V1SyntaxError("unterminated quoted key", j)
                segments.append(_Key(text[j + 1:end]))
                i = end + 2
            else:
                d = _INDEX.match(text, j)
                if d is None:
                    what = "filters" if text.startswith("?", j) else "slices and negative indexes" \
                        if text[j:j + 1] in ("-", ":") or ":" in text[j:text.find("]", j)] else "this index"
                    raise V1SyntaxError(f"{what} not supported; use [n], [*] or [\"key\"]", j)
                segments.append(int(text[j:d.end() - 1]))
                i = d.end()
        else:
            break
    return Path(text[start:i], root, tuple(segments)), i


def compile_path(text: str) -> Path:
    path, end = parse_path(text)
    if end != len(text):
        raise V1SyntaxError(f"unexpected {text[end]!r} in the path", end)
    return path




def json_path(value: Any, path: Any) -> Any:
    """``jsonPath(value, "$.items[*].name")``: the path applied to ``value`` (its root is ``$``)."""
    if not isinstance(path, str):
        raise EvaluationError(f"jsonPath(): argument 2 must be a path text, got {type(path).__name__}")
    try:
        compiled = compile_path(path)
    except V1SyntaxError as exc:
        raise EvaluationError(f"jsonPath(): {exc.message} at position {exc.position} in {path!r}") from None
    return _walk(value, compiled.segments, 0)
