"""How long a Wait with ``Timestamp`` or ``Timestamp.$`` waits (fdl/_wait_until.py): until the
instant, at least 0 seconds."""

from __future__ import annotations

from typing import TYPE_CHECKING

from stateway.engine._errors import INVALID_ARGUMENT, StateFailure
from stateway.expr import EvaluationError
from stateway.fdl import State
from stateway.fdl._v1 import parse_instant
from stateway.jsontext import dumps

if TYPE_CHECKING:
    from stateway.engine._run import Run
    from stateway.engine.state import Frame


def seconds_left(run: Run, frame: Frame, state: State) -> float:
    instant = state.timestamp
    if state.timestamp_expr is not None:
        try:
            value = state.timestamp_expr.evaluate(run.env(frame, frame["input"]))
        except EvaluationError as exc:
            raise StateFailure(INVALID_ARGUMENT, f"Timestamp.$: {exc.message}") from None
        instant = parse_instant(value) if isinstance(value, str) else None
        if instant is None:
            raise StateFailure(INVALID_ARGUMENT, f"Timestamp.$ gave {dumps(value)}, not an RFC 3339 instant")
    assert instant is not None
    return max(0.0, instant - run.now)
