"""Stateway's callback-task fields (beyond CloudFlow): ``HeartbeatSeconds`` / ``HeartbeatSeconds.$`` on a
Task that waits for a callback, and ``CorrelationKey.$`` on a WaitForCustomCallback Task."""

from __future__ import annotations

from typing import Any

CALLBACK_TASK_FIELDS = {"HeartbeatSeconds", "HeartbeatSeconds.$", "CorrelationKey.$"}
MAX_HEARTBEAT_SECONDS = 604800


def read_callback_fields(loader: Any, node: Any, path: str, mode: str, fields: dict[str, Any]) -> None:
    """Check and read the fields into ``fields`` (the State's keyword arguments)."""
    if "HeartbeatSeconds" in node and "HeartbeatSeconds.$" in node:
        loader.error(path, "give either 'HeartbeatSeconds' or 'HeartbeatSeconds.$', not both", node,
                     "HeartbeatSeconds.$")
    for key in ("HeartbeatSeconds", "HeartbeatSeconds.$"):
        if key in node and mode == "RequestComplete":
            loader.error(f"{path} > {key}", f"{key} needs a task that waits for a callback (TaskMode "
                         "WaitForCustomCallback or WaitForSystemCallback): a RequestComplete task has nobody to "
                         "send heartbeats", node, key)
    seconds = loader.number(node, "HeartbeatSeconds", path, low=1, high=MAX_HEARTBEAT_SECONDS, integer=True)
    if seconds is not None:
        timeout = fields.get("timeout")
        if timeout and seconds > timeout:
            loader.error(f"{path} > HeartbeatSeconds", f"HeartbeatSeconds ({seconds:g}) is longer than the task's "
                         f"Timeout ({timeout:g}): it could never pass", node, "HeartbeatSeconds")
        fields["heartbeat_seconds"] = float(seconds)
    if "HeartbeatSeconds.$" in node:
        fields["heartbeat_expr"] = loader.expression(node, "HeartbeatSeconds.$", path)
    if "CorrelationKey.$" in node:
        if mode != "WaitForCustomCallback":
            loader.error(f"{path} > CorrelationKey.$", "CorrelationKey.$ needs TaskMode WaitForCustomCallback: it "
                         "names a task that an outside system reports to", node, "CorrelationKey.$")
        fields["correlation_expr"] = loader.expression(node, "CorrelationKey.$", path)
