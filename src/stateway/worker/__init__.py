"""``stateway.worker``: answer Stateway tasks from a queue (see README, "Write a queue worker").

    worker = Worker()
    @worker.task("mns://approvals")
    def approve(task): ...
    worker.run()
"""

from stateway.worker._client import ReportError
from stateway.worker._task import Task, TaskFailure
from stateway.worker._worker import Worker
from stateway.worker.source import Delivery, Source, SourceError, open_source

__all__ = ["Delivery", "ReportError", "Source", "SourceError", "Task", "TaskFailure", "Worker", "open_source"]
