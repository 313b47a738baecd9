"""Access policies: what each access key may do, and on which flows and queues (docs/api.md,
"Access policies"). Modelled on RAM policy statements: a key's ``allow`` lists action patterns
(``fnf:ReportTask*``, ``mns:SendMessage``), ``flows`` and ``queues`` list name patterns; each
defaults to everything. ``role`` names a built-in list of actions (``admin``, ``operator``,
``readonly``) that ``allow`` adds to.

The RPC API, the MNS API, the console and the service layer (``Stateway.for_key``) all ask the
same ``Policy``; ``Keyring`` holds the live keys, so a reload (SIGHUP) changes what the next
request may do, and tells its listeners which keys went away (their console sessions end).

No layer below this one is imported: settings, api, console and app all use it.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

# the RPC actions, in the namespace RAM gives CloudFlow; the queue API's in MNS's
FNF, MNS = "fnf", "mns"

# the MNS operations, by the names MNS's own RAM actions use
MNS_ACTIONS = ("CreateQueue", "DeleteQueue", "ListQueue", "GetQueueAttributes", "SetQueueAttributes",
               "SendMessage", "BatchSendMessage", "ReceiveMessage", "BatchReceiveMessage", "DeleteMessage",
               "BatchDeleteMessage", "PeekMessage", "BatchPeekMessage", "ChangeMessageVisibility")

READ_ONLY = ("fnf:Describe*", "fnf:List*", "fnf:Get*", "mns:ListQueue", "mns:GetQueueAttributes",
             "mns:PeekMessage", "mns:BatchPeekMessage")
ROLES: dict[str, tuple[str, ...]] = {
    # everything, as a key without a policy
    "admin": ("*",),
    # runs what exists: start, stop, answer tasks, tune Map Runs, use queues; never changes a definition
    "operator": (*READ_ONLY, "fnf:Start*", "fnf:Stop*", "fnf:ReportTask*", "fnf:Redrive*", "fnf:UpdateMapRun",
                 "mns:SendMessage", "mns:BatchSendMessage", "mns:ReceiveMessage", "mns:BatchReceiveMessage",
                 "mns:DeleteMessage", "mns:BatchDeleteMessage", "mns:ChangeMessageVisibility"),
    # looks, changes nothing
    "readonly": READ_ONLY,
}
POLICY_FIELDS = ("allow", "flows", "queues", "role")


class AccessDenied(Exception):
    """The key's policy does not allow this action on this resource (HTTP 403)."""

    code = "AccessDenied"
    status = 403

    def __init__(self, action: str, resource: str, key_id: str = "") -> None:
        self.action = action
        self.resource = resource
        self.key_id = key_id
        who = f"the access key {key_id!r}" if key_id else "this access key"
        super().__init__(f"{who} is not allowed to perform {action} on {resource}")


def _pattern(text: str) -> re.Pattern[str]:
    """A name pattern: ``*`` any run of characters, ``?`` one; nothing else is special."""
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in text), re.S)


def _compile(patterns: Iterable[str], *, ignore_case: bool = False) -> tuple[re.Pattern[str], ...]:
    flags = re.I if ignore_case else 0
    return tuple(re.compile(_pattern(p).pattern, re.S | flags) for p in patterns)


def qualified(action: str) -> str:
    """``ListFlows`` → ``fnf:ListFlows``; an action already in a namespace is left as it is."""
    return action if ":" in action else f"{FNF}:{action}"


@dataclass(frozen=True)
class Policy:
    """What one key may do. ``allow``: action patterns (case-insensitive, as RAM's); ``flows`` and
    ``queues``: name patterns (case-sensitive, as the names are)."""

    allow: tuple[str, ...] = ("*",)
    flows: tuple[str, ...] = ("*",)
    queues: tuple[str, ...] = ("*",)
    role: str = ""

    @cached_property
    def _actions(self) -> tuple[re.Pattern[str], ...]:
        return _compile(self.allow, ignore_case=True)

    @cached_property
    def _flows(self) -> tuple[re.Pattern[str], ...]:
        return _compile(self.flows)

    @cached_property
    def _queues(self) -> tuple[re.Pattern[str], ...]:
        return _compile(self.queues)

    @property
    def all_actions(self) -> bool:
        return "*" in self.allow

    @property
    def all_flows(self) -> bool:
        return "*" in self.flows

    @property
    def all_queues(self) -> bool:
        return "*" in self.queues

    @property
    def unrestricted(self) -> bool:
        return self.all_actions and self.all_flows and self.all_queues

    def allows(self, action: str) -> bool:
        action = qualified(action)
        return self.all_actions or any(p.fullmatch(action) for p in self._actions)

    def sees_flow(self, name: str) -> bool:
        return self.all_flows or any(p.fullmatch(name) for p in self._flows)

    def sees_queue(self, name: str) -> bool:
        return self.all_queues or any(p.fullmatch(name) for p in self._queues)

    def check(self, action: str, *, flow: str | None = None, queue: str | None = None, key_id: str = "") -> None:
        """Raise ``AccessDenied`` unless the action is allowed, on ``flow`` or ``queue`` when given."""
        action = qualified(action)
        resource = f"flow {flow!r}" if flow is not None else f"queue {queue!r}" if queue is not None else "*"
        if not self.allows(action):
            raise AccessDenied(action, resource, key_id)
        if flow is not None and not self.sees_flow(flow):
            raise AccessDenied(action, resource, key_id)
        if queue is not None and not self.sees_queue(queue):
            raise AccessDenied(action, resource, key_id)

    def resources_only(self) -> Policy:
        """The same flows and queues, every action: for calls whose action was checked already."""
        return Policy(("*",), self.flows, self.queues, self.role)

    @classmethod
    def parse(cls, entry: Mapping[str, Any], where: str = "[[access_keys]]") -> Policy:
        """From an ``[[access_keys]]`` entry; ``ValueError`` names the field that is wrong."""
        lists: dict[str, tuple[str, ...]] = {}
        for name in ("allow", "flows", "queues"):
            if name not in entry:
                continue
            value = entry[name]
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v.strip() for v in value):
                raise ValueError(f"{where} {name} must be a list of patterns (text), got {value!r}")
            lists[name] = tuple(v.strip() for v in value)
        for pattern in lists.get("allow", ()):
            namespace = pattern.split(":", 1)[0].lower() if ":" in pattern else ""
            if pattern != "*" and namespace not in (FNF, MNS, "*"):
                raise ValueError(f"{where} allow: {pattern!r} must name its service, as fnf:{pattern} or "
                                 f"mns:{pattern} (or be \"*\")")
        role = entry.get("role", "")
        if not isinstance(role, str) or (role and role not in ROLES):
            raise ValueError(f"{where} role must be one of {', '.join(ROLES)}, got {role!r}")
        if role:
            # a role and an allow list: the role's actions and the listed ones
            allow = ROLES[role] + lists.get("allow", ())
        else:
            allow = lists.get("allow", ("*",))
        return cls(tuple(dict.fromkeys(allow)), lists.get("flows", ("*",)), lists.get("queues", ("*",)), role)


UNRESTRICTED = Policy()


class Keyring(Mapping[str, str]):
    """The live access keys: id → secret (what signature checks read), and each key's policy.

    ``replace`` swaps all of it at once (a reload); listeners hear which key ids were removed or
    given another secret, so what they opened (console sessions) can end.
    """

    def __init__(self, secrets: Mapping[str, str] | None = None,
                 policies: Mapping[str, Policy] | None = None) -> None:
        # one tuple, swapped whole: a reader never sees new secrets with old policies. ``secrets`` is
        # kept, not copied: a caller's dict stays live (what it removes stops working)
        self._state: tuple[Mapping[str, str], Mapping[str, Policy]] = (
            secrets if secrets is not None else {}, dict(policies or {}))
        self._lock = threading.Lock()
        self.listeners: list[Callable[[set[str]], None]] = []

    @classmethod
    def of(cls, keys: Mapping[str, str] | Keyring) -> Keyring:
        return keys if isinstance(keys, Keyring) else cls(keys)

    def __getitem__(self, key_id: str) -> str:
        return self._state[0][key_id]

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._state[0]))

    def __len__(self) -> int:
        return len(self._state[0])

    def policy(self, key_id: str) -> Policy:
        return self._state[1].get(key_id, UNRESTRICTED)

    def replace(self, secrets: Mapping[str, str], policies: Mapping[str, Policy] | None = None) -> set[str]:
        """Take a new set of keys; the ids removed (or whose secret changed), after telling the listeners."""
        with self._lock:
            gone = {k for k, s in self._state[0].items() if secrets.get(k) != s}
            self._state = (dict(secrets), dict(policies or {}))
        for listener in list(self.listeners):
            listener(gone)
        return gone


__all__ = ["MNS_ACTIONS", "ROLES", "UNRESTRICTED", "AccessDenied", "Keyring", "Policy", "qualified"]
