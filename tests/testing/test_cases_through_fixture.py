"""Every conformance case (tests/conformance/cases/*.yaml) through the `stateway` fixture: functions mocked from
the case's expected behaviour, or run by the local function runtime where the case is about real processes.
Waits, timeouts and drive steps' sleeps run on the virtual clock; the expectations are the case's own.
The older-dialect (v1/) and distributed Map (distributed/) cases run too, their functions in-process
(`stateway.mock_function`), as none of them sleeps or needs a process."""

from __future__ import annotations

from typing import Any

import pytest

from stateway.testing import NO_ANSWER, Harness, TaskFailure
from tests.conformance.harness import Ending, case_names, check, flow_name, load_case

# cases whose point is what happens to real processes (killed on stop): run by the local runtime
REAL_PROCESSES = {"stop-cascades"}


def _boom(call):
    raise TaskFailure("FC.Unknown", f"ValueError: card declined for {call.body['card']}")


def _approval_request(call):
    assert len(call.body["token"]) > 20, "no task token in the event"
    return NO_ANSWER  # the function mails the token; the answer comes through ReportTaskSucceeded


def _slow_report(call):
    if call.mode == "RequestComplete":  # an Async invocation answers with its request id at once
        return {"RequestId": f"mock-{call.attempt}"}
    return {"Body": {"report": "ready", "for": call.body["who"]}}


def _check_item(call):
    n = call.body["n"]
    if n == 3:
        raise TaskFailure("FC.Unknown", "RuntimeError: item 3 is bad")
    return {"Body": {"n": n}} if n < 3 else NO_ANSWER  # items after 3 are still working when it fails


def _flaky(call):
    attempt = call.body["attempt"]
    if attempt < 2:
        raise TaskFailure("FC.Unknown", f"RuntimeError: not yet, attempt {attempt}")
    return {"Body": {"ok": True, "attempt": attempt}}


MOCKS: dict[str, dict[str, Any]] = {
    "catch-default-output": {"boom": _boom},
    "custom-callback": {"request-approval": _approval_request},
    "fc-sync-and-async": {"square": lambda call: {"Body": {"square": call.body["n"] ** 2}},
                          "slow-report": _slow_report},
    "map-item-fails": {"check": _check_item},
    "retry-then-succeed": {"flaky": _flaky},
}


def _drive(stateway: Harness, handle: Any, steps: list[dict[str, Any]], real: bool) -> str | None:
    token = None
    for step in steps:
        if "report" in step:
            token = handle.pending_task(step["report"]).token
            _report(handle, token, step)
        elif "receive" in step:
            [message] = stateway.receive(step["receive"], 1)
            token = message[step["token_field"]]
            _report(handle, token, step)
        elif "sleep" in step:
            if real:  # real processes take real time to start
                stateway.wait_for_real(step["sleep"])
            handle.advance(step["sleep"])
        elif "stop" in step:
            handle.stop(step["stop"].get("error", ""), step["stop"].get("cause", ""))
        else:
            raise AssertionError(f"unknown drive step {step}")
    return token


def _report(handle: Any, token: str, step: dict[str, Any]) -> None:
    if "fail" in step:
        handle.report_failure(token, step["fail"]["error"], step["fail"].get("cause", ""))
    else:
        handle.report_success(token, step["succeed"])


@pytest.mark.parametrize("name", case_names() + case_names("v1") + case_names("distributed"))
def test_case_through_the_fixture(name, stateway, tmp_path):
    case = load_case(name)
    real = name in REAL_PROCESSES
    functions = case.get("functions") or {}
    if "/" in name:
        for function, source in functions.items():
            stateway.mock_function(f"functions/{function}", source)
    elif real:
        for function, source in functions.items():
            (tmp_path / f"{function}.py").write_text(source)
        stateway.use_real_services(tmp_path, actions=["FC:InvokeFunction"])
    else:
        assert set(functions) <= set(MOCKS.get(name, {})), (
            f"case {name} calls functions {sorted(functions)}: give them mocks in MOCKS (or list the case in "
            "REAL_PROCESSES)")
        for function, handler in MOCKS.get(name, {}).items():
            stateway.mock("FC:InvokeFunction", resource=f"functions/{function}", handler=handler)
    for child, source in (case.get("children") or {}).items():
        stateway.register(source, name=child)
    flow = stateway.register(case["flow"], name=flow_name(case))

    handle = stateway.start(flow, case.get("input") or {}, name="conformance")
    token = _drive(stateway, handle, case.get("drive") or [], real)
    result = handle.result()
    second = None
    if token is not None and "second_report" in case["expect"]:
        try:
            handle.report_success(token, {})
        except Exception as exc:
            second = getattr(exc, "code", type(exc).__name__)
    if real:
        stateway.wait_for_real(10)
    children = {child: [r.status for r in stateway.executions(child)] for child in case.get("children") or {}}
    check(case, Ending(result.status, result.output, result.error, result.cause, result.duration or 0.0,
                       [e["Type"] for e in result.history], children, second))
