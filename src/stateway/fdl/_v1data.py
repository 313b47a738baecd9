"""The older dialect's data language (fdl-v1.md §4, §7): JSONPath-subset paths, mapping lists and
conditions. Each is compiled once by the loader; evaluating never raises for a missing value (a
missing key gives ``null``), only for a wrong type in a comparison (``V1EvalError``)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

ROOTS = ("$input", "$local", "$context", "$")
_ROOT = re.compile(r"\$(input|local|context)?")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_WILD = object()


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
    segments: tuple[Any, ...]  # str key, int index, or _WILD

    def evaluate(self, roots: dict[str, Any]) -> Any:
        return _walk(roots.get(self.root), self.segments, 0)


def _walk(value: Any, segments: tuple[Any, ...], i: int) -> Any:
    while i < len(segments):
        seg = segments[i]
        if seg is _WILD:
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
                segments.append(_WILD)
                i += 2
                continue
            n = _NAME.match(text, i + 1)
            if n is None:
                raise V1SyntaxError("expected a key name after '.'", i + 1)
            segments.append(n.group())
            i = n.end()
        elif c == "[":
            j = i + 1
            if text.startswith("*]", j):
                segments.append(_WILD)
                i = j + 2
            elif j < len(text) and text[j] in "\"'":
                quote = text[j]
                end = text.find(quote, j + 1)
                if end < 0 or not text.startswith("]", end + 1):
                    raise V1SyntaxError("unterminated quoted key", j)
                segments.append(text[j + 1:end])
                i = end + 2
            else:
                d = re.compile(r"\d+\]").match(text, j)
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


@dataclass(frozen=True)
class Mapping:
    """A mapping list: ``(target, Path or constant)`` in order (fdl-v1.md §4.1)."""

    entries: tuple[tuple[str, Any], ...]
    uses_context: bool

    def build(self, roots: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for target, source in self.entries:
            out[target] = source.evaluate(roots) if isinstance(source, Path) else _copy(source)
        return out


def _copy(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        return json.loads(json.dumps(value))
    return value


# -- conditions (§7) --------------------------------------------------------------------------
_TOKEN = re.compile(r"""\s*(?:(?P<op>\|\||&&|==|!=|<=|>=|<|>|!|\(|\))|(?P<num>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
    |(?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|(?P<word>true|false|null)\b|(?P<path>\$))""", re.X)

Evaluator = Callable[[dict[str, Any]], Any]


@dataclass(frozen=True)
class Condition:
    source: str
    run: Evaluator
    uses_local: bool

    def evaluate(self, roots: dict[str, Any]) -> Any:
        return self.run(roots)


def _lt(a: Any, b: Any, op: str) -> bool:
    num = (int, float)
    if isinstance(a, bool) or isinstance(b, bool) or not (
            (isinstance(a, num) and isinstance(b, num)) or (isinstance(a, str) and isinstance(b, str))):
        raise V1EvalError(f"'{op}' needs two numbers or two strings, got {json.dumps(a)} and {json.dumps(b)}")
    return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    return bool(a == b)


def _truth(value: Any, what: str) -> bool:
    if value is None:
        return False
    if type(value) is not bool:
        raise V1EvalError(f"{what} gave {json.dumps(value)}, not a boolean")
    return value


class _ConditionParser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.uses_local = False

    def peek(self) -> tuple[str, str, int] | None:
        m = _TOKEN.match(self.text, self.pos)
        if m is None:
            rest = self.text[self.pos:].lstrip()
            if not rest:
                return None
            raise V1SyntaxError(f"unexpected {rest[0]!r}", len(self.text) - len(rest))
        kind = m.lastgroup or ""
        return kind, m.group(kind), m.start(kind)

    def take(self) -> tuple[str, str, int]:
        tok = self.peek()
        if tok is None:
            raise V1SyntaxError("unexpected end of the condition", len(self.text))
        kind, value, start = tok
        if kind == "path":
            path, end = parse_path(self.text, start)
            if path.root == "local":
                self.uses_local = True
            self.pos = end
            return "path", path, start  # type: ignore[return-value]
        self.pos = start + len(value)
        return tok

    def parse(self) -> Evaluator:
        run = self.or_()
        if self.peek() is not None:
            _, value, start = self.peek()  # type: ignore[misc]
            raise V1SyntaxError(f"unexpected {value!r}", start)
        return run

    def or_(self) -> Evaluator:
        left = self.and_()
        while (tok := self.peek()) and tok[1] == "||":
            self.take()
            right = self.and_()
            left = (lambda a, b: lambda r: _truth(a(r), "'||'") or _truth(b(r), "'||'"))(left, right)
        return left

    def and_(self) -> Evaluator:
        left = self.not_()
        while (tok := self.peek()) and tok[1] == "&&":
            self.take()
            right = self.not_()
            left = (lambda a, b: lambda r: _truth(a(r), "'&&'") and _truth(b(r), "'&&'"))(left, right)
        return left

    def not_(self) -> Evaluator:
        tok = self.peek()
        if tok and tok[1] == "!":
            self.take()
            inner = self.not_()
            return lambda r: not _truth(inner(r), "'!'")
        return self.compare()

    def compare(self) -> Evaluator:
        left = self.operand()
        tok = self.peek()
        if tok and tok[0] == "op" and tok[1] in ("==", "!=", "<", "<=", ">", ">="):
            op = self.take()[1]
            right = self.operand()
            if op == "==":
                return lambda r: _equal(left(r), right(r))
            if op == "!=":
                return lambda r: not _equal(left(r), right(r))
            return lambda r: _lt(left(r), right(r), op)
        return left

    def operand(self) -> Evaluator:
        kind, value, start = self.take()
        if kind == "path":
            path: Path = value  # type: ignore[assignment]
            return path.evaluate
        if kind == "num":
            number = float(value) if any(c in value for c in ".eE") else int(value)
            return lambda r: number
        if kind == "str":
            body = value[1:-1]
            if value[0] == "'":
                body = body.replace('\\\'', "'").replace('"', '\\"')
            try:
                text = json.loads(f'"{body}"')
            except ValueError:
                raise V1SyntaxError("invalid escape in the string", start) from None
            return lambda r: text
        if kind == "word":
            constant = {"true": True, "false": False, "null": None}[value]
            return lambda r: constant
        if value == "(":
            inner = self.or_()
            close = self.take()
            if close[1] != ")":
                raise V1SyntaxError("expected ')'", close[2])
            return inner
        raise V1SyntaxError(f"unexpected {value!r}", start)


def compile_condition(text: str) -> Condition:
    parser = _ConditionParser(text)
    run = parser.parse()
    return Condition(text, run, parser.uses_local)
