"""Callback actions with Stateway's additions (docs/api.md): ReportTaskSucceeded / ReportTaskFailed
given ``FlowName`` + ``CorrelationKey`` instead of ``TaskToken``, and ReportTaskHeartbeat."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stateway.api._actions import CloudFlowService, open_task_view, report_task_failed, report_task_succeeded
from stateway.api._values import ApiError


def _with_token(service: CloudFlowService, params: Mapping[str, str]) -> Mapping[str, str]:
    """The parameters with ``TaskToken`` resolved from ``FlowName`` + ``CorrelationKey`` when given so."""
    key = params.get("CorrelationKey")
    if not key:
        return params
    if params.get("TaskToken"):
        raise ApiError(400, "InvalidArgument", "give either TaskToken or FlowName + CorrelationKey, not both")
    token = service.app.tasks.token_for_key(params.get("FlowName", ""), key)
    return {**params, "TaskToken": token}


def report_succeeded(service: CloudFlowService, params: Mapping[str, str]) -> dict[str, Any]:
    return report_task_succeeded(service, _with_token(service, params))


def report_failed(service: CloudFlowService, params: Mapping[str, str]) -> dict[str, Any]:
    return report_task_failed(service, _with_token(service, params))


def report_heartbeat(service: CloudFlowService, params: Mapping[str, str]) -> dict[str, Any]:
    """The task is alive: its HeartbeatSeconds window starts again. Answers the window (0: none), and
    with ``IncludeKey=true`` the task's correlation key."""
    params = _with_token(service, params)
    token = params.get("TaskToken")
    if not token:
        raise ApiError(400, "MissingParameter", "TaskToken (or FlowName + CorrelationKey) is required")
    window = service.app.tasks.heartbeat(token)
    answer: dict[str, Any] = {"HeartbeatSeconds": int(window) if window.is_integer() else window}
    if params.get("IncludeKey", "").lower() == "true":
        answer["CorrelationKey"] = params.get("CorrelationKey") or service.app.tasks.key_of(token)
    return answer


CALLBACK_ACTIONS = {
    "ReportTaskSucceeded": report_succeeded,
    "ReportTaskFailed": report_failed,
    "ReportTaskHeartbeat": report_heartbeat,
}

__all__ = ["CALLBACK_ACTIONS", "open_task_view"]
