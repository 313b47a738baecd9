"""``stateway.testing``: test flows in milliseconds, with mocked services and skipped time.

Installing Stateway installs the pytest plugin (entry point ``pytest11``); its fixture ``stateway`` is a
:class:`Harness`: the production engine and store on ``:memory:``, on a virtual clock. See docs/testing.md.
"""

from stateway.testing._clock import DEFAULT_START, VirtualClock
from stateway.testing._harness import Handle, Harness, PendingTask
from stateway.testing._mockfile import MockConfig, MockConfigError
from stateway.testing._mocks import NO_ANSWER, Mock, MockCall, MockError, TaskFailure, UnmockedCall
from stateway.testing._replay import Divergence, ReplayReport, normalize_history
from stateway.testing._result import Attempt, Result, Step

__all__ = [
    "DEFAULT_START",
    "NO_ANSWER",
    "Attempt",
    "Divergence",
    "Handle",
    "Harness",
    "Mock",
    "MockCall",
    "MockConfig",
    "MockConfigError",
    "MockError",
    "PendingTask",
    "ReplayReport",
    "Result",
    "Step",
    "TaskFailure",
    "UnmockedCall",
    "VirtualClock",
    "normalize_history",
]
