"""Tests of examples/testing/order.yaml with the `stateway` pytest fixture: every wait, timeout and retry
backoff runs on a virtual clock, every service is mocked. The whole file runs in well under a second."""

from pathlib import Path

import pytest

from stateway.testing import NO_ANSWER

FLOW = Path(__file__).with_name("order.yaml")
ORDER = {"orderId": "A-1", "amount": 120}
DAY = 86400


@pytest.fixture
def order(stateway):
    stateway.register(FLOW)
    stateway.mock("FC:InvokeFunction", resource="functions/charge", returns={"Body": {"receipt": "R-1"}})
    stateway.mock("FC:InvokeFunction", resource="functions/ask-feedback", returns={"Body": {}})
    stateway.mock("FC:InvokeFunction", resource="functions/escalate", returns={"Body": {"manager": "bob"}})
    return stateway


def test_approved_order_is_charged_and_followed_up_a_week_later(order):
    handle = order.start("order-approval", ORDER)
    approval = handle.pending_task("Approve")  # the message with the token went to the approvals queue
    assert order.receive("approvals")[0]["token"] == approval.token
    handle.report_success(approval, {"by": "alice"})

    handle.advance(6 * DAY)
    assert handle.status == "Running"  # still in the 7-day wait
    handle.advance(1 * DAY)
    result = handle.result()

    assert result.status == "Succeeded"
    assert result.output == {"orderId": "A-1", "approvedBy": "alice", "receipt": "R-1", "feedbackAsked": True}
    result.assert_path(["Validate", "Approve", "Charge", "WaitAWeek", "AskFeedback"])
    assert result.step("AskFeedback").entered_at - result.step("WaitAWeek").entered_at == 7 * DAY


def test_an_approval_nobody_answers_is_escalated_after_a_day(order):
    result = order.run("order-approval", ORDER)

    result.assert_path(["Validate", "Approve", "Escalate", "Charge", "WaitAWeek", "AskFeedback"])
    assert result.step("Approve").caught == "FnF.Timeout"
    assert result.output["approvedBy"] == "bob"
    assert result.duration == DAY + 7 * DAY


def test_a_busy_payment_provider_is_retried_three_times_then_the_order_is_cancelled(order):
    charge = order.mock("FC:InvokeFunction", resource="functions/charge", raises=("Payment.Busy", "try again later"))
    handle = order.start("order-approval", ORDER)
    handle.report_success("Approve", {"by": "alice"})
    result = handle.result()

    assert result.output == {"orderId": "A-1", "cancelled": True, "reason": "Payment.Busy"}
    result.assert_path(["Validate", "Approve", "Charge", "Cancelled"])
    step = result.step("Charge")
    assert step.attempts == 4 and step.retries == 3 and step.caught == "Payment.Busy"
    assert charge.call_count == 4
    assert [c.body["amount"] for c in charge.calls] == [120] * 4
    assert result.duration == 30 + 60 + 120  # the backoff, on the virtual clock


def test_a_declined_card_is_caught_at_once(order):
    order.mock("FC:InvokeFunction", resource="functions/charge",
               responses=[("Payment.Declined", "card expired")])
    order.mock("MNS:SendMessage", state="Approve", returns={"by": "alice"})  # the callback, answered at once
    result = order.run("order-approval", ORDER)

    assert result.output["reason"] == "Payment.Declined"
    assert result.step("Charge").attempts == 1


def test_an_answer_that_comes_late_is_too_late(order):
    order.mock("MNS:SendMessage", state="Approve", later=True)
    handle = order.start("order-approval", ORDER)
    handle.advance(DAY - 1)
    assert [t.state for t in handle.pending_tasks()] == ["Approve"]
    handle.advance(1)
    assert handle.pending_tasks() == []  # timed out: escalated, charged, now in the week's wait
    assert handle.snapshot().path()[-1] == "WaitAWeek"


def test_a_negative_amount_is_rejected(order):
    result = order.run("order-approval", {"orderId": "A-2", "amount": -5})
    assert (result.status, result.error) == ("Failed", "Order.Invalid")


def test_the_charge_mock_can_compute_its_answer(order):
    def charge(call):
        return {"Body": {"receipt": f"R-{call.body['orderId']}-{call.attempt}"}}

    order.mock("FC:InvokeFunction", resource="functions/charge", handler=charge)
    order.mock("FC:InvokeFunction", resource="functions/escalate", responses=[NO_ANSWER])
    handle = order.start("order-approval", ORDER)
    handle.report_success("Approve", {"by": "carol"})
    assert handle.result().output["receipt"] == "R-A-1-0"
