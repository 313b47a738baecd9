"""The interpreter, pure: events in, decisions out, a fake clock, no sleeps."""
import json

from stateway.engine import Interpreter, new_execution_state
from stateway.fdl import load_flow

RETRY = """Type: StateMachine
SpecVersion: v1
StartAt: Call
States:
  - Type: Task
    Name: Call
    Action: X:Y
    Timeout: 5
    Retry:
      - Errors: [Boom]
        MaxAttempts: 2
        IntervalSeconds: 2
        BackoffRate: 3
    Catch:
      - Errors: [FnF.ALL]
        Next: Caught
    Next: Done
  - {Type: Pass, Name: Done, End: true}
  - {Type: Pass, Name: Caught, End: true}
"""


def start(source, input_=None):
    # no execution time limit here, so that d.timers holds only the timers a test is about
    interp = Interpreter(load_flow(source), limits={"execution_seconds": 0})
    state = new_execution_state("e", "f", input_ or {}, 100.0)
    return interp, interp.decide(state, {"type": "start"}, 100.0, lambda t: f"tok-{t}")


def test_retry_backoff_is_a_durable_timer_then_catch():
    interp, d = start(RETRY)
    task = d.commands[0]["task"]
    assert d.commands[0]["kind"] == "invoke" and d.timers[0]["due"] == 105.0  # task timeout timer
    d = interp.decide(d.state, {"type": "task_result", "task": task, "ok": False, "error": "Boom", "cause": "x"},
                      101.0, lambda t: t)
    assert [t["due"] for t in d.timers] == [103.0] and d.cancelled_timers  # retry 1 after 2 s; timeout cancelled
    d = interp.decide(d.state, d.timers[0]["event"], 103.0, lambda t: t)
    task = d.commands[0]["task"]
    d = interp.decide(d.state, {"type": "task_result", "task": task, "ok": False, "error": "Boom", "cause": "x"},
                      104.0, lambda t: t)
    assert [t["due"] for t in d.timers] == [110.0]  # retry 2 after 2 * 3 s
    d = interp.decide(d.state, d.timers[0]["event"], 110.0, lambda t: t)
    task = d.commands[0]["task"]
    d = interp.decide(d.state, {"type": "task_result", "task": task, "ok": False, "error": "Boom", "cause": "x"},
                      111.0, lambda t: t)
    assert d.ended["status"] == "Succeeded" and d.ended["output"] == {"Code": "Boom", "Detail": "x"}


def test_task_timeout_fails_with_fnf_timeout_and_cancels_the_job():
    interp, d = start(RETRY)
    d = interp.decide(d.state, d.timers[0]["event"], 105.0, lambda t: t)
    kinds = [h["Type"] for h in d.history]
    assert "TaskTimedOut" in kinds and any(c["kind"] == "cancel" for c in d.commands)
    assert d.ended["output"]["Code"] == "FnF.Timeout"


def test_late_result_after_close_changes_nothing():
    interp, d = start(RETRY)
    task = d.commands[0]["task"]
    d = interp.decide(d.state, d.timers[0]["event"], 105.0, lambda t: t)
    after = interp.decide(d.state, {"type": "task_result", "task": task, "ok": True, "output": {}}, 106.0, lambda t: t)
    assert after.history == [] and after.commands == []


def _chain(n):
    states = "\n".join(f"  - {{Type: Pass, Name: S{i}, Next: S{i + 1}}}" for i in range(n))
    return f"Type: StateMachine\nSpecVersion: v1\nStartAt: S0\nStates:\n{states}\n  - {{Type: Succeed, Name: S{n}}}\n"


def test_four_hundred_pass_chain_is_one_decision():
    _, d = start(_chain(400), {"k": 1})
    assert d.ended["status"] == "Succeeded" and d.ended["output"] == {"k": 1} and not d.yielded


def test_a_long_chain_yields_at_its_budget_and_continues_where_it_stopped():
    interp, d = start(_chain(1000), {"k": 1})
    decisions = [d]
    while d.ended is None:
        assert d.yielded and len(d.history) <= 1000
        assert [t["event"] for t in d.timers if t["timer"] == "continue"] == [{"type": "continue"}]
        d = interp.decide(d.state, {"type": "continue"}, 100.0, lambda t: t)
        decisions.append(d)
    assert len(decisions) == 3 and d.ended == {"status": "Succeeded", "output": {"k": 1}, "error": None, "cause": None}
    ids = [h["EventId"] for x in decisions for h in x.history]
    assert ids == list(range(1, len(ids) + 1))  # nothing lost or doubled across the turns
    entered = [h["StepName"] for x in decisions for h in x.history if h["Type"] == "StepEntered"]
    assert entered == [f"S{i}" for i in range(1001)]


def test_a_decision_yields_when_its_caller_says_so():
    asked = iter(range(10**6))
    interp = Interpreter(load_flow(_chain(400)), limits={"execution_seconds": 0})
    state = new_execution_state("e", "f", {}, 100.0)
    d = interp.decide(state, {"type": "start"}, 100.0, lambda t: t, should_yield=lambda: next(asked) >= 3)
    assert d.yielded and d.ended is None and len(d.history) < 200


def test_events_limit_is_checked_at_every_event_in_a_pass_loop():
    source = """Type: StateMachine
SpecVersion: v1
StartAt: A
States:
  - {Type: Pass, Name: A, Next: B}
  - {Type: Pass, Name: B, Next: A}
"""
    interp = Interpreter(load_flow(source), limits={"execution_seconds": 0, "events": 300})
    d = interp.decide(new_execution_state("e", "f", {}, 100.0), {"type": "start"}, 100.0, lambda t: t)
    assert d.ended["error"] == "FnF.EventsLimitExceeded" and len(d.history) <= 303


def test_stop_ends_a_yielded_loop_and_drops_its_ready_frames():
    source = """Type: StateMachine
SpecVersion: v1
StartAt: A
States:
  - {Type: Pass, Name: A, Next: B}
  - {Type: Pass, Name: B, Next: A}
"""
    interp = Interpreter(load_flow(source), limits={"execution_seconds": 0})
    d = interp.decide(new_execution_state("e", "f", {}, 100.0), {"type": "start"}, 100.0, lambda t: t)
    assert d.yielded
    d = interp.decide(d.state, {"type": "stop", "error": "E", "cause": "c"}, 101.0, lambda t: t)
    assert d.ended["status"] == "Stopped" and not d.yielded
    after = interp.decide(d.state, {"type": "continue"}, 101.0, lambda t: t)
    assert after.history == [] and after.ended is None


def test_stop_cancels_every_open_task_of_a_map():
    source = """Type: StateMachine
SpecVersion: v1
StartAt: M
States:
  - Type: Map
    Name: M
    ItemsPath: $Input.xs
    MaxConcurrency: 2
    Processor:
      StartAt: T
      States:
        - {Type: Task, Name: T, Action: X:Y, End: true}
    End: true
"""
    interp, d = start(source, {"xs": [1, 2, 3]})
    assert len([c for c in d.commands if c["kind"] == "invoke"]) == 2  # MaxConcurrency holds the third
    d = interp.decide(d.state, {"type": "stop", "error": "E", "cause": "C"}, 101.0, lambda t: t)
    assert len([c for c in d.commands if c["kind"] == "cancel"]) == 2
    assert d.ended == {"status": "Stopped", "output": None, "error": "E", "cause": "C"}
    assert d.history[-1]["Type"] == "ExecutionStopped"
    assert d.history[-1]["EventDetail"] == {"error": "E", "cause": "C"}


def test_custom_callback_token_is_in_context_and_parameters():
    source = """Type: StateMachine
SpecVersion: v1
StartAt: T
States:
  - Type: Task
    Name: T
    Action: X:Y
    TaskMode: WaitForCustomCallback
    Timeout: 10
    Parameters:
      token.$: $Context.Current.TaskToken
    End: true
"""
    _, d = start(source)
    command = d.commands[0]
    assert command["parameters"] == {"token": command["token"]} and command["token"].startswith("tok-")


def test_non_object_output_is_invalid_argument():
    source = """Type: StateMachine
SpecVersion: v1
StartAt: T
States:
  - {Type: Task, Name: T, Action: X:Y, End: true}
"""
    interp, d = start(source)
    task = d.commands[0]["task"]
    d = interp.decide(d.state, {"type": "task_result", "task": task, "ok": True, "output": [1]}, 101.0, lambda t: t)
    assert d.ended["error"] == "FnF.InvalidArgument"


def test_execution_timeout():
    source = """Type: StateMachine
SpecVersion: v1
Timeout: 3
StartAt: W
States:
  - {Type: Wait, Name: W, Seconds: 100, End: true}
"""
    interp, d = start(source)
    exec_timer = [t for t in d.timers if t["due"] == 103.0][0]
    d = interp.decide(d.state, exec_timer["event"], 103.0, lambda t: t)
    assert d.ended["status"] == "TimedOut"


def test_execution_duration_limit_applies_without_a_flow_timeout():
    interp = Interpreter(load_flow("Type: StateMachine\nSpecVersion: v1\nStartAt: W\nStates:\n"
                                   "  - {Type: Wait, Name: W, Seconds: 100, End: true}\n"),
                         limits={"execution_seconds": 50})
    d = interp.decide(new_execution_state("e", "f", {}, 100.0), {"type": "start"}, 100.0, lambda t: t)
    limit = [t for t in d.timers if t["due"] == 150.0][0]
    d = interp.decide(d.state, limit["event"], 150.0, lambda t: t)
    assert d.ended["status"] == "TimedOut" and "50s" in d.ended["cause"]


def test_decide_leaves_its_input_untouched_unless_handed_over():
    interp, d = start(RETRY)
    before = json.dumps(d.state, sort_keys=True)
    interp.decide(d.state, {"type": "stop", "error": "E", "cause": "C"}, 101.0, lambda t: t)
    assert json.dumps(d.state, sort_keys=True) == before
    after = interp.decide(d.state, {"type": "stop", "error": "E", "cause": "C"}, 101.0, lambda t: t, owned=True)
    assert after.state is d.state and d.state["status"] == "Stopped"


def test_a_task_reads_as_in_the_reference():
    source = "Type: StateMachine\nSpecVersion: v1\nStartAt: T\nStates:\n  - {Type: Task, Name: T, Action: X:Y, End: true}\n"
    interp, d = start(source)
    events = [h["Type"] for h in d.history]
    d = interp.decide(d.state, {"type": "task_result", "task": d.commands[0]["task"], "ok": True, "output": {"a": 1}},
                      101.0, lambda t: t)
    events += [h["Type"] for h in d.history]
    assert events == ["ExecutionStarted", "StepEntered", "StepStarted", "TaskScheduled", "TaskSubmitted",
                      "TaskSucceeded", "StepSucceeded", "StepExited", "ExecutionSucceeded"]
