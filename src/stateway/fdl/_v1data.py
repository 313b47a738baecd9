"""The older dialect's data language (fdl-v1.md §4, §7): JSONPath-subset paths, mapping lists and
conditions. Each is compiled once by the loader; evaluating never raises for a missing value (a
missing key gives ``null``), only for a wrong type in a comparison (``V1EvalError``)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from stateway.expr._jsonpath import (  # noqa: F401  (re-exported for the loader and engine)
    WILDCARD,
    Path,
    V1EvalError,
    V1SyntaxError,
    compile_path,
    is_path,
    parse_path,
)


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
    """Recursive descent over §7's grammar; ``build_*`` make the result (closures here, text in the
    converter's subclass)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.uses_local = False

    # -- what the parse builds: evaluators ---------------------------------------------------
    def build_or(self, a: Any, b: Any) -> Any:
        return lambda r: _truth(a(r), "'||'") or _truth(b(r), "'||'")

    def build_and(self, a: Any, b: Any) -> Any:
        return lambda r: _truth(a(r), "'&&'") and _truth(b(r), "'&&'")

    def build_not(self, a: Any) -> Any:
        return lambda r: not _truth(a(r), "'!'")

    def build_compare(self, op: str, a: Any, b: Any) -> Any:
        if op == "==":
            return lambda r: _equal(a(r), b(r))
        if op == "!=":
            return lambda r: not _equal(a(r), b(r))
        return lambda r: _lt(a(r), b(r), op)

    def build_path(self, path: Path) -> Any:
        return path.evaluate

    def build_constant(self, value: Any) -> Any:
        return lambda r: value

    def build_group(self, inner: Any) -> Any:
        return inner

    # -- the grammar -------------------------------------------------------------------------
    def peek(self) -> tuple[str, str, int] | None:
        m = _TOKEN.match(self.text, self.pos)
        if m is None:
            rest = self.text[self.pos:].lstrip()
            if not rest:
                return None
            raise V1SyntaxError(f"unexpected {rest[0]!r}", len(self.text) - len(rest))
        kind = m.lastgroup or ""
        return kind, m.group(kind), m.start(kind)

    def take(self) -> tuple[str, Any, int]:
        tok = self.peek()
        if tok is None:
            raise V1SyntaxError("unexpected end of the condition", len(self.text))
        kind, value, start = tok
        if kind == "path":
            path, end = parse_path(self.text, start)
            if path.root == "local":
                self.uses_local = True
            self.pos = end
            return "path", path, start
        self.pos = start + len(value)
        return tok

    def parse(self) -> Any:
        result = self.or_()
        tok = self.peek()
        if tok is not None:
            raise V1SyntaxError(f"unexpected {tok[1]!r}", tok[2])
        return result

    def or_(self) -> Any:
        left = self.and_()
        while (tok := self.peek()) and tok[1] == "||":
            self.take()
            left = self.build_or(left, self.and_())
        return left

    def and_(self) -> Any:
        left = self.not_()
        while (tok := self.peek()) and tok[1] == "&&":
            self.take()
            left = self.build_and(left, self.not_())
        return left

    def not_(self) -> Any:
        tok = self.peek()
        if tok and tok[1] == "!":
            self.take()
            return self.build_not(self.not_())
        return self.compare()

    def compare(self) -> Any:
        left = self.operand()
        tok = self.peek()
        if tok and tok[0] == "op" and tok[1] in ("==", "!=", "<", "<=", ">", ">="):
            op = self.take()[1]
            return self.build_compare(op, left, self.operand())
        return left

    def operand(self) -> Any:
        kind, value, start = self.take()
        if kind == "path":
            return self.build_path(value)
        if kind == "num":
            return self.build_constant(float(value) if any(c in value for c in ".eE") else int(value))
        if kind == "str":
            body = value[1:-1]
            if value[0] == "'":
                body = body.replace("\\'", "'").replace('"', '\\"')
            try:
                text = json.loads(f'"{body}"')
            except ValueError:
                raise V1SyntaxError("invalid escape in the string", start) from None
            return self.build_constant(text)
        if kind == "word":
            return self.build_constant({"true": True, "false": False, "null": None}[value])
        if value == "(":
            inner = self.or_()
            close = self.take()
            if close[1] != ")":
                raise V1SyntaxError("expected ')'", close[2])
            return self.build_group(inner)
        raise V1SyntaxError(f"unexpected {value!r}", start)


def compile_condition(text: str) -> Condition:
    parser = _ConditionParser(text)
    run = parser.parse()
    return Condition(text, run, parser.uses_local)
