"""The converted definition written as YAML text, with the comments the converter attached to
its states (``_convert.py``)."""

from __future__ import annotations

import json
import re
from typing import Any

_PLAIN = re.compile(r"[A-Za-z_$(/][^\n\t]*")
_SPECIAL = {"true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"}


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    text = str(value)
    if (_PLAIN.fullmatch(text) and text.lower() not in _SPECIAL and ": " not in text and " #" not in text
            and not text.endswith((":", " ")) and "\\" not in text):
        return text
    if "\n" not in text and "\r" not in text and "\t" not in text and text.isprintable():
        return "'" + text.replace("'", "''") + "'"
    return json.dumps(text, ensure_ascii=False)


def _lines(value: Any, indent: int) -> list[str]:
    pad = " " * indent
    out: list[str] = []
    if isinstance(value, dict):
        comments = value.get("#") or []
        for comment in comments:
            out.append(f"{pad}# {comment}")
        for key, item in value.items():
            if key == "#":
                continue
            k = _scalar(key)
            if isinstance(item, (dict, list)) and item:
                out.append(f"{pad}{k}:")
                out.extend(_lines(item, indent + 2 if isinstance(item, dict) else indent))
            else:
                out.append(f"{pad}{k}: {_scalar(item) if not isinstance(item, (dict, list)) else json.dumps(item)}")
        return out
    if isinstance(value, list):
        for item in value:
            if isinstance(item, dict) and item:
                inner = _lines(item, indent + 2)
                comments = [line for line in inner if line.lstrip().startswith("# ") and line.startswith(" " * (
                    indent + 2) + "#")][:len(item.get("#") or [])]
                rest = inner[len(comments):]
                out.extend(f"{pad}{c.strip()}" if c.strip() else c for c in comments)
                out.append(f"{pad}- {rest[0].strip()}")
                out.extend(rest[1:])
            elif isinstance(item, (dict, list)):
                out.append(f"{pad}- {json.dumps(item)}")
            else:
                out.append(f"{pad}- {_scalar(item)}")
        return out
    return [pad + _scalar(value)]
