"""Runs the conformance cases (tests/conformance/cases, a copy of the shared cases) as they are: flow, children, functions,
input, drive steps, expectations (see that folder's README)."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ruamel.yaml import YAML

CASE_ROOT = Path(__file__).resolve().parent / "cases"
CANCELLATION_CASES = {"stop-cascades", "map-item-fails"}


def load_case(name: str) -> dict[str, Any]:
    """``name`` may be in a subfolder (``v1/choice``); a flow without ``Name`` is named after its file."""
    case = YAML(typ="safe").load((CASE_ROOT / f"{name}.yaml").read_text())
    case.setdefault("name", Path(name).name)
    return case


def case_names(folder: str = "") -> list[str]:
    prefix = f"{folder}/" if folder else ""
    return sorted(prefix + p.stem for p in (CASE_ROOT / folder).glob("*.yaml"))


def flow_name(case: dict[str, Any]) -> str:
    if "Name:" in case["flow"]:
        return case["flow"].split("Name:", 1)[1].split("\n", 1)[0].strip()
    return str(case["name"])


@dataclass
class Ending:
    status: str
    output: Any
    error: str | None
    cause: str | None
    seconds: float
    events: list[str]
    children: dict[str, list[str]]
    second_report: str | None


class Driver(Protocol):
    def open_task_token(self, state: str) -> str | None: ...
    def report(self, token: str, step: dict[str, Any]) -> None: ...
    def receive(self, queue: str) -> dict[str, Any] | None: ...
    def stop(self, error: str, cause: str) -> None: ...


def drive(driver: Driver, steps: list[dict[str, Any]], timeout: float = 20) -> str | None:
    """Carries out the drive steps; returns the last reported token (for second_report)."""
    last_token = None
    for step in steps:
        deadline = time.monotonic() + timeout
        if "report" in step:
            token = None
            while token is None:
                assert time.monotonic() < deadline, f"no open callback task for {step['report']}"
                token = driver.open_task_token(step["report"])
                if token is None:
                    time.sleep(0.05)
            driver.report(token, step)
            last_token = token
        elif "receive" in step:
            message = None
            while message is None:
                assert time.monotonic() < deadline, f"no message in queue {step['receive']}"
                message = driver.receive(step["receive"])
                if message is None:
                    time.sleep(0.05)
            token = json.loads(message["body"])[step["token_field"]]
            driver.report(token, step)
            last_token = token
        elif "sleep" in step:
            time.sleep(step["sleep"])
        elif "stop" in step:
            driver.stop(step["stop"].get("error", ""), step["stop"].get("cause", ""))
        else:
            raise AssertionError(f"unknown drive step {step}")
    return last_token


def processes_of(function: str) -> list[int]:
    """Live processes running the named local function (found by the environment the runtime gives them)."""
    found = []
    marker = f"STATEWAY_FUNCTION_NAME={function}".encode()
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes()
            state = Path(f"/proc/{pid}/stat").read_text().split()[2]
        except OSError:
            continue
        if marker in environ.split(b"\0") and state != "Z":
            found.append(int(pid))
    return found


def check(case: dict[str, Any], ending: Ending) -> None:
    expect = case["expect"]
    where = f"{case.get('description')}: got {ending}"
    assert ending.status == expect["status"], where
    if "output" in expect:
        assert ending.output == expect["output"], where
    for key, value in (expect.get("output_has") or {}).items():
        assert ending.output[key] == value, where
    for key, text in (expect.get("output_contains") or {}).items():
        assert text in ending.output[key], where
    if "max_seconds" in expect:
        assert ending.seconds <= expect["max_seconds"], where
    if "error" in expect:
        assert ending.error == expect["error"]["code"], where
        assert expect["error"].get("detail_contains", "") in (ending.cause or ""), where
    for kind in expect.get("events_include") or []:
        assert kind in ending.events, where
    if "second_report" in expect:
        assert ending.second_report == expect["second_report"], where
    for child, status in (expect.get("children") or {}).items():
        statuses = ending.children.get(child)
        assert statuses, f"no execution of child flow {child}: {where}"
        assert all(s == status for s in statuses), f"child {child}: {statuses}: {where}"
    if "no_process_left" in expect:
        deadline = time.monotonic() + 5
        while processes_of(expect["no_process_left"]) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not processes_of(expect["no_process_left"]), f"{expect['no_process_left']} still running"


# -- through the engine, in process ------------------------------------------------------------
class RuntimeDriver:
    def __init__(self, runtime: Any, execution_id: int) -> None:
        self.runtime = runtime
        self.execution_id = execution_id

    def open_task_token(self, state: str) -> str | None:
        for task in self.runtime.store.open_tasks(self.execution_id):
            if task["state"] == state and task["mode"] == "WaitForCustomCallback":
                return str(task["token"])
        return None

    def report(self, token: str, step: dict[str, Any]) -> None:
        if "fail" in step:
            self.runtime.report_failure(token, step["fail"]["error"], step["fail"].get("cause", ""))
        else:
            self.runtime.report_success(token, step["succeed"])

    def receive(self, queue: str) -> dict[str, Any] | None:
        messages = self.runtime.store.receive_messages(queue, time.time(), 1, 30)
        if not messages:
            return None
        self.runtime.store.delete_message(queue, messages[0]["receipt_handle"])
        return messages[0]

    def stop(self, error: str, cause: str) -> None:
        self.runtime.stop_execution(self.execution_id, error, cause)


def run_in_engine(case: dict[str, Any], make_runtime: Any) -> Ending:
    runtime = make_runtime(case.get("functions"))
    for child, source in (case.get("children") or {}).items():
        runtime.register_flow(child, source)
    name = flow_name(case)
    runtime.register_flow(name, case["flow"])
    began = time.time()
    row = runtime.start_execution(name, case.get("input") or {}, "conformance")
    driver = RuntimeDriver(runtime, row.id)
    token = drive(driver, case.get("drive") or [])
    row = runtime.wait(row.id, 60)
    seconds = time.time() - began
    second = None
    if token is not None and "second_report" in case["expect"]:
        try:
            runtime.report_success(token, {})
        except Exception as exc:
            second = getattr(exc, "code", type(exc).__name__)
    children: dict[str, list[str]] = {}
    for child in case.get("children") or {}:
        executions = runtime.store.list_executions(flow_name=child)
        deadline = time.monotonic() + 10
        while any(e.status == "Running" for e in executions) and time.monotonic() < deadline:
            time.sleep(0.1)
            executions = runtime.store.list_executions(flow_name=child)
        children[child] = [e.status for e in executions]
    events = [e["Type"] for e in runtime.store.history(row.id, 0, 100000)]
    return Ending(row.status, row.output, row.error, row.cause, seconds, events, children, second)


# -- through `stateway run --json` -------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class CliDriver:
    def __init__(self, db: Path, endpoint: str, flow: str, name: str) -> None:
        from stateway.client import RpcClient

        self.db = db
        self.client = RpcClient(endpoint)
        self.flow = flow
        self.name = name

    def _sql(self, query: str, *args: Any) -> list[tuple[Any, ...]]:
        if not self.db.exists():
            return []
        with sqlite3.connect(self.db, timeout=10) as db:
            try:
                return db.execute(query, args).fetchall()
            except sqlite3.OperationalError:
                return []

    def open_task_token(self, state: str) -> str | None:
        rows = self._sql("SELECT token FROM open_tasks WHERE state=? AND mode='WaitForCustomCallback'", state)
        return str(rows[0][0]) if rows else None

    def report(self, token: str, step: dict[str, Any]) -> None:
        if "fail" in step:
            self.client.call("ReportTaskFailed", TaskToken=token, Error=step["fail"]["error"],
                             Cause=step["fail"].get("cause", ""))
        else:
            self.client.call("ReportTaskSucceeded", TaskToken=token, Output=json.dumps(step["succeed"]))

    def receive(self, queue: str) -> dict[str, Any] | None:
        out = subprocess.run([sys.executable, "-m", "stateway.cli", "queue", "receive", queue, "--db", str(self.db)],
                             capture_output=True, text=True)
        if out.returncode != 0:
            return None
        message = json.loads(out.stdout.splitlines()[0])
        subprocess.run([sys.executable, "-m", "stateway.cli", "queue", "delete", queue, message["ReceiptHandle"],
                        "--db", str(self.db)], check=True)
        return {"body": message["MessageBody"]}

    def stop(self, error: str, cause: str) -> None:
        self.client.call("StopExecution", FlowName=self.flow, ExecutionName=self.name, Error=error, Cause=cause)


def run_in_cli(case: dict[str, Any], workdir: Path) -> Ending:
    functions = workdir / "functions"
    flows = workdir / "flows"
    functions.mkdir()
    flows.mkdir()
    for name, source in (case.get("functions") or {}).items():
        (functions / f"{name}.py").write_text(source)
    for name, source in (case.get("children") or {}).items():
        (flows / f"{name}.yaml").write_text(source)
    name = flow_name(case)
    flow_file = workdir / f"{name}.yaml"
    flow_file.write_text(case["flow"])
    db = workdir / "run.db"
    port = free_port()
    began = time.time()
    proc = subprocess.Popen(
        [sys.executable, "-m", "stateway.cli", "run", str(flow_file), "--json", "--functions", str(functions),
         "--flows", str(flows), "--db", str(db), "--port", str(port), "--name", "conformance",
         "--input", json.dumps(case.get("input") or {})],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    driver = CliDriver(db, f"127.0.0.1:{port}", name, "conformance")
    steps = case.get("drive") or []
    if steps:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # the listener is up once the execution row exists
            if driver._sql("SELECT 1 FROM executions WHERE name='conformance'"):
                break
            time.sleep(0.05)
    token = drive(driver, steps)
    stdout, stderr = proc.communicate(timeout=60)
    # the execution's own span (start to end, as stored), not the process's: starting Python on a loaded
    # machine is not the case's to bound (issue 20 §5)
    span = driver._sql("SELECT stopped - started FROM executions WHERE name='conformance' AND flow_name=?", name)
    seconds = float(span[0][0]) if span and span[0][0] is not None else time.time() - began
    assert stdout.strip(), f"no output; stderr: {stderr}"
    result = json.loads(stdout.strip().splitlines()[-1])
    expected_code = 0 if result["status"] == "Succeeded" else 1
    assert proc.returncode == expected_code, stderr
    error = result["error"] or {}
    events = [r[0] for r in driver._sql(
        "SELECT h.type FROM history h JOIN executions e ON e.id=h.execution_id WHERE e.name='conformance'")]
    children = {child: [r[0] for r in driver._sql("SELECT status FROM executions WHERE flow_name=?", child)]
                for child in case.get("children") or {}}
    second = None
    if token is not None:
        # the process has ended: a second report goes through a fresh server on the same database
        second = _second_report_offline(db, token)
    return Ending(result["status"], result["output"], error.get("code"), error.get("detail"), seconds, events,
                  children, second)


def _second_report_offline(db: Path, token: str) -> str | None:
    from stateway.runtime import Runtime
    from stateway.store import SQLiteStore

    runtime = Runtime(SQLiteStore(str(db)))
    try:
        runtime.report_success(token, {})
    except Exception as exc:
        return getattr(exc, "code", type(exc).__name__)
    finally:
        runtime.close()
    return None


# -- through `stateway serve` with the official SDKs --------------------------------------------------
def _find_token(value: Any) -> str | None:
    if isinstance(value, str):
        if value.startswith("sw1."):
            return value
        try:
            return _find_token(json.loads(value)) if value[:1] in "{[" else None
        except ValueError:
            return None
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        for item in value:
            found = _find_token(item)
            if found:
                return found
    return None


class ServerDriver:
    """Drives a case the way a user's code would: fnf SDK for the API, MNS SDK for the queue."""

    def __init__(self, fnf: Any, account: Any, flow: str, name: str) -> None:
        self.fnf = fnf
        self.account = account
        self.flow = flow
        self.name = name

    def history(self) -> list[Any]:
        from alibabacloud_fnf20190315 import models as m

        events, token = [], None
        while True:
            page = self.fnf.get_execution_history(m.GetExecutionHistoryRequest(
                flow_name=self.flow, execution_name=self.name, limit=1000, next_token=token)).body
            events += page.events or []
            token = page.next_token
            if not token:
                return events

    def open_task_token(self, state: str) -> str | None:
        events = self.history()
        closed = {e.schedule_event_id for e in events if e.type in ("TaskSucceeded", "TaskFailed", "TaskTimedOut")}
        for event in reversed(events):
            if event.type == "TaskScheduled" and event.step_name.split("/")[-1] == state \
                    and event.event_id not in closed:
                detail = json.loads(event.event_detail)
                if detail.get("taskMode") == "WaitForCustomCallback" and any(
                        e.type == "TaskSubmitted" and e.schedule_event_id == event.event_id for e in events):
                    return _find_token(detail.get("parameters"))
        return None

    def report(self, token: str, step: dict[str, Any]) -> None:
        from alibabacloud_fnf20190315 import models as m

        if "fail" in step:
            self.fnf.report_task_failed(m.ReportTaskFailedRequest(task_token=token, error=step["fail"]["error"],
                                                                  cause=step["fail"].get("cause", "")))
        else:
            self.fnf.report_task_succeeded(m.ReportTaskSucceededRequest(task_token=token,
                                                                        output=json.dumps(step["succeed"])))

    def receive(self, queue: str) -> dict[str, Any] | None:
        from mns.mns_exception import MNSServerException

        q = self.account.get_queue(queue)
        q.set_encoding(False)
        try:
            message = q.receive_message(wait_seconds=1)
        except MNSServerException:
            return None
        q.delete_message(message.receipt_handle)
        return {"body": message.message_body}

    def stop(self, error: str, cause: str) -> None:
        from alibabacloud_fnf20190315 import models as m

        self.fnf.stop_execution(m.StopExecutionRequest(flow_name=self.flow, execution_name=self.name, error=error,
                                                       cause=cause))


def run_in_server(case: dict[str, Any], fnf: Any, account: Any, functions_dir: Path) -> Ending:
    from alibabacloud_fnf20190315 import models as m
    from alibabacloud_tea_openapi.exceptions import ClientException

    for name, source in (case.get("functions") or {}).items():
        (functions_dir / f"{name}.py").write_text(source)
    for child, source in (case.get("children") or {}).items():
        fnf.create_flow(m.CreateFlowRequest(name=child, definition=source, description="", type="FDL"))
    name = flow_name(case)
    fnf.create_flow(m.CreateFlowRequest(name=name, definition=case["flow"], description="", type="FDL"))
    began = time.time()
    fnf.start_execution(m.StartExecutionRequest(flow_name=name, execution_name="conformance",
                                                input=json.dumps(case.get("input") or {})))
    driver = ServerDriver(fnf, account, name, "conformance")
    token = drive(driver, case.get("drive") or [])
    body = None
    deadline = time.monotonic() + 60
    while body is None or body.status == "Running":
        assert time.monotonic() < deadline, "the execution did not end"
        body = fnf.describe_execution(m.DescribeExecutionRequest(flow_name=name, execution_name="conformance",
                                                                 wait_time_seconds=5)).body
    seconds = (time.time() - began) if body.stopped_time else 0.0
    second = None
    if token is not None:
        try:
            fnf.report_task_succeeded(m.ReportTaskSucceededRequest(task_token=token, output="{}"))
        except ClientException as exc:
            second = exc.code
    children: dict[str, list[str]] = {}
    for child in case.get("children") or {}:
        deadline = time.monotonic() + 10
        while True:
            listed = fnf.list_executions(m.ListExecutionsRequest(flow_name=child)).body.executions or []
            if all(e.status != "Running" for e in listed) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        children[child] = [e.status for e in listed]
    history = driver.history()
    ends = [json.loads(e.event_detail) for e in history if e.type in ("ExecutionFailed", "ExecutionStopped",
                                                                        "ExecutionTimedOut")]
    error = ends[-1] if ends else {}
    return Ending(body.status, json.loads(body.output) if body.output else None, error.get("error") or None,
                  error.get("cause") or None, seconds, [e.type for e in history], children, second)
