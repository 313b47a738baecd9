"""The stored execution state: its shape, its version, and the steps that upgrade an older one.

The state is a JSON object the store keeps with the execution and the interpreter reads and
returns on every decision. Its shape is written down here as ``TypedDict``s (annotations only:
frames stay plain dicts, because the interpreter touches them on every step and a class would
cost a conversion on every load and save).

Every state carries ``"version"``. A state written before versions existed has none and is
version 0. ``upgrade_state`` applies the numbered steps from a state's version up to
``STATE_VERSION``; a change to the shape adds a step here and raises ``STATE_VERSION``, so
executions that were running when Stateway was upgraded carry on. A state from a newer Stateway
than this one raises ``StateVersionError`` (the runtime then ends that execution Failed with
``FnF.RuntimeError``, naming both versions).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypedDict

STATE_VERSION = 1


class Frame(TypedDict, total=False):
    """One running scope (the flow, a Parallel branch, a Map item), blocked on at most one thing."""

    id: str
    parent: str | None  # the frame of the Parallel/Map state that started it
    index: int  # its branch or item index in the parent
    scope: str  # key into Flow.scopes
    path: str  # step-name prefix, e.g. "Par/Branch0"
    state: str  # the state it is in
    input: Any
    stage: str  # enter | attempt | task | waiting | retry_wait | children | attempt_failed
    retries: int
    rule_attempts: dict[str, int]  # Retry rule index → attempts used
    task: str | None  # open task id (its TaskScheduled event id)
    submitted: bool
    timer: str | None  # the timer it waits on
    kids: dict[str, Any] | None  # its children while in a Parallel/Map: results, running frames…
    item: Any  # $Context.Map.Item of a Map item
    error_aliases: list[str] | None  # the failing task's exception classes, for Retry/Catch
    map_run: str  # a distributed Map's latest run (engine/_redrive.py)
    redrive_run: str  # the run a redriven distributed Map carries on from
    # FDL v1 (fdl-v1.md) frames only
    scope_in: Any  # the scope's input, for its outputMappings
    loc: dict[str, Any]  # the scope's local variables
    stopped: bool


class ExecutionState(TypedDict, total=False):
    version: int
    status: str  # Running | Succeeded | Failed | Stopped | TimedOut
    name: str
    flow: str
    input: Any
    started: float
    event_id: int  # the last history event id
    globals: dict[str, Any]
    global_sizes: dict[str, int]
    frames: dict[str, Frame]
    next_frame: int
    tasks: dict[str, str]  # open task id → frame id
    timers: dict[str, dict[str, Any]]  # timer id → {"owner", "purpose", …}
    ready: list[str]  # frames a yielded decision left ready
    continuing: bool  # a "continue" timer is set
    map: dict[str, Any]  # a distributed Map's child: its $Context.Map
    redrive: dict[str, Any]  # an ended execution's frames as the failure began (engine/_redrive.py)
    redrive_count: int  # redrives so far ($Context.Execution.RedriveCount)


class StateVersionError(ValueError):
    """The state was written by a newer Stateway than this one."""


def _from_0(state: dict[str, Any]) -> None:
    """Version 0 (no "version" key) is the shape of every state before versions: the same keys.
    Defaults fill what a hand-made or partial state may lack."""
    for key, default in (("event_id", 0), ("globals", {}), ("frames", {}), ("next_frame", 0), ("tasks", {}),
                         ("timers", {})):
        if key not in state:
            state[key] = default


# step n upgrades a version-n state to n + 1, in place, on a shallow copy of the stored one
_STEPS: dict[int, Callable[[dict[str, Any]], None]] = {0: _from_0}


def upgrade_state(state: dict[str, Any]) -> dict[str, Any]:
    """``state`` at ``STATE_VERSION``. Returns ``state`` itself when it is current (the common case,
    one lookup), else an upgraded copy; the argument is never changed. Raises ``StateVersionError``
    for a state from a newer Stateway."""
    version = state.get("version", 0)
    if version == STATE_VERSION:
        return state
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise StateVersionError(f"the execution state has version {version!r}, not a version number")
    if version > STATE_VERSION:
        raise StateVersionError(f"the execution state is version {version}, written by a newer Stateway; this one "
                                f"reads versions up to {STATE_VERSION}")
    upgraded = dict(state)
    while version < STATE_VERSION:
        _STEPS[version](upgraded)
        version += 1
        upgraded["version"] = version
    return upgraded
