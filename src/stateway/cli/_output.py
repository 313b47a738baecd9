"""How the CLI prints what a running Stateway answers: JSON, aligned tables, key/value pairs,
short durations."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import click


def _dump(value: Any) -> None:
    if isinstance(value, dict):
        value.pop("RequestId", None)
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]], empty: str = "") -> None:
    """Aligned columns under a header line; the last column is not padded (it may be long)."""
    if not rows:
        if empty:
            click.echo(empty, err=True)
        return
    text = [[str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in text)) for i, h in enumerate(headers)]
    for row in [list(headers), *text]:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row[:-1], widths, strict=False)) + ("  " if len(row) > 1
                                                                                          else "") + row[-1])


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d{seconds % 86400 // 3600:02d}h"


def _pairs(pairs: Sequence[tuple[str, Any]]) -> None:
    width = max(len(k) for k, _ in pairs)
    for key, value in pairs:
        if value not in (None, ""):
            click.echo(f"{key.ljust(width)}  {value}")
