"""``stateway serve``'s log: one structured line per execution start and end and per task waiting
for a callback, through the standard ``logging`` module, as text or JSON lines."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

from stateway import telemetry
from stateway.runtime import Runtime
from stateway.timefmt import iso

log = logging.getLogger("stateway.executions")

# the attributes every LogRecord has; anything else on a record is a structured field
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {"time": iso(record.created), "level": record.levelname, "logger": record.name,
                "message": record.getMessage(), **_fields(record)}
        if "trace_id" not in line:  # a line written while a task runs names the task's span
            line.update(telemetry.log_ids())
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = " ".join(f"{k}={_quote(v)}" for k, v in _fields(record).items())
        line = f"{iso(record.created)} {record.levelname:<7} {record.name}: {record.getMessage()}"
        if fields:
            line += " " + fields
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def _quote(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return json.dumps(text, ensure_ascii=False) if (not text or any(c in text for c in ' "=\n')) else text


def configure(log_format: str, level: int = logging.INFO) -> None:
    """Every ``stateway.*`` logger to stderr in the chosen format."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger("stateway")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


class ExecutionLog:
    """A runtime listener: reads the committed history events and logs the ones an operator needs."""

    ENDS = {"ExecutionSucceeded": "Succeeded", "ExecutionFailed": "Failed", "ExecutionStopped": "Stopped",
            "ExecutionTimedOut": "TimedOut"}

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.names: dict[int, tuple[str, str, float]] = {}

    def _names(self, execution_id: int) -> tuple[str, str, float]:
        known = self.names.get(execution_id)
        if known is None:
            row = self.runtime.store.get_execution(execution_id)
            known = self.names[execution_id] = (row.flow_name, row.name, row.started)
        return known

    def __call__(self, execution_id: int, events: list[dict[str, Any]]) -> None:
        try:
            for event in events:
                kind = event["Type"]
                if kind == "ExecutionStarted":
                    flow, name, _ = self._names(execution_id)
                    log.info("execution started", extra={"flow": flow, "execution": name,
                                                         **telemetry.log_ids(execution_id)})
                elif kind in self.ENDS:
                    flow, name, started = self._names(execution_id)
                    self.names.pop(execution_id, None)
                    detail = event["EventDetail"]
                    fields = {"flow": flow, "execution": name, "status": self.ENDS[kind],
                              "seconds": round(event["Time"] - started, 3), **telemetry.log_ids(execution_id)}
                    if detail.get("error"):
                        fields.update(error=detail["error"], cause=str(detail.get("cause") or "")[:500])
                    log.log(logging.INFO if kind == "ExecutionSucceeded" else logging.WARNING, "execution ended",
                            extra=fields)
                elif kind == "TaskScheduled" and event["EventDetail"].get("taskMode") == "WaitForCustomCallback":
                    self._waiting(execution_id, event)
        except Exception:  # a log line must never disturb the engine
            log.exception("could not log events of execution %s", execution_id)

    def _waiting(self, execution_id: int, event: dict[str, Any]) -> None:
        flow, name, _ = self._names(execution_id)
        task = str(event["EventId"])
        tokens = [t["token"] for t in self.runtime.store.open_tasks(execution_id) if t["task_id"] == task]
        log.info("task waiting for a callback", extra={
            "flow": flow, "execution": name, "step": event["StepName"], "task": task,
            "action": event["EventDetail"].get("action"), "since": iso(event["Time"]),
            "token": tokens[0] if tokens else "", **telemetry.log_ids(execution_id, task)})
