"""Redrive (Step Functions' RedriveExecution): an ended execution carries on from where it failed.

The interpreter calls in here at three moments (see docs/design/redrive.md):

- ``keep``: a failure escapes a scope (no Retry or Catch of its own). The frames are copied before
  anything is popped, unless a copy is already pending for this failure; ``forget`` drops it when
  a Retry or Catch further up handles the failure after all.
- ``remember``: the execution ends. A Failed end stores the pending copy (or, for a failure
  without one, the frames as they are), Stopped and TimedOut the frames before they are cancelled,
  in ``state["redrive"]``. A Succeeded end keeps nothing.
- ``resume``: the ``Redrive`` event. The kept frames come back; every leaf (a frame not waiting on
  children) runs its current state again from its attempt, Retry counters at zero (its history says
  ``StepEntered`` again, with ``redriven: true``; the input is the one its InputConstructor made);
  parents keep their children's results, so what finished is not run again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stateway.engine.messages import Redrive
from stateway.jsontext import deep_copy, dumps

if TYPE_CHECKING:
    from stateway.engine._run import Run

KEY = "redrive"
_LEAF_RESET = {"task": None, "timer": None, "submitted": False, "retries": 0}


def keep(run: Run) -> None:
    if run.failed_frames is None:
        run.failed_frames = deep_copy(run.state["frames"])


def forget(run: Run) -> None:
    run.failed_frames = None


def remember(run: Run, status: str) -> None:
    st = run.state
    if status == "Succeeded":
        st.pop(KEY, None)
        return
    frames = run.failed_frames if status == "Failed" and run.failed_frames is not None else deep_copy(st["frames"])
    st[KEY] = {"frames": frames, "next_frame": st["next_frame"]}
    run.failed_frames = None


def redrivable(state: dict[str, Any] | None) -> bool:
    """Whether an ended execution's state kept what a redrive resumes from."""
    return bool(state) and isinstance(state.get(KEY), dict)  # type: ignore[union-attr]


def resume(run: Run, event: Redrive) -> None:
    st = run.state
    if st["status"] == "Running":
        return  # a repeated event: the first one redrove it
    saved = st.pop(KEY, None) or {"frames": {}, "next_frame": st["next_frame"]}
    st["status"] = "Running"
    st["redrive_count"] = event.count
    st["frames"] = frames = saved["frames"]
    st["next_frame"] = max(st["next_frame"], saved["next_frame"])
    st["tasks"] = {}
    st["timers"] = {}
    st.pop("ready", None)
    st.pop("continuing", None)
    run.history("ExecutionRedriven", "", {"redriveCount": event.count})
    limit = run.flow.timeout or run.interp.limits["execution_seconds"]
    if limit:
        run.add_timer("exec", {"purpose": "execution_timeout", "seconds": limit}, limit)
    if not frames:  # it ended before its first state ran: it starts again
        root_input = st["input"]
        if run.flow.v1 is not None:
            from stateway.engine import _v1 as v1

            root_input = v1.flow_input(run, st["input"])
        run.new_frame(None, run.flow.root, "", root_input, index=0)
        return
    for fid in sorted(frames, key=lambda f: int(f[1:]) if f[1:].isdigit() else 0):
        frame = frames[fid]
        kids = frame.get("kids")
        if kids and frame["stage"] == "children":
            kids["running"] = [k for k in kids.get("running", []) if k in frames] if "running" in kids else []
            continue  # a parent: its children carry on, its finished ones keep their results
        state = run.state_of(frame)
        was_map_run = state.map_run is not None and frame["stage"] == "task" and frame.get("map_run")
        frame.update(_LEAF_RESET)
        frame["rule_attempts"] = {}
        frame.pop("error_aliases", None)
        if frame["stage"] != "enter":  # entered already (its InputConstructor applied): entered again
            frame["stage"] = "attempt"
            run.history("StepEntered", run._exit_name(frame, state), {"input": dumps(frame["input"]),
                                                                      "redriven": True})
        if was_map_run:
            frame["redrive_run"] = frame["map_run"]
        run.ready.append(fid)


def map_run_parameters(frame: dict[str, Any], parameters: dict[str, Any], run_name: str) -> None:
    """A distributed Map's task: remember its run, and name the run it redrives."""
    old = frame.pop("redrive_run", None)
    if old and old != run_name:
        parameters["redriveOf"] = old
    frame["map_run"] = run_name
