"""``stateway``: validate and run flows, report callbacks, work the queue, stop executions."""

from stateway.cli._main import main

__all__ = ["main"]
