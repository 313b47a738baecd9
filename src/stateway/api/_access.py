"""The RPC dispatcher's access check (docs/api.md, "Access policies"): one place, by action name,
so an action added later is covered without a word here.

The resource of an action is its ``FlowName`` parameter; the flow actions name it ``Name``, and
an action that answers a task names it through its ``TaskToken``. Lists are filtered by the
scoped services the handler is given (``stateway.app._scoped``)."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import TYPE_CHECKING

from stateway.app._scoped import ScopedStateway
from stateway.policies import Policy, qualified

if TYPE_CHECKING:
    from stateway.api._actions import CloudFlowService

# the actions on a flow itself, whose parameter is Name (CloudFlow's API reference)
NAME_IS_FLOW = frozenset({"CreateFlow", "UpdateFlow", "DescribeFlow", "DeleteFlow"})


def flow_of(action: str, params: Mapping[str, str], scoped: ScopedStateway) -> str | None:
    """The flow an action acts on, or None for one on no single flow (ListFlows, DescribeRegions)."""
    if params.get("FlowName"):
        return params["FlowName"]
    if action in NAME_IS_FLOW and params.get("Name"):
        return params["Name"]
    if params.get("TaskToken"):
        return scoped.flow_of_token(params["TaskToken"])
    return None


def authorize(service: CloudFlowService, policy: Policy, key_id: str, action: str,
              params: Mapping[str, str]) -> CloudFlowService:
    """Raise ``AccessDenied`` unless ``policy`` allows ``action`` on its flow; the service the
    handler is to use (the same one for a key without limits, else a view of what the key may see)."""
    if policy.unrestricted:
        return service
    scoped = ScopedStateway(service.app, policy, key_id, checks_actions=False)
    policy.check(qualified(action), flow=flow_of(action, params, scoped), key_id=key_id)
    for name, value in params.items():
        # a token handed on (StartExecution's CallbackFnFTaskToken) answers that task later: its flow too
        if name.endswith("TaskToken") and name != "TaskToken" and value:
            other = scoped.flow_of_token(value)
            if other is not None:
                policy.check(qualified(action), flow=other, key_id=key_id)
    view = copy.copy(service)
    view.app = scoped  # type: ignore[assignment]
    return view
