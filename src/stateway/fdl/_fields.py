"""What every part of the FDL loader reads a field with: problems collected with their line and
column (up to ``MAX_PROBLEMS``), typed reads of one field of a YAML mapping (text, number,
expression, constructor template) and unknown fields with a "did you mean".

``FieldReader`` is the loader's base (``_loader._Loader``); the readers of the older dialect and
of a distributed Map, a Wait's Timestamp and a Task's callback fields take it as their ``loader``."""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Mapping
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from stateway.expr import Expression, ExpressionError, Template, compile_expression, compile_template
from stateway.fdl._model import Problem, Scope
from stateway.jsontext import InvalidJSONValue, check_value

# an integration's check of a Task's Parameters (as written): (parameter, message) errors
Check = Callable[[Mapping[str, Any]], list[tuple[str, str]]]
MAX_PROBLEMS = 100
VARIABLES = ("Input", "Output", "Context", "Global", "Item")


def _suggest(word: str, choices: Any) -> str:
    choices = list(choices)
    if len(choices) > 500 or len(word) > 200:  # a suggestion is a courtesy, not worth seconds
        return ""
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _variable_problem(expression: Expression) -> str | None:
    """Variables are case-sensitive: ``$input.x`` would silently be null, so it is an error."""
    for name in sorted(expression.variables):
        if name not in VARIABLES:
            close = [v for v in VARIABLES if v.lower() == name.lower()] or difflib.get_close_matches(
                name, VARIABLES, n=1, cutoff=0.6)
            hint = f"; did you mean ${close[0]}?" if close else f"; variables are {', '.join('$' + v for v in VARIABLES)}"
            return f"unknown variable ${name} in {expression.source!r}{hint}"
    return None


class FieldReader:
    def __init__(self, source: str, actions: Mapping[str, frozenset[str]] | None,
                 parameters: Mapping[str, frozenset[str]] | None = None, checks: Mapping[str, Check] | None = None) -> None:
        self.parameters = parameters or {}
        self.checks = checks or {}
        self.source = source
        self.actions = actions
        self.problems: list[Problem] = []
        self.errors = 0
        self.scopes: dict[str, Scope] = {}
        self.doc_name: str | None = None

    # -- problem reporting -------------------------------------------------------------
    def _pos(self, node: Any, key: Any = None) -> tuple[int, int]:
        try:
            if key is not None and isinstance(node, CommentedMap) and key in node:
                line, col = node.lc.key(key)
                return line + 1, col + 1
            if key is not None and isinstance(node, CommentedSeq) and isinstance(key, int) and key < len(node):
                line, col = node.lc.item(key)
                return line + 1, col + 1
            if hasattr(node, "lc") and node.lc.line is not None:
                return node.lc.line + 1, node.lc.col + 1
        except (AttributeError, KeyError, IndexError, TypeError):
            pass
        return 0, 0

    def error(self, path: str, message: str, node: Any, key: Any = None) -> None:
        self.errors += 1
        if len(self.problems) < MAX_PROBLEMS:
            line, col = self._pos(node, key)
            self.problems.append(Problem("error", path, message, line, col))
        elif len(self.problems) == MAX_PROBLEMS:
            self.problems.append(Problem("error", "", f"more than {MAX_PROBLEMS} problems; the rest are not listed",
                                         0, 0))

    def warning(self, path: str, message: str, node: Any, key: Any = None) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            line, col = self._pos(node, key)
            self.problems.append(Problem("warning", path, message, line, col))

    # -- field readers -------------------------------------------------------------
    def text(self, node: CommentedMap, key: str, path: str, *, required: bool = False) -> str | None:
        if key not in node:
            if required:
                self.error(path, f"missing required field {key!r}", node)
            return None
        value = node[key]
        if not isinstance(value, str) or value == "":
            self.error(f"{path} > {key}", f"expected a non-empty string, got {_describe(value)}", node, key)
            return None
        return str(value)

    def number(self, node: CommentedMap, key: str, path: str, *, low: float = 0, high: float | None = None,
               integer: bool = False) -> float | None:
        if key not in node:
            return None
        value = node[key]
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if ok and integer and isinstance(value, float) and not value.is_integer():
            ok = False
        if ok and (value < low or (high is not None and value > high)):
            rng = f"between {low:g} and {high:g}" if high is not None else f"at least {low:g}"
            self.error(f"{path} > {key}", f"must be {rng}, got {value}", node, key)
            return None
        if not ok:
            what = "an integer" if integer else "a number"
            self.error(f"{path} > {key}", f"expected {what}, got {_describe(value)}", node, key)
            return None
        return float(value) if not integer else int(value)

    def expression(self, node: Any, key: Any, path: str) -> Expression | None:
        value = node[key]
        try:
            expression = compile_expression(value)
        except ExpressionError as exc:
            self.error(f"{path} > {key}", f"{exc.message} at position {exc.position} in {exc.expression!r}", node, key)
            return None
        problem = _variable_problem(expression)
        if problem:
            self.error(f"{path} > {key}", problem, node, key)
            return None
        return expression

    def template(self, node: CommentedMap, key: str, path: str) -> Template | None:
        if f"{key}.$" in node:
            return self.whole_value_template(node, key, path)
        if key not in node:
            return None
        value = node[key]
        if not isinstance(value, dict):
            self.error(f"{path} > {key}", f"expected an object template, got {_describe(value)}", node, key)
            return None
        if not self._check_template(value, f"{path} > {key}"):
            return None
        plain = to_plain(value)
        try:
            check_value(plain)
        except InvalidJSONValue as exc:
            self.error(f"{path} > {key}", f"the template is not JSON: {exc}", node, key)
            return None
        return compile_template(plain)

    def whole_value_template(self, node: CommentedMap, key: str, path: str) -> Template | None:
        """``OutputConstructor.$: EXPR``: the whole value is the expression's (a Stateway extension, so
        that a constructor can give an object whose keys are not known in advance)."""
        if key in node:
            self.error(path, f"give either {key!r} or '{key}.$', not both", node, f"{key}.$")
            return None
        if not isinstance(node[f"{key}.$"], str):
            self.error(f"{path} > {key}.$", f"expected an expression (text), got {_describe(node[key + '.$'])}",
                       node, f"{key}.$")
            return None
        expression = self.expression(node, f"{key}.$", path)
        if expression is None:
            return None
        template = compile_template({})
        template.source = {f"{key}.$": expression.source}
        template.build = expression.evaluate
        template.dynamic = True
        return template

    def _check_template(self, node: Any, path: str) -> bool:
        ok = True
        if isinstance(node, dict):
            for k, v in node.items():
                if isinstance(k, str) and k.endswith(".$"):
                    if not isinstance(v, str):
                        self.error(f"{path} > {k}", f"a '.$' key needs an expression (text), got {_describe(v)}", node, k)
                        ok = False
                        continue
                    try:
                        problem = _variable_problem(compile_expression(v))
                    except ExpressionError as exc:
                        problem = f"{exc.message} at position {exc.position} in {exc.expression!r}"
                    if problem:
                        self.error(f"{path} > {k}", problem, node, k)
                        ok = False
                else:
                    ok = self._check_template(v, f"{path} > {k}") and ok
        elif isinstance(node, list):
            for i, v in enumerate(node):
                ok = self._check_template(v, f"{path}[{i}]") and ok
        return ok

    def unknown_fields(self, node: CommentedMap, allowed: set[str], path: str, what: str) -> None:
        for key in node:
            if key not in allowed:
                self.error(f"{path} > {key}", f"unknown field {key!r} for {what}{_suggest(str(key), allowed)}",
                           node, key)



def to_plain(node: Any) -> Any:
    """ruamel's round-trip nodes (CommentedMap, ScalarInt, ...) → plain JSON values."""
    if isinstance(node, dict):
        return {str(k): to_plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [to_plain(v) for v in node]
    if isinstance(node, bool):
        return bool(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    if node is None:
        return None
    return str(node)  # timestamps and other YAML-only scalars become text


def _describe(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, (int, float)):
        return f"{value} (a number)"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__
