"""``GlobalConstructor`` (fdl.md §3.4): after a state, ``$Global`` gets the constructor's keys.

Every state type that completes applies it, including the ones whose output is their input (Pass,
Wait, Choice, Succeed) and Fail, which ends its scope with an error that a Parallel's or Map's
Catch may take: a flow that writes a key there reads it afterwards. For those states ``$Output``
is the state's input, the value they pass on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stateway.fdl import State

if TYPE_CHECKING:
    from stateway.engine._run import Run
    from stateway.engine.state import Frame


def apply_globals(run: Run, frame: Frame, state: State, raw_output: Any) -> dict[str, Any]:
    """Merges the state's GlobalConstructor into ``$Global``; returns ``$Global`` as it was before,
    which the state's OutputConstructor reads (fdl.md §3.4)."""
    before: dict[str, Any] = run.state["globals"]
    if state.global_constructor is not None:
        update = run.build(state.global_constructor, run.env(frame, frame["input"], raw_output), "GlobalConstructor")
        run.check_globals(update)
        run.state["globals"] = {**before, **update}
    return before
