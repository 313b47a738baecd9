"""Constructors: templates whose ``key.$`` entries are expressions (fdl.md §3.3)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from stateway.expr._parser import Expression, compile_expression

Builder = Callable[[Mapping[str, Any]], Any]


def _literal(value: Any) -> Builder:
    return lambda env: value


def _build(node: Any) -> tuple[Builder, bool]:
    """Returns a builder and whether the node contains any expression (so constants are shared)."""
    if isinstance(node, dict):
        parts: list[tuple[str, Builder]] = []
        dynamic = False
        for key, value in node.items():
            if isinstance(key, str) and key.endswith(".$"):
                expr = compile_expression(value) if isinstance(value, str) else None
                if expr is None:
                    parts.append((key[:-2], _literal(value)))
                else:
                    parts.append((key[:-2], expr.evaluate))
                dynamic = True
            else:
                builder, inner_dynamic = _build(value)
                parts.append((str(key), builder))
                dynamic = dynamic or inner_dynamic
        if not dynamic:
            frozen = _plain(node)
            return (lambda env: _copy(frozen)), False
        return (lambda env: {k: b(env) for k, b in parts}), True
    if isinstance(node, list):
        builders = [_build(x) for x in node]
        if not any(d for _, d in builders):
            frozen = _plain(node)
            return (lambda env: _copy(frozen)), False
        return (lambda env: [b(env) for b, _ in builders]), True
    return _literal(node), False


def _plain(node: Any) -> Any:
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


def _copy(node: Any) -> Any:
    if type(node) is dict:
        return {k: _copy(v) for k, v in node.items()}
    if type(node) is list:
        return [_copy(v) for v in node]
    return node


class Template:
    """A compiled constructor. ``build(env)`` gives a fresh JSON value each call."""

    __slots__ = ("source", "build", "dynamic")

    def __init__(self, source: Any) -> None:
        self.source = source
        self.build, self.dynamic = _build(source)


def compile_template(source: Any) -> Template:
    """Compile a template; raises ExpressionError for the first ``.$`` value that does not parse."""
    return Template(source)


__all__ = ["Expression", "Template", "compile_template"]
