"""Mocked integrations: returns, raises, responses in order, handlers, answers that come later, unmocked calls,
real local services on request, and Step Functions Local-style mock files."""

from __future__ import annotations

import pytest

from stateway.runtime import TaskAlreadyCompleted
from stateway.testing import NO_ANSWER, MockConfig, MockConfigError, MockError, TaskFailure, UnmockedCall
from stateway.testing._mocks import resource_matches
from tests.testing.flows import APPROVAL, CHARGE


@pytest.fixture
def charge(stateway):
    stateway.register(CHARGE)
    return stateway


def test_returns_is_the_tasks_output(charge):
    charge.mock("FC:InvokeFunction", resource="…/functions/charge", returns={"Body": {"paid": 10}})
    result = charge.run("charge", {"amount": 10})
    assert (result.status, result.output) == ("Succeeded", {"Body": {"paid": 10}})
    result.assert_path(["Validate", "Charge", "Ship"])


def test_raises_fails_the_task_with_that_error(charge):
    charge.mock("FC:InvokeFunction", resource="functions/charge", raises=("Payment.Declined", "card expired"))
    result = charge.run("charge", {"amount": 10})
    assert result.output == {"Code": "Payment.Declined", "Detail": "card expired"}
    assert result.step("Charge").caught == "Payment.Declined"
    result.assert_path(["Validate", "Charge", "Refund"])


def test_responses_are_taken_one_per_call(charge):
    mock = charge.mock("FC:InvokeFunction", resource="functions/charge",
                       responses=[("Payment.Busy", "1"), ("Payment.Busy", "2"), {"Body": {"paid": 10}}])
    result = charge.run("charge", {"amount": 10})
    assert result.status == "Succeeded"
    assert result.step("Charge").attempts == 3
    assert [c.attempt for c in mock.calls] == [0, 1, 2]
    assert [a.outcome for a in result.step("Charge").attempt_records] == ["failed", "failed", "succeeded"]


def test_running_out_of_responses_is_a_test_error(charge):
    charge.mock("FC:InvokeFunction", resource="functions/charge", responses=[("Payment.Busy", "")])
    with pytest.raises(MockError, match=r"has 1 responses, and state 'Charge' called it a 2nd time"):
        charge.run("charge", {"amount": 10})


def test_a_handler_sees_the_call_and_decides(charge):
    def pay(call):
        assert call.action == "FC:InvokeFunction" and call.state == "Charge" and call.mode == "RequestComplete"
        assert call.resource.endswith("functions/charge/LATEST")
        if call.body["amount"] > 100:
            raise TaskFailure("Payment.Declined", f"{call.body['amount']} is over the limit")
        return {"Body": {"paid": call.body["amount"]}}

    charge.mock("FC:InvokeFunction", resource="functions/charge", handler=pay)
    assert charge.run("charge", {"amount": 10}).output == {"Body": {"paid": 10}}
    assert charge.run("charge", {"amount": 500}).output["Detail"] == "500 is over the limit"


def test_a_handler_that_breaks_fails_the_test_not_the_flow(charge):
    charge.mock("FC:InvokeFunction", resource="functions/charge", handler=lambda call: call.body["missing"])
    with pytest.raises(MockError, match="raised KeyError"):
        charge.run("charge", {"amount": 10})


def test_an_unmocked_call_names_the_action_and_the_resource(charge):
    with pytest.raises(UnmockedCall) as caught:
        charge.run("charge", {"amount": 10})
    message = str(caught.value)
    assert "FC:InvokeFunction acs:fc:cn-hangzhou:123456789:functions/charge/LATEST" in message
    assert "state 'Charge'" in message and "resource='functions/charge'" in message


def test_the_latest_matching_mock_wins_and_state_mocks_work(charge):
    charge.mock("FC:InvokeFunction", resource="functions/charge", returns={"Body": "first"})
    charge.mock(state="Charge", returns={"Body": "by state"})
    assert charge.run("charge", {"amount": 1}).output == {"Body": "by state"}
    charge.mock("FC:InvokeFunction", resource="functions/other", returns={"Body": "other"})
    assert charge.run("charge", {"amount": 1}).output == {"Body": "by state"}


def test_a_callback_task_answered_later(stateway):
    stateway.register(APPROVAL)
    asked = stateway.mock("FC:InvokeFunction", resource="functions/ask", later=True)
    handle = stateway.start("approval")
    [task] = handle.pending_tasks()
    assert (task.state, task.action, task.mode) == ("Ask", "FC:InvokeFunction", "WaitForCustomCallback")
    assert task.parameters["body"]["token"] == task.token == asked.calls[0].token
    handle.report_success(task, {"by": "alice"})
    assert handle.status == "Succeeded"
    with pytest.raises(TaskAlreadyCompleted):
        handle.report_success(task.token, {"by": "bob"})
    assert handle.result().output == {"approved": True, "by": "alice"}


def test_a_callback_task_failed_later(stateway):
    stateway.register(APPROVAL)
    stateway.mock("FC:InvokeFunction", resource="functions/ask", later=True)
    handle = stateway.start("approval")
    handle.report_failure("Ask", "Rejected", "too expensive")
    assert handle.result().output == {"approved": False, "why": "Rejected"}


def test_a_mocked_callback_answers_at_once_with_the_history_of_a_real_one(stateway):
    stateway.register(APPROVAL)
    stateway.mock("FC:InvokeFunction", resource="functions/ask", returns={"by": "carol"})
    result = stateway.run("approval")
    assert result.output == {"approved": True, "by": "carol"}
    kinds = [e["Type"] for e in result.history if e["Type"].startswith("Task")]
    assert kinds == ["TaskScheduled", "TaskSubmitted", "TaskSucceeded"]


def test_pending_task_says_what_is_open(stateway):
    stateway.register(APPROVAL)
    stateway.mock("FC:InvokeFunction", resource="functions/ask", responses=[NO_ANSWER])
    handle = stateway.start("approval")
    with pytest.raises(AssertionError, match=r"no open task\(s\) at state 'Nope' .* open tasks: Ask"):
        handle.pending_task("Nope")


def test_real_local_functions_on_request(stateway, tmp_path):
    (tmp_path / "charge.py").write_text("def handler(event, context):\n    return {'paid': event['amount'] * 2}\n")
    stateway.register(CHARGE)
    stateway.use_real_services(tmp_path)
    result = stateway.run("charge", {"amount": 21})
    assert result.output == {"Body": {"paid": 42}}


def test_a_mock_for_an_action_nobody_installed(stateway):
    stateway.mock("TEXT:Shout", handler=lambda call: {"text": call.parameters["text"].upper()})
    stateway.register("""Type: StateMachine
Name: shout
SpecVersion: v1
StartAt: Shout
States:
  - Type: Task
    Name: Shout
    Action: TEXT:Shout
    Parameters:
      text: hello
    End: true
""")
    assert stateway.run("shout").output == {"text": "HELLO"}


def test_messages_go_to_the_in_memory_queue(stateway):
    stateway.register("""Type: StateMachine
Name: send
SpecVersion: v1
StartAt: Send
States:
  - Type: Task
    Name: Send
    Action: MNS:SendMessage
    Parameters:
      resourceArn: acs:mns:cn-hangzhou:1:/queues/out/messages
      message:
        hello.$: $Input.who
    End: true
""")
    assert stateway.run("send", {"who": "you"}).status == "Succeeded"
    assert stateway.receive("out") == [{"hello": "you"}]
    assert stateway.receive("out") == []


def test_child_flows_registered_from_a_folder(stateway, tmp_path):
    (tmp_path / "double.yaml").write_text("""Type: StateMachine
Name: double
SpecVersion: v1
StartAt: Double
States:
  - Type: Pass
    Name: Double
    OutputConstructor:
      doubled.$: $Input.n * 2
    End: true
""")
    stateway.register(tmp_path)
    stateway.register("""Type: StateMachine
Name: parent
SpecVersion: v1
StartAt: Child
States:
  - Type: Task
    Name: Child
    Action: FNF:StartExecution
    TaskMode: WaitForSystemCallback
    Parameters:
      resourceArn: acs:fnf:::flow/double
      input:
        n: 21
    End: true
""")
    result = stateway.run("parent")
    assert result.output == {"doubled": 42}
    assert [(c.flow, c.status) for c in result.children] == [("double", "Succeeded")]


def test_a_flow_in_the_older_dialect_goes_through_the_normal_loader(stateway):
    from pathlib import Path

    from stateway.fdl import FlowDefinitionError

    source = Path(__file__).resolve().parents[1] / "conformance" / "cases" / "v1" / "wait-succeed-fail.yaml"
    from ruamel.yaml import YAML

    case = YAML(typ="safe").load(source.read_text())
    try:
        name = stateway.register(case["flow"], name="wait-succeed-fail")
    except FlowDefinitionError as exc:
        if "older" in str(exc) or "v1" in str(exc):
            pytest.skip(f"the older dialect is not in this build yet: {exc}")
        raise
    assert stateway.run(name, case.get("input") or {}).status == case["expect"]["status"]


@pytest.mark.parametrize(("pattern", "resource", "matches"), [
    ("acs:fc:::functions/charge", "acs:fc:::functions/charge", True),
    ("functions/charge", "acs:fc:cn-hangzhou:1:functions/charge", True),
    ("…/functions/charge", "acs:fc:cn-hangzhou:1:functions/charge/LATEST", True),
    ("charge", "acs:fc:::services/pay.LATEST/functions/charge", True),
    ("arge", "acs:fc:::functions/charge", False),
    ("functions/charge", "acs:fc:::functions/charge-v2", False),
    ("*functions/char*", "acs:fc:::functions/charge-v2", True),
    ("functions/charge", None, False),
])
def test_resource_matching(pattern, resource, matches):
    assert resource_matches(pattern, resource) is matches


def test_a_mock_takes_exactly_one_answer(stateway):
    with pytest.raises(ValueError, match="exactly one of"):
        stateway.mock("FC:InvokeFunction", returns={}, raises=("E", ""))
    with pytest.raises(ValueError, match="needs an action"):
        stateway.mock(returns={})


MOCK_FILE = """
StateMachines:
  charge:
    TestCases:
      Happy:
        Charge: Paid
      BusyThenDeclined:
        Charge: BusyTwiceThenDeclined
MockedResponses:
  Paid:
    "0": {Return: {Body: {paid: true}}}
  BusyTwiceThenDeclined:
    "0-1": {Throw: {Error: Payment.Busy, Cause: later}}
    "2": {Throw: {Error: Payment.Declined, Cause: no}}
"""


def test_mocks_from_a_step_functions_local_style_file(charge, tmp_path):
    path = tmp_path / "mocks.yaml"
    path.write_text(MOCK_FILE)
    charge.use_mocks(path, "BusyThenDeclined")
    result = charge.run("charge", {"amount": 1})
    assert result.step("Charge").attempts == 3
    assert result.step("Charge").caught == "Payment.Declined"
    assert MockConfig.load(MOCK_FILE).cases() == ["Happy", "BusyThenDeclined"]


@pytest.mark.parametrize(("text", "message"), [
    (MOCK_FILE.replace("Happy:", "Glad:"), "no test case 'Happy' for flow 'charge'; cases: Glad, BusyThenDeclined"),
    (MOCK_FILE.replace("Charge: Paid", "Charge: Unpaid"), "Happy.Charge names 'Unpaid', which is not under"),
    (MOCK_FILE.replace('"0": {Return', '"1": {Return'), "no response for call 0"),
    (MOCK_FILE.replace('"0-1"', '"1-0"'), "runs backwards"),
    (MOCK_FILE.replace("Return: {Body", "Answer: {Body"), "'Answer' is not Return, Throw or NoAnswer"),
    ("Machines: {}", "unknown top-level key(s) Machines"),
])
def test_mock_file_errors_say_where(text, message):
    with pytest.raises(MockConfigError) as caught:
        MockConfig.load(text).mocks("Happy", "charge")
    assert message in str(caught.value)


def test_a_function_run_in_process_as_function_compute_would(stateway):
    stateway.register(CHARGE)
    stateway.mock_function("functions/charge", "def handler(event, context):\n"
                                                "    assert context.function_name == 'charge'\n"
                                                "    if event['amount'] < 0:\n"
                                                "        raise ValueError('negative')\n"
                                                "    return {'paid': event['amount']}\n")
    assert stateway.run("charge", {"amount": 5}).output == {"Body": {"paid": 5}}
    failed = stateway.run("charge", {"amount": -1})
    assert (failed.status, failed.error, failed.cause) == ("Failed", "FC.Unknown", "ValueError: negative")


def test_an_in_process_function_in_a_callback_task_waits_for_the_callback(stateway):
    stateway.register(APPROVAL)
    seen = []
    stateway.mock_function("functions/ask", lambda event, context: seen.append(event["token"]))
    handle = stateway.start("approval")
    assert seen == [handle.pending_task("Ask").token]
    handle.report_success("Ask", {"by": "dana"})
    assert handle.result().output == {"approved": True, "by": "dana"}
