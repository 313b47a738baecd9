"""Reading a definition's YAML as untrusted input: a round-trip parser per thread (it keeps line
and column of every node), and the size and depth limits checked on libyaml's event stream before
it and on the document after it (``_TooLarge``)."""

from __future__ import annotations

import threading
from typing import Any

import yaml as libyaml
from ruamel.yaml import YAML

from stateway.jsontext import bad_text

MAX_DEFINITION_BYTES = 96 * 1024  # the text, and its YAML-alias-expanded form
MAX_YAML_DEPTH = 200
_local = threading.local()  # a ruamel YAML instance is not safe to share between threads


def _yaml() -> YAML:
    yaml = getattr(_local, "yaml", None)
    if yaml is None:
        yaml = _local.yaml = YAML(typ="rt")
        yaml.allow_duplicate_keys = False
    return yaml


class _TooLarge(Exception):
    pass


_EVENTS_LOADER = getattr(libyaml, "CSafeLoader", libyaml.SafeLoader)  # libyaml's C parser when built with it


def _prescan(source: str, budget: int) -> None:
    """libyaml's event stream (C, iterative, linear): nesting depth and the alias-expanded size,
    before the pure-Python round-trip loader sees a text that would cost it seconds or gigabytes.
    Raises _TooLarge; a text libyaml cannot read is left to the loader, which says why."""
    anchors: dict[str, int] = {}
    stack: list[list[Any]] = [[0, None]]  # [size so far, anchor] per open collection; the bottom is the stream
    try:
        for event in libyaml.parse(source, Loader=_EVENTS_LOADER):
            if isinstance(event, libyaml.CollectionStartEvent):
                if len(stack) > MAX_YAML_DEPTH:
                    raise _TooLarge(f"the definition nests more than {MAX_YAML_DEPTH} deep")
                stack.append([2, event.anchor])
                continue
            if isinstance(event, libyaml.ScalarEvent):
                size = len(event.value) + 2
                if event.anchor:
                    anchors[event.anchor] = size
            elif isinstance(event, libyaml.AliasEvent):
                size = anchors.get(event.anchor, 0)
            elif isinstance(event, libyaml.CollectionEndEvent):
                size, anchor = stack.pop()
                if anchor:
                    anchors[anchor] = size
            else:
                continue
            stack[-1][0] += size
            if stack[-1][0] > budget:
                raise _TooLarge(f"the definition is over {budget} bytes once its YAML aliases are expanded")
    except libyaml.YAMLError as exc:
        if "maximum nesting depth" in str(exc):
            raise _TooLarge(f"the definition nests more than {MAX_YAML_DEPTH} deep") from None


def _expanded_size(doc: Any, budget: int) -> int:
    """Bytes the document would take written out with every alias expanded, computed once per node
    (aliases share nodes), so it costs the size of the text, not of the expansion. Raises _TooLarge
    past ``budget``, for a node that contains itself, or nesting over MAX_YAML_DEPTH."""
    memo: dict[int, int] = {}
    active: set[int] = set()

    def size(node: Any, depth: int) -> int:
        if isinstance(node, (dict, list)):
            key = id(node)
            if key in memo:
                return memo[key]
            if key in active:
                raise _TooLarge("a YAML alias refers to a node that contains it")
            if depth > MAX_YAML_DEPTH:
                raise _TooLarge(f"the definition nests more than {MAX_YAML_DEPTH} deep")
            active.add(key)
            total = 2
            if isinstance(node, dict):
                for k, v in node.items():
                    total += size(k, depth + 1) + size(v, depth + 1) + 2
                    if total > budget:
                        raise _TooLarge(f"the definition is over {budget} bytes once its YAML aliases are expanded")
            else:
                for v in node:
                    total += size(v, depth + 1) + 2
                    if total > budget:
                        raise _TooLarge(f"the definition is over {budget} bytes once its YAML aliases are expanded")
            active.discard(key)
            memo[key] = total
            return total
        if isinstance(node, str):
            if bad_text(node):
                raise _TooLarge("the definition holds text that is not valid Unicode (a lone surrogate)")
            return len(node)
        return 8

    return size(doc, 0)
