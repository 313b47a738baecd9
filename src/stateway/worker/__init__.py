"""``stateway.worker``: answer Stateway tasks from a queue (see README, "Write a queue worker")."""

from stateway.worker.source import Delivery, Source, SourceError, open_source

__all__ = ["Delivery", "Source", "SourceError", "open_source"]
