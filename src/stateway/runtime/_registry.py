"""Action name → integration. Built-ins plus any installed under the entry point group
``stateway.integrations`` (a class with ``action``, ``modes``, ``invoke`` and ``cancel``). Each is
built with the runtime's ``IntegrationContext`` (``_context.py``), never the runtime itself."""

from __future__ import annotations

import importlib
import importlib.metadata
from collections.abc import Mapping
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any, ClassVar

from stateway.runtime._outcomes import Outcome, TaskCall

if TYPE_CHECKING:
    from stateway.runtime._context import IntegrationContext

ENTRY_POINT_GROUP = "stateway.integrations"
BUILTIN_ENTRY = "builtin"  # pyproject.toml: Stateway's own integrations, a list


class Integration:
    """Base class of an integration. ``invoke`` runs on a dispatcher thread and may block."""

    action: ClassVar[str]
    modes: ClassVar[frozenset[str]]
    # the Parameters it reads; others are a validation warning ("did you mean"). None: not declared
    parameters: ClassVar[frozenset[str] | None] = None

    def __init__(self, context: IntegrationContext) -> None:
        self.context = context

    def start(self) -> None:
        """Called once when the runtime starts (e.g. to start background workers)."""

    def close(self) -> None:
        """Called once when the runtime stops."""

    def invoke(self, call: TaskCall) -> Outcome:
        raise NotImplementedError

    def cancel(self, call: TaskCall, reason: str) -> str:
        """Best-effort cancel of what ``invoke`` started; returns what was done."""
        return "nothing to cancel"

    def dispatch_pool(self, parameters: Mapping[str, Any]) -> Executor | None:
        """The threads ``invoke`` runs on for these (evaluated) Parameters; None: the runtime's shared
        pool. An integration whose remote may hang (a broker) keeps its own, so it delays nobody else."""
        return None

    def check_parameters(self, parameters: Mapping[str, Any]) -> list[tuple[str, str]]:
        """Errors in a Task's Parameters (as written) that this process's configuration makes
        certain, as (parameter name, message): flow validation refuses the definition."""
        return []


class IntegrationRegistry:
    def __init__(self, classes: list[type[Integration]]) -> None:
        self.classes = {cls.action: cls for cls in classes}
        self.instances: dict[str, Integration] = {}

    @classmethod
    def default(cls, extra: list[type[Integration]] | None = None) -> IntegrationRegistry:
        """Every integration installed under the entry point group, Stateway's own (``builtin``: a list)
        first, so an installed one may replace a built-in action; then ``extra``."""
        entries = sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP),
                         key=lambda e: (e.name != BUILTIN_ENTRY, e.name))
        loaded = [entry.load() for entry in entries]
        if not any(entry.name == BUILTIN_ENTRY for entry in entries):
            # a source tree run without installing (no entry points): the built-ins by their module name;
            # the runtime never imports the integrations package, which builds on it
            loaded.insert(0, importlib.import_module("stateway.integrations").BUILTIN_INTEGRATIONS)
        classes: list[type[Integration]] = []
        for found in loaded:
            classes.extend(found if isinstance(found, (list, tuple)) else [found])
        classes.extend(extra or [])
        return cls(classes)

    def modes(self) -> dict[str, frozenset[str]]:
        return {action: cls.modes for action, cls in self.classes.items()}

    def parameters(self) -> dict[str, frozenset[str]]:
        return {action: cls.parameters for action, cls in self.classes.items() if cls.parameters is not None}

    def validation(self) -> dict[str, Any]:
        """What flow validation needs beyond the modes (keyword arguments of ``validate_flow``);
        once bound, each integration's ``check_parameters`` too."""
        checks = {action: integration.check_parameters for action, integration in self.instances.items()
                  if type(integration).check_parameters is not Integration.check_parameters}
        return {"parameters": self.parameters(), **({"checks": checks} if checks else {})}

    def dispatch_pool(self, action: Any, parameters: Mapping[str, Any]) -> Executor | None:
        integration = self.instances.get(action)
        return None if integration is None else integration.dispatch_pool(parameters)

    def bind(self, context: IntegrationContext) -> None:
        self.context = context
        self.instances = {action: cls(context) for action, cls in self.classes.items()}

    def add(self, cls: type[Integration]) -> Integration:
        """Register one more integration after ``bind`` (a test's mock of an action nobody provides)."""
        self.classes[cls.action] = cls
        self.instances[cls.action] = cls(self.context)
        return self.instances[cls.action]

    def get(self, action: str) -> Integration:
        return self.instances[action]

    def start(self) -> None:
        for integration in self.instances.values():
            integration.start()

    def close(self) -> None:
        for integration in self.instances.values():
            integration.close()

    def __contains__(self, action: Any) -> bool:
        return action in self.classes
