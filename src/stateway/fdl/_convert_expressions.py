"""Older-dialect paths, mappings and conditions written as newer-dialect expressions (for
``stateway convert``, ``_convert.py``), with a note of each thing that has no exact equivalent."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from stateway.fdl._model import Flow
from stateway.fdl._v1data import WILDCARD, Mapping, Path, _ConditionParser

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass
class _Out:
    """A converted state under construction."""

    body: dict[str, Any]
    comments: list[str] = field(default_factory=list)


# -- expressions --------------------------------------------------------------------------------
def _key_segment(key: str) -> str:
    return f".{key}" if _IDENT.fullmatch(key) else f"[{json.dumps(key, ensure_ascii=False)}]"


def _v1_segments(segments: tuple[Any, ...]) -> str:
    out = ""
    for seg in segments:
        if isinstance(seg, int):
            out += f"[{seg}]"
        elif seg is WILDCARD or (type(seg) is str and seg == WILDCARD):
            out += "[*]"
        else:
            out += f"[{json.dumps(str(seg), ensure_ascii=False)}]" if not re.fullmatch(
                r"[A-Za-z_][A-Za-z0-9_-]*", seg) else f".{seg}"
    return out


_CONTEXT = {("task", "token"): "$Context.Current.TaskToken", ("task", "retryCount"): "$Context.Current.RetryCount",
            ("execution", "name"): "$Context.Execution.Name", ("execution", "input"): "$Context.Execution.Input",
            ("flow", "name"): "$Context.Flow.Name", ("step", "name"): "$Context.Current.Name"}


class ExpressionWriter:
    """What the converter knows while it writes expressions: the notes so far, whether jsonPath()
    is used, and the step whose paths are being converted."""

    def __init__(self, flow: Flow) -> None:
        self.flow = flow
        self.notes: list[str] = []
        self.uses_json_path = False
        # what $context.step.name and $context.task.* read where a path is being converted: the
        # older dialect names the step itself (not its converted, possibly renamed state) and has
        # a task's token and retry count only while it builds the task's request
        self.step_name: str | None = None
        self.in_request = False

    def note(self, out: _Out | None, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)
        if out is not None:
            out.comments.append(f"differs: {text}")

    # -- paths and mappings ---------------------------------------------------------------------
    def path(self, path: Path, roots: dict[str, Any], out: _Out | None) -> str:
        """A v1 path as a newer-dialect expression. ``roots`` maps a root ("", input, local) to an
        expression, or to a dict of known fields (an object literal)."""
        segments = path.segments
        if path.root == "context":
            key = tuple(str(s) for s in segments[:2]) if len(segments) >= 2 and all(
                type(s) is not int for s in segments[:2]) else ()
            if key not in _CONTEXT:
                self.note(out, f"{path.source}: only $context.task.token/retryCount, execution.name/input, "
                          "flow.name and step.name have newer-dialect equivalents; it is null here")
                return "null"
            if key == ("step", "name"):
                return json.dumps(self.step_name, ensure_ascii=False) if len(segments) == 2 else "null"
            if key[0] == "task" and not self.in_request:
                return "null"
            base, segments = _CONTEXT[key], segments[2:]
        else:
            base = roots[path.root]
            if isinstance(base, dict):
                if not segments:
                    base = "{" + ", ".join(f"{json.dumps(k)}: {v}" for k, v in base.items()) + "}"
                elif type(segments[0]) is not int and segments[0] in base and segments[0] != WILDCARD:
                    base, segments = base[segments[0]], segments[1:]
                else:
                    return "null"
            if base == "{}":
                return "{}" if not segments else "null"
        # a wildcard, or an index (which the newer dialect refuses on an object, where the older one
        # gives null): the older dialect's own walk of the whole path, jsonPath()
        if any(seg is WILDCARD or (type(seg) is str and seg == WILDCARD) or isinstance(seg, int)
               for seg in segments):
            self.uses_json_path = True
            return f"jsonPath({base}, {json.dumps('$' + _v1_segments(segments), ensure_ascii=False)})"
        text = base
        for seg in segments:
            text += _key_segment(str(seg))
        return text

    def constant(self, value: Any) -> str:
        return json.dumps(value, ensure_ascii=False)

    def mapping_literal(self, mapping: Mapping, roots: dict[str, Any], out: _Out | None) -> str:
        parts = []
        for target, source in mapping.entries:
            value = self.path(source, roots, out) if isinstance(source, Path) else self.constant(source)
            parts.append(f"{json.dumps(target, ensure_ascii=False)}: {value}")
        return "{" + ", ".join(parts) + "}"

    def mapping_template(self, mapping: Mapping, roots: dict[str, Any], out: _Out | None) -> dict[str, Any]:
        template: dict[str, Any] = {}
        for target, source in mapping.entries:
            template.pop(target, None)
            template.pop(f"{target}.$", None)
            if isinstance(source, Path):
                template[f"{target}.$"] = self.path(source, roots, out)
            elif _has_dollar_key(source) or target.endswith(".$"):
                template[f"{target}.$"] = self.constant(source)
            else:
                template[target] = source
        return template

    # -- conditions ---------------------------------------------------------------------------------
    def condition(self, source: str, roots: dict[str, Any], out: _Out) -> str:
        translator = _ConditionTranslator(source, self, roots, out)
        text, is_bool = translator.parse()
        return text if is_bool else f"v1Condition({text})"



class _ConditionTranslator(_ConditionParser):
    """Builds newer-dialect condition text: (text, is it surely a boolean?)."""

    def __init__(self, text: str, conv: ExpressionWriter, roots: dict[str, Any], out: _Out) -> None:
        super().__init__(text)
        self.conv = conv
        self.roots = roots
        self.out = out

    @staticmethod
    def _bool(part: tuple[str, bool]) -> str:
        # the older dialect counts null as false and fails on any other non-boolean; the newer one
        # needs a boolean: v1Condition() carries the older rule
        return part[0] if part[1] else f"v1Condition({part[0]})"

    def build_or(self, a: Any, b: Any) -> Any:
        return f"{self._bool(a)} || {self._bool(b)}", True

    def build_and(self, a: Any, b: Any) -> Any:
        left = f"({a[0]})" if a[0].count("||") and not a[0].startswith("(") else self._bool(a)
        right = f"({b[0]})" if b[0].count("||") and not b[0].startswith("(") else self._bool(b)
        return f"{left} && {right}", True

    def build_not(self, a: Any) -> Any:
        inner = self._bool(a)
        return (f"!{inner}" if a[1] and inner.startswith("(") else f"!({inner})"), True

    def build_compare(self, op: str, a: Any, b: Any) -> Any:
        return f"{a[0]} {op} {b[0]}", True

    def build_path(self, path: Path) -> Any:
        return self.conv.path(path, self.roots, self.out), False

    def build_constant(self, value: Any) -> Any:
        return json.dumps(value, ensure_ascii=False), isinstance(value, bool)

    def build_group(self, inner: Any) -> Any:
        return (f"({inner[0]})", True) if inner[1] else inner  # a non-boolean inside is a single operand


def _has_dollar_key(value: Any) -> bool:
    if isinstance(value, dict):
        return any(str(k).endswith(".$") or _has_dollar_key(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_dollar_key(v) for v in value)
    return False
