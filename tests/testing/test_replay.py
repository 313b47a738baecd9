"""Replay: an exported history against the current definition, reporting the first divergence."""

from __future__ import annotations

import json

import pytest

from stateway.testing import Harness, normalize_history
from tests.testing.flows import APPROVAL, CHARGE, FANOUT


def _declined_history() -> dict:
    with Harness() as stateway:
        stateway.register(CHARGE)
        stateway.mock("FC:InvokeFunction", resource="functions/charge",
                      responses=[("Payment.Busy", "wait"), ("Payment.Declined", "expired")])
        return stateway.run("charge", {"amount": 7}).export()


def test_a_history_replays_against_its_own_definition(stateway):
    history = _declined_history()
    assert isinstance(history["Events"][0]["EventDetail"], str)  # the API's shape: JSON text, ISO times
    stateway.register(CHARGE)
    report = stateway.replay(history)
    report.assert_ok()
    assert report.ok and str(report).startswith("the current definition replays all")
    assert report.replayed.path() == ["Validate", "Charge", "Refund"]
    assert report.replayed.step("Charge").attempts == 2


def test_a_changed_definition_shows_the_first_divergence(stateway):
    history = _declined_history()
    stateway.register(CHARGE.replace("Errors: [Payment.Declined]", "Errors: [Payment.Lost]"))
    report = stateway.replay(history)
    assert not report.ok
    divergence = report.divergence
    assert divergence.recorded == "StepExited 'Charge' (caught Payment.Declined)"
    assert divergence.replayed == "StepExited 'Charge'"  # uncaught now: the execution fails
    assert report.replayed.status == "Failed"
    with pytest.raises(AssertionError, match="the replay diverges at recorded event"):
        report.assert_ok()


def test_a_renamed_state_is_named_in_the_divergence(stateway):
    history = _declined_history()
    stateway.register(CHARGE.replace("Name: Refund", "Name: GiveBack").replace("Next: Refund", "Next: GiveBack"))
    divergence = stateway.replay(history).divergence
    assert divergence.recorded == "StepEntered 'Refund'"
    assert divergence.replayed == "StepEntered 'GiveBack'"


def test_a_running_execution_replays_up_to_where_it_is(stateway):
    stateway.register(APPROVAL)
    stateway.mock("FC:InvokeFunction", resource="functions/ask", later=True)
    handle = stateway.start("approval")
    handle.advance(600)
    history = handle.snapshot().export()

    with Harness() as later:
        # a new version changes what happens after the callback: safe for the running execution
        later.register(APPROVAL.replace("approved: true", "approved: yes"))
        report = later.replay(history)
        assert report.ok, str(report)
        assert report.replayed.status == "Running"
    with Harness() as breaking:
        # a new version adds a state before the task: the running execution would go another way
        breaking.register(APPROVAL.replace("StartAt: Ask", "StartAt: First").replace(
            "States:\n", "States:\n  - Type: Pass\n    Name: First\n    Next: Ask\n", 1))
        report = breaking.replay(history)
        assert report.divergence.recorded == "StepEntered 'Ask'"
        assert report.divergence.replayed == "StepEntered 'First'"


def test_interleaved_branches_are_not_a_divergence(stateway):
    stateway.register(FANOUT)
    history = stateway.run("fanout").export()
    history["Events"] = sorted(history["Events"], key=lambda e: e["EventId"])
    assert stateway.replay(history, flow="fanout").ok


def test_a_history_from_the_cli_of_a_running_server(server, tmp_path, stateway):
    """`stateway exec history FLOW NAME --json > h.json`, then replay h.json."""
    from click.testing import CliRunner

    from stateway.cli._main import cli
    from tests.api.fixtures import KEY_ID, SECRET

    flow = CHARGE.replace("Action: FC:InvokeFunction", "Action: FNF:StartExecution").replace(
        "resourceArn: acs:fc:cn-hangzhou:123456789:functions/charge/LATEST", "resourceArn: acs:fnf:::flow/pay")
    child = "Type: StateMachine\nName: pay\nSpecVersion: v1\nStartAt: P\nStates:\n  - Type: Pass\n    Name: P\n    End: true\n"
    server.runtime.register_flow("pay", child)
    server.runtime.register_flow("charge", flow)
    row = server.runtime.start_execution("charge", {"amount": 3}, "e1")
    assert server.runtime.wait(row.id, 20).status == "Succeeded"
    env = {"ALIBABA_CLOUD_ACCESS_KEY_ID": KEY_ID, "ALIBABA_CLOUD_ACCESS_KEY_SECRET": SECRET}
    out = CliRunner().invoke(cli, ["exec", "history", "charge", "e1", "--json", "--endpoint", server.endpoint], env=env)
    assert out.exit_code == 0, out.output
    (tmp_path / "h.json").write_text(out.output)
    assert json.loads(out.output)["Events"][0]["Type"] == "ExecutionStarted"

    stateway.register(child)
    stateway.register(flow)
    report = stateway.replay(tmp_path / "h.json", flow="charge")
    report.assert_ok()
    assert report.replayed.status == "Succeeded"
    assert len(report.recorded) == len(server.runtime.store.history(row.id))


def test_a_history_must_start_at_the_beginning():
    with pytest.raises(ValueError, match="does not begin with ExecutionStarted"):
        normalize_history({"Events": [{"EventId": 5, "Type": "StepEntered", "StepName": "A", "Time": 0,
                                       "ScheduleEventId": 0, "EventDetail": "{}"}]})
    with pytest.raises(ValueError, match="a list of events"):
        normalize_history({"Nothing": 1})


def test_replay_needs_to_know_the_flow_when_several_are_registered(stateway):
    stateway.register(CHARGE)
    stateway.register(FANOUT)
    with pytest.raises(ValueError, match="say which flow to replay against"):
        stateway.replay(_declined_history())


def test_json_lines_are_a_history_too():
    with Harness() as stateway:
        stateway.register(FANOUT)
        events = stateway.run("fanout").export()["Events"]
    lines = "\n".join(json.dumps({**e, "EventDetail": json.loads(e["EventDetail"])}) for e in events)
    parsed = normalize_history(lines)
    assert [e["Type"] for e in parsed] == [e["Type"] for e in events]
