"""What goes into an execution's inbox (events) and what a decision puts in the outbox (commands).

Each kind is a frozen dataclass with a stable *wire form*, the JSON object the store keeps in its
``inbox``/``outbox`` rows and timer rows: ``to_wire()`` writes it, ``event_from_wire`` and
``command_from_wire`` read it. The wire form is the dict shape Stateway has always stored, so rows
written by earlier versions read back unchanged. Readers are lenient (a missing optional field takes
its default, an unknown field is ignored, so a row from a newer version still reads); an unknown
``type``/``kind`` or a missing required field raises ``MessageError`` naming it.

Events (``"type"``): ``start``, ``task_result``, ``task_submitted``, ``cancel_result``, ``stop``,
``timer``, ``continue``, ``redrive``. Commands (``"kind"``): ``invoke``, ``cancel``, ``report``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar


class MessageError(ValueError):
    """A stored event or command that cannot be read: an unknown type or kind, or a missing field."""


def _need(wire: dict[str, Any], key: str, what: str) -> Any:
    try:
        return wire[key]
    except KeyError:
        raise MessageError(f"the {what} {wire!r:.200} has no {key!r}") from None


# -- inbox events --------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Start:
    """The execution begins (written with its row)."""

    TYPE: ClassVar[str] = "start"

    def to_wire(self) -> dict[str, Any]:
        return {"type": "start"}


@dataclass(frozen=True, slots=True)
class TaskResult:
    """A task ended: with ``output`` when ``ok``, else with ``error``/``cause``. ``submit_failed``: it
    never started (TaskSubmitFailed). ``aliases``: further error names Retry/Catch may match (a
    function's exception classes). ``logs``: a reference to what the task printed. ``map_run``: a
    distributed Map's summary (MapRunName, ItemCounts)."""

    TYPE: ClassVar[str] = "task_result"
    task: str
    ok: bool
    output: Any = None
    error: str = ""
    cause: str = ""
    submit_failed: bool = False
    aliases: tuple[str, ...] = ()
    logs: dict[str, Any] | None = None
    map_run: dict[str, Any] | None = None

    @classmethod
    def success(cls, task: str, output: Any, *, logs: dict[str, Any] | None = None,
                map_run: dict[str, Any] | None = None) -> TaskResult:
        return cls(task, True, output=output, logs=logs, map_run=map_run)

    @classmethod
    def failure(cls, task: str, error: str, cause: str = "", *, submit_failed: bool = False,
                aliases: tuple[str, ...] = (), logs: dict[str, Any] | None = None,
                map_run: dict[str, Any] | None = None) -> TaskResult:
        return cls(task, False, error=error, cause=cause, submit_failed=submit_failed, aliases=tuple(aliases),
                   logs=logs, map_run=map_run)

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {"type": "task_result", "task": self.task, "ok": self.ok}
        if self.ok:
            wire["output"] = self.output
        else:
            wire["error"] = self.error
            wire["cause"] = self.cause
        if self.submit_failed:
            wire["submit_failed"] = True
        if self.aliases:
            wire["aliases"] = list(self.aliases)
        if self.logs:
            wire["logs"] = self.logs
        if self.map_run is not None:
            wire["map_run"] = self.map_run
        return wire

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> TaskResult:
        ok = bool(_need(wire, "ok", "task_result event"))
        return cls(str(_need(wire, "task", "task_result event")), ok, output=wire.get("output"),
                   error="" if ok else _need(wire, "error", "failed task_result event"),
                   cause=wire.get("cause", ""), submit_failed=bool(wire.get("submit_failed")),
                   aliases=tuple(wire.get("aliases") or ()), logs=wire.get("logs") or None,
                   map_run=wire.get("map_run"))


@dataclass(frozen=True, slots=True)
class TaskSubmitted:
    """A callback-mode task was accepted (TaskSubmitted); its result comes later, through its token."""

    TYPE: ClassVar[str] = "task_submitted"
    task: str
    output: Any = None
    logs: dict[str, Any] | None = None

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {"type": "task_submitted", "task": self.task, "output": self.output}
        if self.logs:
            wire["logs"] = self.logs
        return wire

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> TaskSubmitted:
        return cls(str(_need(wire, "task", "task_submitted event")), wire.get("output"), wire.get("logs") or None)


@dataclass(frozen=True, slots=True)
class CancelResult:
    """What the integration said when asked to cancel a task (recorded even after the execution ended)."""

    TYPE: ClassVar[str] = "cancel_result"
    task: str
    ok: bool
    detail: str = ""
    step: str = ""

    def to_wire(self) -> dict[str, Any]:
        return {"type": "cancel_result", "task": self.task, "ok": self.ok, "detail": self.detail, "step": self.step}

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> CancelResult:
        return cls(str(_need(wire, "task", "cancel_result event")), bool(_need(wire, "ok", "cancel_result event")),
                   wire.get("detail", ""), wire.get("step", ""))


@dataclass(frozen=True, slots=True)
class Stop:
    """StopExecution (or the sweep stopping an orphaned child)."""

    TYPE: ClassVar[str] = "stop"
    error: str = ""
    cause: str = ""

    def to_wire(self) -> dict[str, Any]:
        return {"type": "stop", "error": self.error, "cause": self.cause}

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> Stop:
        return cls(wire.get("error") or "", wire.get("cause") or "")


@dataclass(frozen=True, slots=True)
class TimerFired:
    """A timer the execution set is due. What it was for (a Wait, a retry delay, a task's or the
    execution's timeout) is kept with the timer in the execution state, under the same id."""

    TYPE: ClassVar[str] = "timer"
    timer: str

    def to_wire(self) -> dict[str, Any]:
        return {"type": "timer", "timer": self.timer}

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> TimerFired:
        return cls(str(_need(wire, "timer", "timer event")))


@dataclass(frozen=True, slots=True)
class Continue:
    """The execution's previous decision used its budget and yielded: its next turn."""

    TYPE: ClassVar[str] = "continue"

    def to_wire(self) -> dict[str, Any]:
        return {"type": "continue"}


@dataclass(frozen=True, slots=True)
class Redrive:
    """RedriveExecution: the ended execution carries on from where it failed (``engine/_redrive.py``);
    ``count`` is its redrive count after this one."""

    TYPE: ClassVar[str] = "redrive"
    count: int = 1

    def to_wire(self) -> dict[str, Any]:
        return {"type": "redrive", "count": self.count}

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> Redrive:
        return cls(int(wire.get("count") or 1))


Event = Start | TaskResult | TaskSubmitted | CancelResult | Stop | TimerFired | Continue | Redrive

_START, _CONTINUE = Start(), Continue()
_EVENT_READERS: dict[str, Callable[[dict[str, Any]], Event]] = {
    "start": lambda wire: _START,
    "task_result": TaskResult.from_wire,
    "task_submitted": TaskSubmitted.from_wire,
    "cancel_result": CancelResult.from_wire,
    "stop": Stop.from_wire,
    "timer": TimerFired.from_wire,
    "continue": lambda wire: _CONTINUE,
    "redrive": Redrive.from_wire,
}


def event_from_wire(wire: dict[str, Any]) -> Event:
    """The event an inbox or timer row holds. Raises ``MessageError`` for an unknown type."""
    if not isinstance(wire, dict):
        raise MessageError(f"an inbox event is a JSON object, not {type(wire).__name__}")
    reader = _EVENT_READERS.get(wire.get("type"))  # type: ignore[arg-type]
    if reader is None:
        raise MessageError(f"unknown inbox event type {wire.get('type')!r} (known: {', '.join(_EVENT_READERS)})")
    return reader(wire)


# -- outbox commands -------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Invoke:
    """Run one task attempt. ``task`` is the TaskScheduled event id; ``token`` the task's callback token."""

    KIND: ClassVar[str] = "invoke"
    task: str
    token: str
    state: str
    step: str
    action: str
    mode: str
    parameters: Any = None
    timeout: float | None = None
    key: str | None = None  # CorrelationKey.$: claimed when the task is dispatched

    def to_wire(self) -> dict[str, Any]:
        wire = {"kind": "invoke", "task": self.task, "token": self.token, "state": self.state, "step": self.step,
                "action": self.action, "mode": self.mode, "parameters": self.parameters, "timeout": self.timeout}
        if self.key is not None:
            wire["key"] = self.key
        return wire

    def opened_task(self) -> dict[str, Any]:
        """The open task row the commit writes with this command (what a callback token resolves to)."""
        return {"task": self.task, "token": self.token, "state": self.state, "step": self.step,
                "action": self.action, "mode": self.mode}

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> Invoke:
        return cls(str(_need(wire, "task", "invoke command")), wire.get("token", ""), wire.get("state", ""),
                   wire.get("step", ""), _need(wire, "action", "invoke command"), _need(wire, "mode", "invoke command"),
                   wire.get("parameters"), wire.get("timeout"), wire.get("key"))


@dataclass(frozen=True, slots=True)
class Cancel:
    """Ask the integration running a task to cancel it."""

    KIND: ClassVar[str] = "cancel"
    task: str
    action: str
    mode: str
    step: str = ""
    reason: str = ""

    def to_wire(self) -> dict[str, Any]:
        return {"kind": "cancel", "task": self.task, "action": self.action, "mode": self.mode, "step": self.step,
                "reason": self.reason}

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> Cancel:
        return cls(str(_need(wire, "task", "cancel command")), _need(wire, "action", "cancel command"),
                   _need(wire, "mode", "cancel command"), wire.get("step", ""), wire.get("reason", ""))


@dataclass(frozen=True, slots=True)
class Report:
    """An execution started with a callback token (a child flow, a distributed Map's item) ended: tell its
    parent. ``status`` is the end status; ``output`` when Succeeded, else ``error``/``cause``."""

    KIND: ClassVar[str] = "report"
    token: str
    status: str
    output: Any = None
    error: str | None = None
    cause: str | None = None

    def to_wire(self) -> dict[str, Any]:
        return {"kind": "report", "token": self.token, "status": self.status, "output": self.output,
                "error": self.error, "cause": self.cause}

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> Report:
        return cls(_need(wire, "token", "report command"), _need(wire, "status", "report command"),
                   wire.get("output"), wire.get("error"), wire.get("cause"))

    @classmethod
    def of_end(cls, token: str, ended: dict[str, Any]) -> Report:
        """From a Decision's ``ended`` ({"status", "output", "error", "cause"})."""
        return cls(token, ended["status"], ended.get("output"), ended.get("error"), ended.get("cause"))


Command = Invoke | Cancel | Report

_COMMAND_READERS: dict[str, Callable[[dict[str, Any]], Command]] = {
    "invoke": Invoke.from_wire,
    "cancel": Cancel.from_wire,
    "report": Report.from_wire,
}


def command_from_wire(wire: dict[str, Any]) -> Command:
    """The command an outbox row holds. Raises ``MessageError`` for an unknown kind."""
    if not isinstance(wire, dict):
        raise MessageError(f"an outbox command is a JSON object, not {type(wire).__name__}")
    reader = _COMMAND_READERS.get(wire.get("kind"))  # type: ignore[arg-type]
    if reader is None:
        raise MessageError(f"unknown outbox command kind {wire.get('kind')!r} (known: {', '.join(_COMMAND_READERS)})")
    return reader(wire)


__all__ = [
    "Cancel",
    "CancelResult",
    "Command",
    "Continue",
    "Event",
    "Invoke",
    "MessageError",
    "Redrive",
    "Report",
    "Start",
    "Stop",
    "TaskResult",
    "TaskSubmitted",
    "TimerFired",
    "command_from_wire",
    "event_from_wire",
]
