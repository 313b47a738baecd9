"""RedriveExecution end to end: a flow with a Parallel, an inline Map, a distributed Map and a child
flow, whose work fails while a file says so. The redrive runs only the failed work
again (function call counts), its output equals a clean run's, and a second redrive is refused."""

from __future__ import annotations

import collections
import textwrap
import threading
import time

import pytest

from stateway.app import Stateway
from stateway.app.errors import ExecutionNotExists, ExecutionNotRedrivable
from stateway.settings import Settings

WORK = textwrap.dedent('''
    import os

    def handler(event, context):
        folder = event["dir"]
        with open(os.path.join(folder, "calls.txt"), "a") as f:
            f.write(event["what"] + "\\n")
        if os.path.exists(os.path.join(folder, "fail-" + event["what"])):
            raise RuntimeError("not yet: " + event["what"])
        return {"what": event["what"]}
''')


def task(name: str, what: str, end: str = "End: true") -> str:
    return textwrap.dedent(f"""\
        - Type: Task
          Name: {name}
          Action: FC:InvokeFunction
          Parameters:
            resourceArn: acs:fc:::functions/work
            invocationType: Sync
            body:
              dir.$: $Context.Execution.Input.dir
              what{'.$' if what.startswith('format') else ''}: {"'" + what + "'" if what.startswith('format') else what}
          OutputConstructor:
            what.$: $Output.Body.what
          {end}""")


def indent(text: str, by: int) -> str:
    return textwrap.indent(text, " " * by)


CHILD = """Type: StateMachine
SpecVersion: v1
StartAt: ChildWork
States:
""" + indent(task("ChildWork", "child"), 2)

FLOW = """Type: StateMachine
SpecVersion: v1
StartAt: First
States:
""" + indent(task("First", "first", end="Next: Par"), 2) + """
  - Type: Parallel
    Name: Par
    Branches:
      - StartAt: Good
        States:
""" + indent(task("Good", "good"), 10) + """
      - StartAt: Bad
        States:
""" + indent(task("Bad", "bad"), 10) + """
    OutputConstructor:
      good.$: $Output.Branch0.what
      bad.$: $Output.Branch1.what
    Next: Inline
  - Type: Map
    Name: Inline
    ItemsPath: $Context.Execution.Input.inline
    MaxConcurrency: 1
    Processor:
      StartAt: InlineWork
      States:
""" + indent(task("InlineWork", 'format("inline-{}", $Input.n)'), 8) + """
    OutputConstructor:
      inline.$: $Output.Items
    Next: Dist
  - Type: Map
    Name: Dist
    ProcessorConfig:
      Mode: Distributed
    ItemsPath: $Context.Execution.Input.dist
    MaxConcurrency: 4
    Processor:
      StartAt: DistWork
      States:
""" + indent(task("DistWork", 'format("dist-{}", $Input.n)'), 8) + """
    OutputConstructor:
      dist.$: $Output.Items
    Next: Child
  - Type: Task
    Name: Child
    Action: FNF:StartExecution
    TaskMode: WaitForSystemCallback
    Parameters:
      resourceArn: acs:fnf:::flow/child
      input:
        dir.$: $Context.Execution.Input.dir
    End: true
"""


@pytest.fixture
def app(tmp_path):
    functions = tmp_path / "functions"
    functions.mkdir()
    (functions / "work.py").write_text(WORK)
    sw = Stateway.open(f"sqlite:///{tmp_path / 'db.sqlite'}", functions=functions)
    sw.flows.create("child", CHILD)
    sw.flows.create("big", FLOW)
    yield sw
    sw.close()


def calls(folder) -> collections.Counter:
    path = folder / "calls.txt"
    counter = collections.Counter(path.read_text().split()) if path.exists() else collections.Counter()
    path.write_text("")
    return counter


def fail(folder, *what):
    for name in what:
        (folder / f"fail-{name}").write_text("")


def fixed(folder):
    for path in folder.glob("fail-*"):
        path.unlink()


def inputs(folder):
    return {"dir": str(folder), "inline": [{"n": i} for i in range(5)],
            "dist": [{"n": i, "dir": str(folder)} for i in range(10)]}


def test_redrive_runs_only_the_failed_work_and_ends_like_a_clean_run(app, tmp_path):
    fail(tmp_path, "bad", "inline-3", "dist-4", "child")
    first = app.executions.wait(app.executions.start("big", inputs(tmp_path), "run-1"), 60)
    assert first.status == "Failed" and first.error == "FC.Unknown"
    assert app.executions.redrive_status(first) == ("REDRIVABLE", "")
    assert calls(tmp_path)["first"] == 1
    fixed(tmp_path)  # the broken dependency is fixed
    assert app.executions.redrive("big", "run-1").status == "Running"
    redriven = app.executions.wait(first.id, 60)
    assert redriven.status == "Succeeded", (redriven.error, redriven.cause)
    counts = calls(tmp_path)
    # the first task is not run again, nor the good branch if it had finished; the rest once each
    assert counts["first"] == 0 and counts["bad"] == 1 and counts["good"] <= 1 and counts["child"] == 1
    assert all(counts[f"inline-{i}"] == 1 for i in range(5)) and all(counts[f"dist-{i}"] == 1 for i in range(10))
    assert redriven.redrive_count == 1 and redriven.name == "run-1" and redriven.input == first.input
    clean = app.executions.wait(app.executions.start("big", inputs(tmp_path), "clean"), 60)
    assert clean.status == "Succeeded" and redriven.output == clean.output
    types = [e["Type"] for e in app.store.history(first.id)]
    assert types.count("ExecutionRedriven") == 1 and types.count("ExecutionFailed") == 1


def test_inline_map_redrive_runs_only_the_failed_and_unstarted_items(app, tmp_path):
    fail(tmp_path, "inline-3")
    row = app.executions.wait(app.executions.start("big", inputs(tmp_path), "m"), 60)
    assert row.status == "Failed"
    assert calls(tmp_path)["inline-2"] == 1
    fixed(tmp_path)
    app.executions.redrive("big", "m")
    row = app.executions.wait(row.id, 60)
    counts = calls(tmp_path)
    assert row.status == "Succeeded", (row.error, row.cause)
    assert counts["inline-3"] == 1 and counts["inline-4"] == 1
    assert not any(counts[w] for w in ("first", "good", "bad", "inline-0", "inline-1", "inline-2"))


def test_distributed_map_redrive_carries_the_run_over(app, tmp_path):
    fail(tmp_path, "dist-4", "dist-9")
    row = app.executions.wait(app.executions.start("big", inputs(tmp_path), "d"), 60)
    assert row.status == "Failed"
    runs = [e["EventDetail"]["mapRunName"] for e in app.store.history(row.id) if e["Type"] == "MapRunStarted"]
    # the failed run's children are stopped; one started just before may still call its function
    deadline = time.monotonic() + 60
    while app.store.list_executions("big", status="Running", map_run=runs[0], with_state=False):
        assert time.monotonic() < deadline, "the failed run's children did not stop"
        time.sleep(0.05)
    calls(tmp_path)
    succeeded = {i for i, status, *_ in app.store.map_run_records(runs[0]) if status == "succeeded"}
    assert 4 not in succeeded and len(succeeded) >= 1
    fixed(tmp_path)
    app.executions.redrive("big", "d")
    row = app.executions.wait(row.id, 60)
    after = calls(tmp_path)
    assert row.status == "Succeeded", (row.error, row.cause)
    assert all(after[f"dist-{i}"] == (0 if i in succeeded else 1) for i in range(10)), (after, succeeded)
    runs = [e["EventDetail"]["mapRunName"] for e in app.store.history(row.id) if e["Type"] == "MapRunStarted"]
    assert len(runs) == 2
    counts = app.store.get_map_run(runs[1])["counts"]
    assert counts["Succeed"] == 10 and counts["Total"] == 10


def test_failed_child_is_started_anew_by_the_redriven_task(app, tmp_path):
    fail(tmp_path, "child")
    row = app.executions.wait(app.executions.start("big", inputs(tmp_path), "c"), 60)
    assert row.status == "Failed"
    calls(tmp_path)
    fixed(tmp_path)
    app.executions.redrive("big", "c")
    row = app.executions.wait(row.id, 60)
    assert row.status == "Succeeded", (row.error, row.cause)
    assert calls(tmp_path) == collections.Counter({"child": 1})
    children = app.store.list_executions(flow_name="child", parent_id=row.id, with_state=False)
    assert [c.status for c in children] == ["Failed", "Succeeded"]


def test_not_redrivable_says_why(app, tmp_path):
    data = {"dir": str(tmp_path), "inline": [], "dist": []}
    app.executions.wait(app.executions.start("big", data, "ok"), 60)
    with pytest.raises(ExecutionNotRedrivable, match="succeeded"):
        app.executions.redrive("big", "ok")
    with pytest.raises(ExecutionNotExists):
        app.executions.redrive("big", "nope")


def test_redrive_window_from_retention_settings(tmp_path):
    settings = Settings.from_config({"retention": {"redrive_days": 0}})
    with Stateway.open("sqlite://", settings=settings) as sw:
        sw.flows.create("f", "Type: StateMachine\nSpecVersion: v1\nStartAt: A\nStates:\n"
                             "  - {Type: Fail, Name: A, Code: X}\n")
        row = sw.executions.wait(sw.executions.start("f", {}, "x"), 10)
        assert row.status == "Failed"
        with pytest.raises(ExecutionNotRedrivable, match="redrive_days"):
            sw.executions.redrive("f", "x")


def test_two_concurrent_redrives_give_one(tmp_path):
    with Stateway.open(f"sqlite:///{tmp_path / 'c.db'}") as sw:
        sw.flows.create("f", "Type: StateMachine\nSpecVersion: v1\nStartAt: W\nStates:\n"
                             "  - {Type: Wait, Name: W, Seconds: 30, End: true}\n")
        row = sw.executions.start("f", {}, "x")
        sw.executions.stop("f", "x")
        row = sw.executions.wait(row.id, 10)
        assert row.status == "Stopped"
        results, barrier = [], threading.Barrier(8)

        def go():
            barrier.wait()
            try:
                sw.executions.redrive("f", "x")
                results.append("ok")
            except ExecutionNotRedrivable as exc:
                results.append(str(exc))

        threads = [threading.Thread(target=go) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert results.count("ok") == 1 and all("running" in r for r in results if r != "ok")
        sw.executions.stop("f", "x")
        row = sw.executions.wait(row.id, 10)
        assert row.status == "Stopped" and row.redrive_count == 1
        assert [e["Type"] for e in sw.store.history(row.id)].count("ExecutionRedriven") == 1


DIST_1K = """Type: StateMachine
SpecVersion: v1
StartAt: Dist
States:
  - Type: Map
    Name: Dist
    ProcessorConfig:
      Mode: Distributed
    ItemsPath: $Input.items
    MaxConcurrency: 40
    ToleratedFailureCount: 9
    ItemConstructor:
      n.$: $Item
      dir.$: $Input.dir
    Processor:
      StartAt: Which
      States:
        - Type: Choice
          Name: Which
          Branches:
            - Condition: $Input.n % 100 == 7
              Next: Work
          Default: Quick
        - {Type: Pass, Name: Quick, OutputConstructor: {what.$: 'format("dist-{}", $Input.n)'}, End: true}
""" + indent(task("Work", 'format("dist-{}", $Input.n)'), 8) + """
    End: true
"""


@pytest.mark.slow
def test_a_distributed_map_of_1000_items_redrives_only_its_10_failures(app, tmp_path):
    app.flows.create("dist1k", DIST_1K)
    items = list(range(1000))
    failing = [i for i in range(1000) if i % 100 == 7]
    fail(tmp_path, *(f"dist-{i}" for i in failing))
    row = app.executions.wait(app.executions.start("dist1k", {"items": items, "dir": str(tmp_path)}, "big"), 300)
    assert row.status == "Failed" and row.error == "FnF.ExceedToleratedFailureThreshold"
    calls(tmp_path)
    runs = [e["EventDetail"]["mapRunName"] for e in app.store.history(row.id) if e["Type"] == "MapRunStarted"]
    kept = sum(1 for _, status, *_ in app.store.map_run_records(runs[0]) if status == "succeeded")
    fixed(tmp_path)
    app.executions.redrive("dist1k", "big")
    row = app.executions.wait(row.id, 300)
    assert row.status == "Succeeded", (row.error, row.cause)
    assert calls(tmp_path) == collections.Counter({f"dist-{i}": 1 for i in failing})  # only the failed work
    runs = [e["EventDetail"]["mapRunName"] for e in app.store.history(row.id) if e["Type"] == "MapRunStarted"]
    assert app.store.get_map_run(runs[1])["counts"]["Succeed"] == 1000
    assert len(app.store.list_executions(flow_name="dist1k", map_run=runs[1], with_state=False)) == 1000 - kept
    assert row.output == {"Items": [{"what": f"dist-{i}"} for i in range(1000)]}  # as a clean run's
