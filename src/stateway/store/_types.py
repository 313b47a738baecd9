from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class ExecutionRow:
    id: int
    flow_name: str
    name: str
    status: str
    input: Any
    output: Any
    error: str | None
    cause: str | None
    started: float
    stopped: float | None
    state: dict[str, Any] | None
    definition: str
    parent_id: int | None
    parent_task: str | None
    callback_token: str | None
    flow_version: str = ""
    qualifier: str = ""
    map_run: str = ""
    redrive_count: int = 0  # RedriveExecution so far
    redriven: float | None = None  # the last redrive
