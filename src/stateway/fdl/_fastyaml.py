"""A fast YAML front end for large definitions: libyaml (PyYAML's C parser) composes the node tree,
which is turned into ruamel's CommentedMap/CommentedSeq with the same line/column data the
round-trip loader records, so the validators are unchanged. ruamel's pure-Python round-trip
parser takes seconds for a few thousand lines; this takes milliseconds."""

from __future__ import annotations

from typing import Any

import yaml
from ruamel.yaml.comments import CommentedMap, CommentedSeq

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_STR = "tag:yaml.org,2002:str"


class FastYAMLError(ValueError):
    def __init__(self, message: str, line: int, column: int) -> None:
        self.message = message
        self.line = line  # 1-based; 0 when unknown
        self.column = column
        super().__init__(message)


def load(source: str) -> Any:
    """The document as CommentedMap/CommentedSeq/scalars; FastYAMLError with a position."""
    try:
        loader = _Loader(source)
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            return _Builder(loader).build(node)
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise FastYAMLError(exc.problem or exc.context or "invalid YAML", mark.line + 1 if mark else 0,
                            mark.column + 1 if mark else 0) from None
    except yaml.YAMLError as exc:
        raise FastYAMLError(str(exc), 0, 0) from None


class _Builder:
    def __init__(self, loader: Any) -> None:
        self.loader = loader
        self.active: set[int] = set()

    def build(self, node: Any) -> Any:
        if isinstance(node, yaml.ScalarNode):
            if node.tag == _STR:
                return node.value
            return self.loader.construct_object(node, deep=True)
        if id(node) in self.active:
            raise FastYAMLError("a recursive alias is not allowed in a flow definition", node.start_mark.line + 1,
                                node.start_mark.column + 1)
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                seq = CommentedSeq()
                seq._yaml_set_line_col(node.start_mark.line, node.start_mark.column)
                for i, item in enumerate(node.value):
                    seq.append(self.build(item))
                    seq._yaml_set_idx_line_col(i, [item.start_mark.line, item.start_mark.column])
                return seq
            mapping = CommentedMap()
            mapping._yaml_set_line_col(node.start_mark.line, node.start_mark.column)
            for key_node, value_node in node.value:
                key = self.build(key_node)
                try:
                    hash(key)
                except TypeError:
                    raise FastYAMLError("a mapping key must be a scalar", key_node.start_mark.line + 1,
                                        key_node.start_mark.column + 1) from None
                if key in mapping:
                    raise FastYAMLError(f"duplicate key {key!r}", key_node.start_mark.line + 1,
                                        key_node.start_mark.column + 1)
                mapping[key] = self.build(value_node)
                mapping._yaml_set_kv_line_col(key, [key_node.start_mark.line, key_node.start_mark.column,
                                                    value_node.start_mark.line, value_node.start_mark.column])
            return mapping
        finally:
            self.active.discard(id(node))
