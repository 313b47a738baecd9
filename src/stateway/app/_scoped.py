"""The service layer seen through an access key's policy (``Stateway.for_key``, and the API's
per-request view): every call is checked against the policy's actions and names, and lists show
only the flows and queues the key may see.

A method maps to the RPC action (or MNS operation) that does the same thing, and to where its
resource is: the flow name (the first argument by default, as RPC actions default to their
``FlowName``), a queue name, a task token, an execution. A method this table does not know needs
a key that may do everything (``allow = ["*"]``): new services stay closed until they are listed.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, Protocol

from stateway.policies import AccessDenied, Policy
from stateway.runtime import InvalidTaskToken, Runtime
from stateway.store import Store

FLOW, QUEUE, TOKEN, EXECUTION, NONE = "flow", "queue", "token", "execution", "none"

# service → method → (action, where its resource is)
METHODS: dict[str, dict[str, tuple[str, str]]] = {
    "flows": {
        "create": ("fnf:CreateFlow", FLOW), "put": ("fnf:CreateFlow", FLOW), "update": ("fnf:UpdateFlow", FLOW),
        "describe": ("fnf:DescribeFlow", FLOW), "require": ("fnf:DescribeFlow", FLOW),
        "exists": ("fnf:DescribeFlow", FLOW), "delete": ("fnf:DeleteFlow", FLOW), "list": ("fnf:ListFlows", NONE),
        "validate": ("", NONE),
        "publish_version": ("fnf:PublishFlowVersion", FLOW), "list_versions": ("fnf:ListFlowVersions", FLOW),
        "delete_version": ("fnf:DeleteFlowVersion", FLOW), "describe_version": ("fnf:DescribeFlow", FLOW),
        "create_alias": ("fnf:CreateFlowAlias", FLOW), "update_alias": ("fnf:UpdateFlowAlias", FLOW),
        "describe_alias": ("fnf:DescribeFlowAlias", FLOW), "list_aliases": ("fnf:ListFlowAliases", FLOW),
        "delete_alias": ("fnf:DeleteFlowAlias", FLOW),
    },
    "executions": {
        "start": ("fnf:StartExecution", FLOW), "start_express": ("fnf:StartExecution", FLOW),
        "start_sync": ("fnf:StartSyncExecution", FLOW), "start_sync_async": ("fnf:StartSyncExecution", FLOW),
        "describe": ("fnf:DescribeExecution", FLOW), "describe_async": ("fnf:DescribeExecution", FLOW),
        "current_steps": ("fnf:DescribeExecution", EXECUTION), "wait": ("fnf:DescribeExecution", EXECUTION),
        "wait_ended": ("fnf:DescribeExecution", EXECUTION),
        "list": ("fnf:ListExecutions", FLOW), "history": ("fnf:GetExecutionHistory", FLOW),
        "logs": ("fnf:GetExecutionLogs", FLOW), "stop": ("fnf:StopExecution", FLOW),
        "stop_async": ("fnf:StopExecution", FLOW),
    },
    "schedules": {
        "create": ("fnf:CreateSchedule", FLOW), "update": ("fnf:UpdateSchedule", FLOW),
        "describe": ("fnf:DescribeSchedule", FLOW), "list": ("fnf:ListSchedules", FLOW),
        "delete": ("fnf:DeleteSchedule", FLOW),
    },
    "tasks": {
        "succeed": ("fnf:ReportTaskSucceeded", TOKEN), "fail": ("fnf:ReportTaskFailed", TOKEN),
        "list_open": ("fnf:ListOpenTasks", NONE),
    },
    "map_runs": {"describe": ("fnf:DescribeMapRun", FLOW), "update": ("fnf:UpdateMapRun", FLOW)},
    "queues": {
        "create": ("mns:CreateQueue", QUEUE), "set_attributes": ("mns:SetQueueAttributes", QUEUE),
        "get": ("mns:GetQueueAttributes", QUEUE), "list": ("mns:ListQueue", NONE),
        "stats": ("mns:ListQueue", NONE), "delete": ("mns:DeleteQueue", QUEUE), "send": ("mns:SendMessage", QUEUE),
        "peek": ("mns:PeekMessage", QUEUE), "receive": ("mns:ReceiveMessage", QUEUE),
        "receive_async": ("mns:ReceiveMessage", QUEUE), "delete_message": ("mns:DeleteMessage", QUEUE),
        "change_visibility": ("mns:ChangeMessageVisibility", QUEUE),
    },
}
# what the first argument is called, when passed by keyword; in this order, as a method may also
# take a ``name`` that is not its flow's (executions.start(flow_name, input, name))
_FIRST = ("flow_name", "queue", "token", "execution", "execution_id", "name")


class GuardedServices(Protocol):
    """What a view needs of the services it guards (``Stateway`` is one): the runtime that verifies
    task tokens, the store that names an execution's flow, and each service of ``METHODS`` by name."""

    runtime: Runtime
    store: Store


class _Guarded:
    """One service (``flows``, ``queues``, …) behind the policy."""

    def __init__(self, scoped: ScopedStateway, name: str, inner: Any) -> None:
        self._scoped = scoped
        self._name = name
        self._inner = inner
        self._table = METHODS.get(name, {})

    def __getattr__(self, attr: str) -> Any:
        value = getattr(self._inner, attr)
        if not callable(value):
            return value
        action, where = self._table.get(attr, (f"stateway:{self._name}.{attr}", NONE))
        scoped = self._scoped
        filtered = _FILTERS.get((self._name, attr))

        def check(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
            if action:
                scoped.check(action, where, args, kwargs)

        if filtered is not None:
            return functools.partial(filtered, scoped, value, check)
        if inspect.iscoroutinefunction(value):
            async def guarded_async(*args: Any, **kwargs: Any) -> Any:
                check(args, kwargs)
                return await value(*args, **kwargs)
            return guarded_async

        def guarded(*args: Any, **kwargs: Any) -> Any:
            check(args, kwargs)
            return value(*args, **kwargs)
        return guarded


def _list_flows(scoped: ScopedStateway, method: Callable[..., Any], check: Callable[..., None],
                *args: Any, **kwargs: Any) -> Any:
    check(args, kwargs)
    return [f for f in method(*args, **kwargs) if scoped.policy.sees_flow(f["name"])]


def _list_queues(scoped: ScopedStateway, method: Callable[..., Any], check: Callable[..., None],
                 *args: Any, **kwargs: Any) -> Any:
    check(args, kwargs)
    return [q for q in method(*args, **kwargs) if scoped.policy.sees_queue(q["name"])]


def _list_tasks(scoped: ScopedStateway, method: Callable[..., Any], check: Callable[..., None],
                *args: Any, **kwargs: Any) -> Any:
    check(args, kwargs)
    flow_name = args[0] if args else kwargs.get("flow_name")
    if flow_name:
        scoped.policy.check("fnf:ListOpenTasks", flow=flow_name, key_id=scoped.key_id)
    if not scoped.policy.all_flows:
        kwargs["visible"] = scoped.policy.sees_flow
    return method(*args, **kwargs)


_FILTERS: dict[tuple[str, str], Callable[..., Any]] = {
    ("flows", "list"): _list_flows, ("queues", "list"): _list_queues, ("queues", "stats"): _list_queues,
    ("tasks", "list_open"): _list_tasks,
}


class ScopedStateway:
    """``Stateway``'s services as one access key may use them. ``checks_actions=False``: the action
    was checked already (the RPC dispatcher does it by name); only names are checked and lists filtered."""

    def __init__(self, app: GuardedServices, policy: Policy, key_id: str = "", *, checks_actions: bool = True) -> None:
        self.app = app
        self.policy = policy if checks_actions else policy.resources_only()
        self.key_id = key_id
        self.checks_actions = checks_actions
        for name in METHODS:
            setattr(self, name, _Guarded(self, name, getattr(app, name)))

    def flow_of_token(self, token: Any) -> str | None:
        try:
            return self.app.runtime.verify_token(token).flow if isinstance(token, str) and token else None
        except InvalidTaskToken:
            return None  # the call itself says what is wrong with it

    def check(self, action: str, where: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        first = args[0] if args else next((kwargs[k] for k in _FIRST if k in kwargs), None)
        flow = queue = None
        if where == FLOW and isinstance(first, str):
            flow = first
        elif where == QUEUE and isinstance(first, str):
            queue = first
        elif where == TOKEN:
            flow = self.flow_of_token(first)
        elif where == EXECUTION:
            flow = getattr(first, "flow_name", None)
            if flow is None and isinstance(first, int):
                flow = self.app.store.get_execution(first).flow_name
        if where in (FLOW, EXECUTION) and flow is None and not self.policy.all_flows:
            raise AccessDenied(action, "a flow it could not tell", self.key_id)  # unknown: not one it may see
        if where == QUEUE and queue is None and not self.policy.all_queues:
            raise AccessDenied(action, "a queue it could not tell", self.key_id)
        self.policy.check(action, flow=flow, queue=queue, key_id=self.key_id)
        handed_on = kwargs.get("callback_token")  # the child's end answers that task: its flow too
        if handed_on and (other := self.flow_of_token(handed_on)) is not None:
            self.policy.check(action, flow=other, key_id=self.key_id)

    def close(self) -> None:
        """The services belong to the unscoped ``Stateway``; closing a view closes nothing."""
