"""FNF:StartExecution: child flows. The child's row carries the link to its parent task, written
in the same transaction that creates the child."""

from __future__ import annotations

import re

from stateway.integrations._arn import match_resource_arn
from stateway.runtime._outcomes import Completed, IntegrationError, Outcome, Submitted, TaskCall
from stateway.runtime._registry import Integration
from stateway.store import ExecutionAlreadyExists, FlowAliasNotExists, FlowNotExists, FlowVersionNotExists

_ARN = re.compile(r"^acs:fnf:[^:]*:[^:]*:flow/(?P<flow>[^/]+)$")


class StartExecution(Integration):
    action = "FNF:StartExecution"
    modes = frozenset({"RequestComplete", "WaitForSystemCallback", "WaitForCustomCallback"})
    parameters = frozenset({"resourceArn", "executionName", "input"})

    def invoke(self, call: TaskCall) -> Outcome:
        params = call.parameters
        flow = match_resource_arn(_ARN, params, "flow", "acs:fnf:{region}::flow/{name}").group("flow")
        name = params.get("executionName") or f"{call.execution_name[:80]}-{call.task_id}"
        child_input = params.get("input", {})
        if isinstance(child_input, str):
            import json

            try:
                child_input = json.loads(child_input)
            except ValueError:
                raise IntegrationError("FnF.InvalidArgument", "input must be a JSON object") from None
        callback = call.token if call.mode == "WaitForSystemCallback" else None
        try:
            row = self.context.start_child(flow, child_input, name, parent=(call.execution_id, call.task_id),
                                           callback_token=callback, qualifier=params.get("qualifier") or None)
        except (FlowNotExists, FlowVersionNotExists, FlowAliasNotExists) as exc:
            raise IntegrationError(f"FNF.{type(exc).__name__}", str(exc)) from None
        except ExecutionAlreadyExists as exc:
            raise IntegrationError("FNF.ExecutionAlreadyExists", str(exc)) from None
        except ValueError as exc:
            raise IntegrationError("FnF.InvalidArgument", str(exc)) from None
        started = {"FlowName": flow, "ExecutionName": row.name, "RequestID": f"{call.key}"}
        if call.mode == "RequestComplete":
            return Completed(started)
        return Submitted(started)

    def cancel(self, call: TaskCall, reason: str) -> str:
        child = self.context.executions.child_execution(call.execution_id, call.task_id)
        if child is None:
            return "no child execution had started"
        self.context.stop_execution(child.id, "FnF.TaskCancelled", f"parent {call.execution_name!r}: {reason}")
        return f"stopped child execution {child.flow_name}/{child.name}"
