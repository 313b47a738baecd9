"""`stateway test FLOW --mocks FILE --case NAME`: mock files for teams that do not write Python."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from stateway.cli._main import cli

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "testing"
ORDER = '{"orderId": "A-1", "amount": 5}'


def run(*args: str):
    return CliRunner().invoke(cli, ["test", *args])


@pytest.mark.parametrize(("case", "path"), [
    ("HappyPath", "Validate,Approve,Charge,WaitAWeek,AskFeedback"),
    ("ApprovalTimesOut", "Validate,Approve,Escalate,Charge,WaitAWeek,AskFeedback"),
    ("ProviderStaysBusy", "Validate,Approve,Charge,Cancelled"),
])
def test_each_case_of_the_example_passes(case, path):
    out = run(str(EXAMPLE / "order.yaml"), "--mocks", str(EXAMPLE / "mocks.yaml"), "--case", case, "--input", ORDER,
              "--expect-path", path, "--json")
    assert out.exit_code == 0, out.output
    summary = json.loads(out.output.splitlines()[0])
    assert summary["passed"] and summary["case"] == case
    assert [s.split("/")[-1] for s in summary["steps"]] == path.split(",")


def test_a_failed_expectation_exits_1_and_says_why():
    out = run(str(EXAMPLE / "order.yaml"), "--mocks", str(EXAMPLE / "mocks.yaml"), "--case", "ProviderStaysBusy",
              "--input", ORDER, "--expect-path", "Validate,Approve,Charge,WaitAWeek")
    assert out.exit_code == 1
    assert "expected 'WaitAWeek' as step 4, entered 'Cancelled'" in out.output
    assert "Charge ×4 (retried after Payment.Busy, Payment.Busy, Payment.Busy) caught Payment.Busy" in out.output


def test_expected_status_and_output():
    args = [str(EXAMPLE / "order.yaml"), "--mocks", str(EXAMPLE / "mocks.yaml"), "--case", "HappyPath"]
    out = run(*args, "--input", '{"orderId": "A-1", "amount": -1}', "--expect-status", "Failed")
    assert out.exit_code == 0, out.output
    out = run(*args, "--input", ORDER, "--expect-output",
              '{"orderId": "A-1", "approvedBy": "alice", "receipt": "R-1", "feedbackAsked": true}')
    assert out.exit_code == 0, out.output
    out = run(*args, "--input", ORDER, "--expect-output", '{"orderId": "A-2"}')
    assert out.exit_code == 1 and 'expected {"orderId": "A-2"}' in out.output


def test_an_unmocked_call_fails_the_test_naming_it():
    out = run(str(EXAMPLE / "order.yaml"), "--input", ORDER)
    assert out.exit_code == 1
    assert "FC:InvokeFunction acs:fc:cn-hangzhou:123456789:functions/escalate from state 'Escalate'" in out.output


def test_bad_input_exits_2(tmp_path):
    out = run(str(EXAMPLE / "order.yaml"), "--mocks", str(EXAMPLE / "mocks.yaml"), "--input", ORDER)
    assert out.exit_code == 2 and "say which test case to run with --case: HappyPath" in out.output
    out = run(str(EXAMPLE / "order.yaml"), "--mocks", str(EXAMPLE / "mocks.yaml"), "--case", "Nope")
    assert out.exit_code == 2 and "no test case 'Nope'" in out.output
    broken = tmp_path / "broken.yaml"
    broken.write_text("Type: StateMachine\nName: b\nSpecVersion: v1\nStartAt: A\nStates:\n  - Type: Pass\n"
                      "    Name: A\n    Next: Nowhere\n")
    out = run(str(broken))
    assert out.exit_code == 2 and "broken.yaml:" in out.output and "Nowhere" in out.output
    assert run(str(broken), "--case", "X").exit_code == 2


def test_real_functions_instead_of_mocks(tmp_path):
    functions = tmp_path / "functions"
    functions.mkdir()
    (functions / "double.py").write_text("def handler(event, context):\n    return {'n': event['n'] * 2}\n")
    flow = tmp_path / "flow.yaml"
    flow.write_text("""Type: StateMachine
Name: double
SpecVersion: v1
StartAt: Double
States:
  - Type: Task
    Name: Double
    Action: FC:InvokeFunction
    Parameters:
      resourceArn: acs:fc:::functions/double
      body:
        n: 21
    OutputConstructor:
      n.$: $Output.Body.n
    End: true
""")
    out = run(str(flow), "--functions", str(functions), "--expect-output", '{"n": 42}')
    assert out.exit_code == 0, out.output
