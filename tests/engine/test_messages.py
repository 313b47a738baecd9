"""Inbox events and outbox commands: typed, and stored in the same wire form as before they were typed."""

import pytest

from stateway.engine import (
    Cancel,
    CancelResult,
    Continue,
    Interpreter,
    Invoke,
    MessageError,
    Report,
    Start,
    Stop,
    TaskResult,
    TaskSubmitted,
    TimerFired,
    command_from_wire,
    event_from_wire,
    new_execution_state,
)
from stateway.fdl import load_flow
from stateway.jsontext import dumps, loads

# rows as the code before typed messages wrote them (inbox, timer and outbox rows of existing databases)
STORED_EVENTS = [
    ({"type": "start"}, Start()),
    ({"type": "continue"}, Continue()),
    ({"type": "timer", "timer": "t6-f0-1"}, TimerFired("t6-f0-1")),
    ({"type": "stop", "error": "FnF.TaskCancelled", "cause": "parent ended"}, Stop("FnF.TaskCancelled", "parent ended")),
    ({"type": "task_result", "task": "6", "ok": True, "output": {"a": 1}}, TaskResult.success("6", {"a": 1})),
    ({"type": "task_result", "task": "6", "ok": True, "output": None, "logs": {"id": "L1"}},
     TaskResult.success("6", None, logs={"id": "L1"})),
    ({"type": "task_result", "task": "6", "ok": False, "error": "Boom", "cause": "x", "aliases": ["ValueError"]},
     TaskResult.failure("6", "Boom", "x", aliases=("ValueError",))),
    ({"type": "task_result", "task": "6", "ok": False, "error": "FC.NotFound", "cause": "", "submit_failed": True},
     TaskResult.failure("6", "FC.NotFound", "", submit_failed=True)),
    ({"type": "task_result", "task": "9", "ok": True, "output": {"Items": []},
      "map_run": {"MapRunName": "r", "ItemCounts": {"Total": 0}}},
     TaskResult.success("9", {"Items": []}, map_run={"MapRunName": "r", "ItemCounts": {"Total": 0}})),
    ({"type": "task_submitted", "task": "6", "output": {"MessageId": "m"}}, TaskSubmitted("6", {"MessageId": "m"})),
    ({"type": "cancel_result", "task": "6", "ok": True, "detail": "stopped", "step": "Par/Branch0/Call"},
     CancelResult("6", True, "stopped", "Par/Branch0/Call")),
]
STORED_COMMANDS = [
    ({"kind": "invoke", "task": "6", "token": "sw1.x.y", "state": "Call", "step": "Call", "action": "FC:InvokeFunction",
      "mode": "RequestComplete", "parameters": {"functionName": "f"}, "timeout": None},
     Invoke("6", "sw1.x.y", "Call", "Call", "FC:InvokeFunction", "RequestComplete", {"functionName": "f"}, None)),
    ({"kind": "cancel", "task": "6", "action": "FC:InvokeFunction", "mode": "RequestComplete", "step": "Call",
      "reason": "execution stopped"},
     Cancel("6", "FC:InvokeFunction", "RequestComplete", "Call", "execution stopped")),
    ({"kind": "report", "token": "maprun:r:3", "status": "Failed", "output": None, "error": "E", "cause": "c"},
     Report("maprun:r:3", "Failed", None, "E", "c")),
]


@pytest.mark.parametrize(("wire", "event"), STORED_EVENTS)
def test_a_stored_event_reads_as_its_type_and_writes_back_the_same(wire, event):
    assert event_from_wire(loads(dumps(wire))) == event
    assert event.to_wire() == wire


@pytest.mark.parametrize(("wire", "command"), STORED_COMMANDS)
def test_a_stored_command_reads_as_its_type_and_writes_back_the_same(wire, command):
    assert command_from_wire(loads(dumps(wire))) == command
    assert command.to_wire() == wire


def test_messages_are_frozen():
    with pytest.raises(AttributeError):
        TaskResult.success("1", {}).ok = False  # type: ignore[misc]


def test_unknown_kinds_and_missing_fields_are_named():
    with pytest.raises(MessageError, match="unknown inbox event type 'wake'.*task_result"):
        event_from_wire({"type": "wake"})
    with pytest.raises(MessageError, match="unknown outbox command kind 'launch'.*invoke"):
        command_from_wire({"kind": "launch"})
    with pytest.raises(MessageError, match="has no 'error'"):
        event_from_wire({"type": "task_result", "task": "1", "ok": False})
    with pytest.raises(MessageError, match="has no 'timer'"):
        event_from_wire({"type": "timer"})
    with pytest.raises(MessageError, match="JSON object"):
        event_from_wire(["start"])  # type: ignore[arg-type]


def test_older_and_newer_rows_still_read():
    # a field missing from an old row takes its default; one a newer Stateway added is ignored
    assert event_from_wire({"type": "task_result", "task": "1", "ok": False, "error": "E"}) == TaskResult.failure("1", "E")
    assert event_from_wire({"type": "stop"}) == Stop()
    assert event_from_wire({"type": "timer", "timer": "t1", "purpose": "wait"}) == TimerFired("t1")


FLOW = """Type: StateMachine
SpecVersion: v1
Name: f
StartAt: Call
States:
  - Type: Task
    Name: Call
    Action: FC:InvokeFunction
    TaskMode: RequestComplete
    Timeout: 5
    Parameters: {resourceArn: "acs:fc:::functions/f"}
    End: true
"""


def test_the_interpreter_takes_typed_events_or_their_wire_form_and_emits_wire_commands():
    interp = Interpreter(load_flow(FLOW, {"FC:InvokeFunction": frozenset({"RequestComplete"})}))
    state = new_execution_state("e", "f", {}, 100.0)
    typed = interp.decide(state, Start(), 100.0, lambda t: f"tok-{t}")
    wired = interp.decide(state, {"type": "start"}, 100.0, lambda t: f"tok-{t}")
    assert typed.history == wired.history and typed.commands == wired.commands
    (command,) = typed.commands
    invoke = command_from_wire(command)
    assert isinstance(invoke, Invoke) and invoke.timeout == 5 and invoke.token == "tok-4"
    assert typed.opened_tasks == [invoke.opened_task()]
    assert all(event_from_wire(t["event"]) == TimerFired(t["timer"]) for t in typed.timers)
    done = interp.decide(typed.state, TaskResult.success(invoke.task, {"x": 1}), 101.0, lambda t: t)
    assert done.ended == {"status": "Succeeded", "output": {"x": 1}, "error": None, "cause": None}
    stopped = interp.decide(typed.state, Stop("E", "c"), 101.0, lambda t: t)
    (cancel,) = stopped.commands
    assert command_from_wire(cancel) == Cancel(invoke.task, "FC:InvokeFunction", "RequestComplete", "Call",
                                               "execution stopped")


def test_complete_task_checks_a_wire_event(memory_runtime):
    runtime = memory_runtime()
    with pytest.raises(MessageError):
        runtime.complete_task(1, "1", {"type": "task_result", "task": "1"})
    with pytest.raises(TypeError):
        runtime.complete_task(1, "1", Stop())  # type: ignore[arg-type]


def test_json_text_writes_a_message_in_its_wire_form_on_both_paths():
    # orjson would write a dataclass's fields (no "type"); the standard library (integers past 64 bits) not at all
    assert loads(dumps({"e": TaskResult.success("1", {"x": 1})})) == {"e": TaskResult.success("1", {"x": 1}).to_wire()}
    big = TaskResult.success("1", {"x": 2**70})
    assert loads(dumps([big])) == [{"type": "task_result", "task": "1", "ok": True, "output": {"x": 2**70}}]
    with pytest.raises(TypeError):
        dumps({"x": object()})
