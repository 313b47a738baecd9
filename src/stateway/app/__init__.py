"""The application services: what the API, the console, the CLI and Python programs call.

Lifecycle rules (starting Standard vs Express flows, stopping, reporting task results, schedule
timing, queue semantics) live here once; the API and the console only parse and render. Methods
take and return Python values (the store's rows, ``ExecutionRow``, small dataclasses) and raise
errors with a ``code`` (``stateway.app.errors``).

    from stateway.app import Stateway

    with Stateway.open("sqlite:///demo.db") as sw:
        sw.flows.create("hello", definition)
        run = sw.executions.wait(sw.executions.start("hello", {"who": "world"}), timeout=10)
"""

from stateway.app import errors
from stateway.app._facade import Stateway
from stateway.app.executions import Executions
from stateway.app.flows import Flows
from stateway.app.maprun import MapRuns
from stateway.app.queues import Message, Queues
from stateway.app.schedules import Schedules
from stateway.app.tasks import OpenTask, Tasks
from stateway.store import ExecutionRow

Services = Stateway

__all__ = [
    "ExecutionRow",
    "Executions",
    "Flows",
    "MapRuns",
    "Message",
    "OpenTask",
    "Queues",
    "Schedules",
    "Services",
    "Stateway",
    "Tasks",
    "errors",
]
