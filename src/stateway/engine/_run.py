"""What the state rules beside the interpreter (``_callbacks``, ``_globals``, ``_inline_map``,
``_maprun``, ``_redrive``, ``_v1``, ``_wait_until``) use of one decision's run: ``Run``, which the
interpreter's ``_Run`` is; and the expression environment a run gives an expression (``_Env``)."""

from __future__ import annotations

from collections import deque
from typing import Any, Protocol

from stateway.engine.state import Frame
from stateway.expr import Template
from stateway.fdl import Flow, Scope, State


class Run(Protocol):
    interp: Any  # the Interpreter: its limits
    flow: Flow
    state: dict[str, Any]
    now: float
    decision: Any  # the Decision this run builds
    ready: deque[str]
    failed_frames: dict[str, Any] | None

    def history(self, kind: str, step: str, detail: dict[str, Any] | None = None, schedule: int = 0) -> int: ...

    def new_frame(self, parent: str | None, scope: Scope, path: str, input_: Any, index: int,
                  item: Any = None) -> str: ...

    def state_of(self, frame: Frame) -> State: ...

    def context(self, frame: Frame, input_: Any, output: Any, extra: Any) -> dict[str, Any]: ...

    def env(self, frame: Frame, input_: Any, output: Any = None, item: Any = None,
            current: dict[str, Any] | None = None) -> _Env: ...

    def build(self, template: Template, env: _Env, what: str) -> Any: ...

    def _exit_name(self, frame: Frame, state: State) -> str: ...

    def check_globals(self, update: dict[str, Any]) -> None: ...

    def fail_state(self, frame: Frame, error: str, cause: str) -> None: ...

    def end_scope(self, frame: Frame, ok: bool, output: Any, error: str = "", cause: str = "") -> None: ...

    def add_timer(self, owner: str, payload: dict[str, Any], delay: float) -> str: ...

    def drop_timer(self, timer_id: str | None) -> None: ...

    def close_task(self, frame: Frame, *, cancel: bool, reason: str) -> None: ...


class _Env:
    """Expression environment; $Context is built only if an expression asks for it."""

    __slots__ = ("input", "output", "item", "globals", "_ctx", "_frame", "_interp")

    def __init__(self, interp: Run, frame: Frame, input_: Any, output: Any = None, item: Any = None,
                 current_extra: dict[str, Any] | None = None) -> None:
        self.input = input_
        self.output = output
        self.item = item
        self.globals = interp.state["globals"]
        self._frame = frame
        self._interp = interp
        self._ctx: Any = current_extra

    def get(self, name: str, default: Any = None) -> Any:
        if name == "Input":
            return self.input
        if name == "Output":
            return self.output
        if name == "Global":
            return self.globals
        if name == "Item":
            return self.item
        if name == "Context":
            if not isinstance(self._ctx, dict) or "Execution" not in self._ctx:
                self._ctx = self._interp.context(self._frame, self.input, self.output, self._ctx)
            return self._ctx
        return default
