"""The pytest plugin (entry point ``pytest11``): the ``stateway`` fixture. Imports the engine only when a test
asks for the fixture, so that having Stateway installed costs other test suites nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture
def stateway() -> Iterator[Any]:
    """An in-memory Stateway on a virtual clock: register flows, mock services, run, skip time."""
    from stateway.testing import Harness

    harness = Harness()
    try:
        yield harness
    finally:
        harness.close()
