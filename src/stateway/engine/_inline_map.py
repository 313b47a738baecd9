"""What an inline Map reads besides its items: its concurrency (``MaxConcurrency`` or
``MaxConcurrency.$``, fdl.md §2 and §3.3) and, for ``$Context.Map``, the item a frame runs under."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stateway.engine._maprun import _number
from stateway.fdl import State

if TYPE_CHECKING:
    from stateway.engine._run import Run
    from stateway.engine.state import Frame


def concurrency(run: Run, frame: Frame, state: State) -> int:
    """How many items run at once; 0 = no limit. ``MaxConcurrency.$`` is evaluated once, on the
    Map's input, when the Map starts."""
    if state.max_concurrency_expr is None:
        return state.max_concurrency
    value = _number(run, run.env(frame, frame["input"]), state.max_concurrency_expr, None, "MaxConcurrency",
                    integer=True)
    return int(value or 0)


def enclosing_item(frames: dict[str, Frame], frame: Frame) -> Any:
    """The ``{Index, Value}`` of the nearest Map item around ``frame``: its own, or that of the
    frame that started its Parallel branch (or choice option), and so on outwards."""
    current: Frame | None = frame
    while current is not None:
        item = current.get("item")
        if item is not None:
            return item
        parent = current.get("parent")
        current = frames.get(parent) if parent is not None else None
    return None
