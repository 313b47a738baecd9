"""Redrive in the test harness (virtual time): a callback that was rejected is asked again, and the
steps before it are not run again."""

from __future__ import annotations

import pytest

from stateway.app.errors import ExecutionNotRedrivable

FLOW = """Type: StateMachine
SpecVersion: v1
StartAt: Prepare
States:
  - Type: Pass
    Name: Prepare
    Next: Ask
  - Type: Task
    Name: Ask
    Action: MNS:SendMessage
    TaskMode: WaitForCustomCallback
    Parameters:
      resourceArn: acs:mns:::/queues/approvals/messages
      message: {token.$: $Context.Current.TaskToken}
    OutputConstructor:
      redrives.$: $Context.Execution.RedriveCount
    End: true
"""


def test_redrive_in_the_harness(stateway):
    flow = stateway.register(FLOW, name="approve")
    handle = stateway.start(flow, {}, "a1")
    handle.report_failure("Ask", "Rejected", "not today")
    assert handle.status == "Failed"
    handle.redrive()
    assert handle.status == "Running"
    handle.report_success("Ask", {"ok": True})
    result = handle.result()
    assert result.status == "Succeeded" and result.output == {"redrives": 1}
    assert result.path() == ["Prepare", "Ask", "Ask"]  # Ask entered again by the redrive; Prepare once
    with pytest.raises(ExecutionNotRedrivable):
        handle.redrive()
