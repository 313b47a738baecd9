"""Mocked integrations: what a test says a service answers, matched by action, resource and state."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from stateway.runtime import IntegrationError


class _NoAnswer:
    """A response that leaves the task open: a callback nobody sends, a call that hangs. The task ends when the
    test reports it (``handle.report_success``), or when its Timeout passes on the virtual clock."""

    def __repr__(self) -> str:
        return "NO_ANSWER"


NO_ANSWER = _NoAnswer()


class TaskFailure(IntegrationError):
    """Raise it from a mock's handler to fail the task with this error name (matched by Retry and Catch)."""

    def __init__(self, error: str, cause: str = "") -> None:
        super().__init__(error, cause)


class MockError(AssertionError):
    """A test set-up problem: a mock ran out of responses, a handler raised, a call had no mock."""


class UnmockedCall(MockError):
    pass


@dataclass(frozen=True)
class MockCall:
    """One call a mock answered, as the flow made it."""

    action: str
    resource: str | None
    state: str
    step: str
    mode: str
    parameters: dict[str, Any]
    token: str
    attempt: int  # 0 for the first call of this state in this execution, 1 for its first retry, …
    flow: str
    execution: str

    @property
    def body(self) -> Any:
        """``parameters.body`` (what an FC function receives), else ``parameters.message``, else the parameters."""
        for key in ("body", "message", "input"):
            if key in self.parameters:
                return self.parameters[key]
        return self.parameters


@dataclass
class Answer:
    kind: str  # "return" | "throw" | "later"
    output: Any = None
    error: str = ""
    cause: str = ""


_QUALIFIED = re.compile(r"functions/[^/]+/[^/]+$")  # an FC ARN with a qualifier: functions/<name>/<qualifier>


def resource_of(parameters: dict[str, Any]) -> str | None:
    for key in ("resourceArn", "url"):
        value = parameters.get(key)
        if isinstance(value, str):
            return value
    return None


def resource_matches(pattern: str, resource: str | None) -> bool:
    """Exact, a glob (``*functions/charge*``), or a suffix on a path boundary: ``functions/charge`` matches
    ``acs:fc:cn-hangzhou:123:functions/charge`` and ``…/functions/charge/LATEST`` (a qualifier is ignored)."""
    if resource is None:
        return False
    if any(c in pattern for c in "*?["):
        return fnmatch.fnmatchcase(resource, pattern)
    if resource == pattern:
        return True
    suffix = pattern.lstrip("…./:")  # "…/functions/charge", as a person abbreviates an ARN
    candidates = [resource]
    if _QUALIFIED.search(resource):
        candidates.append(resource.rsplit("/", 1)[0])
    for candidate in candidates:
        if candidate == suffix or (candidate.endswith(suffix) and candidate[-len(suffix) - 1] in "/:"):
            return True
    return False


def canonical(action: str) -> str:
    from stateway.fdl._loader import canonical_action

    return canonical_action(action)


def _answer(response: Any) -> Answer | Callable[[MockCall], Any]:
    if response is NO_ANSWER:
        return Answer("later")
    if isinstance(response, Answer):
        return response
    if isinstance(response, IntegrationError):
        return Answer("throw", error=response.error, cause=response.cause)
    if isinstance(response, tuple) and 1 <= len(response) <= 2 and all(isinstance(x, str) for x in response):
        return Answer("throw", error=response[0], cause=response[1] if len(response) > 1 else "")
    if callable(response):
        return response
    if isinstance(response, dict):
        return Answer("return", output=response)
    raise TypeError(f"a mock response is a dict (the task's output), an (error, cause) tuple, NO_ANSWER or a "
                    f"callable; got {response!r}")


@dataclass
class Mock:
    """Answers the calls it matches. ``calls`` records every call it answered, for assertions."""

    action: str | None = None
    resource: str | None = None
    state: str | None = None
    responses: list[Any] = field(default_factory=list)
    repeat: bool = True  # a single returns/raises/handler answers every call; a list is consumed in order
    calls: list[MockCall] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.action is None and self.state is None:
            raise ValueError("a mock needs an action (e.g. 'FC:InvokeFunction') or a state name")
        if self.action is not None:
            self.action = canonical(self.action)
        self._answers = [_answer(r) for r in self.responses]
        if not self._answers:
            raise ValueError(f"the mock of {self.describe()} says nothing: give returns=, raises=, responses=, "
                             "handler= or later=True")

    def describe(self) -> str:
        parts = [self.action or "any action"]
        if self.resource:
            parts.append(f"resource={self.resource!r}")
        if self.state:
            parts.append(f"state={self.state!r}")
        return " ".join(parts)

    def matches(self, action: str, resource: str | None, state: str, step: str) -> bool:
        if self.action is not None and self.action != action:
            return False
        if self.state is not None and self.state not in (state, step):
            return False
        return self.resource is None or resource_matches(self.resource, resource)

    @property
    def call_count(self) -> int:
        return len(self.calls)

    def answer(self, call: MockCall) -> Answer:
        index = len(self.calls)
        self.calls.append(call)
        if self.repeat:
            response = self._answers[0]
        elif index < len(self._answers):
            response = self._answers[index]
        else:
            raise MockError(f"the mock of {self.describe()} has {len(self._answers)} responses, and state "
                            f"{call.step!r} called it a {_ordinal(index + 1)} time")
        if isinstance(response, Answer):
            return response
        try:
            result = response(call)
        except IntegrationError as exc:
            return Answer("throw", error=exc.error, cause=exc.cause)
        answer = _answer(result)
        if not isinstance(answer, Answer):
            raise MockError(f"the handler of {self.describe()} returned a callable; return the task's output "
                            "(a dict), NO_ANSWER, or raise TaskFailure(error, cause)")
        return answer


def _ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def build_mock(action: str | None, resource: str | None, state: str | None, *, returns: Any, raises: Any,
               responses: Iterable[Any] | None, handler: Callable[[MockCall], Any] | None, later: bool) -> Mock:
    given = [name for name, value in (("returns", returns), ("raises", raises), ("responses", responses),
                                      ("handler", handler)) if value is not None] + (["later"] if later else [])
    if len(given) != 1:
        raise ValueError(f"a mock takes exactly one of returns=, raises=, responses=, handler=, later=True; got "
                         f"{', '.join(given) or 'none'}")
    if responses is not None:
        return Mock(action, resource, state, list(responses), repeat=False)
    if raises is not None:
        error = raises if isinstance(raises, tuple) else (raises,) if isinstance(raises, str) else raises
        return Mock(action, resource, state, [error])
    if later:
        return Mock(action, resource, state, [NO_ANSWER])
    return Mock(action, resource, state, [handler if handler is not None else returns])
