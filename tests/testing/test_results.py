"""Assertions on histories: steps with their attempts, retries and catches; paths with readable failures."""

from __future__ import annotations

import pytest

from tests.testing.flows import CHARGE, FANOUT


@pytest.fixture
def declined(stateway):
    stateway.register(CHARGE)
    stateway.mock("FC:InvokeFunction", resource="functions/charge",
                  responses=[("Payment.Busy", "wait"), ("Payment.Busy", "wait"), ("Payment.Declined", "expired")])
    return stateway.run("charge", {"amount": 7})


def test_steps_show_retries_and_catches(declined):
    steps = declined.steps()
    assert [s.name for s in steps] == ["Validate", "Charge", "Refund"]
    charge = declined.step("Charge")
    assert charge.attempts == 3 and charge.retries == 2
    assert charge.retried == [("Payment.Busy", "wait"), ("Payment.Busy", "wait")]
    assert (charge.outcome, charge.caught, charge.cause) == ("caught", "Payment.Declined", "expired")
    assert [a.parameters["body"] for a in charge.attempt_records] == [{"amount": 7}] * 3
    assert [a.error for a in charge.attempt_records] == ["Payment.Busy", "Payment.Busy", "Payment.Declined"]
    assert charge.exited_at - charge.entered_at == 10  # two retries, 5 s apart
    assert str(charge) == "Charge ×3 (retried after Payment.Busy, Payment.Busy) caught Payment.Declined"
    assert declined.step("Validate").attempts == 1 and declined.step("Validate").outcome == "succeeded"


def test_assert_path_passes_on_the_path_taken(declined):
    declined.assert_path(["Validate", "Charge", "Refund"])
    declined.assert_path(["Validate", "Refund"], exact=False)


def test_assert_path_says_which_state_was_expected_and_which_was_entered(declined):
    with pytest.raises(AssertionError) as caught:
        declined.assert_path(["Validate", "Charge", "Ship"])
    message = str(caught.value)
    assert "expected 'Ship' as step 3, entered 'Refund'" in message
    assert "expected: Validate → Charge → Ship" in message
    assert "entered:  Validate → Charge → Refund" in message
    assert "Charge ×3 (retried after Payment.Busy, Payment.Busy) caught Payment.Declined" in message


def test_assert_path_reports_too_short_too_long_and_missing(declined):
    with pytest.raises(AssertionError, match="expected 2 states, the execution entered 3: then 'Refund'"):
        declined.assert_path(["Validate", "Charge"])
    with pytest.raises(AssertionError, match="entered only 3 states"):
        declined.assert_path(["Validate", "Charge", "Refund", "Ship"])
    with pytest.raises(AssertionError, match="expected 'Ship' after 'Charge', never entered"):
        declined.assert_path(["Charge", "Ship"], exact=False)


def test_step_of_a_state_never_entered_says_what_was(declined):
    with pytest.raises(AssertionError, match="state 'Ship' was never entered; the execution entered: Validate, "
                                             "Charge, Refund"):
        declined.step("Ship")


def test_assert_succeeded_explains_a_failure(stateway):
    stateway.register(CHARGE)
    stateway.mock("FC:InvokeFunction", resource="functions/charge", raises=("Bank.Down", "closed"))
    result = stateway.run("charge", {"amount": 7})
    with pytest.raises(AssertionError, match="ended Failed, not Succeeded: Bank.Down: closed"):
        result.assert_succeeded()
    assert result.step("Charge").outcome == "failed"


def test_nested_steps_carry_their_paths(stateway):
    stateway.register(FANOUT)
    result = stateway.run("fanout")
    assert result.path() == ["Both", "Left", "Right", "After"]
    assert result.step("Left").path == "Both/Branch0/Left"
    result.assert_path(["Both", "After"])  # the top-level path by default
    result.assert_path(["Both", "Left", "Both/Branch1/Right", "After"], nested=True)
    result.assert_path(["Both", "Right"], exact=False, nested=True)
    assert result.path(nested=False) == ["Both", "After"]
    with pytest.raises(AssertionError, match="expected .After. as step 2, entered .Both/Branch0/Left."):
        result.assert_path(["Both", "After"], nested=True)
    with pytest.raises(AssertionError, match="expected 'Left' as step 2, entered 'After'"):
        result.assert_path(["Both", "Left", "Both/Branch1/Right", "After"])
    assert result.step("Left").exited_at - result.step("Left").entered_at == 5


def test_a_running_execution_shows_where_it_waits(stateway):
    stateway.register(FANOUT)
    handle = stateway.start("fanout")
    snapshot = handle.snapshot()
    assert snapshot.status == "Running"
    assert snapshot.step("Left").outcome == "running"
    handle.stop("Operator", "enough")
    result = handle.result()
    assert (result.status, result.error) == ("Stopped", "Operator")
    assert result.step("Left").outcome == "cancelled"
