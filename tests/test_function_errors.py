"""Function errors that explain (exception type, traceback, catchable class names, chosen error
names), what a function printed, and what a function may return."""

from __future__ import annotations

import json
import textwrap

import pytest

FUNCTION = textwrap.dedent('''
    import sys

    class CardDeclined(Exception):
        pass

    class Fraud(Exception):
        error_name = "Payment.Fraud"

    def handler(event, context):
        print("charging", event["card"])
        print("careful", file=sys.stderr)
        kind = event["kind"]
        if kind == "zero":
            return 1 / 0
        if kind == "declined":
            raise CardDeclined("insufficient funds")
        if kind == "chosen":
            from stateway.services import FunctionError
            raise FunctionError("Payment.Declined", "over the limit")
        if kind == "fraud":
            raise Fraud("stolen card")
        if kind == "json-text":
            return '{"charged": 12}'
        if kind == "json-bytes":
            return b'[1, 2]'
        if kind == "plain-text":
            return "charged"
        if kind == "set":
            return {1, 2}
        if kind == "nan":
            return {"x": float("nan")}
        if kind == "loud":
            print("y" * 200_000)
        return {"charged": 1}
''')


def flow(errors: list[str], mode: str = "RequestComplete", invocation: str = "Sync") -> str:
    return textwrap.dedent(f"""
        Type: StateMachine
        SpecVersion: v1
        Name: pay
        StartAt: Charge
        States:
          - Type: Task
            Name: Charge
            Action: FC:InvokeFunction
            TaskMode: {mode}
            Parameters:
              resourceArn: acs:fc:::functions/card
              invocationType: {invocation}
              body:
                card.$: $Input.card
                kind.$: $Input.kind
            Catch:
              - Errors: {json.dumps(errors)}
                Next: Caught
            End: true
          - Type: Pass
            Name: Caught
            End: true
    """)


def run(memory_runtime, kind: str, errors: list[str], **kw):
    runtime = memory_runtime({"card": FUNCTION})
    runtime.register_flow("pay", flow(errors, **kw))
    row = runtime.wait(runtime.start_execution("pay", {"card": "4111", "kind": kind}).id, 20)
    return runtime, row


def test_exception_detail_has_type_message_and_traceback(memory_runtime):
    runtime, row = run(memory_runtime, "zero", ["NoSuchError"])
    assert row.status == "Failed" and row.error == "FC.Unknown"
    assert row.cause.startswith("ZeroDivisionError: division by zero\nTraceback (most recent call last):")
    assert "card.py\", line" in row.cause and "in handler" in row.cause and "return 1 / 0" in row.cause
    assert "function_host" not in row.cause


@pytest.mark.parametrize("dialect_errors", [["CardDeclined"], ["FC.Unknown"]])
def test_catch_may_name_the_exception_class_the_error_stays_fc_unknown(memory_runtime, dialect_errors):
    runtime, row = run(memory_runtime, "declined", dialect_errors)
    assert row.status == "Succeeded"
    assert row.output["Code"] == "FC.Unknown" and row.output["Detail"].startswith("CardDeclined: insufficient funds")


def test_base_class_names_match_too(memory_runtime):
    _, row = run(memory_runtime, "zero", ["ArithmeticError"])
    assert row.status == "Succeeded" and row.output["Code"] == "FC.Unknown"


def test_class_name_also_matches_retry_in_async_system_callback(memory_runtime):
    runtime, row = run(memory_runtime, "declined", ["CardDeclined"], mode="WaitForSystemCallback",
                       invocation="Async")
    assert row.status == "Succeeded" and row.output["Code"] == "FC.Unknown"


@pytest.mark.parametrize(("kind", "name", "detail"), [("chosen", "Payment.Declined", "FunctionError: over the limit"),
                                                      ("fraud", "Payment.Fraud", "Fraud: stolen card")])
def test_a_function_can_fail_with_a_chosen_error_name(memory_runtime, kind, name, detail):
    _, row = run(memory_runtime, kind, [name])
    assert row.status == "Succeeded" and row.output["Code"] == name and row.output["Detail"].startswith(detail)


def test_command_and_http_functions_choose_names_with_fc_error_shape(tmp_path):
    from stateway.runtime import IntegrationError
    from stateway.services import FunctionRuntime

    script = 'echo \'{"errorType": "Stock.Empty", "errorMessage": "none left"}\'; exit 3'
    functions = FunctionRuntime(tmp_path, {"stock": {"command": script}})
    with pytest.raises(IntegrationError) as caught:
        functions.invoke(functions.resolve("acs:fc:::functions/stock"), {}, "r", "k")
    assert (caught.value.error, caught.value.cause) == ("Stock.Empty", "none left")


def test_stdout_and_stderr_are_kept_and_referenced_in_history(memory_runtime):
    runtime, row = run(memory_runtime, "declined", ["CardDeclined"])
    logs = runtime.store.task_logs(row.id)
    assert [(entry["step"], entry["stdout"], entry["stderr"]) for entry in logs] == [
        ("Charge", "charging 4111\n", "careful\n")]
    failed = [e for e in runtime.store.history(row.id) if e["Type"] == "TaskFailed"][0]
    assert failed["EventDetail"]["logs"]["stdout"] == "charging 4111\n"
    assert failed["EventDetail"]["logs"]["stderrBytes"] == len("careful\n")


def test_logs_are_bounded_keeping_the_end(memory_runtime):
    runtime, row = run(memory_runtime, "loud", ["None.Such"])
    assert row.status == "Succeeded"
    stdout = runtime.store.task_logs(row.id)[0]["stdout"]
    assert len(stdout) < 64 * 1024 + 100 and stdout.startswith("[... ") and stdout.endswith("y\n")
    succeeded = [e for e in runtime.store.history(row.id) if e["Type"] == "TaskSucceeded"][0]
    assert len(json.dumps(succeeded["EventDetail"]["logs"])) < 3000


@pytest.mark.parametrize(("kind", "body"), [("json-text", {"charged": 12}), ("json-bytes", [1, 2]),
                                           ("plain-text", "charged")])
def test_returned_text_that_is_json_is_decoded(memory_runtime, kind, body):
    _, row = run(memory_runtime, kind, ["None.Such"])
    assert row.status == "Succeeded" and row.output == {"Body": body}


@pytest.mark.parametrize(("kind", "named"), [("set", "a set"), ("nan", "NaN")])
def test_a_result_that_is_not_json_fails_naming_its_type(memory_runtime, kind, named):
    _, row = run(memory_runtime, kind, ["None.Such"])
    assert row.status == "Failed" and row.error == "FC.Unknown"
    assert row.cause.startswith("TypeError: the function returned a value that is not JSON") and named in row.cause


def test_missing_function_suggests_the_closest_name(memory_runtime):
    runtime = memory_runtime({"card": FUNCTION})
    runtime.register_flow("pay", flow(["None.Such"]).replace("functions/card", "functions/crad"))
    row = runtime.wait(runtime.start_execution("pay", {"card": "1", "kind": "ok"}).id, 20)
    assert row.error == "FC.FunctionNotFound" and "did you mean 'card'?" in row.cause


V1 = """version: v1
type: flow
steps:
  - type: task
    name: Charge
    resourceArn: acs:fc:::functions/card
    inputMappings:
      - target: card
        source: $input.card
      - target: kind
        source: $input.kind
    errorMappings:
      - target: failedWith
        source: $local.error
    catch:
      - errors:
          - CardDeclined
        goto: Declined
  - type: pass
    name: Charged
  - type: pass
    name: Declined
    outputMappings:
      - target: declined
        source: $input.failedWith
"""


def test_older_dialect_errors_may_name_the_exception_class(memory_runtime):
    runtime = memory_runtime({"card": FUNCTION})
    runtime.register_flow("pay1", V1)
    row = runtime.wait(runtime.start_execution("pay1", {"card": "4111", "kind": "declined"}).id, 20)
    assert row.status == "Succeeded" and row.output["declined"] == "FC.Unknown"


def test_options_are_kept_per_configured_function_not_per_name_a_flow_asks_for(tmp_path):
    """A flow may name any number of functions (resourceArn.$): resolving them keeps no state per name."""
    from stateway.runtime import IntegrationError
    from stateway.services.function_instances import InstanceOptions
    from stateway.services.functions import FunctionRuntime

    (tmp_path / "known.py").write_text("def handler(event, context):\n    return {}\n")
    functions = FunctionRuntime(tmp_path, {"tuned": {"file": "known.py", "max_instances": 3}})
    for i in range(500):
        with pytest.raises(IntegrationError):
            functions.resolve(f"acs:fc:::functions/missing{i}")
    assert functions.resolve("acs:fc:::functions/known").options.max_instances == InstanceOptions().max_instances
    assert functions.resolve("acs:fc:::functions/tuned").options.max_instances == 3
    assert len(functions._options) == 2  # the defaults' slot and the one configured function
