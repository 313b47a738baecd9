"""Redrive in the pure interpreter: the kept frames, what runs again and what does not."""
from stateway.engine import Interpreter, new_execution_state
from stateway.engine._redrive import redrivable
from stateway.fdl import load_flow

FLOW = """Type: StateMachine
SpecVersion: v1
StartAt: First
States:
  - Type: Task
    Name: First
    Action: X:Y
    Retry:
      - Errors: [Boom]
        MaxAttempts: 1
        IntervalSeconds: 1
    Next: Par
  - Type: Parallel
    Name: Par
    Branches:
      - StartAt: A
        States:
          - {Type: Task, Name: A, Action: X:Y, End: true}
      - StartAt: B
        States:
          - {Type: Task, Name: B, Action: X:Y, End: true}
    Next: Each
  - Type: Map
    Name: Each
    ItemsPath: $Context.Execution.Input.items
    MaxConcurrency: 2
    Processor:
      StartAt: Item
      States:
        - {Type: Task, Name: Item, Action: X:Y, End: true}
    Next: Done
  - Type: Pass
    Name: Done
    OutputConstructor:
      ctx.$: $Context.Execution.RedriveCount
      items.$: $Input.Items
    End: true
"""


class Run:
    def __init__(self, source=FLOW, input_=None):
        self.interp = Interpreter(load_flow(source), limits={"execution_seconds": 0})
        self.state = new_execution_state("e", "f", input_ or {"items": [1, 2, 3, 4]}, 100.0)
        self.open = {}  # task id → step
        self.history = []
        self.feed({"type": "start"})

    def feed(self, event):
        d = self.interp.decide(self.state, event, 100.0, lambda t: f"tok-{t}")
        self.state = d.state
        self.history += d.history
        for c in d.commands:
            if c["kind"] == "invoke":
                self.open[c["task"]] = c["step"]
        for t in d.closed_tasks:
            self.open.pop(t, None)
        self.last = d
        return d

    def task(self, step):
        return next(t for t, s in self.open.items() if s == step)

    def ok(self, step, output=None):
        return self.feed({"type": "task_result", "task": self.task(step), "ok": True, "output": output or {"s": step}})

    def fail(self, step, error="Bad"):
        return self.feed({"type": "task_result", "task": self.task(step), "ok": False, "error": error, "cause": "c"})


def test_parallel_redrive_runs_only_the_failed_branch():
    run = Run()
    run.ok("First")
    run.ok("Par/Branch0/A")
    d = run.fail("Par/Branch1/B")
    assert d.ended["status"] == "Failed" and redrivable(run.state)
    d = run.feed({"type": "redrive", "count": 1})
    assert d.ended is None and d.history[0]["Type"] == "ExecutionRedriven"
    assert sorted(run.open.values()) == ["Par/Branch1/B"]  # A succeeded: not run again; First neither
    run.ok("Par/Branch1/B")
    assert sorted(run.open.values()) == ["Each/Item[0]/Item", "Each/Item[1]/Item"]
    for i in range(4):
        run.ok(f"Each/Item[{i}]/Item", {"i": i})
    d = run.last
    assert d.ended["status"] == "Succeeded"
    assert d.ended["output"] == {"ctx": 1, "items": [{"i": 0}, {"i": 1}, {"i": 2}, {"i": 3}]}
    assert "redrive" not in run.state


def test_map_redrive_runs_only_failed_and_unfinished_items_with_fresh_retry_counters():
    run = Run()
    run.ok("First")
    run.ok("Par/Branch0/A")
    run.ok("Par/Branch1/B")
    run.ok("Each/Item[0]/Item", {"i": 0})
    d = run.fail("Each/Item[1]/Item")  # item 2 was started in its place? no: a failure cancels the Map
    assert d.ended["status"] == "Failed"
    run.feed({"type": "redrive", "count": 1})
    assert sorted(run.open.values()) == ["Each/Item[1]/Item", "Each/Item[2]/Item"]
    run.fail("Each/Item[1]/Item")
    d = run.feed({"type": "redrive", "count": 2})
    assert sorted(run.open.values()) == ["Each/Item[1]/Item", "Each/Item[2]/Item"]
    for i in (1, 2, 3):
        run.ok(f"Each/Item[{i}]/Item", {"i": i})
    assert run.last.ended["output"]["ctx"] == 2
    assert run.last.ended["output"]["items"][0] == {"i": 0}


def test_failed_task_runs_again_with_its_retry_counters_at_zero():
    run = Run()
    run.fail("First", "Boom")  # retry 1 of 1: a timer
    timer = run.last.timers[0]["event"]
    run.feed(timer)
    d = run.fail("First", "Boom")
    assert d.ended["status"] == "Failed"
    run.feed({"type": "redrive", "count": 1})
    assert list(run.open.values()) == ["First"]
    d = run.fail("First", "Boom")
    assert d.ended is None and d.timers  # its Retry counts from zero again


def test_stopped_execution_redrives_the_open_task_and_keeps_finished_work():
    run = Run()
    run.ok("First")
    run.ok("Par/Branch0/A")
    d = run.feed({"type": "stop", "error": "", "cause": ""})
    assert d.ended["status"] == "Stopped"
    run.open.clear()
    run.feed({"type": "redrive", "count": 1})
    assert list(run.open.values()) == ["Par/Branch1/B"]


def test_a_caught_failure_keeps_nothing_and_a_repeated_redrive_changes_nothing():
    caught = FLOW.replace("    Next: Each\n", "    Catch:\n      - Errors: [FnF.ALL]\n        Next: Done\n    Next: Each\n")
    run = Run(caught)
    run.ok("First")
    run.ok("Par/Branch0/A")
    d = run.fail("Par/Branch1/B")
    assert d.ended["status"] == "Succeeded" and not redrivable(run.state)
    run = Run()
    run.fail("First", "Other")
    run.feed({"type": "redrive", "count": 1})
    d = run.feed({"type": "redrive", "count": 1})
    assert d.history == [] and list(run.open.values()) == ["First"]


def test_a_failed_state_is_entered_again_and_an_interrupted_wait_waits_again():
    flow = ("Type: StateMachine\nSpecVersion: v1\nStartAt: A\nStates:\n  - {Type: Pass, Name: A, Next: W}\n"
            "  - {Type: Wait, Name: W, Seconds: 10, Next: F}\n  - {Type: Fail, Name: F, Code: Boom}\n")
    run = Run(flow)
    assert run.last.timers and run.last.ended is None
    d = run.feed({"type": "stop", "error": "", "cause": ""})
    assert d.ended["status"] == "Stopped" and not d.timers
    d = run.feed({"type": "redrive", "count": 1})
    assert [(h["Type"], h["StepName"]) for h in d.history] == [("ExecutionRedriven", ""), ("StepEntered", "W")]
    assert d.history[1]["EventDetail"]["redriven"] is True
    assert [t["due"] for t in d.timers if t["timer"] != "continue"] == [110.0]  # the whole Wait again
    d = run.feed(d.timers[0]["event"])
    assert d.ended["status"] == "Failed"
    d = run.feed({"type": "redrive", "count": 2})
    assert [h["StepName"] for h in d.history if h["Type"] == "StepEntered"] == ["F"]  # A and W are not run again
    assert d.ended["status"] == "Failed" and run.state["redrive_count"] == 2
