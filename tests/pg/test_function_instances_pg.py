"""Warm function instances on PostgreSQL with two workers: a worker killed while its instances are busy
loses nothing and re-runs each call at most once (same request id); a call that kills whatever runs
it stops after ``max_dispatches`` while other executions go on."""

from __future__ import annotations

import json
import textwrap
import time
from collections import Counter

import pytest

from tests.pg.processes import api_node, worker


def flow(name: str, function: str) -> str:
    return (f"Type: StateMachine\nSpecVersion: v1\nName: {name}\nStartAt: Call\nStates:\n"
            f"  - Type: Task\n    Name: Call\n    Action: FC:InvokeFunction\n    Parameters:\n"
            f"      resourceArn: acs:fc:::functions/{function}\n      body.$: $Input\n"
            f"    OutputConstructor:\n      body.$: $Output.Body\n    End: true\n")


def _cluster(tmp_path, pg_url, sources: dict[str, str], workers: int = 2):
    functions = tmp_path / "functions"
    functions.mkdir()
    for name, source in sources.items():
        (functions / f"{name}.py").write_text(source)
    config = tmp_path / "stateway.toml"
    config.write_text("[store]\nlease_seconds = 3\n")
    api = api_node(pg_url, tmp_path / "api.log", config)
    nodes = [worker(pg_url, functions, tmp_path / f"worker{i}.log", config) for i in range(workers)]
    return api, nodes, functions, config


def _wait(store, execution_ids, deadline_s: float) -> None:
    deadline = time.monotonic() + deadline_s
    while True:
        statuses = [store.execution_status(i) for i in execution_ids]
        if all(s not in ("Running", "Starting") for s in statuses):
            return
        assert time.monotonic() < deadline, Counter(statuses)
        time.sleep(0.2)


@pytest.mark.timeout(600)
def test_a_killed_worker_with_busy_instances_loses_nothing_and_reruns_each_call_at_most_once(tmp_path, pg_url):
    from stateway.client import RpcClient
    from stateway.store import open_store

    calls = tmp_path / "calls"
    calls.mkdir()
    busy = textwrap.dedent(f"""
        import os, time
        RUNS = 0
        def handler(event, context):
            global RUNS
            RUNS += 1
            with open(os.path.join({str(calls)!r}, context.request_id), "a") as f:
                f.write(str(os.getpid()) + "\\n")
            time.sleep(0.5)
            return {{"n": event["n"] * 2, "runs": RUNS}}
    """)
    api, workers, _, _ = _cluster(tmp_path, pg_url, {"busy": busy})
    store = open_store(pg_url)
    try:
        for node in [api, *workers]:
            node.wait_ready(120)
        client = RpcClient(api.endpoint, "test", "test")  # type: ignore[attr-defined]
        client.call("CreateFlow", Name="busy", Definition=flow("busy", "busy"), Description="", Type="FDL")
        total = 24
        for i in range(total):
            client.call("StartExecution", FlowName="busy", ExecutionName=f"b{i}", Input=json.dumps({"n": i}))
        deadline = time.monotonic() + 120
        while len(list(calls.iterdir())) < 4:  # instances are busy on both workers
            assert time.monotonic() < deadline
            time.sleep(0.05)
        workers[0].kill()
        ids = [r.id for r in store.list_executions(flow_name="busy")]
        _wait(store, ids, 300)
        rows = store.list_executions(flow_name="busy")
        assert Counter(r.status for r in rows) == {"Succeeded": total}, [(r.name, r.error, r.cause) for r in rows
                                                                         if r.status != "Succeeded"][:3]
        for row in rows:
            assert row.output["body"]["n"] == 2 * int(row.name[1:])
        runs = {f.name: f.read_text().split() for f in calls.iterdir()}
        assert len(runs) == total  # one request id per call
        assert all(len(pids) <= 2 for pids in runs.values()), runs  # re-run at most once, same request id
        # warm: instances served more than one call each
        assert max(r.output["body"]["runs"] for r in rows) > 1
    finally:
        for node in [api, *workers]:
            node.stop()
        store.close()


@pytest.mark.timeout(900)
def test_a_call_that_kills_its_host_every_time_fails_after_max_dispatches(tmp_path, pg_url):
    """Two kinds of host: the instance (it kills itself) and the worker (it kills its parent; the
    test restarts dead workers as a supervisor would). Either way the task fails FC.FunctionCrashed
    after at most 5 dispatches, and a small execution alongside finishes."""
    from stateway.client import RpcClient
    from stateway.store import open_store

    marks = tmp_path / "marks"
    marks.mkdir()
    killer = textwrap.dedent(f"""
        import os, signal, sys
        def handler(event, context):
            with open(os.path.join({str(marks)!r}, event["who"]), "a") as f:
                f.write(context.request_id + "\\n")
            print("going down", file=sys.stderr, flush=True)
            os.kill(os.getppid() if event["who"] == "worker" else os.getpid(), signal.SIGKILL)
    """)
    small = "def handler(event, context):\n    return {'ok': True}\n"
    api, workers, functions, config = _cluster(tmp_path, pg_url, {"killer": killer, "small": small})
    store = open_store(pg_url)
    started = 0
    try:
        for node in [api, *workers]:
            node.wait_ready(120)
        client = RpcClient(api.endpoint, "test", "test")  # type: ignore[attr-defined]
        client.call("CreateFlow", Name="killer", Definition=flow("killer", "killer"), Description="", Type="FDL")
        client.call("CreateFlow", Name="small", Definition=flow("small", "small"), Description="", Type="FDL")
        for who in ("instance", "worker"):
            client.call("StartExecution", FlowName="killer", ExecutionName=who, Input=json.dumps({"who": who}))
        for i in range(3):
            client.call("StartExecution", FlowName="small", ExecutionName=f"s{i}", Input="{}")
        ids = [r.id for r in store.list_executions()]
        deadline = time.monotonic() + 600
        while any(store.execution_status(i) in ("Running", "Starting") for i in ids):
            assert time.monotonic() < deadline, [(r.name, r.status) for r in store.list_executions()]
            for n, node in enumerate(workers):  # the supervisor: a dead worker is started again
                if node.proc.poll() is not None:
                    node.stop()
                    started += 1
                    workers[n] = worker(pg_url, functions, tmp_path / f"worker{n}.{started}.log", config)
            time.sleep(0.2)
        rows = {r.name: r for r in store.list_executions()}
        for who in ("instance", "worker"):
            assert (rows[who].status, rows[who].error) == ("Failed", "FC.FunctionCrashed"), rows[who].cause
            assert "dispatched 5 times" in rows[who].cause
            requests = (marks / who).read_text().split()
            assert 1 <= len(requests) <= 5 and len(set(requests)) == 1, requests
        assert "SIGKILL" in rows["instance"].cause and "going down" in rows["instance"].cause
        assert len((marks / "instance").read_text().split()) == 5
        assert all(rows[f"s{i}"].status == "Succeeded" for i in range(3))
        assert len(store.poison_calls(rows["worker"].id)) == 1
    finally:
        for node in [api, *workers]:
            node.stop()
        store.close()
