"""Tokenizer and Pratt parser; the result is a tree of closures ``env -> value``."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from stateway.expr._errors import EvaluationError, ExpressionError
from stateway.expr._functions import FUNCTIONS, SIGNATURES, RegexError, compile_regex
from stateway.expr._values import (
    check_integer,
    check_number,
    compare_order,
    is_number,
    kind_of,
    strict_equal,
    type_name,
)

Env = Mapping[str, Any]
Evaluator = Callable[[Env], Any]

MAX_CALL_DEPTH = 10
MAX_NESTING = 64  # parentheses, brackets, braces and prefix operators, one inside the other

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<var>\$[A-Za-z_][A-Za-z0-9_]*)
  | (?P<number>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>\|\||&&|==|!=|<=|>=|[<>+\-*/%!.,()\[\]{}:])
    """,
    re.VERBOSE,
)

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "/": "/", "b": "\b", "f": "\f"}


def _unquote(raw: str, expression: str, position: int) -> str:
    quote, body = raw[0], raw[1:-1]
    if quote == "`":
        return body
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\":
            nxt = body[i + 1]
            if nxt == "u":
                code = _hex4(body, i + 2, expression, position + i + 1)
                i += 6
                if 0xD800 <= code <= 0xDBFF and body[i : i + 2] == "\\u":
                    low = _hex4(body, i + 2, expression, position + i + 1)
                    if 0xDC00 <= low <= 0xDFFF:
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                        i += 6
                if 0xD800 <= code <= 0xDFFF:
                    raise ExpressionError("a \\u escape gives a lone surrogate, which is not valid Unicode",
                                          expression, position + i - 5)
                out.append(chr(code))
                continue
            out.append(_ESCAPES.get(nxt, nxt))
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def _hex4(body: str, start: int, expression: str, position: int) -> int:
    hexdigits = body[start : start + 4]
    if not re.fullmatch(r"[0-9a-fA-F]{4}", hexdigits):
        raise ExpressionError("bad \\u escape in string", expression, position)
    return int(hexdigits, 16)


class _Token:
    __slots__ = ("kind", "text", "pos", "value")

    def __init__(self, kind: str, text: str, pos: int, value: Any = None) -> None:
        self.kind = kind
        self.text = text
        self.pos = pos
        self.value = value


def _tokenize(expression: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(expression):
        m = _TOKEN.match(expression, pos)
        if m is None:
            raise ExpressionError(f"unexpected character {expression[pos]!r}", expression, pos)
        kind = m.lastgroup or ""
        text = m.group()
        if kind == "number":
            value: Any = float(text) if any(c in text for c in ".eE") else int(text)
            if type(value) is float and math.isinf(value):
                raise ExpressionError(f"the number {text} is too large for a double", expression, pos)
            if type(value) is int and not -(2**63) <= value < 2**63:
                raise ExpressionError(f"the integer {text} is outside the 64-bit range", expression, pos)
            tokens.append(_Token("number", text, pos, value))
        elif kind == "string":
            tokens.append(_Token("string", text, pos, _unquote(text, expression, pos)))
        elif kind == "ident" and text in ("true", "false", "null"):
            tokens.append(_Token("literal", text, pos, {"true": True, "false": False, "null": None}[text]))
        elif kind == "ident" and text == "in":
            tokens.append(_Token("op", "in", pos))
        elif kind != "ws":
            tokens.append(_Token(kind, text, pos))
        pos = m.end()
    tokens.append(_Token("end", "", len(expression)))
    return tokens


# Binding powers, loosest first, as in the reference: || ; && ; comparisons and `in` ; + - ; * / %
_BINARY = {
    "||": 10,
    "&&": 20,
    "==": 30, "!=": 30, "<": 30, "<=": 30, ">": 30, ">=": 30, "in": 30,
    "+": 40, "-": 40,
    "*": 50, "/": 50, "%": 50,
}
_PREFIX_POWER = 60


class Expression:
    """A compiled expression. Call ``evaluate(env)``; ``source`` is the original text."""

    __slots__ = ("source", "_fn", "variables")

    def __init__(self, source: str, fn: Evaluator, variables: frozenset[str]) -> None:
        self.source = source
        self._fn = fn
        self.variables = variables

    def evaluate(self, env: Env) -> Any:
        try:
            return self._fn(env)
        except EvaluationError as exc:
            wrapped = EvaluationError(f"{exc.message} (in expression {self.source!r})")
            wrapped.code = exc.code  # a function's own error name (v1Sized's FnF.DataLimitExceeded) carries through
            raise wrapped from None
        except RecursionError:
            raise EvaluationError(f"expression too deeply nested: {self.source!r}") from None
        except (TypeError, ValueError, ArithmeticError, LookupError) as exc:
            # a built-in met a value it does not handle: the data's fault, said as such, never a crash
            raise EvaluationError(f"{type(exc).__name__}: {exc} (in expression {self.source!r})") from None

    def __repr__(self) -> str:
        return f"Expression({self.source!r})"


class _Parser:
    def __init__(self, expression: str) -> None:
        self.expression = expression
        self.tokens = _tokenize(expression)
        self.i = 0
        self.depth = 0
        self.nesting = 0
        self.variables: set[str] = set()
        self.literals: dict[int, Any] = {}  # id(evaluator) -> value, for the evaluators of literals

    def error(self, message: str, token: _Token | None = None) -> ExpressionError:
        tok = token or self.tokens[self.i]
        return ExpressionError(message, self.expression, tok.pos)

    def peek(self) -> _Token:
        return self.tokens[self.i]

    def take(self) -> _Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def expect(self, text: str) -> _Token:
        tok = self.take()
        if tok.text != text or tok.kind in ("string", "end"):
            found = "end of expression" if tok.kind == "end" else repr(tok.text)
            raise self.error(f"expected {text!r} but found {found}", tok)
        return tok

    def parse(self) -> Evaluator:
        if self.peek().kind == "end":
            raise self.error("empty expression")
        fn = self.expr(0)
        tok = self.peek()
        if tok.kind != "end":
            raise self.error(f"unexpected {tok.text!r}", tok)
        return fn

    def expr(self, min_power: int) -> Evaluator:
        left = self.prefix()
        while True:
            tok = self.peek()
            if tok.kind != "op" or tok.text not in _BINARY:
                return left
            power = _BINARY[tok.text]
            if power <= min_power:
                return left
            self.take()
            right = self.expr(power)
            left = _binary(tok.text, left, right)

    def prefix(self) -> Evaluator:
        tok = self.take()
        self.nesting += 1
        if self.nesting > MAX_NESTING:
            raise self.error(f"expression nested more than {MAX_NESTING} deep", tok)
        try:
            if tok.kind == "op" and tok.text == "!":
                return _not(self.expr(_PREFIX_POWER))
            if tok.kind == "op" and tok.text == "-":
                return _negate(self.expr(_PREFIX_POWER))
            return self.postfix(self.primary(tok))
        finally:
            self.nesting -= 1

    def primary(self, tok: _Token) -> Evaluator:
        if tok.kind in ("number", "string", "literal"):
            value = tok.value
            fn: Evaluator = lambda env: value  # noqa: E731
            self.literals[id(fn)] = value
            return fn
        if tok.kind == "var":
            name = tok.text[1:]
            self.variables.add(name)
            return lambda env: env.get(name)
        if tok.kind == "ident":
            return self.call(tok)
        if tok.text == "(" and tok.kind == "op":
            inner = self.expr(0)
            self.expect(")")
            return inner
        if tok.text == "[" and tok.kind == "op":
            items = self.sequence("]")
            return lambda env: [item(env) for item in items]
        if tok.text == "{" and tok.kind == "op":
            return self.object_literal()
        if tok.kind == "end":
            raise self.error("unexpected end of expression", tok)
        raise self.error(f"unexpected {tok.text!r}", tok)

    def sequence(self, close: str) -> list[Evaluator]:
        items: list[Evaluator] = []
        if self.peek().text == close and self.peek().kind == "op":
            self.take()
            return items
        while True:
            items.append(self.expr(0))
            tok = self.take()
            if tok.kind == "op" and tok.text == close:
                return items
            if not (tok.kind == "op" and tok.text == ","):
                raise self.error(f"expected ',' or {close!r}", tok)

    def object_literal(self) -> Evaluator:
        pairs: list[tuple[str, Evaluator]] = []
        if self.peek().text == "}" and self.peek().kind == "op":
            self.take()
            return lambda env: {}
        while True:
            key_tok = self.take()
            if key_tok.kind not in ("string", "ident"):
                raise self.error("expected an object key (a string)", key_tok)
            key = key_tok.value if key_tok.kind == "string" else key_tok.text
            self.expect(":")
            pairs.append((key, self.expr(0)))
            tok = self.take()
            if tok.kind == "op" and tok.text == "}":
                break
            if not (tok.kind == "op" and tok.text == ","):
                raise self.error("expected ',' or '}'", tok)
        return lambda env: {k: v(env) for k, v in pairs}

    def call(self, name_tok: _Token) -> Evaluator:
        name = name_tok.text
        if not (self.peek().kind == "op" and self.peek().text == "("):
            raise self.error(f"unknown identifier {name!r}; variables start with '$'", name_tok)
        fn = FUNCTIONS.get(name)
        if fn is None:
            raise self.error(f"unknown function {name!r}", name_tok)
        self.take()
        self.depth += 1
        if self.depth > MAX_CALL_DEPTH:
            raise self.error(f"function calls nested more than {MAX_CALL_DEPTH} deep", name_tok)
        args = self.sequence(")")
        self.depth -= 1
        low, high, signature = SIGNATURES[name]
        if len(args) < low or (high is not None and len(args) > high):
            wanted = (f"{low}" if low == high else f"at least {low}" if high is None else f"{low} to {high}")
            plural = "" if (high == 1 or (high is None and low == 1)) else "s"
            raise self.error(f"{name}() takes {wanted} argument{plural}, got {len(args)}: {signature}", name_tok)
        if name == "regexMatchString" and id(args[1]) in self.literals and isinstance(self.literals[id(args[1])], str):
            try:
                compile_regex(self.literals[id(args[1])])
            except RegexError as exc:
                raise self.error(f"regexMatchString(): {exc}", name_tok) from None
        if len(args) == 0:
            return lambda env: fn()
        if len(args) == 1:
            a0 = args[0]
            return lambda env: fn(a0(env))
        if len(args) == 2:
            a0, a1 = args
            return lambda env: fn(a0(env), a1(env))
        return lambda env: fn(*[a(env) for a in args])

    def postfix(self, target: Evaluator) -> Evaluator:
        while True:
            tok = self.peek()
            if tok.kind == "op" and tok.text == ".":
                self.take()
                key_tok = self.take()
                if key_tok.kind not in ("ident", "literal") and not (key_tok.kind == "op" and key_tok.text == "in"):
                    raise self.error("expected a field name after '.'", key_tok)
                target = _field(target, key_tok.text)
            elif tok.kind == "op" and tok.text == "[":
                self.take()
                index = self.expr(0)
                self.expect("]")
                target = _index(target, index)
            else:
                return target


def _field(target: Evaluator, key: str) -> Evaluator:
    def get(env: Env) -> Any:
        value = target(env)
        if type(value) is dict:
            return value.get(key)
        return None

    return get


def _index(target: Evaluator, index: Evaluator) -> Evaluator:
    def get(env: Env) -> Any:
        value = target(env)
        key = index(env)
        if type(value) is dict:
            if not isinstance(key, str):
                raise EvaluationError(f"an object is indexed by a string, not {type_name(key)}")
            return value.get(key)
        if type(value) is list:
            if not isinstance(key, int) or isinstance(key, bool):
                raise EvaluationError(f"an array is indexed by an integer, not {type_name(key)}")
            if -len(value) <= key < len(value):
                return value[key]
            return None
        return None

    return get


def _not(operand: Evaluator) -> Evaluator:
    def run(env: Env) -> Any:
        value = operand(env)
        if type(value) is not bool:
            raise EvaluationError(f"'!' needs a boolean, got {type_name(value)}")
        return not value

    return run


def _negate(operand: Evaluator) -> Evaluator:
    def run(env: Env) -> Any:
        value = operand(env)
        if not is_number(value):
            raise EvaluationError(f"'-' needs a number, got {type_name(value)}")
        return check_number("'-'", -value)

    return run


def _numbers(op: str, a: Any, b: Any) -> None:
    if not (is_number(a) and is_number(b)):
        raise EvaluationError(f"'{op}' needs numbers, got {type_name(a)} and {type_name(b)}")


def _binary(op: str, left: Evaluator, right: Evaluator) -> Evaluator:
    if op == "||":
        def run(env: Env) -> Any:
            a = left(env)
            if type(a) is not bool:
                raise EvaluationError(f"'||' needs booleans, got {type_name(a)}")
            if a:
                return True
            b = right(env)
            if type(b) is not bool:
                raise EvaluationError(f"'||' needs booleans, got {type_name(b)}")
            return b
        return run
    if op == "&&":
        def run(env: Env) -> Any:
            a = left(env)
            if type(a) is not bool:
                raise EvaluationError(f"'&&' needs booleans, got {type_name(a)}")
            if not a:
                return False
            b = right(env)
            if type(b) is not bool:
                raise EvaluationError(f"'&&' needs booleans, got {type_name(b)}")
            return b
        return run
    if op == "==":
        return lambda env: strict_equal(left(env), right(env))
    if op == "!=":
        return lambda env: not strict_equal(left(env), right(env))
    if op in ("<", "<=", ">", ">="):
        check = {"<": lambda c: c < 0, "<=": lambda c: c <= 0, ">": lambda c: c > 0, ">=": lambda c: c >= 0}[op]
        return lambda env: check(compare_order(op, left(env), right(env)))
    if op == "in":
        def run(env: Env) -> Any:
            needle, hay = left(env), right(env)
            if type(hay) is list:
                return any(strict_equal(needle, x) for x in hay)
            if type(hay) is dict:
                if not isinstance(needle, str):
                    raise EvaluationError(f"'in' on an object needs a string key, got {type_name(needle)}")
                return needle in hay
            raise EvaluationError(f"'in' needs an array or object on the right, got {type_name(hay)}")
        return run
    if op == "+":
        def run(env: Env) -> Any:
            a, b = left(env), right(env)
            if is_number(a) and is_number(b):
                return check_number("'+'", a + b)
            if type(a) is str and type(b) is str:
                return a + b
            raise EvaluationError(f"'+' adds numbers or joins strings, got {type_name(a)} and {type_name(b)}")
        return run
    if op == "-":
        def run(env: Env) -> Any:
            a, b = left(env), right(env)
            _numbers("-", a, b)
            return check_number("'-'", a - b)
        return run
    if op == "*":
        def run(env: Env) -> Any:
            a, b = left(env), right(env)
            _numbers("*", a, b)
            if type(a) is int and type(b) is int and a and b and a.bit_length() + b.bit_length() > 130:
                raise EvaluationError("'*': integer overflow (the result is outside the 64-bit range)")
            return check_number("'*'", a * b)
        return run
    if op == "/":
        def run(env: Env) -> Any:
            a, b = left(env), right(env)
            _numbers("/", a, b)
            if b == 0:
                raise EvaluationError("division by zero")
            try:
                return check_number("'/'", a / b)
            except OverflowError:
                raise EvaluationError("'/': number overflow (the result is too large for a double)") from None
        return run
    if op == "%":
        def run(env: Env) -> Any:
            a, b = left(env), right(env)
            if kind_of(a) != "integer" or kind_of(b) != "integer":
                raise EvaluationError(f"'%' needs integers, got {type_name(a)} and {type_name(b)}")
            if b == 0:
                raise EvaluationError("modulo by zero")
            return check_integer("'%'", a % b)
        return run
    raise AssertionError(op)


def compile_expression(source: str) -> Expression:
    """Parse ``source`` once; raises ExpressionError naming the position of the problem."""
    if not isinstance(source, str):
        raise ExpressionError(f"an expression must be text, not {type_name(source)}", str(source), 0)
    parser = _Parser(source)
    try:
        fn = parser.parse()
    except RecursionError:
        raise ExpressionError("expression too deeply nested", source, 0) from None
    return Expression(source, fn, frozenset(parser.variables))
